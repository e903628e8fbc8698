"""The tool-use loop of one run: prompt → model turns → tools → submission.

It follows the seed's loop (at most ``max_steps`` model turns; ends on ``submit_answer``,
on a turn without tool use, or at the limit) and never crashes on model behaviour:
whatever the model got wrong goes back to it as an error tool result.

Only real infrastructure ends a run as ``infrastructure`` (excluded from the pass rate,
re-run on resume): the model unreachable (:class:`ModelUnavailable`; a request the provider
refuses, a 4xx or a 403 (:class:`ModelAccessRefused`, else an operator error that aborts the
batch), counts so only on the first turn, before the model wrote anything; an HTTP 500 at
every retry, which may answer a tool call the model generated, only if the server fails the
task's prompt alone too, or, on a run's first turn, has not yet answered a request with
tools: :class:`ModelServerFailed`) or the sandbox
failing (any exception out of ``sandbox.run``, re-raised as it was for the caller to
classify). A request refused for its size (:class:`ModelContextExceeded`) is neither: a
re-run fails the same way, so it ends the run as ``context_overflow``, counted, on any turn.
Anything else raised while the loop handles what the model wrote is the model's failure
(stop ``error``, counted): a policy must not be able to turn its failures into exclusions.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from attnrl.harness.tools import (
    ALREADY_SUBMITTED,
    MAX_ARGUMENT_DEPTH,
    NO_SUBMISSION,
    call_tool,
    nested_too_deep,
    tool_error_json,
)
from attnrl.harness.turns import count_repeats, turn_stats
from attnrl.models.base import (
    Message,
    Model,
    ModelAccessRefused,
    ModelConfigError,
    ModelContextExceeded,
    ModelRequestRejected,
    ModelServerFailed,
    ModelTurn,
    ModelUnavailable,
    ToolCall,
    ToolResult,
    Usage,
)
from attnrl.models.retry import GAVE_UP_CAUSE
from attnrl.sandbox.base import ExecResult, Sandbox
from attnrl.task import Task

__all__ = ["AgentResult", "StopReason", "run_agent"]

logger = logging.getLogger(__name__)

StopReason = Literal[
    "submitted", "no_tool_use", "step_limit", "infrastructure", "error", "context_overflow"
]

DROPPED_ARGUMENTS = f"(not kept: nested more than {MAX_ARGUMENT_DEPTH} levels deep)"
"""What the transcript keeps of tool arguments too deep to store or send back."""


class _ConversationFailed(Exception):
    """The server failed the conversation the model built while it answered the task's
    opening turn: the model's failure (see :func:`_generate_past_a_500`)."""


