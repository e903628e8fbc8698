"""Fixtures of the verifiers v1 tests. These run only in the verifiers 0.4 environment
(``make test-verifiers-v1``); the main suite ignores this directory (``--ignore`` in
pyproject.toml), because the main lock holds verifiers<0.4 for the v0 adapter."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from attnrl.models.openai import ERROR_PREFIX
from attnrl.models.simulated import solution_code
from attnrl.task import Task
from fakes.llm_server import (
    FakeLLMServer,
    FakeResponse,
    RecordedRequest,
    openai_completion,
    openai_tool_call,
)

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
    """The last tool result the model was shown, parsed (a failed one is marked with
    attnrl's OpenAI error prefix, as in ``attnrl run``)."""
    content = tool_messages(body)[-1]["content"]
    result: dict[str, Any] = json.loads(content.removeprefix(ERROR_PREFIX))
    result["marked_error"] = content.startswith(ERROR_PREFIX)
    return result


def solving_policy(tasks: Iterable[Task]) -> Callable[[RecordedRequest], FakeResponse]:
    """A scripted policy that solves by using the tool: it runs the instance's numpy
    solution (:func:`attnrl.models.simulated.solution_code`) through ``python_expression``,
    then submits exactly what the sandbox printed. It knows the instance by its prompt, so
    concurrent rollouts of different instances never cross."""
    code_for = {task.prompt: solution_code(task.spec) for task in tasks}

    def respond(request: RecordedRequest) -> FakeResponse:
        body = request.body
        if not tool_messages(body):
            code = code_for[body["messages"][0]["content"]]
            return call("python_expression", {"expression": code})
        printed = json.loads(tool_result(body)["result"])
        return call("submit_answer", {"answer": printed})

    return respond
