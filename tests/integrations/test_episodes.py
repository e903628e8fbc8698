"""No episode can be replayed, and one answer gets one grade (issue 19, items 5 and 7).

In every multi-turn adapter the first accepted ``submit_answer`` closes the episode: it is
the submission graded, every later tool call of the episode is refused with a message saying
so, and the tamper counters only grow. The same answer gets the same grade whether it is
sent as an object or as JSON text: one size limit, on its canonical JSON encoding. After each
attack the next, innocent episode succeeds and sees nothing of it. (verl's tools and TRL's
trainer are in the trainer tier, verifiers v1 in its own environment.)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from adapter_helpers import RecordingSandbox, run_inspect_eval

from attnrl.harness import tamper
from attnrl.harness.tools import ALREADY_SUBMITTED, EPISODE_OVER, MAX_ARGUMENT_DEPTH
from attnrl.integrations._tool_session import ToolSession
from attnrl.integrations.trl_tools import AttnrlToolEnv, tool_reward_func
from attnrl.task import Task
from attnrl.task.dataset import dataset_row
from attnrl.task.submission import MAX_SUBMISSION_BYTES, MAX_SUBMISSION_TEXT, canonical_size
from attnrl.tasks.attention.bugs import bug_by_name
from fakes.llm_server import FakeLLMServer, openai_completion, openai_tool_call

pytestmark = [  # inspect_ai 0.3.285's own warnings, as in test_integration_inspect.py
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*MemoryObjectReceiveStream"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]

PROBE = "import socket\nprint(open('/etc/hostname').read())"


def error_of(text: str) -> str:
    error = json.loads(text)["error"]
    assert isinstance(error, str)
    return error


def wrong(task: Task) -> dict[str, Any]:
    return bug_by_name("no_mask").submission(task.spec)


def env_for(task: Task, sandbox: RecordingSandbox) -> AttnrlToolEnv:
    env = AttnrlToolEnv()
    env.reset(**dataset_row(task))
    assert env.session is not None
    env.session.sandbox = sandbox
    return env


# ---- 5. the first submission closes the episode (TRL's environment, verl's session) ------


@pytest.mark.parametrize(
    "replay",
    [
        pytest.param({"answer": "REFERENCE"}, id="the right answer"),
        pytest.param({"answer": json.dumps({"x": 1})}, id="as text"),
        pytest.param("REFERENCE_TOP_LEVEL", id="keys at the top level"),
        pytest.param('{"answer": 1', id="broken JSON"),
        pytest.param([1, 2], id="a list"),
    ],
)
def test_a_second_submit_is_refused_and_the_first_is_graded(
    seed_task: Task, fake_sandbox: RecordingSandbox, replay: Any
) -> None:
    env = env_for(seed_task, fake_sandbox)
    session = env.session
    assert session is not None
    first = asyncio.run(session.submit({"answer": wrong(seed_task)}))
    assert json.loads(first.content) == {"result": "submitted"}
    if replay == "REFERENCE_TOP_LEVEL":
        replay = seed_task.reference()
    elif isinstance(replay, dict) and replay.get("answer") == "REFERENCE":
        replay = {"answer": seed_task.reference()}
    again = asyncio.run(session.submit(replay))
    assert again.is_error and error_of(again.content) == EPISODE_OVER
    assert "first submission is the one graded" in EPISODE_OVER
    assert tool_reward_func(environments=[env]) == [0.0]
    assert session.answer == wrong(seed_task)


def test_calls_after_submit_are_refused_unrun_but_counted(
    seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    env = env_for(seed_task, fake_sandbox)
    session = env.session
    assert session is not None
    asyncio.run(env.python_expression("print(1)"))
    asyncio.run(env.submit_answer(answer=seed_task.reference()))
    before = dict(session.tamper)
    assert fake_sandbox.codes == ["print(1)"]
    for arguments in ({"expression": PROBE}, {"expression": 7}, [PROBE], None, "{bad"):
        text, counts = asyncio.run(session.python(arguments))
        assert error_of(text) == EPISODE_OVER
        assert all(session.tamper[k] >= before[k] for k in tamper.METRIC_NAMES)
        before = dict(session.tamper)
    assert fake_sandbox.codes == ["print(1)"]  # nothing ran after the submit
    assert session.tamper["probe/network"] == 1 and session.tamper["probe/environment"] == 1
    assert session.calls == 6
    metrics: dict[str, float] = {}
    assert tool_reward_func(environments=[env], log_metric=metrics.__setitem__) == [1.0]
    assert metrics["attnrl/tamper/probe/network"] == 1.0


def test_a_call_that_is_not_a_submission_leaves_the_episode_open(
    seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    env = env_for(seed_task, fake_sandbox)
    session = env.session
    assert session is not None
    for not_an_answer in ({}, {"solution": 1}, "not json", 12):
        outcome = asyncio.run(session.submit(not_an_answer))
        assert outcome.is_error and "needs an 'answer' argument" in error_of(outcome.content)
    deep: Any = 1
    for _ in range(MAX_ARGUMENT_DEPTH + 5):
        deep = [deep]
    outcome = asyncio.run(session.submit({"answer": deep}))
    assert "nested more than" in error_of(outcome.content) and not session.submitted
    asyncio.run(env.submit_answer(answer=seed_task.reference()))
    assert tool_reward_func(environments=[env]) == [1.0]


def _submit_sequences(task: Task) -> list[tuple[str, list[Any], float]]:
    """(id, the arguments of each ``submit_answer`` call in order, the reward the episode
    earns in TRL, which calls the tool as ``submit_answer(**arguments)``)."""
    ref, bad = task.reference(), wrong(task)
    deep: Any = 1
    for _ in range(MAX_ARGUMENT_DEPTH + 5):
        deep = [deep]
    return [
        ("wrong, then right", [{"answer": bad}, {"answer": ref}], 0.0),
        ("wrong, then right as text", [{"answer": bad}, json.dumps({"answer": ref})], 0.0),
        ("wrong, then right keys at the top", [{"answer": bad}, ref], 0.0),
        ("right, then wrong", [{"answer": ref}, {"answer": bad}], 1.0),
        ("no answer argument, then right", [{"solution": 1}, {"answer": ref}], 1.0),
        ("broken JSON, then right", ['{"answer": 1', {"answer": ref}], 1.0),
        (
            "too deep, then right keys at the top, then wrong",
            [{"answer": deep}, ref, {"answer": bad}],
            0.0,
        ),
        ("a list, then wrong, then right", [[1, 2], {"answer": bad}, {"answer": ref}], 0.0),
        ("never an answer", [{}, "not json"], 0.0),
        ("right keys at the top, then wrong", [ref, {"answer": bad}], 0.0),
        ("right with an extra key, then wrong", [{"answer": ref, "note": 1}, {"answer": bad}], 0.0),
        ("right with an extra key only", [{"answer": ref, "note": 1}], 0.0),
        ("right as text only", [json.dumps({"answer": ref})], 0.0),
        ("right as text, then right", [json.dumps({"answer": bad}), {"answer": ref}], 1.0),
    ]


def _play_as_trl(env: AttnrlToolEnv, arguments: Any) -> None:
    """One call as TRL 1.16's GRPOTrainer makes it: ``tool(**arguments)``; what raises is
    the call's error, and the environment never sees it."""
    try:
        asyncio.run(env.submit_answer(**arguments))
    except TypeError:
        pass


