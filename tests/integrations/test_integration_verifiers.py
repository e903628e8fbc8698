"""The verifiers environment, run through verifiers' own rollout API against a scripted
OpenAI-compatible server on loopback (the real ``openai`` SDK inside verifiers' client)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import RecordingSandbox

from fakes.llm_server import (
    FakeLLMServer,
    FakeResponse,
    RecordedRequest,
    openai_completion,
    openai_text,
    openai_tool_call,
)

vf = pytest.importorskip("verifiers")
from openai import AsyncOpenAI  # noqa: E402

from attnrl.integrations.verifiers import AttentionEnv, load_environment  # noqa: E402
from attnrl.task import Task, load_task  # noqa: E402

PYTHON_CODE = (
    "Q = np.array([[1.0, 0.5, -0.2]])\n"
    "P = np.array([[0.1, 0.0, -0.1]])\n"
    "print((Q + P).round(2).tolist())"
)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def client_for(server: FakeLLMServer) -> Any:
    return vf.OpenAIChatCompletionsClient(
        AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    )


def call(name: str, arguments: Any) -> FakeResponse:
    return openai_completion(None, [openai_tool_call(name, arguments)])


def the_input(env: AttentionEnv) -> dict[str, Any]:
    row: dict[str, Any] = env.get_eval_dataset().to_list()[0]
    return row


def test_vf_load_environment_resolves_the_module(seed_task: Task) -> None:
    env = vf.load_environment("attnrl.integrations.verifiers", preset="seed-doc", max_turns=4)
    assert isinstance(env, AttentionEnv) and env.max_turns == 4
    row = the_input(env)
    assert row["prompt"] == [{"role": "user", "content": seed_task.prompt}]
    info = json.loads(row["info"])
    assert info["spec_hash"] == seed_task.content_hash
    assert [t["name"] for t in info["tool_defs"]] == [t.name for t in seed_task.tools]


async def test_rollout_runs_python_in_attnrl_sandbox_then_submits(
    server: FakeLLMServer, seed_task: Task
) -> None:
    server.enqueue_openai(
        call("python_expression", {"expression": PYTHON_CODE}),
        call("submit_answer", {"answer": seed_task.reference()}),
    )
    env = load_environment(preset="seed-doc", max_turns=5)  # attnrl's own sandbox
    out = await env.run_rollout(the_input(env), client_for(server), "scripted", {})

    assert out["reward"] == 1.0
    assert out["metrics"]["attnrl_passed"] == out["metrics"]["attnrl_full_success"] == 1.0
    tool_messages = [m for m in out["completion"] if m["role"] == "tool"]
    assert json.loads(tool_messages[0]["content"]) == {
        "result": "[[1.1, 0.5, -0.3]]\n",
        "error": None,
    }
    assert json.loads(tool_messages[1]["content"]) == {"result": "submitted"}

    first = server.requests_to("openai")[0].body
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    for spec in seed_task.tools:
        assert offered[spec.name]["description"] == spec.description
        assert offered[spec.name]["parameters"] == spec.parameters
    assert first["messages"] == [{"role": "user", "content": seed_task.prompt}]


async def test_episode_rules_follow_the_harness(
    server: FakeLLMServer, seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    ref = seed_task.reference()
    server.enqueue_openai(
        call("submit_answer", "{not json"),  # told, may try again
        call("bash", {"cmd": "ls"}),  # unknown tool
        call("submit_answer", ref),  # the answer keys at the top level: accepted
    )
    env = load_environment(preset="seed-doc", sandbox_factory=fake_sandbox.factory())
    out = await env.run_rollout(the_input(env), client_for(server), "scripted", {})
    errors = [json.loads(m["content"]) for m in out["completion"] if m["role"] == "tool"]
    assert "needs an 'answer' argument" in errors[0]["error"]
    assert "unknown tool 'bash'" in errors[1]["error"]
    assert errors[2] == {"result": "submitted"}
    assert out["reward"] == 1.0
    assert fake_sandbox.opened == 0  # no python call, no sandbox

    server.enqueue_openai(openai_text("The answer is 42."))
    out = await env.run_rollout(the_input(env), client_for(server), "scripted", {})
    assert (out["reward"], out["stop_condition"]) == (0.0, "no_tool_calls")


async def test_evaluate_with_concurrent_rollouts(
    server: FakeLLMServer, seed_task: Task, fake_sandbox: RecordingSandbox
) -> None:
    ref = seed_task.reference()

    def scripted(request: RecordedRequest) -> FakeResponse:
        # Each rollout: run code once, then submit; decided from its own conversation.
        if request.body["messages"][-1]["role"] == "user":
            return call("python_expression", {"expression": "print(1)"})
        return call("submit_answer", {"answer": ref})

    server.set_default("openai", scripted)
    env = load_environment(preset="seed-doc", sandbox_factory=fake_sandbox.factory())
    results = await env.evaluate(
        client_for(server),
        "scripted",
        num_examples=1,
        rollouts_per_example=3,
        on_start=lambda *_: None,
        on_progress=lambda *_: None,
    )
    assert [o["reward"] for o in results["outputs"]] == [1.0, 1.0, 1.0]
    assert len(fake_sandbox.codes) == 3
    assert fake_sandbox.opened == fake_sandbox.closed >= 1


@pytest.mark.slow
def test_vf_eval_command(server: FakeLLMServer, seed_task: Task) -> None:
    """``vf-eval <module>`` itself: verifiers' CLI imports the module and runs the env."""
    vf_eval = shutil.which("vf-eval", path=str(Path(sys.executable).parent))
    if vf_eval is None:
        pytest.skip("the vf-eval command is not installed")
    ref = load_task().reference()  # the env's default instance: procedural, seed 0

    def scripted(request: RecordedRequest) -> FakeResponse:
        if request.body["messages"][-1]["role"] == "user":
            return call("python_expression", {"expression": "print(np.ones(2).sum())"})
        return call("submit_answer", {"answer": ref})

    server.set_default("openai", scripted)
    args = ["-m", "scripted", "-b", server.openai_base_url, "-k", "FAKE_KEY", "-n", "1", "-r", "2"]
    proc = subprocess.run(
        [vf_eval, "attnrl.integrations.verifiers", *args, "-d", "--disable-env-server"],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, FAKE_KEY="sk-test"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reward: avg - 1.000" in proc.stdout
    tool_results = [
        m["content"]
        for r in server.requests_to("openai")
        for m in r.body["messages"]
        if m["role"] == "tool"
    ]
    assert '{"result": "2.0\\n", "error": null}' in tool_results


async def test_a_rope_rollout_is_graded_by_the_rope_task(
    server: FakeLLMServer, fake_sandbox: RecordingSandbox
) -> None:
    """The second task through verifiers v0's own rollout: its reference earns 1, an answer of
    attention's shape earns 0 (each row rebuilds its own task)."""
    rope = load_task(task="rope", seed=0)
    env = load_environment(task="rope", seed=0, sandbox_factory=fake_sandbox.factory())
    assert the_input(env)["prompt"][-1]["content"] == rope.prompt
    server.enqueue_openai(call("submit_answer", {"answer": rope.reference()}))
    out = await env.run_rollout(the_input(env), client_for(server), "scripted", {})
    assert out["reward"] == 1.0
    server.enqueue_openai(call("submit_answer", {"answer": load_task().reference()}))
    out = await env.run_rollout(the_input(env), client_for(server), "scripted", {})
    assert out["reward"] == 0.0
