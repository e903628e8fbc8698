"""Bounded, explicit retries around one model request.

This is the only retry layer: both provider clients are built with ``max_retries=0`` so that
the SDKs never retry on their own, and every retry is decided, delayed and logged here.

The decision follows the Anthropic SDK's own ``_should_retry`` / ``_calculate_retry_timeout``
(``anthropic/_base_client.py``), minus the non-standard ``x-should-retry`` header:

* retried: HTTP 408, 409, 429, any 5xx (which includes Anthropic's 529), any error body whose
  type is ``overloaded_error``, connection errors and timeouts;
* 401, 402, 403 and 404 raise :class:`~attnrl.models.base.ModelConfigError` at once: a bad or
  missing key, no access, no credit, an unknown model or a wrong base URL are operator
  errors that must abort the run with a message saying what to fix (a 403 as its subclass
  :class:`~attnrl.models.base.ModelAccessRefused`, which the agent loop counts as the
  model's failure past a run's first turn);
* any other error response (e.g. 400 invalid request) raises
  :class:`~attnrl.models.base.ModelUnavailable` at once; a 4xx that says the request is too
  large for the model's context (OpenAI's and llama-cpp-python's ``context_length_exceeded``,
  llama.cpp llama-server's ``exceed_context_size_error``,
  Anthropic's "prompt is too long") raises
  :class:`~attnrl.models.base.ModelContextExceeded`.

Delays grow exponentially from ``initial_delay_s`` up to ``max_delay_s`` with multiplicative
jitter, unless the server sent ``retry-after-ms`` / ``retry-after``, which is obeyed up to
``max_retry_after_s``. After ``max_attempts`` failed attempts the last error is raised as
:class:`~attnrl.models.base.ModelUnavailable`, naming the error and the attempt count (as
its subclass :class:`~attnrl.models.base.ModelServerFailed` when every attempt was answered
with HTTP 500, which the agent loop checks against the task's opening turn).

No message or log record built here contains the API key: server-provided text is scrubbed
of the key (and of anything shaped like a key) before use.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from attnrl.models.base import (
    ModelAccessRefused,
    ModelConfigError,
    ModelContextExceeded,
    ModelRequestRejected,
    ModelServerFailed,
    ModelUnavailable,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "SERVER_ERROR",
    "GAVE_UP_CAUSE",
    "RETRY_CAUSE",
    "RetryPolicy",
    "SleepFn",
    "call_with_retries",
    "is_context_overflow",
    "redact",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SleepFn = Callable[[float], Awaitable[None]]
"""An async sleep, ``asyncio.sleep`` by default; tests inject one that records delays."""

RETRY_CAUSE = "retry_cause"
"""Attribute of each retry's log record naming its cause, so a console can count retries by
cause (one line per cause) instead of printing one warning per retry."""

GAVE_UP_CAUSE = "gave_up_cause"
"""Attribute of the log record of a run that gave up on its model (counted the same way)."""

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Retried statuses below 500 (every status >= 500 is retried too)."""

_CONFIG_STATUSES = frozenset({401, 402, 403, 404})

SERVER_ERROR = 500
"""The one 5xx a server answers to what a request holds (llama.cpp's ``llama-server``: a tool
call it cannot parse); 502-504 and Anthropic's 529 say the server or a gateway is busy or
down, whatever the request."""

# Cap for server text copied into our messages.
_MAX_SERVER_TEXT = 400


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one model request is retried.

    ``max_attempts`` counts the first try: ``max_attempts=1`` never retries. The delay
    before retry ``n`` (1-based) is ``min(initial_delay_s * 2**(n-1), max_delay_s)``
    multiplied by a factor drawn uniformly from ``[1 - jitter, 1]``. A server-sent
    ``retry-after-ms`` / ``retry-after`` replaces that delay, capped at ``max_retry_after_s``.
    """

    max_attempts: int = 6
    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    jitter: float = 0.25
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for field_name in ("initial_delay_s", "max_delay_s", "max_retry_after_s"):
            value = getattr(self, field_name)
            if not _is_real(value) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{field_name} must be a finite number >= 0, got {value!r}")
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError(
                f"max_delay_s ({self.max_delay_s}) must be >= initial_delay_s "
                f"({self.initial_delay_s})"
            )
        if not _is_real(self.jitter) or not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter!r}")

    def backoff_delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay in seconds before retry ``retry_number`` (1 = the first retry)."""
        if retry_number < 1:
            raise ValueError(f"retry_number must be >= 1, got {retry_number}")
        exponent = min(retry_number - 1, 1000)  # as the SDK does: no overflow in pow
        base = min(self.initial_delay_s * 2.0**exponent, self.max_delay_s)
        draw = (rng or random).random()
        return max(0.0, base * (1.0 - self.jitter * draw))

    def delay(
        self, retry_number: int, retry_after_s: float | None, rng: random.Random | None = None
    ) -> float:
        """The delay actually used: the server's ``retry-after`` (capped) if it sent a
        positive one, else :meth:`backoff_delay`."""
        if retry_after_s is not None and retry_after_s > 0:
            return min(retry_after_s, self.max_retry_after_s)
        return self.backoff_delay(retry_number, rng)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# Secrets