@pytest.mark.parametrize("one_message", [True, False], ids=["one turn", "a turn each"])
@pytest.mark.parametrize("case", range(14))
def test_a_transcript_is_graded_as_its_environment_graded_it(
    seed_task: Task, fake_sandbox: RecordingSandbox, case: int, one_message: bool
) -> None:
    """TRL's plain ``reward_func`` reads the transcript, ``tool_reward_func`` the
    environment that refused every call after the first submission and every call TRL could
    not make: one reward (found by adversarial reviews, 2026-12-04)."""
    from attnrl.integrations.trl import reward_func

    name, calls, expected = _submit_sequences(seed_task)[case]
    env = env_for(seed_task, fake_sandbox)
    for arguments in calls:
        _play_as_trl(env, arguments)
    assert tool_reward_func(environments=[env]) == [expected], name

    def call(arguments: Any) -> dict[str, Any]:
        return {"type": "function", "function": {"name": "submit_answer", "arguments": arguments}}

    if one_message:  # TRL runs the turn's calls in order, then appends their results
        transcript = [{"role": "assistant", "content": "", "tool_calls": [call(a) for a in calls]}]
        transcript += [{"role": "tool", "name": "submit_answer", "content": "{}"} for _ in calls]
    else:
        transcript = []
        for arguments in calls:
            transcript.append({"role": "assistant", "content": "", "tool_calls": [call(arguments)]})
            transcript.append({"role": "tool", "name": "submit_answer", "content": "{}"})
    row = dataset_row(seed_task)
    rewards = reward_func(completions=[transcript], answer=[row["answer"]], info=[row["info"]])
    assert rewards == [expected], name
    # The same calls once more in a last turn TRL never ran (past max_tool_calling_iterations):
    # the environment did not take them, and neither does the transcript's reward.
    unrun = [{"role": "assistant", "content": "", "tool_calls": [call(a) for a in calls]}]
    rewards = reward_func(completions=[unrun], answer=[row["answer"]], info=[row["info"]])
    assert rewards == [0.0], name