class _SandboxFailed(Exception):
    """Carries an exception out of ``sandbox.run`` past the model-failure handler."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


_SERVED_TOOLS: weakref.WeakSet[Any] = weakref.WeakSet()
"""Model clients that have answered a request with tools (a batch's runs share one)."""


def _served_tools(model: Model) -> bool:
    """Whether ``model`` has answered a request with tools: then a server that fails a run's
    first request with HTTP 500 at every retry supports tools, and what it fails on may be
    the tool call the model generated (llama.cpp's server answers 500 to one it cannot parse,
    on any turn); before that, the 500 may say the server takes no tools (an operator's
    error, never counted against the model)."""
    try:
        return model in _SERVED_TOOLS
    except TypeError:  # not weakly referenceable: never known to
        return False


def _remember_tools(model: Model) -> None:
    """Note that ``model`` answered a request with tools (a set: the same client once)."""
    try:
        _SERVED_TOOLS.add(model)
    except TypeError:
        pass


async def _generate_past_a_500(
    model: Model, transcript: list[Message], task: Task, failed: ModelServerFailed
) -> tuple[ModelTurn, Usage]:
    """After the server answered a turn's request with HTTP 500 through every retry (a later
    turn, or a first one once it has taken tools): whose doing was it? The probe is the
    task's prompt alone and without tools, so neither what the model wrote before nor a tool
    call it writes now can fail it (llama.cpp's server answers 500 to a tool call it cannot
    parse). A server that answers the probe is up, so a conversation it then fails again
    fails on what the model wrote: raises :class:`_ConversationFailed`, counted. A server
    that fails the probe too re-raises ``failed`` (infrastructure). A conversation it now
    answers goes on with that turn. Returns the turn and the tokens the probe cost."""
    try:
        opening = await model.generate(transcript[:1], ())
    except Exception:  # noqa: BLE001 - whatever the server did, it failed the probe
        raise failed from None
    try:
        turn = await model.generate(transcript, task.tools)
    except ModelServerFailed as again:
        raise _ConversationFailed(
            "the server failed the conversation the model built while it answered the "
            f"task's opening turn: {again}"
        ) from None
    return turn, opening.usage


def _unavailable(result: AgentResult, exc: ModelUnavailable) -> None:
    result.stop = "infrastructure"
    result.error = str(exc)
    logger.warning("model unavailable: %s", exc, extra={GAVE_UP_CAUSE: str(exc)})


def _storable(call: ToolCall) -> ToolCall:
    """``call`` as the transcript keeps it: arguments too deep to encode are dropped."""
    if call.arguments is None or not nested_too_deep(call.arguments):
        return call
    return ToolCall(call.id, call.name, None, DROPPED_ARGUMENTS)


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
    """Why the run stopped early: the model or sandbox failure (``infrastructure``), or the
    exception raised while handling the model's output (``error``)."""
    duration_s: float = 0.0
    repeats: int = 0
    """Turns that repeated the previous turn's tool calls exactly
    (:func:`~attnrl.harness.turns.count_repeats`)."""

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
    """Run the loop once. Never raises for model behaviour; see :class:`AgentResult`.

    Raises :class:`ModelConfigError` (the operator must fix it) and whatever
    ``sandbox.run`` raised (the sandbox failed: infrastructure)."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    started = time.perf_counter()
    result = AgentResult(stop="step_limit")
    usage = Usage()

    def record(message: Message) -> None:
        result.transcript.append(message)
        if on_message is not None:
            on_message(message)

    async def run_python(code: str) -> ExecResult:
        try:
            return await sandbox.run(code)
        except Exception as exc:
            raise _SandboxFailed(exc) from exc

    keys = task.answer_keys()
    record(Message(role="user", text=task.prompt))
    try:
        for step in range(1, max_steps + 1):
            try:
                turn = await model.generate(result.transcript, task.tools)
            except ModelServerFailed as failed:
                if step == 1 and not _served_tools(model):  # its tool use may be unsupported
                    raise
                turn, probe = await _generate_past_a_500(model, result.transcript, task, failed)
                usage += probe
            if task.tools:
                _remember_tools(model)
            result.steps = step
            usage += turn.usage
            stored = tuple(_storable(c) for c in turn.tool_calls)
            record(
                Message(role="assistant", text=turn.text, tool_calls=stored, turn=turn_stats(turn))
            )
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
                    call.name, call.arguments, call.raw_arguments, keys, run_python
                )
                outputs.append(ToolResult(call.id, done.content, is_error=done.is_error))
                answer = done.answer
            result.tool_errors += sum(o.is_error for o in outputs)
            record(Message(role="tool", tool_results=tuple(outputs)))
            if answer is not NO_SUBMISSION:
                result.stop = "submitted"
                result.answer = answer
                break
    except ModelContextExceeded as exc:  # before its base class: never infrastructure
        result.stop = "context_overflow"
        result.error = str(exc)[:500]
        logger.warning("a request exceeded the model's context (counted as a failure): %s", exc)
    except (ModelRequestRejected, ModelAccessRefused) as exc:
        if result.steps >= 1:  # the conversation the model built was refused (too long, flagged)
            result.stop = "error"
            result.error = f"the provider refused the conversation: {exc}"[:500]
            logger.warning("a run's conversation was refused (counted as a failure): %s", exc)
        elif isinstance(exc, ModelAccessRefused):  # the key's or the model's access
            raise
        else:  # the first request is the task's prompt: not the model's doing
            _unavailable(result, exc)
    except ModelUnavailable as exc:
        _unavailable(result, exc)
    except _ConversationFailed as exc:
        result.stop = "error"
        result.error = str(exc)[:500]
        logger.warning("a run's conversation failed the server (counted as a failure): %s", exc)
    except _SandboxFailed as failed:
        raise failed.cause from None
    except ModelConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - raised on the model's output: its failure
        result.stop = "error"
        result.error = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning(
            "a run stopped on the model's output (counted as a failure): %s", result.error
        )
        logger.info("the model's output raised:", exc_info=True)  # in the run log
    result.usage = usage
    result.repeats = count_repeats(result.transcript)
    result.duration_s = time.perf_counter() - started
    return result
