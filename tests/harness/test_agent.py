"""The agent loop through the real anthropic and openai SDKs against a loopback fake server.

Each scenario is written once, provider-neutrally, and replayed in both wire formats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from attnrl.harness.agent import run_agent
from attnrl.models.anthropic import AnthropicModel
from attnrl.models.base import Model
from attnrl.models.openai import OpenAIModel
from attnrl.models.retry import RetryPolicy
from attnrl.models.simulated import solution_code
from attnrl.sandbox import LocalSandbox
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