_KEY_SHAPED = re.compile(r"\b(?:sk|pk|rk|key)[-_][A-Za-z0-9*_.\-]{3,}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without any of ``secrets`` (verbatim) and without key-shaped tokens such as
    ``sk-ant-...`` or OpenAI's partly masked ``sk-proj-****abcd``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub("[redacted]", text)


# ---------------------------------------------------------------------------------------------
# Classification


@dataclass(frozen=True)
class _Failure:
    kind: Literal["retry", "config", "fatal"]
    description: str
    retry_after_s: float | None = None
    rejected: bool = False
    """A 4xx answer to the request itself (see :class:`ModelRequestRejected`)."""
    too_large: bool = False
    """A rejection for the request's size (see :class:`ModelContextExceeded`)."""
    status: int | None = None
    """The HTTP status of the server's answer, if it sent one."""


_CONTEXT_CODES = frozenset(
    {"context_length_exceeded", "request_too_large", "exceed_context_size_error"}
)
"""OpenAI's (and llama-cpp-python's) code, Anthropic's 413 type, llama.cpp llama-server's type
("request (N tokens) exceeds the available context size (M tokens)")."""
_CONTEXT_WORDS = re.compile(
    r"maximum context length|context (?:length|window)|prompt is too long|too many tokens"
    r"|exceeds? the context",
    re.IGNORECASE,
)


def is_context_overflow(err_type: str | None, message: str | None) -> bool:
    """Whether an error body says the request is larger than the model's context: by its
    code where the server sends one, else by its words (servers differ)."""
    if err_type in _CONTEXT_CODES:
        return True
    return message is not None and _CONTEXT_WORDS.search(message) is not None


def _error_fields(body: object) -> tuple[str | None, str | None]:
    """``(type, message)`` from an error body in either provider's shape.

    Anthropic: ``{"type": "error", "error": {"type": ..., "message": ...}}``; the OpenAI SDK
    hands over the inner ``{"message", "type", "code"}`` object already.
    """
    if not isinstance(body, Mapping):
        return None, None
    inner = body.get("error")
    if isinstance(inner, Mapping):
        body = inner
    err_type = body.get("type")
    if not isinstance(err_type, str) or err_type == "error":
        code = body.get("code")
        err_type = code if isinstance(code, str) else None
    message = body.get("message")
    return err_type, message if isinstance(message, str) else None


def _parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    try:
        return float(headers["retry-after-ms"]) / 1000.0
    except (KeyError, TypeError, ValueError):
        pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed) - time.time())


def _short(text: str, secrets: Iterable[str]) -> str:
    text = " ".join(redact(text, secrets).split())
    if len(text) > _MAX_SERVER_TEXT:
        text = text[: _MAX_SERVER_TEXT - 3] + "..."
    return text


def _config_hint(status: int, key_env: str | None) -> str:
    key = key_env or "the API key"
    if status == 401:
        return f"the API key was rejected: check {key} (and that it belongs to this provider)"
    if status == 402:
        return f"the account behind {key} cannot pay for requests: check billing"
    if status == 403:
        return f"the key in {key} is not allowed to use this model: check its permissions"
    return "check the model id and the base URL (the server does not know this model or path)"


_SDK_BASE_ERRORS = {"anthropic": "AnthropicError", "openai": "OpenAIError"}
"""Each provider SDK's root exception; its other classes share their names across SDKs."""


def _sdk_errors(name: str) -> tuple[type[BaseException], ...]:
    """The class ``name`` (``APIStatusError``..., or ``base`` for the root) of every provider
    SDK already imported. An SDK that was never imported raised nothing, so the SDKs stay
    unimported until a provider model is built (importing one takes seconds under load)."""
    found = []
    for sdk, base in _SDK_BASE_ERRORS.items():
        module = sys.modules.get(sdk)
        if module is not None:
            found.append(getattr(module, base if name == "base" else name))
    return tuple(found)


