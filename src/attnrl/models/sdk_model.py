"""What the SDK-backed models share: one retried request per turn, its response
converted to a :class:`ModelTurn`, and the HTTP client closed at the end."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

from attnrl.models.base import ModelTurn, ModelUnavailable
from attnrl.models.retry import RetryPolicy, SleepFn, call_with_retries

__all__ = ["SDKModel"]

R = TypeVar("R")


class SDKModel:
    """Base of :class:`AnthropicModel` and :class:`OpenAIModel`; subclasses set the fields."""

    key_env: str
    """The environment variable holding the provider's key (named in error messages)."""
    _client: Any
    _api_key: str
    _url_secrets: tuple[str, ...] = ()
    """What the base URL carries that must never be shown (its password, query values)."""
    _retry: RetryPolicy
    _sleep: SleepFn | None
    _rng: random.Random | None

    provider: str
    """The name prefix, ``anthropic`` or ``openai``."""
    _model: str
    _max_tokens: int
    _temperature: float | None

    def _configure(
        self,
        model: str,
        *,
        max_tokens: int,
        timeout_s: float,
        temperature: float | None,
        retry: RetryPolicy | None,
        sleep: SleepFn | None,
        rng: random.Random | None,
    ) -> None:
        """Validate and keep what every provider needs (the client is the subclass's)."""
        if not model or model != model.strip():
            raise ValueError(f"invalid {self.provider} model id {model!r}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self._model = model
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep
        self._rng = rng

    @property
    def name(self) -> str:
        return f"{self.provider}/{self._model}"

    def record_fields(self) -> dict[str, Any]:
        """A provider model adds nothing to a run's record beyond what the runner writes."""
        return {}

    async def _turn(
        self, request: Callable[[], Awaitable[R]], convert: Callable[[R], ModelTurn]
    ) -> ModelTurn:
        """Send ``request`` with the retry policy; a response that cannot be converted is
        ``ModelUnavailable`` (an infrastructure result), never a crash of the loop. The turn
        carries its wall time (retries included) and how many retries it took."""
        retries = 0

        def count_retry() -> None:
            nonlocal retries
            retries += 1

        started = time.perf_counter()
        response = await call_with_retries(
            request,
            policy=self._retry,
            label=self.name,
            key_env=self.key_env,
            secrets=(self._api_key, *self._url_secrets),
            sleep=self._sleep,
            rng=self._rng,
            on_retry=count_retry,
        )
        latency = time.perf_counter() - started
        try:
            turn = convert(response)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ModelUnavailable(
                f"{self.name}: malformed response ({type(exc).__name__}: {exc})"
            ) from exc
        return dataclasses.replace(turn, latency_s=latency, retries=retries)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
