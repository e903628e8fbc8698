"""The rules and result texts of the model's two tools, shared by the harness's loop
(:mod:`attnrl.harness.agent`) and the multi-turn adapters (verifiers, Inspect), so an episode
there is the episode ``attnrl run`` records."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from attnrl.sandbox.base import ExecResult
from attnrl.task.tools import PYTHON_TOOL, SUBMIT_TOOL

__all__ = [
    "ALREADY_SUBMITTED",
    "EPISODE_OVER",
    "JSON_SCALAR_TYPES",
    "MAX_ARGUMENT_DEPTH",
    "NO_SUBMISSION",
    "SUBMITTED_RESULT",
    "ToolOutcome",
    "answer_from_submit_arguments",
    "call_tool",
    "nested_too_deep",
    "parse_arguments",
    "python_arguments_error",
    "submit_arguments_error",
    "tool_error_json",
    "too_deep_error",
    "tool_result_json",
    "unknown_tool_error",
]

NO_SUBMISSION: Any = object()
"""Sentinel: a tool call (or a completion) that carries no answer to grade."""

SUBMITTED_RESULT = json.dumps({"result": "submitted"})
"""The ``submit_answer`` result once an answer is taken."""
ALREADY_SUBMITTED = "not run: an answer was already submitted"
EPISODE_OVER = (
    "not run: this episode is over (an answer was already submitted; the first submission "
    "is the one graded)"
)
"""What every later tool call of a submitted episode gets (a trainer that keeps calling)."""
MAX_ARGUMENT_DEPTH = 32
"""Tool arguments nested deeper than this are refused, never stored or sent back: an
answer nests 4 deep in its arguments, and Python's JSON encoder and the record writers
recurse, so a value nested ~1000 deep would fail them outside the model's turn."""


JSON_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
"""The exact types of the scalars parsed JSON holds (none of them holds anything nested)."""


def tool_result_json(result: ExecResult) -> str:
    """A ``python_expression`` result exactly as the harness shows it to the model."""
    return json.dumps(result.to_tool_json())


def tool_error_json(message: str) -> str:
    """A tool call that could not run, in the harness's shape."""
    return json.dumps({"result": "", "error": message})


def parse_arguments(raw: Any) -> dict[str, Any] | None:
    """Tool-call arguments as a dict (from a dict or a JSON string); None when they are not
    a JSON object."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def nested_too_deep(value: Any, limit: int = MAX_ARGUMENT_DEPTH) -> bool:
    """Whether ``value`` has dicts/lists nested more than ``limit`` deep (checked a level at
    a time, without recursion, so any depth is safe to ask about)."""
    level: list[Any] = [value]
    depth = 1
    while level:
        below: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                children: Any = item.values()
            elif isinstance(item, list | tuple):
                children = item
            else:
                continue
            if depth > limit:
                return True
            if not JSON_SCALAR_TYPES.issuperset(map(type, children)):  # a row: one C pass
                below.extend(c for c in children if isinstance(c, dict | list | tuple))
        level, depth = below, depth + 1
    return False


def too_deep_error() -> str:
    return tool_error_json(
        f"the arguments are nested more than {MAX_ARGUMENT_DEPTH} levels deep; an answer is "
        "an object of lists of rows of numbers"
    )


def answer_from_submit_arguments(
    arguments: dict[str, Any] | None, answer_keys: tuple[str, ...]
) -> Any:
    """The answer a ``submit_answer`` call carries, by the harness's rule:
    ``arguments["answer"]`` as is (a string is parsed by the grader), else the arguments
    themselves when every answer key is at the top level (a common slip), else
    :data:`NO_SUBMISSION` (the model is told, and may call again)."""
    if arguments is None:
        return NO_SUBMISSION
    if "answer" in arguments:
        return arguments["answer"]
    if answer_keys and all(k in arguments for k in answer_keys):
        return arguments
    return NO_SUBMISSION


def python_arguments_error(arguments: dict[str, Any] | None, raw: Any) -> str:
    got = raw if arguments is None else arguments
    return tool_error_json(
        f"{PYTHON_TOOL} needs an 'expression' argument holding Python code as a string; "
        f"got {got!r:.200}"
    )


def submit_arguments_error(answer_keys: tuple[str, ...]) -> str:
    return tool_error_json(
        f"{SUBMIT_TOOL} needs an 'answer' argument: a JSON object with the keys "
        f"{', '.join(answer_keys)}"
    )


def unknown_tool_error(name: str) -> str:
    return tool_error_json(f"unknown tool {name!r}; the tools are {PYTHON_TOOL} and {SUBMIT_TOOL}")


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call produced: the text for the model, and the answer if it submitted."""

    content: str
    is_error: bool
    answer: Any = NO_SUBMISSION


async def call_tool(
    name: str,
    arguments: dict[str, Any] | None,
    raw_arguments: Any,
    answer_keys: tuple[str, ...],
    run_python: Callable[[str], Awaitable[ExecResult]],
) -> ToolOutcome:
    """Run one tool call by the harness's rules; ``run_python`` executes the code (a sandbox).

    Never raises for what the model sent: bad arguments and unknown tools come back as an
    error result the model can read and act on.
    """
    if arguments is not None and nested_too_deep(arguments):
        return ToolOutcome(too_deep_error(), True)
    if name == PYTHON_TOOL:
        code = arguments.get("expression") if arguments is not None else None
        if not isinstance(code, str):
            return ToolOutcome(python_arguments_error(arguments, raw_arguments), True)
        result = await run_python(code)
        return ToolOutcome(tool_result_json(result), result.error is not None)
    if name == SUBMIT_TOOL:
        answer = answer_from_submit_arguments(arguments, answer_keys)
        if answer is NO_SUBMISSION:
            return ToolOutcome(submit_arguments_error(answer_keys), True)
        return ToolOutcome(SUBMITTED_RESULT, False, answer)
    return ToolOutcome(unknown_tool_error(name), True)
