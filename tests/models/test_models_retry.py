"""Retries, error classification and secret hygiene, end to end through both real SDKs, plus
unit tests of :mod:`attnrl.models.retry`."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from attnrl.models.anthropic import AnthropicModel
from attnrl.models.base import Message, ModelConfigError, ModelUnavailable, ToolSpec
from attnrl.models.openai import OpenAIModel
from attnrl.models.retry import RetryPolicy, call_with_retries, redact
from fakes.llm_server import (
    FakeLLMServer,
    FakeResponse,
    RecordingSleep,
    anthropic_error,
    anthropic_text,
    openai_error,
    openai_text,
)

ANTHROPIC_KEY = "sk-ant-test-SECRET123"
OPENAI_KEY = "sk-test-SECRET456"
PROMPT = (Message(role="user", text="hi"),)
TOOLS = (ToolSpec("submit_answer", "Submit.", {"type": "object", "properties": {}}),)


@dataclass
class Provider:
    """Provider-specific bits so each scenario runs against both SDKs."""

    name: str
    key: str
    key_env: str
    make: Callable[..., AnthropicModel | OpenAIModel]
    base_url: Callable[[FakeLLMServer], str]
    ok: Callable[[str], FakeResponse]
    error: Callable[..., FakeResponse]

    def enqueue(self, server: FakeLLMServer, *responses: FakeResponse) -> None:
        server.enqueue(self.name, *responses)  # type: ignore[arg-type]


PROVIDERS = [
    Provider(
        name="anthropic",
        key=ANTHROPIC_KEY,
        key_env="ANTHROPIC_API_KEY",
        make=AnthropicModel,
        base_url=lambda s: s.url,
        ok=anthropic_text,
        error=anthropic_error,
    ),
    Provider(
        name="openai",
        key=OPENAI_KEY,
        key_env="OPENAI_API_KEY",
        make=OpenAIModel,
        base_url=lambda s: s.openai_base_url,
        ok=openai_text,
        error=openai_error,
    ),
]

POLICY = RetryPolicy(max_attempts=4, initial_delay_s=1.0, max_delay_s=3.0, jitter=0.0)


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def model(
    provider: Provider, llm_server: FakeLLMServer, recorded_sleep: RecordingSleep
) -> AsyncIterator[AnthropicModel | OpenAIModel]:
    m = provider.make(
        "model-x",
        api_key=provider.key,
        base_url=provider.base_url(llm_server),
        retry=POLICY,
        sleep=recorded_sleep,
        timeout_s=5.0,
    )
    yield m
    await m.aclose()


def exception_texts(exc: BaseException) -> str:
    """Every message in the exception's cause/context chain."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def assert_no_key(provider: Provider, caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    for record in caplog.records:
        assert provider.key not in record.getMessage()
    for text in texts:
        assert provider.key not in text


# -- retried ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (529, "overloaded_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
        (408, "timeout"),
        (409, "conflict"),
        (400, "overloaded_error"),  # an overloaded body is retried whatever its status
    ],
)
async def test_transient_errors_are_retried_then_recover(
    provider: Provider,
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
    status: int,
    error_type: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider.enqueue(
        llm_server,
        provider.error(status, error_type, "Overloaded"),
        provider.error(status, error_type, "Overloaded"),
        provider.ok("recovered"),
    )

    turn = await model.generate(PROMPT, TOOLS)

    assert turn.text == "recovered"
    assert len(llm_server.requests) == 3
    assert recorded_sleep.delays == [1.0, 2.0]  # exponential, no jitter in POLICY
    warnings = [r for r in caplog.records if r.name == "attnrl.models.retry"]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.WARNING]
    message = warnings[0].getMessage()
    assert f"HTTP {status}" in message
    assert "attempt 1 of 4" in message
    assert "1.00s" in message
    assert_no_key(provider, caplog)


