"""Provider-neutral conversation types and the one interface every model implements.

Provider modules only convert these to and from their SDK's wire format; the agent
loop never sees an SDK object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from attnrl.task.tools import ToolSpec  # the task owns its tools; re-exported for providers

__all__ = [
    "ANTHROPIC_API_KEY_ENV",
    "OPENAI_API_KEY_ENV",
    "OPENAI_BASE_URL_ENV",
    "SIMULATED_NAME",
    "Message",
    "Model",
    "ModelAccessRefused",
    "ModelConfigError",
    "ModelContextExceeded",
    "ModelError",
    "ModelSource",
    "ModelTurn",
    "ModelRequestRejected",
    "ModelUnavailable",
    "ToolCall",
    "ToolResult",
    "SharedModel",
    "ToolSpec",
    "TurnIssue",
    "TurnStats",
    "Usage",
]


ANTHROPIC_API_KEY_ENV = "ANTHROPIC_API_KEY"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"
"""The providers' credential variables, here (no SDK import) so that choosing a model or
printing help never imports a provider SDK."""

SIMULATED_NAME = "simulated"
"""The model name of the offline scripted agents (:mod:`attnrl.models.simulated`), here so
that naming it imports neither the agents nor the task."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model made.

    ``arguments`` is None when the provider sent arguments that are not a JSON object;
    ``raw_arguments`` then keeps what was sent so the loop can tell the model.
    """

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What goes back to the model for one tool call."""

    call_id: str
    content: str
    is_error: bool = False


TurnIssue = Literal["empty", "truncated"]
"""What can be wrong with a turn the provider answered normally."""


@dataclass(frozen=True)
class TurnStats:
    """How one assistant turn went, as the transcript records it: without these a 91 s turn,
    a turn cut at ``max_tokens`` or an empty turn from a full context are invisible.

    ``issue`` is None for an ordinary turn, else ``empty`` (no text, no tool call) or
    ``truncated`` (cut at the output limit); ``cause`` says why, in words
    (:func:`attnrl.harness.turns.classify_turn`)."""

    latency_s: float | None
    """Wall time of the turn's request, retries and their waits included; None for a model
    that makes no request (the simulated agents)."""
    input_tokens: int
    """Every prompt token of the request (cached or not)."""
    output_tokens: int
    finish_reason: str | None
    """The provider's own word (``tool_calls``, ``length``, ``end_turn``...), None if absent."""
    retries: int = 0
    issue: TurnIssue | None = None
    cause: str | None = None


@dataclass(frozen=True)
class Message:
    """One message of the transcript.

    ``user``: ``text``. ``assistant``: ``text``, ``tool_calls`` and its ``turn`` figures.
    ``tool``: ``tool_results`` (answers to the previous assistant message's calls, in order).
    """

    role: Literal["user", "assistant", "tool"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    turn: TurnStats | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for transcripts in ``results.jsonl``."""
        out: dict[str, Any] = {"role": self.role}
        if self.text:
            out["text"] = self.text
        if self.turn is not None:
            out["turn"] = {k: v for k, v in asdict(self.turn).items() if v is not None}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments}
                | ({"raw_arguments": c.raw_arguments} if c.raw_arguments is not None else {})
                for c in self.tool_calls
            ]
        if self.tool_results:
            out["tool_results"] = [
                {"call_id": r.call_id, "content": r.content, "is_error": r.is_error}
                for r in self.tool_results
            ]
        return out


def _add_known(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


@dataclass(frozen=True)
class Usage:
    """Tokens of a turn (or, summed, of a run) split as the provider bills them, so cost is
    usage x price (:mod:`attnrl.stats.cost`). The whole prompt is the sum of the three input
    fields."""

    input_tokens: int = 0
    """Input billed at the base rate: Anthropic's ``input_tokens`` (cache excluded); OpenAI's
    ``prompt_tokens`` minus ``cached_tokens``."""
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = 0
    """Input written to the prompt cache (Anthropic); None when the provider did not say."""
    cache_read_input_tokens: int | None = 0
    """Input read from the prompt cache (Anthropic ``cache_read_input_tokens``, OpenAI
    ``prompt_tokens_details.cached_tokens``); None when the provider did not say: unknown,
    not 0."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            _add_known(self.cache_creation_input_tokens, other.cache_creation_input_tokens),
            _add_known(self.cache_read_input_tokens, other.cache_read_input_tokens),
        )

    @property
    def prompt_tokens(self) -> int:
        """Every input token sent (cached or not; unknown cache counts are already inside
        ``input_tokens``)."""
        return (
            self.input_tokens
            + (self.cache_creation_input_tokens or 0)
            + (self.cache_read_input_tokens or 0)
        )


