"""The tool-use loop of one run: prompt → model turns → tools → submission.

It follows the seed's loop (at most ``max_steps`` model turns; ends on ``submit_answer``,
on a turn without tool use, or at the limit) and never crashes on model behaviour:
whatever the model got wrong goes back to it as an error tool result. Only an
unreachable model (:class:`ModelUnavailable`) ends a run early, as infrastructure.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from attnrl.models.base import Message, Model, ModelUnavailable, ToolCall, ToolResult, Usage
from attnrl.prompt import PYTHON_TOOL, SUBMIT_TOOL
from attnrl.sandbox.base import Sandbox
from attnrl.task import Task

__all__ = ["AgentResult", "StopReason", "run_agent"]

logger = logging.getLogger(__name__)

StopReason = Literal["submitted", "no_tool_use", "step_limit", "infrastructure"]
_NO_ANSWER = object()


@dataclass
class AgentResult:
    """What one run of the loop produced (before grading)."""

    stop: StopReason
    answer: Any = None
    """The submitted answer exactly as the model sent it (dict, string, ...)."""
    steps: int = 0
    """Model turns taken."""
    transcript: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tool_errors: int = 0
    error: str | None = None
    """Why the model could not be reached, for ``infrastructure``."""
    duration_s: float = 0.0

    @property
    def submitted(self) -> bool:
        return self.stop == "submitted"


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.id, json.dumps({"result": "", "error": message}), is_error=True)


def _submitted_answer(call: ToolCall, answer_keys: tuple[str, ...]) -> Any:
    """The answer carried by a ``submit_answer`` call, or ``_NO_ANSWER``.

    Accepts ``{"answer": {...}}`` (the schema), ``{"answer": "<json>"}`` (a string, parsed
    by the grader), and, leniently, the answer keys at the top level (a common slip that
    carries a complete answer; decided so a format slip is not mistaken for no answer).
    """
    args = call.arguments
    if args is None:
        return _NO_ANSWER
    if "answer" in args:
        return args["answer"]
    if answer_keys and all(k in args for k in answer_keys):
        return args
    return _NO_ANSWER


async def _python_call(sandbox: Sandbox, call: ToolCall) -> ToolResult:
    code = call.arguments.get("expression") if call.arguments is not None else None
    if not isinstance(code, str):
        return _error(
            call,
            f"{PYTHON_TOOL} needs an 'expression' argument holding Python code as a string; "
            f"got {call.raw_arguments if call.arguments is None else call.arguments!r:.200}",
        )
    result = await sandbox.run(code)
    return ToolResult(call.id, json.dumps(result.to_tool_json()), is_error=result.error is not None)


async def run_agent(
    task: Task,
    model: Model,
    sandbox: Sandbox,
    max_steps: int = 15,
    on_message: Callable[[Message], None] | None = None,
) -> AgentResult:
    """Run the loop once. Never raises for model behaviour; see :class:`AgentResult`."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    started = time.perf_counter()
    result = AgentResult(stop="step_limit")
    tokens_in = tokens_out = 0

    def record(message: Message) -> None:
        result.transcript.append(message)
        if on_message is not None:
            on_message(message)

    record(Message(role="user", text=task.prompt))
    try:
        for step in range(1, max_steps + 1):
            turn = await model.generate(result.transcript, task.tools)
            result.steps = step
            tokens_in += turn.usage.input_tokens
            tokens_out += turn.usage.output_tokens
            record(turn.as_message())
            if not turn.tool_calls:
                result.stop = "no_tool_use"
                break
            outputs: list[ToolResult] = []
            answer: Any = _NO_ANSWER
            for call in turn.tool_calls:
                if answer is not _NO_ANSWER:
                    outputs.append(_error(call, "not run: an answer was already submitted"))
                elif call.name == PYTHON_TOOL:
                    outputs.append(await _python_call(sandbox, call))
                elif call.name == SUBMIT_TOOL:
                    answer = _submitted_answer(call, task.spec.answer_keys())
                    if answer is _NO_ANSWER:
                        outputs.append(
                            _error(
                                call,
                                f"{SUBMIT_TOOL} needs an 'answer' argument: a JSON object with the "
                                f"keys {', '.join(task.spec.answer_keys())}",
                            )
                        )
                    else:
                        outputs.append(ToolResult(call.id, json.dumps({"result": "submitted"})))
                else:
                    outputs.append(
                        _error(
                            call,
                            f"unknown tool {call.name!r}; the tools are {PYTHON_TOOL} and "
                            f"{SUBMIT_TOOL}",
                        )
                    )
            result.tool_errors += sum(o.is_error for o in outputs)
            record(Message(role="tool", tool_results=tuple(outputs)))
            if answer is not _NO_ANSWER:
                result.stop = "submitted"
                result.answer = answer
                break
    except ModelUnavailable as exc:
        result.stop = "infrastructure"
        result.error = str(exc)
        logger.warning("model unavailable: %s", exc)
    result.usage = Usage(tokens_in, tokens_out)
    result.duration_s = time.perf_counter() - started
    return result
