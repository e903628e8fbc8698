"""The agent loop and the runner on real responses of a local server (tests/fakes/recorded),
replayed through the real openai SDK: what each kind of messy output becomes in the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.harness.agent import run_agent
from attnrl.harness.turns import count_repeats
from attnrl.models.base import Message, ToolCall
from attnrl.models.openai import OpenAIModel
from attnrl.models.retry import RetryPolicy
from attnrl.sandbox import LocalSandbox
from attnrl.task import Task
from fakes.llm_server import FakeLLMServer
from fakes.recorded import recorded, recorded_names, recording

NO_RETRY = RetryPolicy(max_attempts=1)


def model(server: FakeLLMServer) -> OpenAIModel:
    return OpenAIModel("local", base_url=server.openai_base_url, retry=NO_RETRY, max_tokens=192)


def test_the_corpus_holds_each_kind_of_real_output() -> None:
    assert set(recorded_names()) >= {
        "context_overflow", "malformed_arguments", "no_tool_choice",
        "text_only_chat_template", "tool_call", "truncated_turn", "full_context_empty_turn",
    }  # fmt: skip
    assert recording("context_overflow")["status"] == 400
    full = recording("full_context_empty_turn")["body"]  # 200, tool_calls, no calls, usage 0/0
    assert full["choices"][0]["finish_reason"] == "tool_calls"
    assert full["choices"][0]["message"]["tool_calls"] == []
    assert full["usage"]["prompt_tokens"] == full["usage"]["completion_tokens"] == 0
    raw = recording("malformed_arguments")["body"]["choices"][0]["message"]["tool_calls"][0]
    with pytest.raises(ValueError):
        json.loads(raw["function"]["arguments"])  # truly malformed, as the server sent it


async def test_malformed_arguments_go_back_to_the_model_and_repeats_are_counted(
    llm_server: FakeLLMServer, seed_task: Task, sandbox: LocalSandbox
) -> None:
    llm_server.enqueue_openai(
        recorded("tool_call"), recorded("malformed_arguments"), recorded("malformed_arguments")
    )
    result = await run_agent(seed_task, model(llm_server), sandbox, max_steps=3)
    assert result.stop == "step_limit" and result.steps == 3
    turns = [m for m in result.transcript if m.role == "assistant"]
    assert turns[0].tool_calls[0].arguments is not None
    assert turns[1].tool_calls[0].arguments is None and turns[1].tool_calls[0].raw_arguments
    assert all(t.turn is not None and t.turn.finish_reason == "tool_calls" for t in turns)
    assert turns[1].turn is not None and turns[1].turn.output_tokens > 0
    assert result.tool_errors == 3 and result.repeats == 1  # turn 3 repeats turn 2 exactly
    sent = llm_server.requests_to("openai")
    assert all(r.body["tool_choice"] == "auto" for r in sent)
    assert sent[1].body["messages"][1]["content"] == ""  # a string, never null


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("text_only_chat_template", "generated no token"),
        ("no_tool_choice", "stopped at once"),
        ("full_context_empty_turn", "a full context that left its tool-calling format no room"),
    ],
)
async def test_an_empty_turn_is_recorded_with_its_cause(
    llm_server: FakeLLMServer, seed_task: Task, sandbox: LocalSandbox, name: str, cause: str
) -> None:
    llm_server.enqueue_openai(recorded(name))
    result = await run_agent(seed_task, model(llm_server), sandbox, max_steps=3)
    assert result.stop == "no_tool_use"
    turn = result.transcript[-1].turn
    assert turn is not None and turn.issue == "empty" and cause in str(turn.cause)
    assert turn.input_tokens == recording(name)["body"]["usage"]["prompt_tokens"]


async def test_a_truncated_turn_is_marked(
    llm_server: FakeLLMServer, seed_task: Task, sandbox: LocalSandbox
) -> None:
    llm_server.enqueue_openai(recorded("truncated_turn"))
    result = await run_agent(seed_task, model(llm_server), sandbox, max_steps=3)
    turn = result.transcript[-1].turn
    assert turn is not None and turn.issue == "truncated" and turn.finish_reason == "length"


@pytest.mark.parametrize("turn", [1, 2])
async def test_an_overflow_is_context_overflow_on_any_turn(
    llm_server: FakeLLMServer, seed_task: Task, sandbox: LocalSandbox, turn: int
) -> None:
    if turn == 2:
        llm_server.enqueue_openai(recorded("tool_call"))
    llm_server.enqueue_openai(recorded("context_overflow"))
    result = await run_agent(seed_task, model(llm_server), sandbox, max_steps=3)
    assert result.stop == "context_overflow"
    assert "maximum context length is 4096 tokens" in str(result.error)
    assert len(llm_server.requests_to("openai")) == turn  # never retried


def test_repeats_compare_whole_calls() -> None:
    a = ToolCall("1", "python_expression", {"expression": "1"})
    b = ToolCall("2", "python_expression", {"expression": "2"})
    turns = [Message("assistant", tool_calls=(c,)) for c in (a, a, b, b, b)]
    assert count_repeats([Message("user", "p"), *turns]) == 3
    assert count_repeats([Message("assistant"), Message("assistant")]) == 0  # no calls


def test_the_batch_counts_overflows_and_resume_reruns_none(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    llm_server.set_default("openai", recorded("context_overflow"))
    out = tmp_path / "o"
    attnrl = str(Path(sys.executable).parent / "attnrl")
    args = ["--model", "openai/local", "--base-url", llm_server.openai_base_url, "--runs", "3",
            "--concurrency", "2", "--no-progress", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY"}
    done = subprocess.run(
        [attnrl, "run", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr  # counted: not exit 3 (infrastructure)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 3 and summary["infrastructure_errors"] == 0
    assert summary["categories"] == {"context_overflow": 3} and summary["context_overflow"] == 3
    assert "Context overflow: 3 runs exceeded the model's context" in done.stdout
    before = len(llm_server.requests_to("openai"))
    again = subprocess.run(
        [attnrl, "run", "--out", str(out), "--resume", "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(llm_server.requests_to("openai")) == before  # nothing re-run
