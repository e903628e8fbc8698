"""The runner and ``attnrl run``: records, summary, resume, kill-safety, keys never written."""

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

from attnrl.cli import main
from attnrl.harness.rundir import load_records
from attnrl.harness.runner import RunConfig, run_batch
from attnrl.models.simulated import SimulatedAgents
from attnrl.sandbox import LocalSandbox
from attnrl.task import Task
from fakes.llm_server import FakeLLMServer, anthropic_error, anthropic_tool_use

RECORD_FIELDS = {
    "run_id",
    "passed",
    "outcome",
    "category",
    "message",
    "errors",
    "reward",
    "steps",
    "duration_s",
    "model",
    "preset",
    "transcript",
    "intended_category",
}
SUMMARY_FIELDS = {
    "runs",
    "passed",
    "pass_rate",
    "pass_rate_ci95",
    "categories",
    "infrastructure_errors",
    "timing_s",
    "task_hash",
    "verdict",
}


def cli(args: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "attnrl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def no_key_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("ANTHROPIC_BASE_URL", None)
    return env


def start_slow_run(out: Path, finished: int) -> tuple[subprocess.Popen[str], list[str]]:
    """A 40-run simulated batch slowed to ~0.1 s a run, once ``finished`` runs are on disk."""
    args = [
        "run",
        "--model",
        "simulated",
        "--runs",
        "40",
        "--concurrency",
        "2",
        "--out",
        str(out),
        "--simulated-delay",
        "0.05",
        "--no-progress",
    ]
    proc = cli(args, env=no_key_env())
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count("\n") >= finished:
            break
        time.sleep(0.05)
    return proc, args


@pytest.mark.slow
async def test_simulated_120_runs_diagnosis_recovers_intended_categories(
    tmp_path: Path, seed_task: Task, sandbox: LocalSandbox
) -> None:
    config = RunConfig(
        model="simulated", out=tmp_path, runs=120, concurrency=32, seed=7, progress=False
    )
    summary = await run_batch(
        config, seed_task, SimulatedAgents(seed_task, 120, seed=7), sandbox=sandbox
    )
    records = load_records(tmp_path / "results.jsonl")
    assert len(records) == 120 and [r["run_id"] for r in records] == list(range(1, 121))
    failed = [r for r in records if r["intended_category"] is not None]
    recovered = sum(r["category"] == r["intended_category"] for r in failed)
    assert recovered / len(failed) >= 0.95, [
        (r["plan"], r["category"]) for r in failed if r["category"] != r["intended_category"]
    ]
    assert all(r["passed"] for r in records if r["intended_category"] is None)
    assert RECORD_FIELDS <= set(records[0])
    assert SUMMARY_FIELDS <= set(summary)
    assert summary["runs"] == 120 and summary["passed"] == 32
    assert summary["pass_rate"] == pytest.approx(32 / 120)
    assert summary["simulated"] is True and summary["isolation"] == sandbox.isolation
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["categories"] == summary["categories"]
    logs = list(tmp_path.glob("attnrl_run_*.log"))
    log_text = logs[0].read_text() if logs else ""
    assert "run 1 finished" in log_text and "component errors" in log_text
    assert "causal_mask_applied=" in log_text and "shapes invalid" in log_text


def test_make_run_path_without_key_runs_simulated_and_prints_analysis(tmp_path: Path) -> None:
    proc = cli(
        ["run", "--runs", "15", "--out", str(tmp_path / "r"), "--no-progress"], env=no_key_env()
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "running the offline simulated agents" in err
    assert "TASK ANALYSIS - Positional Multi-Head Attention Implementation" in out
    assert "Total Runs: 15\nSuccessful: 4\nFailed: 11\nPass Rate: 26.7%" in out
    assert "SIMULATED" in out and "Wilson 95% interval" in out
    report = cli(["report", str(tmp_path / "r")])
    rout, _ = report.communicate(timeout=60)
    assert report.returncode == 0 and "Pass Rate: 26.7%" in rout
    as_json = cli(["report", "--json", str(tmp_path / "r")])
    jout, _ = as_json.communicate(timeout=60)
    reported = json.loads(jout)
    written = json.loads((tmp_path / "r" / "summary.json").read_text())
    reported.pop("written_at"), written.pop("written_at")
    assert reported == written  # one summary, whether made by run or by report


def test_out_dir_with_runs_needs_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    args = ["run", "--model", "simulated", "--runs", "3", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    before = (tmp_path / "results.jsonl").read_text()
    assert main(args) == 2
    assert "already holds runs; pass --resume" in capsys.readouterr().err
    assert (tmp_path / "results.jsonl").read_text() == before
    assert main([*args, "--resume"]) == 0
    assert (tmp_path / "results.jsonl").read_text() == before  # nothing left to run
    assert main([*args[:-1], "--resume", "--max-steps", "4", "--no-progress"]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_bad_flags_are_clear_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit_info:  # argparse: exit 2, the flag named
        main(["run", "--model", "simulated", "--runs", "0"])
    assert exit_info.value.code == 2
    assert "argument --runs: expected an integer >= 1" in capsys.readouterr().err
    assert main(["run", "--model", "anthropic/claude-sonnet-4-5"]) == 2
    assert "no credentials for anthropic/claude-sonnet-4-5" in capsys.readouterr().err
    assert main(["run", "--model", "mystery/x"]) == 2
    assert "unknown provider" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--target-band", "40,10"])


def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    results = out / "results.jsonl"
    proc, args = start_slow_run(out, finished=6)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    killed_ids = [r["run_id"] for r in load_records(results)]
    assert 6 <= len(killed_ids) < 40
    first_records = {r["run_id"]: r for r in load_records(results)}
    resumed = cli([*args, "--resume"], env=no_key_env())
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    lines = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    ids = [r["run_id"] for r in lines]
    assert sorted(ids) == list(range(1, 41)), "every run exactly once"
    for run_id, record in first_records.items():
        assert next(r for r in lines if r["run_id"] == run_id) == record
    assert "Total Runs: 40" in stdout


def test_provider_run_counts_infrastructure_apart_and_never_writes_the_key(
    tmp_path: Path, llm_server: FakeLLMServer, seed_task: Task
) -> None:
    secret = "sk-ant-test-NEVER-WRITE-ME-123"
    submit = {"answer": seed_task.reference()}
    # run 1 succeeds; run 2 meets a permanent 500 (3 attempts, then infrastructure)
    responses = [anthropic_tool_use("submit_answer", submit)] + [anthropic_error(500)] * 3
    llm_server.enqueue_anthropic(*responses)
    env = no_key_env() | {"ANTHROPIC_API_KEY": secret, "ANTHROPIC_BASE_URL": llm_server.url}
    out = tmp_path / "prov"
    retry = ["--retries", "2", "--retry-delay", "0.01"]  # 3 attempts
    proc = cli(
        [
            "--log-level",
            "DEBUG",
            "run",
            "--model",
            "anthropic/claude-test",
            "--runs",
            "2",
            "--concurrency",
            "1",
            "--out",
            str(out),
            "--no-progress",
            "--preset",
            "seed-doc",  # the instance whose reference is submitted
            *retry,
        ],
        env=env,
    )
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 3, stderr  # EXIT_INFRASTRUCTURE: a run could not reach the model
    records = {r["run_id"]: r for r in load_records(out / "results.jsonl")}
    assert records[1]["outcome"] == "full_success"
    assert records[2]["category"] == "infrastructure"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 1 and summary["infrastructure_errors"] == 1
    assert summary["pass_rate"] == 1.0 and summary["complete"] is False
    assert "Infrastructure errors (not counted" in stdout
    for path in out.rglob("*"):
        assert secret not in path.read_text(errors="replace"), path
    assert secret not in stdout and secret not in stderr
    # resume re-runs only the infrastructure run
    llm_server.enqueue_anthropic(anthropic_tool_use("submit_answer", submit))
    again = cli(
        [
            "run",
            "--model",
            "anthropic/claude-test",
            "--runs",
            "2",
            "--out",
            str(out),
            "--resume",
            "--no-progress",
            *retry,
        ],
        env=env,
    )
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert "Total Runs: 2\nSuccessful: 2" in stdout


class BrokenSandbox:
    """A sandbox backend that fails: each run it breaks is infrastructure, not a crash."""

    isolation = "broken (test)"

    async def run(self, code: str) -> Any:
        raise RuntimeError("zygote died")

    async def aclose(self) -> None:
        return None


async def test_a_crashing_run_is_recorded_not_fatal(tmp_path: Path, seed_task: Task) -> None:
    config = RunConfig(model="simulated", out=tmp_path, runs=15, seed=1, progress=False)
    agents = SimulatedAgents(seed_task, 15, seed=1)
    summary = await run_batch(config, seed_task, agents, sandbox=BrokenSandbox())  # type: ignore[arg-type]
    records = load_records(tmp_path / "results.jsonl")
    assert len(records) == 15
    crashed = [r for r in records if r["category"] == "infrastructure"]
    assert len(crashed) == 14  # every agent but the one that never calls python
    assert crashed[0]["message"] == "INFRASTRUCTURE: RuntimeError: zygote died"
    assert summary["infrastructure_errors"] == 14 and summary["runs"] == 1


def test_seed_on_a_fixed_preset_seeds_the_simulated_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    plans = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        args = [
            "run",
            "--model",
            "simulated",
            "--seed",
            seed,
            "--runs",
            "15",
            "--out",
            str(tmp_path / name),
            "--no-progress",
        ]
        assert main(args) == 0
        plans.append([r["plan"] for r in load_records(tmp_path / name / "results.jsonl")])
    assert plans[0] == plans[1] != plans[2]


def test_ctrl_c_stops_cleanly_keeping_finished_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    results = out / "results.jsonl"
    proc, _ = start_slow_run(out, finished=4)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; finished runs are kept" in stderr and "Traceback" not in stderr
    kept = load_records(results)
    assert 4 <= len(kept) < 40
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == len(kept) and summary["complete"] is False


def test_batches_print_the_stability_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    args = [
        "run",
        "--model",
        "simulated",
        "--runs",
        "15",
        "--batches",
        "3",
        "--seed",
        "0",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("TASK ANALYSIS") == 1  # pooled over the batches
    assert "Pass rate stability across batches:" in out and "std dev" in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("batch_")) == [
        "batch_01",
        "batch_02",
        "batch_03",
    ]
    assert (tmp_path / "summary.json").is_file() and (tmp_path / "run.json").is_file()


class _TaggedModel:
    """A model that adds its own field to its run's record, as any model may."""

    def __init__(self, inner: Any, run_id: int) -> None:
        self.inner, self.run_id = inner, run_id

    @property
    def name(self) -> str:
        return "tagged"

    async def generate(self, messages: Any, tools: Any) -> Any:
        return await self.inner.generate(messages, tools)

    def record_fields(self) -> dict[str, Any]:
        return {"tag": f"run-{self.run_id}"}


class _TaggedSource:
    def __init__(self, inner: SimulatedAgents) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return "tagged"

    def for_run(self, run_id: int) -> _TaggedModel:
        return _TaggedModel(self.inner.for_run(run_id), run_id)

    async def aclose(self) -> None:
        return None


async def test_record_fields_come_from_the_model(
    tmp_path: Path, seed_task: Task, sandbox: LocalSandbox
) -> None:
    config = RunConfig(model="tagged", out=tmp_path, runs=3, seed=1, progress=False)
    source = _TaggedSource(SimulatedAgents(seed_task, 3, seed=1))
    await run_batch(config, seed_task, source, sandbox=sandbox)
    records = load_records(tmp_path / "results.jsonl")
    assert [r["tag"] for r in records] == ["run-1", "run-2", "run-3"]
    assert all(r["model"] == "tagged" and "plan" not in r for r in records)
