"""Shared fixtures: the seed task, the fake LLM server (real SDKs on loopback), a sandbox."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from attnrl.sandbox import LocalSandbox, open_sandbox
from attnrl.task import Task, load_task

# `tests/` holds the importable `fakes` package; pytest's default (prepend) import mode only
# puts each test's own directory on sys.path, so add this one explicitly.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from fakes.llm_server import FakeLLMServer, RecordingSleep  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """A background job (`make test &`, nohup) starts with SIGINT ignored, and an ignored
    signal stays ignored in every child: the tests that stop a command with SIGINT would see
    it ignored. Restore Python's own handler so the commands the tests start get the default."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def seed_task() -> Task:
    return load_task("seed-doc")


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[LocalSandbox]:
    """A started local sandbox, closed (with every process it started) after the test."""
    async with open_sandbox() as sb:
        yield sb


# Variables the SDKs read that would change where or how the fake server is reached.
_ENV_TO_CLEAR = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture
def clean_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider keys, base URLs or proxies from the outer environment."""
    for var in _ENV_TO_CLEAR:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def llm_server(clean_model_env: None) -> Iterator[FakeLLMServer]:
    """A running :class:`FakeLLMServer`, stopped after the test."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def recorded_sleep() -> RecordingSleep:
    return RecordingSleep()
