"""``attnrl run`` / ``report`` keep their promises (issue 11): each test runs the exact command
of a broken case through the real CLI, in a subprocess wherever signals or exit codes matter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attnrl.harness.rundir import CORRUPT_FILE, load_records

SLOW = ["--simulated-delay", "0.05", "--concurrency", "2", "--no-progress"]


def env() -> dict[str, str]:
    """No provider keys or base URLs from the outer environment."""
    out = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    for var in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        out.pop(var, None)
    return out


def attnrl(
    *args: str,
    extra_env: dict[str, str] | None = None,
    timeout: float = 180,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        env=env() | (extra_env or {}),
        timeout=timeout,
        input=input_text,
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "attnrl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )


def wait_for_runs(out: Path, n: int, timeout: float = 60) -> None:
    results = out / "results.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if results.exists() and results.read_text(errors="replace").count("\n") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} runs never reached {results}")


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "error" in line]
    assert len(lines) == 1, stderr
    return lines[0]


# ---- 1. --resume restores the batch -------------------------------------------------------


def test_resume_restores_every_setting_and_never_shrinks(tmp_path: Path) -> None:
    out = tmp_path / "D"
    proc = start("run", "--model", "simulated", "--runs", "60", "--out", str(out), *SLOW)
    wait_for_runs(out, 1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert len(load_records(out / "results.jsonl")) < 60
    resumed = attnrl("run", "--out", str(out), "--resume", "--no-progress")  # the README's form
    assert resumed.returncode == 0, resumed.stderr
    assert "Total Runs: 60" in resumed.stdout
    assert sorted(r["run_id"] for r in load_records(out / "results.jsonl")) == list(range(1, 61))
    assert json.loads((out / "run.json").read_text())["runs"] == 60
    shrink = attnrl("run", "--out", str(out), "--resume", "--runs", "10")
    assert shrink.returncode == 2
    assert "--runs 10" in one_error_line(shrink.stderr) and "--runs 60" in shrink.stderr
    assert json.loads((out / "run.json").read_text())["runs"] == 60
    assert json.loads((out / "summary.json").read_text())["runs"] == 60
    other = attnrl("run", "--out", str(out), "--resume", "--max-steps", "4")
    assert other.returncode == 2 and "--max-steps 4" in other.stderr
    assert "--max-steps 15" in other.stderr
    grow = attnrl("run", "--out", str(out), "--resume", "--runs", "62", "--concurrency", "1")
    assert grow.returncode == 0 and "Total Runs: 62" in grow.stdout, grow.stderr
    missing = attnrl("run", "--out", str(tmp_path / "nowhere"), "--resume")
    assert missing.returncode == 2 and "does not exist" in one_error_line(missing.stderr)


# ---- 2. knobs are recorded ----------------------------------------------------------------

KNOBS = ["--preset", "procedural", "--seed", "3", "--heads", "3", "--tokens", "8"]
KNOBS += ["--mask", "window:3", "--residual", "--layer-norm", "--tolerance-scale", "0.5"]


def test_every_knob_and_the_seed_are_recorded_and_shown(tmp_path: Path) -> None:
    out = tmp_path / "K"
    proc = attnrl("run", *KNOBS, "--runs", "2", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    knobs = {
        "heads": [3, 3],
        "tokens": [8, 8],
        "mask": "window:3",
        "residual": True,
        "layer_norm": True,
        "tolerance_scale": 0.5,
    }
    for name in ("run.json", "summary.json"):
        data = json.loads((out / name).read_text())
        assert data["knobs"] == knobs and data["seed"] == 3 and data["preset"] == "procedural"
    assert "Task: preset procedural, seed 3, content hash" in proc.stdout
    assert (
        "Knobs: heads 3, tokens 8, mask window:3, residual on, layer norm on, "
        "tolerance scale 0.5" in proc.stdout
    )
    again = attnrl("run", "--out", str(out), "--resume", "--runs", "3", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "Knobs: heads 3, tokens 8, mask window:3" in again.stdout  # restored, not re-typed
    report = attnrl("report", str(out))
    assert "Knobs: heads 3" in report.stdout


# ---- 3. one writer per directory ----------------------------------------------------------


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "L"
    first = start("run", "--model", "simulated", "--runs", "400", "--out", str(out), *SLOW)
    wait_for_runs(out, 1)
    second = attnrl("run", "--out", str(out), "--resume", "--no-progress", timeout=60)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr
    assert second.returncode == 2
    assert f"another attnrl run (pid {first.pid})" in one_error_line(second.stderr)
    ids = [json.loads(line)["run_id"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) < 400  # nothing run twice


# ---- 4. SIGTERM and SIGHUP get what Ctrl-C gets -------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_keep_runs_and_write_the_summary(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "S"
    proc = start("run", "--model", "simulated", "--runs", "40", "--out", str(out), *SLOW)
    wait_for_runs(out, 3)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert f"stopped by {sig.name}; finished runs are kept in {out}" in stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    kept = load_records(out / "results.jsonl")
    summary = json.loads((out / "summary.json").read_text())
    assert 3 <= len(kept) < 40 and summary["runs"] == len(kept) and not summary["complete"]


# ---- 5. I/O errors: one line, exit 2, nothing lost ----------------------------------------


def test_out_naming_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("mine")
    proc = attnrl("run", "--model", "simulated", "--runs", "1", "--out", str(target))
    assert proc.returncode == 2
    assert f"--out {target} is a file" in one_error_line(proc.stderr)
    assert target.read_text() == "mine"


def _bwrap(*mounts: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bwrap", "--dev-bind", "/", "/", *mounts, "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env(),
        timeout=180,
    )


needs_bwrap = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode != 0,
    reason="needs bubblewrap",
)


@needs_bwrap
def test_out_on_a_read_only_filesystem(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    cmd = f"{sys.executable} -m attnrl run --model simulated --runs 1 --out {ro}/D --no-progress"
    proc = _bwrap("--ro-bind", str(ro), str(ro), script=cmd)
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc.stderr)
    assert f"cannot create --out {ro}/D: {ro} is not writable (a read-only file system)" in line


@needs_bwrap
def test_a_disk_that_fills_mid_run(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    cmd = (
        f"{sys.executable} -m attnrl run --model simulated --runs 60 --out /mnt/small/D "
        f"--no-progress; echo rc=$?; ls -a /mnt/small/D; cp -r /mnt/small/D {copy}"
    )
    proc = _bwrap("--size", str(160 * 1024), "--tmpfs", "/mnt/small", script=cmd)
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    line = one_error_line(proc.stderr)
    assert "cannot write /mnt/small/D/" in line and "No space left on device" in line
    assert "--resume" in line
    assert ".tmp" not in proc.stdout  # no half-written temporary file left behind
    records = load_records(copy / "results.jsonl")
    assert 0 < len(records) < 60
    assert all(r["category"] != "infrastructure" for r in records)  # no run marked crashed


def test_binary_bytes_and_corrupt_lines_are_set_aside_and_rerun(tmp_path: Path) -> None:
    out = tmp_path / "B"
    assert attnrl("run", "--model", "simulated", "--runs", "4", "--out", str(out)).returncode == 0
    results = out / "results.jsonl"
    lines = results.read_bytes().split(b"\n")
    lines[1] = lines[1][:40]  # a hand-edited, cut line inside the file: run 2 is lost
    results.write_bytes(b"\n".join(lines) + b"\xff\xfe\x00\x80 garbage")
    report = attnrl("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "Total Runs: 3" in report.stdout and "corrupt line" in report.stderr
    resumed = attnrl("run", "--out", str(out), "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "set aside 2 corrupt lines" in resumed.stderr and "Total Runs: 4" in resumed.stdout
    side = (out / CORRUPT_FILE).read_bytes()
    assert lines[1] in side and b"\xff\xfe\x00\x80 garbage" in side
    assert sorted(r["run_id"] for r in load_records(results)) == [1, 2, 3, 4]


# ---- 6. nothing reached the model ----------------------------------------------------------


def test_unreachable_model_exits_3_with_one_line_per_retry_cause(tmp_path: Path) -> None:
    out = tmp_path / "I"
    proc = attnrl(
        "run",
        "--model",
        "openai/x",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--retries",
        "2",
        "--retry-delay",
        "0.01",
        "--out",
        str(out),
        "--no-progress",
    )
    assert proc.returncode == 3, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["infrastructure_errors"] == 15
    assert "WARNING" not in proc.stderr
    retried = [line for line in proc.stderr.splitlines() if line.startswith("attnrl: retried")]
    assert retried == [
        "attnrl: retried 30 times: openai/x: connection error (ConnectError: "
        "All connection attempts failed)"
    ], proc.stderr
    assert "exit 3" in proc.stderr


# ---- 7. report keeps the band; percent bands -----------------------------------------------


def test_report_uses_the_band_the_run_was_made_with(tmp_path: Path) -> None:
    out = tmp_path / "T"
    run = attnrl("run", "--model", "simulated", "--target-band", "1,5", "--out", str(out))
    assert run.returncode == 0 and "\nVerdict: OUT OF BAND (1-5%)" in run.stdout
    report = attnrl("report", str(out))
    assert "\nVerdict: OUT OF BAND (1-5%)" in report.stdout
    again = attnrl("report", str(out), "--target-band", "10,40").stdout
    assert "\nVerdict: INCONCLUSIVE (10-40%)" in again
    bad = attnrl("run", "--target-band", "0.1,0.4")
    assert bad.returncode == 2 and "percent: did you mean 10,40?" in bad.stderr
    assert len(bad.stderr.splitlines()) == 2  # the error and its hint, no usage block


# ---- 8. batches -----------------------------------------------------------------------------


def test_batches_get_seeds_and_a_pooled_summary(tmp_path: Path) -> None:
    out = tmp_path / "P"
    proc = attnrl(
        "run",
        "--model",
        "simulated",
        "--batches",
        "3",
        "--runs",
        "15",
        "--out",
        str(out),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("TASK ANALYSIS") == 1  # the pooled one, not one per batch
    pooled = json.loads((out / "summary.json").read_text())
    seeds = [b["seed"] for b in pooled["batches"]]
    assert len(set(seeds)) == 3 and pooled["runs"] == 45
    plans = [
        [r["plan"] for r in load_records(out / f"batch_0{b}" / "results.jsonl")] for b in (1, 2, 3)
    ]
    assert plans[0] != plans[1] != plans[2]  # not identical run for run
    assert pooled["batch_pass_rate_std"] is not None
    report = attnrl("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "Total Runs: 45" in report.stdout and "between-batch std dev" in report.stdout


# ---- 9. models ------------------------------------------------------------------------------


def test_a_retired_model_is_refused_before_any_call_naming_a_replacement() -> None:
    proc = attnrl(
        "run",
        "--model",
        "anthropic/claude-sonnet-4-5",
        extra_env={"ANTHROPIC_API_KEY": "sk-ant-test"},
    )
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert "reached end of life on 2026-11-30" in line
    assert "--model anthropic/claude-sonnet-5-5" in line


# ---- 10. messages ---------------------------------------------------------------------------


def test_messages_speak_the_users_language(tmp_path: Path) -> None:
    key = attnrl("run", "--model", "anthropic/claude-sonnet-5-5")
    assert key.returncode == 2 and "ANTHROPIC_API_KEY" in one_error_line(key.stderr)
    key = attnrl("run", "--model", "openai/gpt-4.1")
    assert key.returncode == 2 and "OPENAI_API_KEY" in one_error_line(key.stderr)
    for flag, value in (("--retries", "-1"), ("--retry-delay", "-1"), ("--runs", "0")):
        bad = attnrl("run", flag, value)
        assert bad.returncode == 2 and f"argument {flag}" in bad.stderr
        assert "max_attempts" not in bad.stderr and "initial_delay_s" not in bad.stderr
        assert "no ANTHROPIC_API_KEY set" not in bad.stderr  # rejected before the notice
    zero = attnrl(
        "run", "--model", "simulated", "--retries", "0", "--runs", "1", "--out", str(tmp_path / "z")
    )
    assert zero.returncode == 0, zero.stderr
    window = attnrl("prompt", "--preset", "procedural", "--mask", "window:1")
    assert window.returncode == 2 and "--mask window must be >= 2" in window.stderr
    for command in (["run", "--model", "simulated"], ["dataset", "--n", "1", "--out", "x.jsonl"]):
        neg = attnrl(*command, "--preset", "procedural", "--seed", "-1")
        assert neg.returncode == 2 and "--seed must be >= 0, got -1" in one_error_line(neg.stderr)
    seedless = attnrl(
        "run",
        "--model",
        "simulated",
        "--preset",
        "procedural",
        "--runs",
        "1",
        "--out",
        str(tmp_path / "p"),
        "--no-progress",
    )
    assert seedless.returncode == 0, seedless.stderr  # seed 0, as `dataset` does
    assert json.loads((tmp_path / "p" / "run.json").read_text())["seed"] == 0
    audit = attnrl("audit")
    assert "Tolerances(" not in audit.stdout and "position 0.1, weights 0.15" in audit.stdout
    huge = tmp_path / "huge.json"
    huge.write_text('{"a": ' + "9" * 5000 + "}")
    verify = attnrl("verify", str(huge))
    assert verify.returncode == 1 and "set_int_max_str_digits" not in verify.stdout
    null_flag = attnrl("verify", "-", input_text='{"position_encoded_queries": null}')
    assert "NoneType" not in null_flag.stdout


# ---- 12. verify -------------------------------------------------------------------------------


def test_verify_same_exit_from_file_and_stdin_and_unwraps_answer(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\xff\xfe\x00\x80\x81garbage")
    from_file = attnrl("verify", str(garbage))
    from_stdin = subprocess.run(
        [sys.executable, "-m", "attnrl", "verify", "-"],
        input=garbage.read_bytes(),
        capture_output=True,
        env=env(),
    )
    assert from_file.returncode == from_stdin.returncode == 1
    assert "not UTF-8 text" in from_file.stdout
    reference = json.loads(attnrl("reference", "--json").stdout)
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_bytes(b"\xef\xbb\xbf" + json.dumps({"answer": reference}).encode())
    ok = attnrl("verify", str(wrapped))
    assert ok.returncode == 0 and ok.stdout.startswith("SUCCESS: Complete"), ok.stdout


# ---- 13. every record has the same keys -----------------------------------------------------


def test_every_record_has_the_same_keys(tmp_path: Path) -> None:
    out = tmp_path / "R"
    assert attnrl("run", "--model", "simulated", "--out", str(out)).returncode == 0
    records = load_records(out / "results.jsonl")
    assert {r["category"] for r in records} >= {"no_submission", None, "dimension"}
    keys = {frozenset(r) for r in records}
    assert len(keys) == 1, [sorted(k) for k in keys]
    assert {"diagnosis", "submitted_keys", "mask_flag"} <= set(records[0])
