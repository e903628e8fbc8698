"""Fixtures of the verifiers v1 tests. These run only in the verifiers 0.4 environment
(``make test-verifiers-v1``); the main suite ignores this directory (``--ignore`` in
pyproject.toml), because the main lock holds verifiers<0.4 for the v0 adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.llm_server import FakeLLMServer, FakeResponse, openai_completion, openai_tool_call

vf = pytest.importorskip("verifiers.v1")

KEY_VAR = "ATTNRL_V1_TEST_KEY"
"""The env var the v1 client reads its key from (``--client.api-key-var``)."""
KEY = "sk-attnrl-v1-sentinel-key"


@pytest.fixture
def v1_server(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    """The loopback model server, and the key v1's eval client sends to it."""
    monkeypatch.setenv(KEY_VAR, KEY)
    return llm_server


def call(name: str, arguments: Any) -> FakeResponse:
    return openai_completion(None, [openai_tool_call(name, arguments)])


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m.get("role") == "tool"]


def tool_result(body: dict[str, Any]) -> dict[str, Any]:
    """The last tool result the model was shown, parsed."""
    result: dict[str, Any] = json.loads(tool_messages(body)[-1]["content"])
    return result


@pytest.fixture
def fresh_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server
