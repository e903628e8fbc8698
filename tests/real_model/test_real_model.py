"""attnrl against a real small model behind a real server, as a user of a local model runs it:
the seed batch, a procedural batch whose largest instance outgrows the context, calibrate,
SIGTERM + ``--resume``, the report, the Inspect task and verifiers v0 and v1.

The model (gemma-3-270m) solves nothing; what is checked is that attnrl tells the truth about
it: every run graded or counted (none re-run as infrastructure), each turn recorded with its
latency, tokens and finish reason, the context overflow counted in its own category, and
calibrate saying "below the band even at rung N". Figures (tokens/s, latency per turn) are
printed for the report, never asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import ATTNRL, N_CTX, Server, attnrl

MODEL = "openai/local"
COMMON = ["--max-tokens", "192", "--temperature", "0", "--timeout", "300", "--no-progress"]
"""Short turns keep the tier in minutes; temperature 0 keeps the server's answers stable."""

OVERFLOW_KNOBS = ["--tokens", "12", "--d-model", "11", "--heads", "2"]
"""A procedural instance whose prompt is larger than the server's context (checked below)."""


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def turns(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["turn"] for r in recs for m in r["transcript"] if "turn" in m]


def show_figures(label: str, out: Path) -> None:
    """Print the batch's per-turn figures (tokens/s, latency) for the tier's report."""
    summary = json.loads((out / "summary.json").read_text())
    t = summary["turns"]
    print(  # noqa: T201 - the tier prints its figures for the report
        f"\n[{label}] runs {summary['runs']}, passed {summary['passed']}, categories "
        f"{summary['categories']}, infrastructure {summary['infrastructure_errors']}; turns "
        f"{t['count']}, latency p50 {t['latency_s']['p50']:.1f}, "
        f"p95 {t['latency_s']['p95']:.1f}, max "
        f"{t['latency_s']['max']:.1f} s, {t['output_tokens_per_s']:.2f} tokens/s out (server-side "
        f"prompt processing included), empty {t['empty']}, truncated {t['truncated']}, repeats "
        f"{summary['repeats']['total']}"
    )


