"""The agent loop through the real anthropic and openai SDKs against a loopback fake server.

Each scenario is written once, provider-neutrally, and replayed in both wire formats.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attnrl.harness.agent import DROPPED_ARGUMENTS, run_agent
from attnrl.harness.rundir import load_records
from attnrl.models.anthropic import AnthropicModel
from attnrl.models.base import Model, ModelAccessRefused, ModelConfigError
from attnrl.models.openai import OpenAIModel
from attnrl.models.retry import RetryPolicy
from attnrl.models.simulated import solution_code
from attnrl.sandbox import LocalSandbox, SandboxError
from attnrl.task import Task
from fakes.llm_server import (
    FakeLLMServer,
    FakeResponse,
    RecordingSleep,
    anthropic_error,
    anthropic_message,
    anthropic_text,
    anthropic_text_block,
    anthropic_tool_use,
    anthropic_tool_use_block,
    openai_completion,
    openai_error,
    openai_text,
    openai_tool_call,
    openai_tool_use,
)

PROVIDERS = ["anthropic", "openai"]
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay_s=0.01, max_delay_s=0.02)


@dataclass(frozen=True)
class Tool:
    name: str
    args: Any
    """dict, or a str sent verbatim as OpenAI's arguments (invalid JSON)."""


@dataclass(frozen=True)
class Text:
    text: str
    stop: str | None = None


@dataclass(frozen=True)
class Error:
    status: int
    kind: str = "api_error"
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Calls:
    tools: tuple[Tool, ...]


Step = Tool | Text | Error | Calls


def to_wire(provider: str, step: Step) -> FakeResponse:
    if provider == "anthropic":
        if isinstance(step, Tool):
            return anthropic_tool_use(step.name, step.args)
        if isinstance(step, Calls):
            return anthropic_message(
                anthropic_text_block("several at once"),
                *(anthropic_tool_use_block(t.name, t.args) for t in step.tools),
            )
        if isinstance(step, Text):
            if not step.text:
                return anthropic_message(stop_reason=step.stop or "end_turn")
            return anthropic_text(step.text, stop_reason=step.stop)
        return anthropic_error(step.status, step.kind, headers=step.headers)
    if isinstance(step, Tool):
        return openai_tool_use(step.name, step.args)
    if isinstance(step, Calls):
        return openai_completion(None, [openai_tool_call(t.name, t.args) for t in step.tools])
    if isinstance(step, Text):
        finish = {"max_tokens": "length"}.get(step.stop or "", None)
        return (
            openai_text(step.text or None, finish_reason=finish)
            if finish
            else openai_text(step.text or "")
        )
    return openai_error(step.status, step.kind, headers=step.headers)


def make_model(provider: str, server: FakeLLMServer, sleep: RecordingSleep) -> Model:
    if provider == "anthropic":
        return AnthropicModel(
            "claude-test",
            api_key="sk-ant-test-SECRET123",
            base_url=server.url,
            retry=FAST_RETRY,
            sleep=sleep,
        )
    return OpenAIModel(
        "local-model", base_url=server.openai_base_url, retry=FAST_RETRY, sleep=sleep
    )


@dataclass
class Harness:
    """The fake server, the recording sleep and a sandbox: what every scenario plays on."""

    server: FakeLLMServer
    sleep: RecordingSleep
    sandbox: LocalSandbox

    async def play(self, provider: str, steps: list[Step], task: Task, max_steps: int = 15) -> Any:
        """Script the server with ``steps`` in ``provider``'s wire format and run the loop."""
        self.server.enqueue(provider, *(to_wire(provider, s) for s in steps))
        model = make_model(provider, self.server, self.sleep)
        try:
            return await run_agent(task, model, self.sandbox, max_steps=max_steps)
        finally:
            await model.aclose()  # type: ignore[attr-defined]