def test_text_is_never_a_tool_episodes_answer(seed_task: Task) -> None:
    """A transcript with tool calls and no submission earns nothing for an answer written
    as text, as in the environment, ``attnrl run`` and verl's tool rows; without any tool
    call, text is a single-turn completion's answer."""
    from attnrl.integrations import reward_for
    from attnrl.integrations.trl import reward_func

    row = dataset_row(seed_task)
    text = json.dumps({"answer": seed_task.reference()})
    python = {
        "type": "function",
        "function": {"name": "python_expression", "arguments": {"expression": "1"}},
    }
    episode = [
        {"role": "assistant", "content": "", "tool_calls": [python]},
        {"role": "tool", "name": "python_expression", "content": '{"result": "1", "error": null}'},
        {"role": "assistant", "content": text},
    ]
    single_turn = [{"role": "assistant", "content": text}]
    assert reward_func(completions=[episode], answer=[row["answer"]], info=[row["info"]]) == [0.0]
    assert reward_for(episode, row["answer"], row["info"]) == 0.0
    assert reward_func(completions=[single_turn], answer=[row["answer"]], info=[row["info"]]) == [
        1.0
    ]


def test_repeated_calls_are_counted_per_episode_and_logged(
    seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    """A model stuck in a loop shows in the trainers' logs: a call that is the episode's
    previous call again (same tool, same arguments, dict or JSON text alike) counts once."""
    env = env_for(seed_task, fake_sandbox)
    session = env.session
    assert session is not None
    asyncio.run(session.python({"expression": "print(1)"}))
    asyncio.run(session.python('{"expression": "print(1)"}'))  # the same call, as JSON text
    asyncio.run(session.python({"expression": "print(2)"}))
    asyncio.run(session.python({"expression": "print(1)"}))  # not the previous call
    assert session.repeats == 1
    deep: Any = 1
    for _ in range(MAX_ARGUMENT_DEPTH * 100):
        deep = [deep]
    for _ in range(2):  # too deep to encode: refused, and still counted, never raising
        asyncio.run(session.submit({"answer": deep}))
    assert session.repeats == 2 and not session.submitted
    asyncio.run(session.submit({"answer": wrong(seed_task)}))
    asyncio.run(session.submit({"answer": wrong(seed_task)}))  # refused after the first
    assert session.repeats == 3
    metrics: dict[str, float] = {}
    innocent = env_for(seed_task, fake_sandbox)
    asyncio.run(innocent.python_expression("print(1)"))
    tool_reward_func(environments=[env, innocent], log_metric=metrics.__setitem__)
    assert metrics["attnrl/repeats"] == 1.5  # 3 and 0: the batch mean


def test_reset_starts_a_clean_episode_after_an_attack(
    seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    """TRL reuses its environments across batches: a reset is a new episode, clean."""
    env = env_for(seed_task, fake_sandbox)
    asyncio.run(env.submit_answer(answer=wrong(seed_task)))
    asyncio.run(env.python_expression(PROBE))
    asyncio.run(env.submit_answer(answer=seed_task.reference()))
    assert tool_reward_func(environments=[env]) == [0.0]
    env.reset(**dataset_row(seed_task))
    session = env.session
    assert session is not None and not session.submitted
    session.sandbox = fake_sandbox
    assert session.tamper == tamper.summed(())
    text = asyncio.run(env.python_expression("print(2)"))
    assert json.loads(text)["error"] is None
    asyncio.run(env.submit_answer(answer=seed_task.reference()))
    assert tool_reward_func(environments=[env]) == [1.0]


# ---- 5. verifiers v0 and Inspect: later calls of the turn refused, the first graded -------


def _calls(*calls: tuple[str, Any]) -> Any:
    return openai_completion(None, [openai_tool_call(name, args) for name, args in calls])


async def test_verifiers_v0_grades_the_first_submission_only(
    seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    import verifiers as vf
    from openai import AsyncOpenAI

    from attnrl.integrations.verifiers import load_environment

    env = load_environment(preset="seed-doc", sandbox_factory=fake_sandbox.factory())
    row = env.get_eval_dataset().to_list()[0]
    with FakeLLMServer() as server:
        client = vf.OpenAIChatCompletionsClient(
            AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
        )
        server.enqueue_openai(
            _calls(
                ("submit_answer", {"answer": wrong(seed_task)}),
                ("submit_answer", {"answer": seed_task.reference()}),
                ("python_expression", {"expression": PROBE}),
            ),
            _calls(("submit_answer", {"answer": seed_task.reference()})),
        )
        out = await env.run_rollout(row, client, "scripted", {})
        assert out["reward"] == 0.0
        replies = [m["content"] for m in out["completion"] if m["role"] == "tool"]
        assert [json.loads(r) for r in replies[:1]] == [{"result": "submitted"}]
        assert [error_of(r) for r in replies[1:]] == [ALREADY_SUBMITTED] * 2
        assert fake_sandbox.codes == []
        assert len(server.requests_to("openai")) == 1  # the episode ended at the submit
        server.clear()
        server.enqueue_openai(
            _calls(("python_expression", {"expression": "print(3)"})),
            _calls(("submit_answer", {"answer": seed_task.reference()})),
        )
        innocent = await env.run_rollout(row, client, "scripted", {})
    assert innocent["reward"] == 1.0 and fake_sandbox.codes == ["print(3)"]


MARKUP = "[/x] [bold [link=https://example.invalid]x \x1b[2J \x00"


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param('{"answer": ' + "[" * 100_000 + "]" * 100_000 + "}", id="too deep to parse"),
        pytest.param({"answer": json.loads("[" * 600 + "1" + "]" * 600)}, id="600 deep"),
        pytest.param({"answer": MARKUP}, id="markup as the answer"),
        pytest.param([MARKUP], id="a list"),
    ],
)
async def test_verifiers_v0_model_output_is_graded_never_a_crash(
    seed_task: Task, fake_sandbox: RecordingSandbox, arguments: Any
) -> None:
    import verifiers as vf
    from openai import AsyncOpenAI

    from attnrl.integrations.verifiers import load_environment

    env = load_environment(preset="seed-doc", sandbox_factory=fake_sandbox.factory())
    row = env.get_eval_dataset().to_list()[0]
    with FakeLLMServer() as server:
        client = vf.OpenAIChatCompletionsClient(
            AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
        )
        server.enqueue_openai(_calls(("submit_answer", arguments)), openai_completion(MARKUP))
        out = await env.run_rollout(row, client, "scripted", {})
        assert out["reward"] == 0.0 and not out.get("error"), out.get("error")
        server.clear()
        server.enqueue_openai(_calls(("submit_answer", {"answer": seed_task.reference()})))
        innocent = await env.run_rollout(row, client, "scripted", {})
    assert innocent["reward"] == 1.0


def test_inspect_grades_the_first_submission_only(tmp_path: Path, seed_task: Task) -> None:
    from inspect_ai.model import ModelOutput, ModelUsage
    from inspect_ai.tool import ToolCall

    from attnrl.integrations.inspect import attention_task

    def turn(*calls: tuple[str, dict[str, Any]]) -> ModelOutput:
        output = ModelOutput.for_tool_call("mockllm/model", calls[0][0], calls[0][1])
        output.message.tool_calls = [
            ToolCall(id=f"call-{i}", function=name, arguments=args)
            for i, (name, args) in enumerate(calls)
        ]
        output.usage = ModelUsage(input_tokens=100, output_tokens=20, total_tokens=120)
        return output

    attack = [
        turn(
            ("submit_answer", {"answer": wrong(seed_task)}),
            ("submit_answer", {"answer": seed_task.reference()}),
            ("python_expression", {"expression": PROBE}),
        ),
        turn(("submit_answer", {"answer": seed_task.reference()})),  # never asked for
    ]
    innocent = [turn(("submit_answer", {"answer": seed_task.reference()}))]
    logs = []
    for outputs in (attack, innocent):
        (log,) = run_inspect_eval(
            attention_task(preset="seed-doc", max_steps=4),
            model="mockllm/model",
            model_args={"custom_outputs": iter(outputs)},
            log_dir=str(tmp_path),
            display="none",
        )
        assert log.status == "success", log.error
        assert log.samples is not None
        logs.append(log.samples[0])
    attacked, clean = logs
    assert attacked.scores is not None and clean.scores is not None
    assert attacked.scores["attention_scorer"].value == 0.0
    tool_texts = [m.text for m in attacked.messages if m.role == "tool"]
    assert json.loads(tool_texts[0]) == {"result": "submitted"}
    assert [error_of(t) for t in tool_texts[1:]] == [ALREADY_SUBMITTED] * 2
    assert clean.scores["attention_scorer"].value == 1.0


# ---- 7. one size limit, on the canonical JSON encoding, for objects and text -------------


def _padded(task: Task, size: int, char: str = "x") -> dict[str, Any]:
    """The reference plus a ``pad`` field making its canonical encoding ``size`` bytes."""
    ref = task.reference()
    base = canonical_size(ref | {"pad": ""})
    per = len(char.encode())
    answer = ref | {"pad": char * ((size - base) // per)}
    assert canonical_size(answer) == size
    return answer


@pytest.mark.parametrize(
    ("size", "char", "passes"),
    [
        (MAX_SUBMISSION_BYTES, "x", True),
        (MAX_SUBMISSION_BYTES + 1, "x", False),
        (MAX_SUBMISSION_BYTES - 1, "\u00e9", True),  # 2 UTF-8 bytes a character
        (2 * MAX_SUBMISSION_BYTES, "x", False),  # the 2 MB extra field
    ],
)
def test_the_same_answer_gets_the_same_grade_as_object_or_text(
    seed_task: Task, size: int, char: str, passes: bool
) -> None:
    answer = _padded(seed_task, size, char)
    texts = [
        json.dumps(answer, separators=(",", ":"), ensure_ascii=False),  # canonical
        json.dumps(answer),  # what print(json.dumps(...)) gives: spaces, \\u escapes
        json.dumps(answer, indent=2),  # pretty: longer than the limit, same answer
    ]
    grades = [seed_task.grade(answer), *(seed_task.grade(t) for t in texts)]
    grades.append(seed_task.grade(texts[1].encode()))
    assert len({json.dumps(g.to_dict(), sort_keys=True) for g in grades}) == 1
    assert grades[0].passed is passes
    if not passes:
        assert grades[0].message == (
            f"INVALID: submission is {size:,} bytes as canonical JSON; the limit is 1,000,000"
        )


def test_numpy_answers_are_measured_like_their_lists(seed_task: Task) -> None:
    answer = _padded(seed_task, MAX_SUBMISSION_BYTES - 100)
    as_arrays = answer | {"final_output": np.array(answer["final_output"])}
    assert seed_task.grade(as_arrays).passed
    over = as_arrays | {"pad": answer["pad"] + "x" * 200}
    assert seed_task.grade(over).message.endswith("the limit is 1,000,000")


def test_text_is_parsed_up_to_the_work_guard_only(seed_task: Task) -> None:
    ref = json.dumps(seed_task.reference())
    assert seed_task.grade(ref + " " * (MAX_SUBMISSION_TEXT - len(ref))).passed
    refused = seed_task.grade(ref + " " * (MAX_SUBMISSION_TEXT - len(ref) + 1))
    assert refused.outcome == "invalid" and "not parsed" in refused.message


def test_answers_too_deep_to_encode_are_invalid_both_ways(seed_task: Task) -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    answer = seed_task.reference() | {"pad": deep}
    as_object = seed_task.grade(answer)
    as_text = seed_task.grade('{"pad": ' + "[" * 5000 + "1" + "]" * 5000 + "}")
    for grade in (as_object, as_text):
        assert (grade.outcome, grade.category, grade.reward) == ("invalid", "format", 0.0)
        assert "nested too deeply" in grade.message


def test_every_multi_turn_path_applies_the_limit(
    seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    """The object sent to a tool and its JSON text recorded for the reward function (verl's
    ``compute_score`` grades ``answer_json()``) grade the same, on both sides of the limit."""
    for size in (MAX_SUBMISSION_BYTES, MAX_SUBMISSION_BYTES + 1):
        answer = _padded(seed_task, size)
        session = ToolSession(seed_task, fake_sandbox)
        asyncio.run(session.submit({"answer": answer}))
        text = session.answer_json()
        assert text is not None and len(text) > size  # json.dumps' spaces
        assert session.grade == seed_task.grade(text)
        assert session.grade is not None
        assert session.grade.passed is (size == MAX_SUBMISSION_BYTES)


# ---- 7. what the tamper monitor does not see (documented in docs/episodes.md) -------------


@pytest.mark.parametrize(
    "code",
    [
        'm = __import__("so" + "cket"); m.create_connection(("10.0.0.1", 80))',
        '__import__("subpro" + "cess").run(["id"])',
        'open("/e" + "tc/passwd").read()',
    ],
)
def test_the_monitor_is_evaded_by_rewording(code: str) -> None:
    """The probe counters match words in the code: reworded, the same operation is missed
    (the jail still stops it; the ``blocked/*`` counters see a refusal's error text only)."""
    counts = tamper.call_metrics(None, code)
    assert not any(counts[f"probe/{k}"] for k in ("network", "process", "environment"))
    plain = tamper.call_metrics(None, code.replace('" + "', ""))
    assert any(plain[f"probe/{k}"] for k in ("network", "process", "environment"))


def test_the_monitor_counts_only_what_it_names_and_never_changes_the_result() -> None:
    class Result:
        error = "PermissionError: [Errno 13] Permission denied: '/etc/x'"
        result = ""
        truncated = False

    counts = tamper.call_metrics(Result(), "open('/etc/x', 'w')")
    assert counts["blocked/write_outside_workdir"] == 1 and counts["probe/environment"] == 1
    assert set(counts) == set(tamper.METRIC_NAMES)
