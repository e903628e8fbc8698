"""The up-front context check against the recorded shapes of real servers (llama.cpp's
llama-server, llama-cpp-python's server) and vLLM's, served by the loopback fake."""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attnrl.models import context_window
from attnrl.models.context_window import (
    CHARS_PER_TOKEN,
    COUNT_LIMIT,
    check_context,
    estimate_tokens,
    probe_context,
    server_root,
)
from attnrl.task import load_task
from attnrl.task.family import TaskFamily
from fakes.llm_server import FakeLLMServer, FakeResponse, openai_text
from fakes.server_shapes import (
    fake_count,
    llama_cpp_python_server,
    llama_server,
    recorded_shapes,
    vllm_server,
)

NOT_REPORTED = "Context: the server does not report its context length: not checked"


def body(text: str) -> dict[str, Any]:
    return {"model": "local", "messages": [{"role": "user", "content": text}], "max_tokens": 64}


def sized(counts: dict[str, int]) -> Any:
    """A fake tokenizer that knows each prompt's size by its text."""
    return lambda b: counts[b["messages"][0]["content"]]


def test_the_recorded_shapes_are_the_real_servers() -> None:
    llama = recorded_shapes("llama_server")["responses"]
    assert llama["GET /props"]["body"]["default_generation_settings"]["n_ctx"] == 3072  # -c
    meta = llama["GET /v1/models"]["body"]["data"][0]["meta"]
    assert meta["n_ctx"] == 3072 and meta["n_ctx_train"] > meta["n_ctx"]  # training != runtime
    counted = llama["POST /v1/chat/completions/input_tokens"]["body"]["input_tokens"]
    assert 0 < counted < 3072
    over = llama["POST /v1/chat/completions (over the context)"]
    assert over["status"] == 400 and over["body"]["error"]["type"] == "exceed_context_size_error"
    counted_over = llama["POST /v1/chat/completions/input_tokens (over the context)"]["body"]
    assert counted_over["input_tokens"] > 3072  # the refused prompt, counted beforehand
    assert f"request ({counted_over['input_tokens']} tokens)" in over["body"]["error"]["message"]
    lcp = recorded_shapes("llama_cpp_python")["responses"]
    assert lcp["GET /props"]["status"] == 404
    entry = lcp["GET /v1/models"]["body"]["data"][0]
    assert not {"max_model_len", "context_length", "meta"} & set(entry)


def test_server_root_strips_only_the_api_version() -> None:
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://h:1/proxy/v1") == "http://h:1/proxy"
    assert server_root("http://h:1") == "http://h:1"


def test_llama_server_reported_and_over(llm_server: FakeLLMServer) -> None:
    counts = {"a": 4095, "b": 4096, "c": 5000, "d": 100}
    llama_server(llm_server, 4096, sized(counts))
    requests = [((1, 2), body("a")), ((3,), body("b")), ((4,), body("c")), ((5,), body("d"))]
    check = check_context(llm_server.openai_base_url, "local", requests, max_tokens=4096)
    assert check.server.tokens == 4096 and check.server.source == "llama.cpp GET /props"
    assert not check.server.counts_output  # llama.cpp counts the prompt alone
    assert check.over_runs == [3, 4]  # n_ctx tokens is refused, n_ctx - 1 fits
    assert check.line() == (
        "Context: the server reports 4,096 tokens (llama.cpp GET /props); 2 of 5 runs' prompts "
        "exceed it (largest 5,000 tokens; counted by the server): still sent (runs 3, 4), they "
        "will be recorded as context_overflow"
    )
    counted = [r for r in llm_server.requests if r.path.endswith("/input_tokens")]
    assert [r.body for r in counted] == [b for _, b in requests]  # the whole request is counted
    saved = check.to_json()
    assert saved["over"] == [3, 4] and saved["counted_by"] == "server"
    assert saved["context_tokens"] == 4096 and saved["largest_prompt"] == 5000


