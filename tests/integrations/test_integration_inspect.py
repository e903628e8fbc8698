"""The Inspect AI task, run by Inspect's own ``eval()`` with ``mockllm/model`` scripted to
call the python tool (in attnrl's sandbox) and then submit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import run_inspect_eval

pytest.importorskip("inspect_ai")
from inspect_ai.model import ChatMessage, ModelOutput, ModelUsage  # noqa: E402
from inspect_ai.tool import ToolInfo  # noqa: E402

from attnrl.integrations.inspect import attention_task, samples  # noqa: E402
from attnrl.task import Task  # noqa: E402
from attnrl.tasks.attention.bugs import bug_by_name  # noqa: E402

MODEL = "mockllm/model"

# Narrow exemptions for inspect_ai 0.3.285 itself (a minimal eval with any tool shows both):
# its retry setup calls tenacity's wait_exponential(initial=...), and its tool-call stage
# leaves an anyio MemoryObjectReceiveStream unclosed (a ResourceWarning at gc).
INSPECT_WARNINGS = [
    pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*MemoryObjectReceiveStream"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]
pytestmark = INSPECT_WARNINGS


def scripted(output: ModelOutput) -> ModelOutput:
    """Usage set explicitly: mockllm would otherwise count tokens with tiktoken, which
    downloads its encoding."""
    output.usage = ModelUsage(input_tokens=100, output_tokens=20, total_tokens=120)
    return output


def tool_call(name: str, arguments: dict[str, Any]) -> ModelOutput:
    return scripted(ModelOutput.for_tool_call(MODEL, name, arguments))


def test_samples_carry_the_row(seed_task: Task) -> None:
    (sample,) = samples("seed-doc")
    assert sample.input == seed_task.prompt
    assert json.loads(str(sample.target)) == seed_task.reference()
    assert sample.metadata is not None
    assert sample.metadata["spec_hash"] == seed_task.content_hash
    assert len({s.id for s in samples("procedural", n=3, seed=5)}) == 3


def test_eval_with_mockllm_python_then_submit(tmp_path: Path, seed_task: Task) -> None:
    seen: list[tuple[list[ChatMessage], list[ToolInfo]]] = []
    outputs = iter(
        [
            tool_call("python_expression", {"expression": "print(np.arange(3).tolist())"}),
            tool_call("submit_answer", {"answer": seed_task.reference()}),
        ]
    )

    def model(messages: list[ChatMessage], tools: list[ToolInfo], *_: Any) -> ModelOutput:
        seen.append((list(messages), list(tools)))
        return next(outputs)

    (log,) = run_inspect_eval(
        attention_task(preset="seed-doc", max_steps=5),  # attnrl's own sandbox
        model=MODEL,
        model_args={"custom_outputs": model},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.results is not None
    metrics = log.results.scores[0].metrics
    assert metrics["accuracy"].value == 1.0 and "stderr" in metrics
    assert log.samples is not None
    score = log.samples[0].scores["attention_scorer"]  # type: ignore[index]
    assert score.value == 1.0
    assert score.answer is not None and score.answer.startswith("SUCCESS: Complete")
    assert score.metadata is not None and score.metadata["outcome"] == "full_success"

    # The python result came from the sandbox, in the harness's tool-result format.
    second_turn_messages = seen[1][0]
    assert second_turn_messages[-1].role == "tool"
    assert json.loads(second_turn_messages[-1].text) == {"result": "[0, 1, 2]\n", "error": None}
    # The tools offered are the harness's, by name and description.
    offered = {t.name: t for t in seen[0][1]}
    for spec in seed_task.tools:
        assert offered[spec.name].description == spec.description
    assert offered["python_expression"].parameters.required == ["expression"]


def test_partial_credit_and_no_submission(tmp_path: Path, seed_task: Task) -> None:
    swapped = bug_by_name("concat_swapped").submission(seed_task.spec)
    outputs = iter(
        [
            tool_call("submit_answer", {"answer": swapped}),
            scripted(ModelOutput.from_content(MODEL, "I would rather not use the tools.")),
        ]
    )
    (log,) = run_inspect_eval(
        attention_task(preset="seed-doc"),
        model=MODEL,
        model_args={"custom_outputs": outputs},
        epochs=2,
        max_samples=1,
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.samples is not None
    scores = sorted(s.scores["attention_scorer"].value for s in log.samples)  # type: ignore[index]
    assert scores == [0.0, 0.5]
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 0.25


def test_eval_of_the_rope_task_grades_with_its_own_grader(tmp_path: Path) -> None:
    from attnrl.task import load_task

    rope = load_task(task="rope", seed=0)
    wrong = rope.entry_answer(rope.bugs()[0])
    scores = []
    for answer in (rope.reference(), wrong):
        outputs = iter([tool_call("submit_answer", {"answer": answer})])
        (log,) = run_inspect_eval(
            attention_task(preset="procedural", seed=0, max_steps=3, task_name="rope"),
            model=MODEL,
            model_args={"custom_outputs": lambda *_, it=outputs: next(it)},
            log_dir=str(tmp_path),
            display="none",
        )
        assert log.status == "success", log.error
        assert log.samples is not None and log.samples[0].input == rope.prompt
        scores.append(log.samples[0].scores["attention_scorer"])  # type: ignore[index]
    assert [s.value for s in scores] == [1.0, 0.0]
    assert scores[0].answer is not None and scores[0].answer.startswith("SUCCESS: RoPE")