def _classify(exc: Exception, *, key_env: str | None, secrets: tuple[str, ...]) -> _Failure | None:
    """What to do about ``exc``; None for exceptions that are not the SDKs' (bugs: re-raise)."""
    if isinstance(exc, _sdk_errors("APIStatusError")):
        api: Any = exc  # an SDK's APIStatusError: .response, .body
        status = api.response.status_code
        err_type, err_message = _error_fields(api.body)
        code = api.body.get("code") if isinstance(api.body, Mapping) else None
        description = f"HTTP {status}" + (f" {err_type}" if err_type else "")
        if status in _CONFIG_STATUSES:
            if status != 401 and err_message:  # a 401 message may echo part of the key
                description += f" ({_short(err_message, secrets)})"
            hint = _config_hint(status, key_env)
            return _Failure("config", f"{description}: {hint}", status=status)
        if err_message:
            description += f": {_short(err_message, secrets)}"
        if status in RETRYABLE_STATUSES or status >= 500 or err_type == "overloaded_error":
            return _Failure(
                "retry", description, _parse_retry_after(api.response.headers), status=status
            )
        rejected = 400 <= status < 500
        too_large = rejected and (
            is_context_overflow(err_type, err_message)
            or is_context_overflow(code if isinstance(code, str) else None, None)
        )
        return _Failure("fatal", description, rejected=rejected, too_large=too_large)
    if isinstance(exc, _sdk_errors("APITimeoutError")):
        return _Failure("retry", "request timed out")
    if isinstance(exc, _sdk_errors("APIConnectionError")):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__}: {_short(str(cause), secrets)})" if cause else ""
        return _Failure("retry", f"connection error{detail}")
    if isinstance(exc, _sdk_errors("base")):
        # e.g. a 200 whose body does not parse, or credentials the SDK cannot load
        return _Failure("fatal", f"{type(exc).__name__}: {_short(str(exc), secrets)}")
    return None


# ---------------------------------------------------------------------------------------------
# The loop


async def call_with_retries(
    request: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    label: str,
    key_env: str | None = None,
    secrets: Iterable[str] = (),
    sleep: SleepFn | None = None,
    rng: random.Random | None = None,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """Await ``request()`` (a fresh request per call) until it succeeds or the policy says stop.

    ``label`` (e.g. ``anthropic/claude-sonnet-5-5``) starts every message; ``key_env`` names
    the key's environment variable in config-error hints; ``secrets`` are scrubbed from all
    text. Raises :class:`ModelConfigError` (no retry) for operator errors and
    :class:`ModelUnavailable` for everything else the SDKs raise; other exceptions propagate
    untouched. ``on_retry`` is called before each retry (the turn's record counts them).
    """
    sleep_fn: SleepFn = sleep if sleep is not None else asyncio.sleep
    secret_tuple = tuple(s for s in secrets if s)
    attempt = 0
    statuses: set[int | None] = set()
    while True:
        attempt += 1
        try:
            return await request()
        except Exception as exc:
            failure = _classify(exc, key_env=key_env, secrets=secret_tuple)
            if failure is None:
                raise
            last_exc = exc
        # Raised outside the `except` block so that the SDK exception is not chained
        # implicitly: its text is the raw server body, which could echo a key.
        if failure.kind == "config":
            refused = ModelAccessRefused if failure.status == 403 else ModelConfigError
            raise refused(f"{label}: {failure.description}")
        if failure.kind == "fatal":
            fatal = (
                ModelContextExceeded
                if failure.too_large
                else ModelRequestRejected
                if failure.rejected
                else ModelUnavailable
            )
            raise fatal(
                f"{label}: {failure.description} (not retried; attempt {attempt})"
            ) from _safe_cause(last_exc, secret_tuple)
        statuses.add(failure.status)
        if attempt >= policy.max_attempts:
            gave_up = ModelServerFailed if statuses == {SERVER_ERROR} else ModelUnavailable
            raise gave_up(
                f"{label}: {failure.description}; gave up after {attempt} "
                f"attempt{'s' if attempt != 1 else ''}"
            ) from _safe_cause(last_exc, secret_tuple)
        delay = policy.delay(attempt, failure.retry_after_s, rng)
        logger.warning(
            "%s: %s; retrying in %.2fs (attempt %d of %d failed)",
            label,
            failure.description,
            delay,
            attempt,
            policy.max_attempts,
            extra={RETRY_CAUSE: f"{label}: {failure.description}"},
        )
        if on_retry is not None:
            on_retry()
        await sleep_fn(delay)


def _safe_cause(exc: Exception, secrets: tuple[str, ...]) -> Exception | None:
    """``exc`` as the ``__cause__`` to keep for debugging, unless its text holds a secret."""
    text = str(exc)
    return None if any(secret in text for secret in secrets) else exc