def test_seed_batch_is_graded_and_each_turn_recorded(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "seed"
    done = attnrl(
        "run", "--model", MODEL, "--base-url", server.base_url, "--preset", "seed-doc",
        "--runs", "2", "--concurrency", "2", "--max-steps", "3", *COMMON, "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]  # 0: every run graded, none infrastructure
    recs = records(out)
    assert len(recs) == 2 and all(r["category"] != "infrastructure" for r in recs)
    recorded = turns(recs)
    assert len(recorded) == sum(r["steps"] for r in recs) >= 2
    for turn in recorded:
        assert turn["latency_s"] > 0 and turn["input_tokens"] > 0
        assert turn["finish_reason"] in ("stop", "tool_calls", "length")
        if turn["finish_reason"] == "length":
            assert turn["issue"] == "truncated" and "max tokens" in turn["cause"]
    assert all(isinstance(r["repeats"], int) for r in recs)
    assert "Turns: " in done.stdout
    show_figures("seed-doc", out)


def test_a_prompt_larger_than_the_context_is_counted_not_infrastructure(
    server: Server, tmp_path: Path
) -> None:
    prompt = attnrl("prompt", "--preset", "procedural", *OVERFLOW_KNOBS)
    assert prompt.returncode == 0, prompt.stderr
    out = tmp_path / "overflow"
    done = attnrl(
        "run", "--model", MODEL, "--base-url", server.base_url, "--preset", "procedural",
        *OVERFLOW_KNOBS, "--runs", "2", "--concurrency", "2", "--max-steps", "2", *COMMON,
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]  # not 3: nothing to re-run
    # llama-cpp-python reports no context length: the up-front check says so, and goes on
    not_checked = "Context: the server does not report its context length: not checked"
    assert done.stdout.splitlines()[0] == not_checked
    recs = records(out)
    assert [r["category"] for r in recs] == ["context_overflow"] * 2
    assert all(f"maximum context length is {N_CTX} tokens" in r["message"] for r in recs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 2 and summary["infrastructure_errors"] == 0
    assert summary["context_overflow"] == 2
    assert "Context overflow: 2 runs exceeded the model's context" in done.stdout
    again = attnrl("run", "--out", str(out), "--resume", "--no-progress")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(records(out)) == 2  # resume re-ran nothing


def test_calibrate_says_below_the_band_at_the_easiest_rung(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "calibrate"
    done = attnrl(
        "calibrate", "--model", MODEL, "--base-url", server.base_url, "--max-runs", "4",
        "--rung-runs", "2", "--concurrency", "2", "--max-steps", "2", "--max-tokens", "192",
        "--temperature", "0", "--retries", "2", "--timeout", "300", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    card = json.loads((out / "card.json").read_text())
    assert card["result"] == "below band"
    visited = card["calibration"]["rungs_visited"]
    assert card["rung"] == min(r["rung"] for r in visited)  # the easiest rung tried
    assert f"even at rung {card['rung']}" in done.stdout
    not_checked = "Context: the server does not report its context length: not checked"
    assert done.stdout.count(not_checked) == len(visited)  # one line per rung, before it ran
    # the model options reached the server: no turn wrote more than --max-tokens
    for rung in visited:
        for r in records(out / f"rung_{rung['rung']:02d}"):
            assert all(t["output_tokens"] <= 192 for t in turns([r]))


def test_sigterm_then_resume_finishes_the_batch(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY"}
    proc = subprocess.Popen(
        [ATTNRL, "run", "--model", MODEL, "--base-url", server.base_url, "--preset",
         "seed-doc", "--runs", "3", "--concurrency", "1", "--max-steps", "2", *COMMON,
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    results = out / "results.jsonl"
    # Until the first run is recorded: the batch's own limits (--timeout per request,
    # --max-steps per run) bound the wait; a batch that ends before it fails here.
    while not (results.exists() and results.read_text().strip()):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    kept = {r["run_id"] for r in records(out)}
    assert 1 <= len(kept) < 3
    done = attnrl("run", "--out", str(out), "--resume", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    recs = records(out)
    assert sorted(r["run_id"] for r in recs) == [1, 2, 3]
    report = attnrl("report", str(out), "--html")
    assert report.returncode == 0, report.stderr[-2000:]
    page = (out / "report.html").read_text()
    assert "turnLine" in page and "report-transcripts" in page
    summary = attnrl("report", str(out), "--json")
    assert json.loads(summary.stdout)["turns"]["count"] >= 3


def test_inspect_task_runs_against_the_server(server: Server, tmp_path: Path) -> None:
    inspect = str(Path(sys.executable).parent / "inspect")
    env = {
        **os.environ,
        "LOCAL_API_KEY": "EMPTY",
        "LOCAL_BASE_URL": server.base_url,
        "INSPECT_LOG_DIR": str(tmp_path / "logs"),
    }
    done = subprocess.run(
        [inspect, "eval", "attnrl/attention_task", "--model", "openai-api/local/local",
         "-T", "preset=seed-doc", "-T", "max_steps=2", "--max-tokens", "192",
         "--temperature", "0", "--log-format", "json", "--display", "plain"],
        capture_output=True, text=True, timeout=1800, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (log,) = (tmp_path / "logs").glob("*.json")
    data = json.loads(log.read_text())
    assert data["status"] == "success"
    (sample,) = data["samples"]
    assert sample["scores"], sample.get("error")


def test_verifiers_v0_runs_against_the_server(server: Server, tmp_path: Path) -> None:
    vf_eval = str(Path(sys.executable).parent / "vf-eval")
    done = subprocess.run(
        [vf_eval, "attnrl.integrations.verifiers", "-m", "local", "-b", server.base_url,
         "-k", "LOCAL_KEY", "-n", "1", "-r", "1", "-t", "192", "-d", "--disable-env-server"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
        env={**os.environ, "LOCAL_KEY": "EMPTY"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "reward: avg" in done.stdout


def test_verifiers_v1_runs_against_the_server(server: Server, tmp_path: Path) -> None:
    v1 = os.environ.get("ATTNRL_V1_PYTHON")
    if not v1:
        pytest.fail("ATTNRL_V1_PYTHON is not set: run this tier with `make test-real-model`")
    vf_eval = str(Path(v1).absolute().parent / "vf-eval")
    done = subprocess.run(
        [vf_eval, "attnrl-v1", "--env.taskset.preset", "seed-doc", "-n", "1", "-r", "1",
         "-m", "local", "--client.base-url", server.base_url, "--client.api-key-var",
         "LOCAL_KEY", "--no-push", "--no-rich", "-o", str(tmp_path / "out"), "--run.name",
         "real"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
        env={**os.environ, "LOCAL_KEY": "EMPTY"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (line,) = (tmp_path / "out/real/traces.jsonl").read_text().splitlines()
    traces = json.loads(line)["traces"]
    assert len(traces) == 1 and "attnrl" in traces[0]["info"]