def test_vllm_counts_max_tokens_against_the_context(llm_server: FakeLLMServer) -> None:
    counts = {"fits": 1000, "exactly": 1024, "over": 1025}
    vllm_server(llm_server, 2048, model="Qwen/Qwen3-8B", count=sized(counts))
    requests = [((1,), body("fits")), ((2,), body("exactly")), ((3,), body("over"))]
    check = check_context(llm_server.openai_base_url, "Qwen/Qwen3-8B", requests, max_tokens=1024)
    assert check.server.source == "vLLM GET /v1/models" and check.server.counts_output
    assert check.over_runs == [3]  # 1,024 + 1,024 = 2,048 fits; one more does not
    assert "largest 1,025 tokens + 1,024 max tokens, which it counts too" in check.line()
    sent = [r.body for r in llm_server.requests if r.path == "/tokenize"]
    assert sorted(str(b["messages"]) for b in sent) == sorted(
        str(r["messages"]) for _, r in requests
    )
    assert all(b["add_generation_prompt"] for b in sent)


def test_every_prompt_fits(llm_server: FakeLLMServer) -> None:
    llama_server(llm_server, 8192)
    check = check_context(llm_server.openai_base_url, "local", [((1,), body("x"))], max_tokens=64)
    largest = fake_count(body("x"))
    assert check.over_runs == []
    assert check.line() == (
        "Context: the server reports 8,192 tokens (llama.cpp GET /props); every run's prompt "
        f"fits (largest {largest:,} tokens; counted by the server)"
    )


def test_a_server_that_does_not_report_is_not_checked(llm_server: FakeLLMServer) -> None:
    llama_cpp_python_server(llm_server)
    check = check_context(llm_server.openai_base_url, "local", [((1,), body("x"))], max_tokens=9)
    assert check.line() == NOT_REPORTED
    assert not check.to_json()["checked"] and check.over_runs == []
    assert [r.path for r in llm_server.requests] == ["/props", "/v1/models"]  # nothing counted


@pytest.mark.parametrize(
    ("props", "models", "reason"),
    [
        (
            FakeResponse(status=500, body={"error": "boom"}),
            FakeResponse(body="<html>not json</html>"),
            "GET {root}/props: HTTP 500; GET {root}/v1/models: the answer is not JSON",
        ),
        (
            FakeResponse(body=[1, 2]),  # odd JSON: no n_ctx anywhere
            FakeResponse(status=503, body={"error": "loading"}),
            "GET {root}/v1/models: HTTP 503",
        ),
    ],
)
def test_probe_errors_say_not_checked_and_why(
    llm_server: FakeLLMServer, props: FakeResponse, models: FakeResponse, reason: str
) -> None:
    llm_server.serve("GET", "/props", props)
    llm_server.serve("GET", "/v1/models", models)
    check = check_context(llm_server.openai_base_url, "local", [((1,), body("x"))], max_tokens=9)
    assert check.line() == f"Context: not checked ({reason.format(root=llm_server.url)})"
    assert len(llm_server.requests) == 2  # one try each, never retried


def test_a_probe_that_times_out_or_finds_no_server_is_not_checked(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context_window, "PROBE_TIMEOUT_S", 0.2)
    llm_server.serve("GET", "/props", FakeResponse(body={}, delay_s=1.0))
    llm_server.serve("GET", "/v1/models", FakeResponse(body={}, delay_s=1.0))
    found = probe_context(llm_server.openai_base_url, "local")
    assert found.tokens is None and found.reason is not None
    assert found.reason.count("timed out after 0.2s") == 2
    llm_server.stop()
    gone = probe_context(llm_server.openai_base_url, "local")
    assert gone.reason is not None and "ConnectionRefusedError" in gone.reason