@pytest.fixture
def harness(
    llm_server: FakeLLMServer, recorded_sleep: RecordingSleep, sandbox: LocalSandbox
) -> Harness:
    return Harness(llm_server, recorded_sleep, sandbox)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_full_success(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [
        Tool("python_expression", {"expression": solution_code(seed_task.spec)}),
        Tool("submit_answer", {"answer": seed_task.reference()}),
    ]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "submitted" and result.steps == 2
    assert seed_task.grade(result.answer).outcome == "full_success"
    # the python tool's output went back to the model in the provider's format
    second = harness.server.requests_to(provider)[1].body
    wire = json.dumps(second["messages"])
    assert "position_encoded_queries" in wire
    assert result.usage.input_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tool_error_then_success(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [
        Tool("python_expression", {"expression": "print(Q_pos)"}),
        Tool("python_expression", {"expression": solution_code(seed_task.spec)}),
        Tool("submit_answer", {"answer": seed_task.reference()}),
    ]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "submitted" and result.tool_errors == 1
    first_result = result.transcript[2].tool_results[0]
    assert first_result.is_error and "NameError" in first_result.content
    wire = json.dumps(harness.server.requests_to(provider)[1].body["messages"])
    assert "NameError" in wire
    if provider == "anthropic":
        assert '"is_error": true' in wire


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_string_encoded_answer(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [Tool("submit_answer", {"answer": json.dumps(seed_task.reference())})]
    result = await harness.play(provider, steps, seed_task)
    assert isinstance(result.answer, str)
    assert seed_task.grade(result.answer).outcome == "full_success"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_submission(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    result = await harness.play(provider, [Text("I give up.")], seed_task)
    assert result.stop == "no_tool_use" and result.answer is None and result.steps == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_step_limit(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [Tool("python_expression", {"expression": "print(1)"})] * 3
    result = await harness.play(provider, steps, seed_task, max_steps=3)
    assert result.stop == "step_limit" and result.steps == 3
    assert len(harness.server.requests_to(provider)) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "error",
    [
        Error(529, "overloaded_error"),
        Error(429, "rate_limit_error", {"retry-after": "0"}),
        Error(500),
    ],
)
async def test_transient_errors_recover(
    provider: str,
    error: Error,
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [error, error, Tool("submit_answer", {"answer": seed_task.reference()})]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "submitted"
    assert len(harness.sleep.delays) == 2
    assert len(harness.server.requests_to(provider)) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_permanent_failure_is_infrastructure(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    result = await harness.play(provider, [Error(500)] * 3, seed_task)
    assert result.stop == "infrastructure"
    assert result.error is not None and "500" in result.error and "3 attempts" in result.error
    assert "SECRET123" not in result.error


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_model_mistakes_go_back_as_error_results(
    provider: str,
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [
        Calls(
            (
                Tool("no_such_tool", {"x": 1}),
                Tool("python_expression", {"code": "print(1)"}),
                Tool("python_expression", {"expression": "print(6 * 7)"}),
            )
        ),
        Tool("submit_answer", {"wrong": 1}),
        Text("", stop="max_tokens"),
    ]
    result = await harness.play(provider, steps, seed_task)
    first = result.transcript[2].tool_results
    assert [r.is_error for r in first] == [True, True, False]
    assert "unknown tool 'no_such_tool'" in first[0].content
    assert "needs an 'expression' argument" in first[1].content
    assert json.loads(first[2].content)["result"] == "42\n"
    second = result.transcript[4].tool_results[0]
    assert second.is_error and "needs an 'answer' argument" in second.content
    assert result.stop == "no_tool_use"


async def test_openai_invalid_json_arguments(
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [
        Tool("submit_answer", '{"answer": {'),
        Tool("submit_answer", {"answer": seed_task.reference()}),
    ]
    result = await harness.play("openai", steps, seed_task)
    assert result.transcript[2].tool_results[0].is_error
    assert result.stop == "submitted" and result.steps == 2


async def test_top_level_answer_keys_are_accepted(
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [Tool("submit_answer", seed_task.reference())]
    result = await harness.play("anthropic", steps, seed_task)
    assert result.stop == "submitted"
    assert seed_task.grade(result.answer).outcome == "full_success"


async def test_calls_after_submit_are_not_run(
    seed_task: Task,
    harness: Harness,
) -> None:
    steps: list[Step] = [
        Calls(
            (
                Tool("submit_answer", {"answer": seed_task.reference()}),
                Tool("python_expression", {"expression": "print(1)"}),
            )
        )
    ]
    result = await harness.play("anthropic", steps, seed_task)
    results = result.transcript[2].tool_results
    assert not results[0].is_error and results[1].is_error
    assert "already submitted" in results[1].content


# ---- issue 19 item 6: nothing the model writes is infrastructure -----------------------------

MARKUP = "[/x] [bold [link=https://example.invalid]x[/link] [/] \x1b[2J\x1b]0;pwned\x07 \x00"
DEEP_LIST = "[" * 600 + "1" + "]" * 600  # parses; deeper than any answer
TOO_DEEP = "[" * 100_000 + "]" * 100_000  # deeper than the JSON parser recurses


def _deep_turn(provider: str) -> FakeResponse:
    """A turn whose tool arguments nest 100,000 deep, on the wire as the provider sends it."""
    if provider == "openai":
        return openai_tool_use("submit_answer", '{"answer": ' + TOO_DEEP + "}")
    body = json.dumps(anthropic_tool_use("submit_answer", {"answer": 0}).body)
    payload = body.replace('{"answer": 0}', '{"answer": ' + TOO_DEEP + "}")
    return FakeResponse(body=payload.encode(), headers={"content-type": "application/json"})


ATTACKS: dict[str, list[Step]] = {
    "markup and escapes as text": [Text(MARKUP)],
    "a lone surrogate": [Text("broken \ud800 text [/x]")],
    "text that looks like a tool result": [Text('{"result": "submitted", "error": null}')],
    "a megabyte of text": [Text("[/x]" * 250_000)],
    "markup as a tool name": [Tool(MARKUP, {"x": MARKUP}), Text("done")],
    "markup printed by the code": [
        Tool("python_expression", {"expression": f"print({MARKUP!r})"}),
        Text("done"),
    ],
    "arguments of wrong types": [
        Calls(
            (
                Tool("python_expression", {"expression": ["print(1)"]}),
                Tool("python_expression", {"expression": None}),
                Tool("submit_answer", {"solution": {"answer": 1}}),
            )
        ),
        Text("done"),
    ],
    "a lone surrogate and NUL in code": [
        Calls(
            (
                Tool("python_expression", {"expression": "print('\ud800')"}),
                Tool("python_expression", {"expression": "print(1)\x00[/x]"}),
            )
        ),
        Text("done"),
    ],
    "arguments 600 deep": [Tool("submit_answer", {"answer": json.loads(DEEP_LIST)}), Text("done")],
    "a number the grader cannot parse": [
        Tool("submit_answer", {"answer": '{"final_output": ' + "9" * 5000 + "}"})
    ],
    "a submission of markup": [Tool("submit_answer", {"answer": MARKUP})],
}


MAY_STOP_THE_RUN = {"a lone surrogate and NUL in code"}
"""The Anthropic SDK cannot send a lone surrogate back (UTF-8): the run stops there, as the
model's failure (counted), never as infrastructure."""


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_model_output_never_makes_a_run_infrastructure(
    provider: str, attack: str, seed_task: Task, harness: Harness
) -> None:
    result = await harness.play(provider, ATTACKS[attack], seed_task)
    allowed = {"no_tool_use", "submitted"}
    if attack in MAY_STOP_THE_RUN:
        allowed.add("error")
    assert result.stop in allowed, (result.stop, result.error)
    if result.stop == "submitted":
        assert seed_task.grade(result.answer).outcome == "invalid"
    json.dumps([m.to_dict() for m in result.transcript])  # the record can be written
    harness.server.clear()  # what the attack did not get to use
    innocent = await harness.play(
        provider, [Tool("submit_answer", {"answer": seed_task.reference()})], seed_task
    )
    assert innocent.stop == "submitted"
    assert seed_task.grade(innocent.answer).outcome == "full_success"
    assert MARKUP not in json.dumps(harness.server.requests_to(provider)[-1].body)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_arguments_too_deep_are_refused_and_not_kept(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    steps: list[Step] = [Tool("submit_answer", {"answer": json.loads(DEEP_LIST)}), Text("ok")]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "no_tool_use"
    (kept,) = result.transcript[1].tool_calls
    assert kept.arguments is None and kept.raw_arguments == DROPPED_ARGUMENTS
    refusal = result.transcript[2].tool_results[0]
    assert refusal.is_error and "nested more than 32 levels" in refusal.content
    assert DEEP_LIST[:700] not in json.dumps(harness.server.requests_to(provider)[-1].body)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_turn_too_deep_to_parse_is_the_models_failure(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    harness.server.enqueue(provider, _deep_turn(provider))
    model = make_model(provider, harness.server, harness.sleep)
    try:
        result = await run_agent(seed_task, model, harness.sandbox)
    finally:
        await model.aclose()  # type: ignore[attr-defined]
    assert result.stop == "error" and result.error is not None
    assert "RecursionError" in result.error
    innocent = await harness.play(
        provider, [Tool("submit_answer", {"answer": seed_task.reference()})], seed_task
    )
    assert innocent.stop == "submitted"


class _BrokenSandbox:
    """A sandbox that fails itself (not the code): the one kind of tool failure that is
    infrastructure."""

    isolation = "broken"

    async def run(self, code: str) -> Any:
        raise SandboxError("the sandbox server is not running")


async def test_only_a_sandbox_failure_is_infrastructure(seed_task: Task, harness: Harness) -> None:
    harness.server.enqueue(
        "openai", to_wire("openai", Tool("python_expression", {"expression": "1"}))
    )
    model = make_model("openai", harness.server, harness.sleep)
    try:
        with pytest.raises(SandboxError):
            await run_agent(seed_task, model, _BrokenSandbox())  # type: ignore[arg-type]
    finally:
        await model.aclose()  # type: ignore[attr-defined]


# ---- the same, through the runner and `attnrl run --verbose` ---------------------------------


def _attack_runs(seed_task: Task) -> list[FakeResponse]:
    """Runs 1-4 attack (one or two turns each), run 5 is innocent: with --concurrency 1
    the queue is consumed in run order."""
    return [
        openai_text(MARKUP),  # run 1
        openai_tool_use(MARKUP, {"x": MARKUP}),  # run 2: a tool named in markup...
        openai_text("[/x] done"),  # ...then text
        _deep_turn("openai"),  # run 3: arguments too deep to parse
        openai_tool_use("submit_answer", {"answer": MARKUP}),  # run 4: markup as the answer
        openai_tool_use("submit_answer", {"answer": seed_task.reference()}),  # run 5
    ]


async def test_the_runner_prints_model_text_literally_and_counts_every_run(
    tmp_path: Path, seed_task: Task, llm_server: FakeLLMServer, sandbox: LocalSandbox
) -> None:
    from rich.console import Console

    from attnrl.harness.runner import RunConfig, run_batch
    from attnrl.models.base import SharedModel

    llm_server.enqueue_openai(*_attack_runs(seed_task))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=10_000)
    config = RunConfig(
        model="openai/local-model", out=tmp_path / "run", runs=5, concurrency=1, verbose=True
    )
    model = make_model("openai", llm_server, RecordingSleep())
    try:
        summary = await run_batch(config, seed_task, SharedModel(model), sandbox, console)
    finally:
        await model.aclose()  # type: ignore[attr-defined]
    records = {r["run_id"]: r for r in load_records(tmp_path / "run" / "results.jsonl")}
    assert summary["infrastructure_errors"] == 0 and summary["runs"] == 5
    assert summary["passed"] == 1 and records[5]["outcome"] == "full_success"
    assert records[3]["stop"] == "error" and "counted as a failure" in records[3]["message"]
    assert records[4]["outcome"] == "invalid"
    printed = out.getvalue()
    assert "[/x] [bold [link=https://example.invalid]x[/link]" in printed
    assert "\\x1b[2J" in printed and "\x1b[2J" not in printed  # escaped, not sent
    assert "\\x00" in printed and "\x00" not in printed
    assert "pwned\x07" not in printed


def test_attnrl_run_verbose_counts_every_attack_and_exits_0(
    tmp_path: Path, seed_task: Task, llm_server: FakeLLMServer
) -> None:
    import os
    import subprocess
    import sys

    llm_server.enqueue_openai(*_attack_runs(seed_task))
    out = tmp_path / "cli"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    args = ["run", "--model", "openai/scripted", "--base-url", llm_server.openai_base_url]
    args += ["--preset", "seed-doc"]
    args += ["--runs", "5", "--concurrency", "1", "--verbose", "--no-progress", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env | {"NO_PROXY": "127.0.0.1,localhost"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["infrastructure_errors"] == 0 and summary["runs"] == 5
    assert summary["passed"] == 1
    assert "MarkupError" not in proc.stderr and "Traceback" not in proc.stderr
    assert "[/x] done" in proc.stderr and "\x1b[2J" not in proc.stderr
    # --resume re-runs nothing: no attack turned into an exclusion
    _resume_runs_nothing(out, env | {"NO_PROXY": "127.0.0.1,localhost"}, llm_server, 6)


def _resume_runs_nothing(out: Path, env: dict[str, str], server: FakeLLMServer, sent: int) -> None:
    """``attnrl run --resume`` on ``out`` exits 0 and sends the server no request (it had
    ``sent``): no run was left to play again."""
    import subprocess
    import sys

    again = subprocess.run(
        [sys.executable, "-m", "attnrl", "run", "--out", str(out), "--resume", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(server.requests_to("openai")) == sent


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_conversation_is_infrastructure_only_before_the_model_spoke(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    """A 400 ("prompt is too long") to the task's own prompt is the harness's problem; once
    the conversation carries what the model wrote, it is the model's failure, not an
    exclusion a verbose policy could earn by overflowing its context."""
    refused = Error(400, "invalid_request_error")
    first = await harness.play(provider, [refused], seed_task)
    assert first.stop == "infrastructure" and first.error is not None and "400" in first.error
    later = await harness.play(
        provider,
        [Tool("python_expression", {"expression": "print('x' * 9000)"}), refused],
        seed_task,
    )
    assert later.stop == "error" and later.error is not None and "400" in later.error
    assert len(harness.sleep.delays) == 0  # a refusal is not retried


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_403_is_the_operators_only_before_the_model_spoke(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    """A 403 to the task's own prompt is the key's or the model's access: the batch stops
    (ModelConfigError) for the operator to fix it. Once the conversation carries what the
    model wrote, the same key and model were just served: a 403 then (a moderation refusal
    on some providers) is the model's failure, counted, never an excluded run that a
    resume would play again."""
    flagged = Error(403, "permission_error")
    with pytest.raises(ModelConfigError, match="403"):
        await harness.play(provider, [flagged], seed_task)
    later = await harness.play(
        provider,
        [Tool("python_expression", {"expression": "print('flag me')"}), flagged],
        seed_task,
    )
    assert later.stop == "error" and later.error is not None and "403" in later.error
    assert later.steps == 1
    assert len(harness.sleep.delays) == 0  # a refusal is not retried
    for status in (401, 402, 404):  # never the content's doing: the operator's, on any turn
        with pytest.raises(ModelConfigError, match=str(status)) as raised:
            await harness.play(
                provider,
                [Tool("python_expression", {"expression": "1"}), Error(status, "x_error")],
                seed_task,
            )
        assert not isinstance(raised.value, ModelAccessRefused)


PARSE_FAILED = Error(500, "server_error")
"""What llama.cpp's llama-server answers to a tool call it generated and cannot parse ("Failed
to parse input at pos N", ggml-org/llama.cpp#23838): HTTP 500, every time at temperature 0."""


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_500_on_what_the_model_wrote_is_its_failure(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    """A later turn the server fails with HTTP 500 through every retry, while it answers the
    task's prompt alone without tools, fails on what the model wrote: counted, never an
    excluded run that a resume would play again (a policy could shed its failing runs so)."""
    steps: list[Step] = [
        Tool("python_expression", {"expression": "print(1)"}),
        *[PARSE_FAILED] * 3,  # every attempt of the second turn
        Text("the probe's answer"),  # the task's prompt alone: the server is up
        *[PARSE_FAILED] * 3,  # the conversation again
    ]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "error" and result.error is not None
    assert "500" in result.error and "opening turn" in result.error
    assert result.steps == 1
    requests = harness.server.requests_to(provider)
    assert len(requests) == 8
    probe = requests[4].body
    assert len(probe["messages"]) == 1 and "tools" not in probe  # no tool call to fail on
    assert len(requests[5].body["messages"]) == len(requests[1].body["messages"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_500_the_probe_gets_too_is_infrastructure(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    """A server that fails the task's prompt alone is down, whatever the model wrote."""
    steps: list[Step] = [Tool("python_expression", {"expression": "print(1)"}), *[Error(500)] * 6]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "infrastructure" and result.error is not None and "500" in result.error
    assert len(harness.server.requests_to(provider)) == 7


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_conversation_answered_after_the_probe_goes_on(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    """A 500 that passes (a sampled tool call that parses this time) costs the run nothing:
    the turn the server now answers is used, and the probe's tokens are counted."""
    steps: list[Step] = [
        Tool("python_expression", {"expression": "print(1)"}),
        *[Error(500)] * 3,
        Text("the probe's answer"),
        Tool("submit_answer", {"answer": seed_task.reference()}),
    ]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "submitted" and result.steps == 2
    turns = [m.turn for m in result.transcript if m.role == "assistant" and m.turn is not None]
    assert len(turns) == 2
    in_turns = sum(t.output_tokens for t in turns)
    assert in_turns > 0 and result.usage.output_tokens == in_turns * 3 // 2  # and the probe's


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("busy", [Error(503), Error(529, "overloaded_error"), Error(502)])
async def test_a_busy_or_unreachable_server_is_infrastructure_on_any_turn(
    provider: str, busy: Error, seed_task: Task, harness: Harness
) -> None:
    """502, 503 and 529 say the server or a gateway is busy or down, whatever the request:
    no probe, an excluded run that a resume plays again; so does a mix of 500 and 503."""
    steps: list[Step] = [Tool("python_expression", {"expression": "print(1)"}), *[busy] * 3]
    result = await harness.play(provider, steps, seed_task)
    assert result.stop == "infrastructure"
    assert len(harness.server.requests_to(provider)) == 4
    mixed: list[Step] = [
        Tool("python_expression", {"expression": "1"}),
        Error(500),
        busy,
        Error(500),
    ]
    result = await harness.play(provider, mixed, seed_task)
    assert result.stop == "infrastructure"
    assert len(harness.server.requests_to(provider)) == 8


def test_attnrl_run_counts_a_policy_that_sheds_its_failures_with_500s(
    tmp_path: Path, seed_task: Task, llm_server: FakeLLMServer
) -> None:
    """The selective policy of the 2026-12-04 review, through ``attnrl run`` and a server
    that answers 500 to an unparseable tool call: run 1 submits the reference, run 2 makes a
    call and then fails the server on its second turn. Both count (50%, not 100%), and
    ``--resume`` plays neither again."""
    import os
    import subprocess
    import sys

    failed = openai_error(500, "server_error", "Failed to parse input at pos 12")
    llm_server.enqueue_openai(
        openai_tool_use("submit_answer", {"answer": seed_task.reference()}),  # run 1
        openai_tool_use("python_expression", {"expression": "print(1)"}),  # run 2
        *[failed] * 2,  # --retries 1: two attempts
        openai_text("the probe's answer"),
        *[failed] * 2,
    )
    out = tmp_path / "cli"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {"NO_PROXY": "127.0.0.1,localhost"}
    args = ["run", "--model", "openai/scripted", "--base-url", llm_server.openai_base_url]
    args += ["--preset", "seed-doc", "--retries", "1", "--retry-delay", "0.01"]
    args += ["--runs", "2", "--concurrency", "1", "--no-progress", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["infrastructure_errors"] == 0
    assert summary["runs"] == 2 and summary["passed"] == 1
    records = {r["run_id"]: r for r in load_records(out / "results.jsonl")}
    assert records[2]["stop"] == "error" and "opening turn" in records[2]["message"]
    _resume_runs_nothing(out, env, llm_server, 7)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_first_turn_500_counts_once_the_server_has_taken_tools(
    provider: str, seed_task: Task, harness: Harness
) -> None:
    """llama.cpp's server answers 500 to a tool call it cannot parse on the first turn too
    (found by the 2026-12-04 review of the fix above): once the batch's model client has
    answered a request with tools, a run whose first request fails so, while the server
    answers the prompt alone, is the model's failure. Before any request with tools was
    answered the 500 may say the server takes no tools: infrastructure (the test above)."""
    model = make_model(provider, harness.server, harness.sleep)
    steps: list[Step] = [
        Tool("submit_answer", {"answer": seed_task.reference()}),  # run 1: tools served
        *[PARSE_FAILED] * 3,  # run 2's first turn
        Text("the probe's answer"),
        *[PARSE_FAILED] * 3,
    ]
    harness.server.enqueue(provider, *(to_wire(provider, s) for s in steps))
    try:
        first = await run_agent(seed_task, model, harness.sandbox)
        second = await run_agent(seed_task, model, harness.sandbox)
    finally:
        await model.aclose()  # type: ignore[attr-defined]
    assert first.stop == "submitted"
    assert second.stop == "error" and second.error is not None and "opening turn" in second.error
    assert second.steps == 0
    probe = harness.server.requests_to(provider)[4].body
    assert len(probe["messages"]) == 1 and "tools" not in probe
