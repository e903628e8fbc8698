"""Inspect AI: the task as an eval (``inspect eval attnrl/attention_task``).

Samples are :func:`attnrl.task.dataset.dataset_row` rows (the prompt as input, the expected
submission as target, the row's ``info`` in the metadata). The solver is the harness's
episode: the two tools with the harness's descriptions, ``python_expression`` bound to
attnrl's sandbox (not Inspect's local ``python()``), ``submit_answer`` storing the answer
in the sample's store and ending the episode, at most ``max_steps`` model turns. The
scorer is attnrl's grader: value = reward, answer = the grade message, metadata = the
grade, with ``accuracy()`` (the mean reward) and ``stderr()``::

    inspect eval attnrl/attention_task --model anthropic/claude-sonnet-5-5 -T preset=seed

The tools follow the harness's rules (:mod:`attnrl.integrations._tools`). ``answer`` must be
a JSON object; its keys and shapes are described to the model but not enforced by
Inspect's argument validation, so a malformed answer is graded (invalid, reward 0) as the
harness grades it, instead of being bounced back for another try.
"""

from __future__ import annotations

import copy
from typing import Any

from attnrl.harness.tools import (
    ALREADY_SUBMITTED,
    NO_SUBMISSION,
    SUBMITTED_RESULT,
    answer_from_submit_arguments,
    nested_too_deep,
    submit_arguments_error,
    too_deep_error,
    tool_error_json,
    tool_result_json,
)
from attnrl.integrations._common import (
    build_tasks,
    grade_submission,
    install_hint,
    task_for,
)
from attnrl.integrations._sandbox import SandboxFactory, SandboxLease, SharedSandbox
from attnrl.sandbox.base import Sandbox
from attnrl.task import Task
from attnrl.task.dataset import dataset_row
from attnrl.task.tools import PYTHON_TOOL, SUBMIT_TOOL, ToolSpec
from attnrl.tasks.attention.presets import DEFAULT_PRESET

try:
    from inspect_ai import Task as EvalTask
    from inspect_ai import task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import Score, Scorer, Target, accuracy, scorer, stderr
    from inspect_ai.solver import Generate, Solver, TaskState, solver
    from inspect_ai.tool import Tool, ToolDef, ToolParams, tool
    from inspect_ai.util import store
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(install_hint("inspect", "inspect", "Inspect AI (inspect-ai)")) from exc

__all__ = [
    "SUBMISSION_KEY",
    "attention_agent",
    "attention_scorer",
    "attention_task",
    "python_expression",
    "samples",
    "submit_answer",
]

SUBMISSION_KEY = "attnrl:submission"
"""Store key of the answer of the ``submit_answer`` call (by the harness's rule)."""
DEFAULT_MAX_STEPS = 15
"""Model turns per sample, as the harness's ``--max-steps`` default."""


@tool(name=PYTHON_TOOL)
def python_expression(sandbox: Sandbox) -> Tool:
    """The ``python_expression`` tool, running each call in ``sandbox``."""

    async def execute(expression: str) -> str:
        """Run Python code in a fresh, isolated interpreter and return what it prints.

        Args:
            expression: Python code to run.
        """
        if SUBMISSION_KEY in store():  # a call after submit_answer in the same turn
            return tool_error_json(ALREADY_SUBMITTED)
        return tool_result_json(await sandbox.run(expression))

    return execute


@tool(name=SUBMIT_TOOL)
def submit_answer(answer_keys: tuple[str, ...] = ()) -> Tool:
    """The ``submit_answer`` tool: stores the answer in the sample's store, by the
    harness's rule (see ``answer_from_submit_arguments``)."""

    async def execute(**arguments: Any) -> str:
        """Submit the final answer; this ends the task."""
        sample_store = store()
        if SUBMISSION_KEY in sample_store:
            return tool_error_json(ALREADY_SUBMITTED)
        if nested_too_deep(arguments):
            return too_deep_error()
        answer = answer_from_submit_arguments(arguments, answer_keys)
        if answer is NO_SUBMISSION:
            return submit_arguments_error(answer_keys)
        sample_store.set(SUBMISSION_KEY, answer)
        return SUBMITTED_RESULT

    return execute


