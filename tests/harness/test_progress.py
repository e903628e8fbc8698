"""Progress: an ETA and the running pass rate; plain periodic lines when not on a terminal."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

from rich.console import Console

from attnrl.harness.progress import BatchProgress

ROOT = Path(__file__).resolve().parents[2]


def test_not_a_terminal_prints_plain_lines_as_it_goes() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with BatchProgress(console, total=4, every_s=0.0) as progress:
        for passed in (True, False, False, True):
            progress.advance(passed)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("runs 1/4, passed 1 (100.0%)")
    assert re.fullmatch(r"runs 4/4, passed 2 \(50\.0%\), \d+s elapsed, eta 0s", lines[-1])
    assert len(lines) == 4


def test_a_terminal_gets_the_bar_with_rate_and_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with BatchProgress(console, total=2) as progress:
        progress.advance(True)
        progress.advance(False)
    text = out.getvalue()
    assert "passed 1 (50.0%)" in text and "eta" in text


def test_make_run_installs_only_the_main_job_and_shows_progress() -> None:
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    sync = next(line for line in plan.splitlines() if " sync " in line)
    assert "--all-extras" not in sync and "--quiet" not in sync and "--no-dev" in sync
    test_plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "--all-extras" in next(line for line in test_plan.splitlines() if " sync " in line)
