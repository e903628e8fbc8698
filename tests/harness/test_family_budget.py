"""Family evaluation (one instance per run), --stop-when-decided, --max-cost and --estimate,
through the real runner and CLI with the simulated agents and the real sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from attnrl.cli import main
from attnrl.harness.rundir import load_records
from attnrl.harness.runner import RunConfig, run_batch
from attnrl.models.base import Message, ModelTurn, ToolSpec, Usage
from attnrl.models.simulated import Plan, SimulatedAgents, SimulatedModel
from attnrl.sandbox import LocalSandbox
from attnrl.task import Task, load_task
from attnrl.task.family import instance_seed
from fakes.llm_server import FakeLLMServer, anthropic_tool_use


def _run(tmp: Path, *extra: str) -> int:
    return main(["run", "--model", "simulated", "--no-progress", "--out", str(tmp), *extra])


def test_each_run_gets_its_own_instance_and_resume_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "fam"
    args = ("--preset", "procedural", "--seed", "5", "--heads", "2", "--tokens", "4-6")
    assert _run(out, *args, "--runs", "6") == 0
    records = load_records(out / "results.jsonl")
    seeds = [r["instance_seed"] for r in records]
    assert seeds == [instance_seed(5, i) for i in range(1, 7)] and len(set(seeds)) == 6
    for r in records:
        task = load_task("procedural", r["instance_seed"], heads=2, tokens=(4, 6))
        assert r["task_hash"] == task.content_hash
        if r["intended_category"] is None:
            assert r["passed"]  # each agent solved its own instance
        else:
            assert r["category"] == r["intended_category"]
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["instances"] == "per run"
    assert json.loads((out / "summary.json").read_text())["instances"] == 6
    assert manifest["task_hash"] not in {r["task_hash"] for r in records}  # the family's

    before = (out / "results.jsonl").read_text()
    assert _run(out, *args, "--runs", "8", "--resume") == 0
    after = load_records(out / "results.jsonl")
    assert (out / "results.jsonl").read_text().startswith(before)  # nothing re-run
    assert [r["instance_seed"] for r in after] == [instance_seed(5, i) for i in range(1, 9)]


def test_fixed_instance_flag_keeps_one_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "fixed"
    assert (
        _run(out, "--preset", "procedural", "--seed", "5", "--runs", "4", "--fixed-instance") == 0
    )
    records = load_records(out / "results.jsonl")
    expected = load_task("procedural", 5).content_hash
    assert {r["task_hash"] for r in records} == {expected}
    assert {r["instance_seed"] for r in records} == {5}
    assert json.loads((out / "run.json").read_text())["instances"] == "fixed"
    assert json.loads((out / "summary.json").read_text())["instances"] == 1


async def test_stop_when_decided_stops_scheduling(
    tmp_path: Path, seed_task: Task, sandbox: LocalSandbox
) -> None:
    # Every agent passes: the sequence leaves the 10-40% band from above after 6 runs
    # (M_6(0.4) = 1 / (7 * 0.4**6) > 20); two runs are in flight at a time.
    plans = [Plan("reference")] * 60
    config = RunConfig(
        model="simulated",
        out=tmp_path,
        runs=60,
        concurrency=2,
        progress=False,
        stop_when_decided=True,
    )
    agents = SimulatedAgents(seed_task, 60, plans=plans)
    summary = await run_batch(config, seed_task, agents, sandbox=sandbox)
    records = load_records(tmp_path / "results.jsonl")
    assert 6 <= len(records) <= 8
    assert [r["run_id"] for r in records] == list(range(1, len(records) + 1))
    assert summary["sequence_verdict"] == "out of band" and summary["decided_at"] == 6
    assert summary["stopped_early"]["not_scheduled"] == 60 - len(records)
    assert "out of band after 6 runs" in summary["stopped_early"]["reason"]


class _Billed(SimulatedModel):
    """A simulated agent that reports Sonnet-like usage, so its runs cost money."""

    @property
    def name(self) -> str:
        return "anthropic/claude-sonnet-4-6"

    async def generate(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        turn = await super().generate(messages, tools)
        return ModelTurn(turn.text, turn.tool_calls, turn.stop_reason, Usage(1000, 100, 0, 0))


class _BilledAgents(SimulatedAgents):
    def for_run(self, run_id: int) -> SimulatedModel:
        return _Billed(self.task, self.plans[run_id - 1])


async def test_max_cost_stops_scheduling_and_costs_are_recorded(
    tmp_path: Path, seed_task: Task, sandbox: LocalSandbox
) -> None:
    # Two turns a run at (1000 x $3 + 100 x $15) / 1e6 = $0.0045 a turn: $0.009 a run.
    config = RunConfig(
        model="anthropic/claude-sonnet-4-6",
        out=tmp_path,
        runs=20,
        concurrency=1,
        progress=False,
        max_cost=0.03,
    )
    agents = _BilledAgents(seed_task, 20, plans=[Plan("reference")] * 20)
    summary = await run_batch(config, seed_task, agents, sandbox=sandbox)
    records = load_records(tmp_path / "results.jsonl")
    assert len(records) == 4  # $0.027 after 3 runs, $0.036 after 4
    assert all(r["cost_usd"] == pytest.approx(0.009) for r in records)
    assert summary["cost_usd"]["total"] == pytest.approx(0.036)
    assert summary["cost_usd"]["per_run"] == pytest.approx(0.009)
    assert "--max-cost" in summary["stopped_early"]["reason"]
    assert records[0]["usage"] == {
        "input_tokens": 2000,
        "output_tokens": 200,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_estimate_prints_cost_and_spends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-NEVER-USED")
    out = tmp_path / "est"
    code = main(
        [
            "run",
            "--model",
            "anthropic/claude-sonnet-4-6",
            "--runs",
            "15",
            "--estimate",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "Estimate for 15 runs of anthropic/claude-sonnet-4-6" in text
    assert "expected $" in text and "at most $" in text and "prompt caching on" in text


def test_unknown_price_is_said_and_max_cost_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["run", "--model", "openai/mystery-7b", "--base-url", "http://127.0.0.1:9/v1"]
    assert main([*base, "--estimate"]) == 0
    assert "no published price for openai/mystery-7b" in capsys.readouterr().out
    assert main([*base, "--max-cost", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--max-cost needs a price" in err and "--pricing FILE" in err
    assert not (tmp_path / "x").exists()
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai/mystery-7b": {"input": 0.1, "output": 0.2}}))
    assert main([*base, "--estimate", "--pricing", str(prices)]) == 0
    assert "expected $" in capsys.readouterr().out
    prices.write_text("{not json")
    assert main([*base, "--estimate", "--pricing", str(prices)]) == 2
    assert "cannot read --pricing" in capsys.readouterr().err


def test_provider_batch_records_billed_usage_cost_and_cache_markers(
    tmp_path: Path, llm_server: FakeLLMServer, seed_task: Task
) -> None:
    """Through the CLI, the real anthropic SDK and the loopback server: usage is recorded as
    billed, priced from the table, summed in the summary, and the requests carry the marker."""
    submit = {"answer": seed_task.reference()}
    for _ in range(2):
        turn = anthropic_tool_use("submit_answer", submit)
        turn.body["usage"].update(
            input_tokens=10,
            output_tokens=200,
            cache_creation_input_tokens=1500,
            cache_read_input_tokens=0,
        )
        llm_server.enqueue_anthropic(turn)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": llm_server.url,
    }
    out = tmp_path / "billed"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnrl",
            "run",
            "--model",
            "anthropic/claude-sonnet-4-6",
            "--runs",
            "2",
            "--concurrency",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    per_run = (10 * 3.0 + 200 * 15.0 + 1500 * 3.75) / 1e6
    for record in load_records(out / "results.jsonl"):
        assert record["usage"] == {
            "input_tokens": 10,
            "output_tokens": 200,
            "cache_creation_input_tokens": 1500,
            "cache_read_input_tokens": 0,
        }
        assert record["cost_usd"] == pytest.approx(per_run)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost_usd"]["total"] == pytest.approx(2 * per_run)
    assert summary["tokens"] == {"input": 20, "output": 400, "cache_write": 3000, "cache_read": 0}
    assert f"Cost: ${2 * per_run:.4f} total" in proc.stdout
    for request in llm_server.requests_to("anthropic"):
        last = request.body["messages"][-1]["content"][-1]
        assert last["cache_control"] == {"type": "ephemeral"}