async def test_overloaded_529_body(
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
) -> None:
    """The exact body Anthropic sends when overloaded, on either endpoint."""
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    llm_server.enqueue("anthropic", FakeResponse(529, body), anthropic_text("ok"))
    llm_server.enqueue("openai", FakeResponse(529, body), openai_text("ok"))
    assert (await model.generate(PROMPT, TOOLS)).text == "ok"
    assert len(recorded_sleep.delays) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins, as in the SDK
        ({"retry-after": "100000"}, 60.0),  # capped at max_retry_after_s
        ({"retry-after": "0"}, 1.0),  # not positive: normal backoff
        ({"retry-after": "soon"}, 1.0),  # unparseable: normal backoff
    ],
)
async def test_retry_after_is_honoured(
    provider: Provider,
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
    headers: dict[str, str],
    expected: float,
) -> None:
    provider.enqueue(
        llm_server,
        provider.error(429, "rate_limit_error", "slow down", headers=headers),
        provider.ok("ok"),
    )
    await model.generate(PROMPT, TOOLS)
    assert recorded_sleep.delays == [expected]


async def test_permanent_500_gives_up_after_max_attempts(
    provider: Provider,
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm_server.set_default(provider.name, provider.error(500, "api_error", "boom"))  # type: ignore[arg-type]

    with pytest.raises(ModelUnavailable) as excinfo:
        await model.generate(PROMPT, TOOLS)

    message = str(excinfo.value)
    assert message.startswith(f"{provider.name}/model-x: HTTP 500 api_error: boom")
    assert "gave up after 4 attempts" in message
    assert len(llm_server.requests) == 4
    assert recorded_sleep.delays == [1.0, 2.0, 3.0]  # capped at max_delay_s
    assert_no_key(provider, caplog, exception_texts(excinfo.value))


async def test_connection_refused_is_retried_then_unavailable(
    provider: Provider,
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm_server.stop()

    with pytest.raises(ModelUnavailable) as excinfo:
        await model.generate(PROMPT, TOOLS)

    assert "connection error" in str(excinfo.value)
    assert "gave up after 4 attempts" in str(excinfo.value)
    assert len(recorded_sleep.delays) == 3
    assert len(caplog.records) >= 3
    assert_no_key(provider, caplog, exception_texts(excinfo.value))


async def test_timeout_is_retried(
    provider: Provider,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
) -> None:
    provider.enqueue(llm_server, FakeResponse(200, provider.ok("late").body, delay_s=1.0))
    provider.enqueue(llm_server, provider.ok("on time"))
    async with provider.make(
        "model-x",
        api_key=provider.key,
        base_url=provider.base_url(llm_server),
        retry=POLICY,
        sleep=recorded_sleep,
        timeout_s=0.2,
    ) as model:
        turn = await model.generate(PROMPT, TOOLS)
    assert turn.text == "on time"
    assert len(recorded_sleep.delays) == 1


# -- not retried --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "hint"),
    [
        (401, "authentication_error", "rejected"),
        (403, "permission_error", "not allowed"),
        (404, "not_found_error", "model id"),
        (402, "billing_error", "billing"),
    ],
)
async def test_operator_errors_are_config_errors_without_retry(
    provider: Provider,
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
    status: int,
    error_type: str,
    hint: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    # A server that echoes the key (OpenAI echoes a masked form) must not leak it.
    provider.enqueue(
        llm_server,
        provider.error(status, error_type, f"Incorrect API key provided: {provider.key}"),
    )

    with pytest.raises(ModelConfigError) as excinfo:
        await model.generate(PROMPT, TOOLS)

    message = str(excinfo.value)
    assert message.startswith(f"{provider.name}/model-x: HTTP {status} {error_type}")
    assert hint in message
    if status in (401, 403):
        assert provider.key_env in message
    assert len(llm_server.requests) == 1
    assert recorded_sleep.delays == []
    assert excinfo.value.__cause__ is None
    assert_no_key(provider, caplog, exception_texts(excinfo.value))


async def test_invalid_request_is_unavailable_without_retry(
    provider: Provider,
    model: AnthropicModel | OpenAIModel,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider.enqueue(
        llm_server, provider.error(400, "invalid_request_error", "messages: field required")
    )
    with pytest.raises(ModelUnavailable) as excinfo:
        await model.generate(PROMPT, TOOLS)
    assert "HTTP 400 invalid_request_error: messages: field required" in str(excinfo.value)
    assert "not retried" in str(excinfo.value)
    assert not isinstance(excinfo.value, ModelConfigError)
    assert len(llm_server.requests) == 1
    assert recorded_sleep.delays == []
    assert_no_key(provider, caplog, exception_texts(excinfo.value))


async def test_key_shaped_text_from_server_is_scrubbed(
    provider: Provider, model: AnthropicModel | OpenAIModel, llm_server: FakeLLMServer
) -> None:
    provider.enqueue(
        llm_server,
        provider.error(400, "invalid_request_error", "bad key sk-proj-****abcd1234 and more"),
    )
    with pytest.raises(ModelUnavailable) as excinfo:
        await model.generate(PROMPT, TOOLS)
    assert "sk-proj" not in str(excinfo.value)
    assert "[redacted]" in str(excinfo.value)


# -- unit tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 2.0},
        {"max_attempts": True},
        {"initial_delay_s": -1.0},
        {"initial_delay_s": float("nan")},
        {"max_delay_s": float("inf")},
        {"initial_delay_s": 5.0, "max_delay_s": 1.0},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"max_retry_after_s": -1},
    ],
)
def test_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_policy_backoff_and_jitter() -> None:
    policy = RetryPolicy(initial_delay_s=0.5, max_delay_s=8.0, jitter=0.0)
    assert [policy.backoff_delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert policy.backoff_delay(10**6) == 8.0

    jittered = RetryPolicy(initial_delay_s=2.0, max_delay_s=2.0, jitter=0.25)
    rng = random.Random(0)
    draws = [jittered.backoff_delay(1, rng) for _ in range(200)]
    assert all(1.5 <= d <= 2.0 for d in draws)
    assert max(draws) - min(draws) > 0.3

    with pytest.raises(ValueError):
        policy.backoff_delay(0)


def test_retry_after_http_date(monkeypatch: pytest.MonkeyPatch) -> None:
    from attnrl.models import retry
    from attnrl.models.retry import _parse_retry_after

    now = 1_800_000_000.0  # a fixed clock: the answer cannot depend on how busy the machine is
    monkeypatch.setattr(retry, "time", types.SimpleNamespace(time=lambda: now))
    future = email.utils.formatdate(now + 30, usegmt=True)
    assert _parse_retry_after({"retry-after": future}) == 30
    assert _parse_retry_after({}) is None


def test_redact() -> None:
    assert redact("key=abc123XYZ here", ["abc123XYZ"]) == "key=[redacted] here"
    assert redact("Incorrect API key provided: sk-ant-api03-****wxyz.") == (
        "Incorrect API key provided: [redacted]"
    )
    assert redact("no secrets in this task-list", ["", "zzz"]) == "no secrets in this task-list"


async def test_non_sdk_exceptions_propagate_untouched() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await call_with_retries(broken, policy=POLICY, label="x/y")
    assert calls == 1


async def test_cancellation_is_not_retried(recorded_sleep: RecordingSleep) -> None:
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call_with_retries(cancelled, policy=POLICY, label="x/y", sleep=recorded_sleep)
    assert calls == 1
    assert recorded_sleep.delays == []


async def test_single_attempt_policy(
    provider: Provider,
    llm_server: FakeLLMServer,
    recorded_sleep: RecordingSleep,
) -> None:
    provider.enqueue(llm_server, provider.error(529, "overloaded_error"))
    async with provider.make(
        "model-x",
        api_key=provider.key,
        base_url=provider.base_url(llm_server),
        retry=RetryPolicy(max_attempts=1),
        sleep=recorded_sleep,
    ) as model:
        with pytest.raises(ModelUnavailable, match="gave up after 1 attempt$"):
            await model.generate(PROMPT, TOOLS)
    assert recorded_sleep.delays == []