def test_counting_that_fails_midway_falls_back_to_a_labelled_estimate(
    llm_server: FakeLLMServer,
) -> None:
    llama_server(llm_server, 4096)
    calls = iter([FakeResponse(body={"input_tokens": 5000}), FakeResponse(status=500, body={})])
    llm_server.serve("POST", "/v1/chat/completions/input_tokens", lambda _: next(calls))
    big = "9" * 20_000
    requests = [((1,), body("x" * 30)), ((2,), body(big)), ((3,), body("y"))]
    check = check_context(llm_server.openai_base_url, "local", requests, max_tokens=9)
    by_run = {p.run_ids: p for p in check.prompts}  # counted the longest first
    assert by_run[(2,)].exact and by_run[(2,)].tokens == 5000
    assert not by_run[(1,)].exact and not by_run[(3,)].exact
    assert by_run[(1,)].tokens == estimate_tokens(requests[0][1])
    assert check.over_runs == [2]
    line = check.line()
    assert (
        f"partly estimated: POST {llm_server.url}/v1/chat/completions/input_tokens: HTTP 500"
        in line
    )
    assert f"the rest estimated at {CHARS_PER_TOKEN:g} characters a token" in line
    assert len([r for r in llm_server.requests if "input_tokens" in r.path]) == 2  # then stops


def test_past_the_count_limit_the_rest_are_scaled_from_the_longest_counted(
    llm_server: FakeLLMServer,
) -> None:
    def true_count(b: dict[str, Any]) -> int:
        return 3 * len(b["messages"][0]["content"])

    llama_server(llm_server, 100_000, true_count)
    requests = [((i,), body("x" * (10 + i))) for i in range(1, COUNT_LIMIT + 7)]
    check = check_context(llm_server.openai_base_url, "local", requests, max_tokens=9)
    assert len([r for r in llm_server.requests if "input_tokens" in r.path]) == COUNT_LIMIT
    exact = sorted(p.run_ids[0] for p in check.prompts if p.exact)
    assert exact == list(range(7, COUNT_LIMIT + 7))  # the longest were counted
    rest = [p for p in check.prompts if not p.exact]
    assert sorted(p.run_ids[0] for p in rest) == [1, 2, 3, 4, 5, 6]
    for p in rest:  # scaled from the counted ones: never below the true count here
        assert true_count(requests[p.run_ids[0] - 1][1]) <= p.tokens
    assert check.counted_by == "mixed"
    assert f"partly estimated: the {COUNT_LIMIT} longest counted by the server, the other 6" in (
        check.line()
    )


def test_a_reported_length_without_a_tokenizer_is_estimated(llm_server: FakeLLMServer) -> None:
    listing = {"data": [{"id": "other"}, {"id": "m", "context_length": 2000}]}  # OpenRouter
    llm_server.serve("GET", "/v1/models", FakeResponse(body=listing))
    check = check_context(llm_server.openai_base_url, "m", [((1,), body("x"))], max_tokens=9)
    assert check.server.tokens == 2000 and check.counted_by == "estimate"
    rate = f"estimated at {CHARS_PER_TOKEN:g} characters a token"
    assert f"{rate}: the server has no token-counting endpoint" in check.line()


def test_the_key_goes_only_into_the_header(llm_server: FakeLLMServer) -> None:
    llama_server(llm_server, 4096)
    key = "sk-local-secret-123"
    check = check_context(
        llm_server.openai_base_url, "local", [((1,), body("x"))], max_tokens=9, api_key=key
    )
    assert all(r.headers["authorization"] == f"Bearer {key}" for r in llm_server.requests)
    assert key not in json.dumps(check.to_json())


# ---------------------------------------------------------------------------------------------
# Through the CLI


def attnrl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "attnrl")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300)