StopReason = Literal["end_turn", "tool_use", "max_tokens", "other"]


@dataclass(frozen=True)
class ModelTurn:
    """One assistant turn, normalised across providers."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: StopReason
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    """The provider's raw finish/stop reason (``stop_reason`` is its normalised class)."""
    latency_s: float | None = None
    """Wall time of the request, retries included; None where nothing was timed."""
    retries: int = 0
    """Failed attempts before this answer."""

    def as_message(self) -> Message:
        return Message(role="assistant", text=self.text, tool_calls=self.tool_calls)


class ModelError(Exception):
    """Base class of model-side errors the harness handles."""


class ModelConfigError(ModelError):
    """An operator error that retrying cannot fix: a missing or rejected API key, no access,
    an unknown model or a wrong base URL. The run should abort with this message, which
    says what to fix and never contains the key."""


class ModelAccessRefused(ModelConfigError):
    """HTTP 403: the provider refused the request. On a run's first turn that is the key's
    or the model's access (an operator error, like every :class:`ModelConfigError`); on a
    later turn the same key and model were just served, and the request differs only by
    what the model wrote (a moderation refusal is a 403 on some providers), so the loop
    counts it as the model's failure, never an excluded run."""


class ModelUnavailable(ModelError):
    """The model could not be reached after bounded retries: an ``infrastructure`` result,
    not a failure of the model."""


class ModelServerFailed(ModelUnavailable):
    """The server answered the same request with HTTP 500 (an internal error) through every
    retry. Some servers answer 500 to output they cannot handle (llama.cpp's
    ``llama-server`` to a tool call the model generated and it cannot parse, on any turn):
    the loop then asks the server for the task's prompt alone, without tools, and if it
    answers that and fails the conversation again, the run is the model's failure, never an
    excluded run a resume would play again (on a run's first turn only once the client has
    answered a request with tools: before, the server may take none)."""


class ModelRequestRejected(ModelUnavailable):
    """The provider refused the request itself (an HTTP 4xx other than the config ones, e.g.
    400 "prompt is too long"). On a run's first turn that is the harness's request
    (infrastructure); later the conversation carries what the model wrote, and the loop
    counts it as the model's failure."""


class ModelContextExceeded(ModelRequestRejected):
    """The provider refused the request for its size: the prompt (plus the output limit) is
    larger than the model's context. Re-running cannot help, so it is a counted outcome of
    the run (category ``context_overflow``), never infrastructure, whatever the turn."""


class Model(Protocol):
    """An async chat model with tool use."""

    @property
    def name(self) -> str:
        """The model id as recorded in results, e.g. ``anthropic/claude-sonnet-5-5``."""
        ...

    async def generate(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        """One assistant turn; raises :class:`ModelUnavailable` when retries are exhausted."""
        ...

    def record_fields(self) -> dict[str, Any]:
        """What this model adds to its run's record (e.g. a simulated agent's plan and the
        category it means to produce); ``{}`` for real models. JSON-ready."""
        ...


class ModelSource(Protocol):
    """The models of one batch: the runner asks it for each run's model and closes it after.

    It is how the runner stays ignorant of kinds of model: providers share one client
    (:class:`SharedModel`), simulated agents get one scripted model per run id.
    """

    @property
    def name(self) -> str:
        """The model name the batch is recorded under."""
        ...

    def for_run(self, run_id: int) -> Model:
        """The model run ``run_id`` (1-based) talks to."""
        ...

    async def aclose(self) -> None:
        """Release what the models hold (HTTP connection pools)."""
        ...


class SharedModel:
    """A :class:`ModelSource` giving every run the same model (one HTTP client)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    @property
    def name(self) -> str:
        return self.model.name

    def for_run(self, run_id: int) -> Model:
        del run_id  # every run shares the client
        return self.model

    async def aclose(self) -> None:
        close = getattr(self.model, "aclose", None)
        if close is not None:
            await close()