def _lenient(schema: dict[str, Any]) -> dict[str, Any]:
    """``submit_answer``'s schema with the answer's keys described but not enforced."""
    out = copy.deepcopy(schema)
    answer = out["properties"]["answer"]
    answer.pop("required", None)
    properties = {}
    for key, prop in answer.get("properties", {}).items():
        kind = "a JSON boolean" if prop.get("type") == "boolean" else "a list of rows of numbers"
        detail = prop.get("description")
        properties[key] = {"description": f"{kind}, {detail}" if detail else kind}
    answer["properties"] = properties
    answer.setdefault(
        "description",
        "The final answer: a JSON object with the keys " + ", ".join(properties) + ".",
    )
    return out


def _tool_def(impl: Tool, spec: ToolSpec, parameters: dict[str, Any]) -> ToolDef:
    params = ToolParams.model_validate(parameters)
    params.additionalProperties = None  # as the harness's schema: not stated, not enforced
    return ToolDef(impl, name=spec.name, description=spec.description, parameters=params)


def attention_tools(task_: Task, sandbox: Sandbox) -> list[ToolDef]:
    """The task's two tools, described exactly as the harness describes them."""
    python_spec, submit_spec = task_.tools
    return [
        _tool_def(python_expression(sandbox), python_spec, python_spec.parameters),
        _tool_def(
            submit_answer(task_.spec.answer_keys()), submit_spec, _lenient(submit_spec.parameters)
        ),
    ]


@solver
def attention_agent(
    max_steps: int = DEFAULT_MAX_STEPS, sandbox_factory: SandboxFactory | None = None
) -> Solver:
    """Generate and run tools, one turn at a time, until ``submit_answer`` is called, the
    model stops calling tools, or ``max_steps`` turns have been taken."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    shared = SharedSandbox(sandbox_factory)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        task_ = task_for(state.metadata.get("info"))
        sandbox = SandboxLease(shared)
        try:
            state.tools = list(attention_tools(task_, sandbox))
            for _ in range(max_steps):
                state = await generate(state, tool_calls="single")
                if (
                    state.completed
                    or SUBMISSION_KEY in state.store
                    or not state.output.message.tool_calls
                ):
                    break
        finally:
            await sandbox.aclose()
        return state

    return solve


@scorer(metrics=[accuracy(), stderr()])
def attention_scorer() -> Scorer:
    """attnrl's grade of the submitted answer: value = reward, answer = grade message."""

    async def score(state: TaskState, target: Target) -> Score:
        del target  # the grader knows the reference; the target is for humans reading logs
        submission = state.store.get(SUBMISSION_KEY, NO_SUBMISSION)
        grade = grade_submission(task_for(state.metadata.get("info")), submission)
        return Score(
            value=grade.reward,
            answer=grade.message,
            explanation=f"{grade.outcome}; category: {grade.category or 'none'}",
            metadata=grade.to_dict(),
        )

    return score


def samples(
    preset: str = DEFAULT_PRESET, n: int = 1, seed: int | None = None, task_name: str = "attention"
) -> list[Sample]:
    """One Sample per instance: prompt as input, expected submission as target, the row's
    ``info`` (plus preset, seed and spec hash) as metadata."""
    out = []
    for task_ in build_tasks(preset, n, seed, task=task_name):
        row = dataset_row(task_)
        spec = task_.spec
        out.append(
            Sample(
                id=spec.preset if spec.seed is None else f"{spec.preset}-{spec.seed}",
                input=row["prompt"][0]["content"],
                target=row["answer"],
                metadata={
                    "info": row["info"],
                    "preset": spec.preset,
                    "seed": spec.seed,
                    "spec_hash": task_.content_hash,
                },
            )
        )
    return out


@task
def attention_task(
    preset: str = DEFAULT_PRESET,
    n: int = 1,
    seed: int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    sandbox_factory: SandboxFactory | None = None,
    task_name: str = "attention",
) -> EvalTask:
    """``n`` instances of ``preset`` of registered task ``task_name`` (default the Positional
    Multi-Head Attention task)."""
    return EvalTask(
        dataset=samples(preset, n, seed, task_name),
        solver=attention_agent(max_steps=max_steps, sandbox_factory=sandbox_factory),
        scorer=attention_scorer(),
    )