def test_the_run_says_it_up_front_and_counts_the_overflows(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    n_ctx = 4000  # fake_count spreads the prompts over 3,000-4,999 tokens
    llama_server(llm_server, n_ctx, chat=True)
    out = tmp_path / "o"
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY"}
    done = attnrl(
        "run", "--model", "openai/local", "--base-url", llm_server.openai_base_url,
        "--preset", "procedural", "--runs", "8", "--concurrency", "2", "--max-steps", "2",
        "--no-progress", "--out", str(out), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr  # overflows are counted: not exit 3
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    counted = {  # what the check asked the server to count, by prompt (tools vary per run)
        r.body["messages"][0]["content"]: fake_count(r.body)
        for r in llm_server.requests
        if r.path.endswith("/input_tokens")
    }
    sizes = {r["run_id"]: counted[r["transcript"][0]["text"]] for r in records}
    expected = sorted(run for run, size in sizes.items() if size >= n_ctx)
    assert 0 < len(expected) < 8  # the batch has both kinds
    overflowed = sorted(r["run_id"] for r in records if r["category"] == "context_overflow")
    assert overflowed == expected
    line = done.stdout.splitlines()[0]  # before anything else
    assert line.startswith("Context: the server reports 4,000 tokens (llama.cpp GET /props); ")
    assert f"{len(expected)} of 8 runs' prompts exceed it" in line
    assert f"(runs {', '.join(map(str, expected))})" in line
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["context"]["over"] == expected and manifest["context"]["line"] == line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["context_check"]["line"] == line
    assert summary["context_overflow"] == len(expected)
    assert done.stdout.count(line) == 2  # up front, and again in the TASK ANALYSIS
    report = attnrl("report", str(out), env=env)
    assert line in report.stdout
    page = attnrl("report", str(out), "--html", str(tmp_path / "r.html"), env=env)
    assert page.returncode == 0, page.stderr
    shown = html.escape(line.removeprefix("Context: "))
    assert f'<td data-key="context">{shown}</td>' in (tmp_path / "r.html").read_text()


def test_only_a_self_hosted_openai_server_is_probed(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hosted APIs (no base URL) and Anthropic report no context: nothing is asked."""
    from attnrl.cli.context_check import context_check

    args = argparse.Namespace(base_url=None, max_tokens=9)
    assert context_check(args, "openai/gpt-5", TaskFamily.of(load_task()), 1) is None
    assert context_check(args, "simulated", TaskFamily.of(load_task()), 1) is None
    args.base_url = llm_server.openai_base_url
    assert context_check(args, "anthropic/claude-x", TaskFamily.of(load_task()), 1) is None
    assert llm_server.requests == []
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base_url)  # the SDK's variable
    args.base_url = None
    found = context_check(args, "openai/local", TaskFamily.of(load_task()), 1)
    assert found is not None and found["line"] == NOT_REPORTED  # the fake serves neither
    assert [r.path for r in llm_server.requests] == ["/props", "/v1/models"]


def test_a_server_without_a_length_says_not_checked_and_runs(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    llama_cpp_python_server(llm_server)
    llm_server.set_default("openai", openai_text("no"))
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY"}
    done = attnrl(
        "run", "--model", "openai/local", "--base-url", llm_server.openai_base_url,
        "--runs", "1", "--no-progress", "--out", str(tmp_path / "o"), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == NOT_REPORTED


def test_calibrate_says_it_before_each_rung(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    llama_server(llm_server, 100_000, chat=True)  # everything fits
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY"}
    done = attnrl(
        "calibrate", "--model", "openai/local", "--base-url", llm_server.openai_base_url,
        "--max-runs", "2", "--rung-runs", "1", "--max-steps", "1", "--out", str(tmp_path / "c"),
        env=env,
    )  # fmt: skip
    card = json.loads((tmp_path / "c" / "card.json").read_text())
    rungs = card["calibration"]["rungs_visited"]
    lines = [x for x in done.stdout.splitlines() if x.startswith("rung (")]
    assert len(lines) == len(rungs) == 2, done.stdout + done.stderr
    assert all("Context: the server reports 100,000 tokens (llama.cpp GET /props); every " in x
               for x in lines)  # fmt: skip
