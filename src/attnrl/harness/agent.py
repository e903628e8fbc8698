"""The tool-use loop of one run: prompt → model turns → tools → submission.

It follows the seed's loop (at most ``max_steps`` model turns; ends on ``submit_answer``,
on a turn without tool use, or at the limit) and never crashes on model behaviour:
whatever the model got wrong goes back to it as an error tool result. Only an
unreachable model (:class:`ModelUnavailable`) ends a run early, as infrastructure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from attnrl.harness.tools import ALREADY_SUBMITTED, NO_SUBMISSION, call_tool, tool_error_json
from attnrl.models.base import Message, Model, ModelUnavailable, ToolResult, Usage
from attnrl.models.retry import GAVE_UP_CAUSE
from attnrl.sandbox.base import Sandbox
from attnrl.task import Task

__all__ = ["AgentResult", "StopReason", "run_agent"]

logger = logging.getLogger(__name__)

StopReason = Literal["submitted", "no_tool_use", "step_limit", "infrastructure"]


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
    usage = Usage()

    def record(message: Message) -> None:
        result.transcript.append(message)
        if on_message is not None:
            on_message(message)

    keys = task.spec.answer_keys()
    record(Message(role="user", text=task.prompt))
    try:
        for step in range(1, max_steps + 1):
            turn = await model.generate(result.transcript, task.tools)
            result.steps = step
            usage += turn.usage
            record(turn.as_message())
            if not turn.tool_calls:
                result.stop = "no_tool_use"
                break
            outputs: list[ToolResult] = []
            answer: Any = NO_SUBMISSION
            for call in turn.tool_calls:
                if answer is not NO_SUBMISSION:
                    content = tool_error_json(ALREADY_SUBMITTED)
                    outputs.append(ToolResult(call.id, content, is_error=True))
                    continue
                done = await call_tool(
                    call.name, call.arguments, call.raw_arguments, keys, sandbox.run
                )
                outputs.append(ToolResult(call.id, done.content, is_error=done.is_error))
                answer = done.answer
            result.tool_errors += sum(o.is_error for o in outputs)
            record(Message(role="tool", tool_results=tuple(outputs)))
            if answer is not NO_SUBMISSION:
                result.stop = "submitted"
                result.answer = answer
                break
    except ModelUnavailable as exc:
        result.stop = "infrastructure"
        result.error = str(exc)
        logger.warning("model unavailable: %s", exc, extra={GAVE_UP_CAUSE: str(exc)})
    result.usage = usage
    result.duration_s = time.perf_counter() - started
    return result
