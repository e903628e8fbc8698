"""The errors a newcomer makes by mistake (issue 21 item 5), each through the real CLI: one
line naming the problem (plus at most a ``hint:`` line), the right advice, in the right
order, exit 2, never the usage block or a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOTICE = "no ANTHROPIC_API_KEY set"


def attnrl(*args: str, cwd: Path | None = None, wrap: list[str] | None = None) -> tuple[int, str]:
    """``attnrl ARGS`` without provider keys; its exit code and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    proc = subprocess.run(
        [*(wrap or []), sys.executable, "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    return proc.returncode, proc.stderr


def assert_one_error(code: int, stderr: str, prog: str = "attnrl") -> tuple[str, str | None]:
    """Exit 2; an error line and an optional hint line; no usage block, no traceback."""
    lines = stderr.splitlines()
    assert code == 2, stderr
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith(f"{prog}: error: "), stderr
    assert "usage:" not in stderr and "Traceback" not in stderr
    hint = lines[1] if len(lines) == 2 else None
    assert hint is None or hint.startswith("hint: ")
    return lines[0], hint


@pytest.mark.parametrize(
    ("args", "flag", "expected"),
    [
        (["run", "--runs", "-3"], "--runs", "expected an integer >= 1, got '-3'"),
        (["run", "--concurrency", "0"], "--concurrency", "expected an integer >= 1, got '0'"),
        (["run", "--target-band", "0.1,0.4"], "--target-band", "did you mean 10,40?"),
        (["run", "--target-band", "40,10"], "--target-band", "0 <= low < high <= 100"),
        (["run", "--max-steps", "0"], "--max-steps", "expected an integer >= 1"),
        (["run", "--max-cost", "-1"], "--max-cost", "a positive amount in USD"),
        (["run", "--retry-delay", "nan"], "--retry-delay", "expected seconds >= 0"),
        (["run", "--temperature", "-0.5"], "--temperature", "expected a number >= 0"),
        (["calibrate", "--model", "simulated", "--concurrency", "0"], "--concurrency", ">= 1"),
        (["calibrate", "--model", "simulated", "--max-runs", "-5"], "--max-runs", ">= 1"),
        (["dataset", "--n", "0"], "--n", "1 <= N"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_flag(
    args: list[str], flag: str, expected: str, tmp_path: Path
) -> None:
    code, stderr = attnrl(*args, cwd=tmp_path)
    error, hint = assert_one_error(code, stderr, prog=f"attnrl {args[0]}")
    assert f"argument {flag}" in error and expected in error
    assert hint == f"hint: see attnrl {args[0]} --help"
    assert NOTICE not in stderr and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["run", "--rnus", "3"], "did you mean --runs?"),
        (["run", "--concurency=4"], "did you mean --concurrency?"),
        (["rnu"], "did you mean attnrl run?"),
        (["reprot", "runs/x"], "did you mean attnrl report?"),
    ],
)
def test_a_misspelled_flag_or_command_gets_a_suggestion(
    args: list[str], suggestion: str, tmp_path: Path
) -> None:
    code, stderr = attnrl(*args, cwd=tmp_path)
    _, hint = assert_one_error(code, stderr)
    assert hint == f"hint: {suggestion}"


def test_the_simulated_notice_comes_only_after_the_flags_and_out_are_checked(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a-file"
    target.write_text("mine")
    code, stderr = attnrl("run", "--runs", "1", "--out", str(target))
    error, _ = assert_one_error(code, stderr)
    assert (
        error == f"attnrl: error: --out {target} is a file, not a directory; choose another --out"
    )
    code, stderr = attnrl("run", "--runs", "1", "--no-progress", "--out", str(tmp_path / "ok"))
    assert code == 0 and stderr.startswith(f"attnrl: {NOTICE}")  # a valid run says it first
    code, stderr = attnrl("run", "--runs", "1", "--out", str(tmp_path / "ok"))
    error, _ = assert_one_error(code, stderr)  # the same directory again: no notice before
    assert "already holds runs; pass --resume to continue them" in error


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


@needs_bwrap
def test_a_read_only_out_gets_advice_that_fits_it(tmp_path: Path) -> None:
    """Root ignores permission bits, so the directories are bound read-only (bwrap)."""
    empty, made = tmp_path / "empty", tmp_path / "made"
    empty.mkdir()
    made.mkdir()
    (made / "run.json").write_text(json.dumps({"model": "simulated", "runs": 1}))
    wrap = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(tmp_path), str(tmp_path)]

    code, stderr = attnrl("run", "--runs", "1", "--out", str(empty), wrap=wrap)
    error, _ = assert_one_error(code, stderr)
    assert "a read-only file system" in error and "--resume" not in error
    assert NOTICE not in stderr

    code, stderr = attnrl("run", "--runs", "1", "--out", str(made), wrap=wrap)
    error, _ = assert_one_error(code, stderr)
    assert "make it writable and continue with --resume" in error

    code, stderr = attnrl("run", "--runs", "1", "--out", str(empty / "new"), wrap=wrap)
    error, _ = assert_one_error(code, stderr)
    assert f"cannot create --out {empty / 'new'}: {empty} is not writable" in error


def test_resume_of_a_directory_without_a_batch_says_to_drop_resume(tmp_path: Path) -> None:
    code, stderr = attnrl("run", "--resume", "--out", str(tmp_path))
    error, _ = assert_one_error(code, stderr)
    assert "has no run.json" in error and "drop --resume to start one" in error


@pytest.mark.parametrize("what", ["missing", "file"])
def test_report_of_something_that_is_not_a_run_directory(tmp_path: Path, what: str) -> None:
    target = tmp_path / "nope"
    if what == "file":
        target.write_text("x")
    code, stderr = attnrl("report", str(target))
    error, _ = assert_one_error(code, stderr)
    said = "does not exist" if what == "missing" else "is a file, not a directory"
    assert error == (
        f"attnrl: error: {target} {said}; give a directory made by attnrl run (--out DIR)"
    )
