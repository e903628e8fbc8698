"""Helpers of the report tests: the CLI in-process and the run directories it makes."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnrl.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAMILY = [(1, 4, 4, "2"), (2, 6, 6, "2"), (3, 8, 6, "3"), (4, 10, 8, "4")]
"""(instance seed, tokens, d_model, heads) of the family's members."""
RUNGS = ("0.5", "1.0", "1.5")
"""--tolerance-scale of the calibration rungs."""


def attnrl(*args: str) -> str:
    """Run the CLI in-process; its stdout (a non-zero exit fails the fixture)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    assert code == 0, f"attnrl {' '.join(args)} exited {code}: {out.getvalue()}"
    return out.getvalue()


def simulated(out: Path, *flags: str, runs: int = 30, seed: int = 5) -> str:
    """A simulated batch; on the seed document's one instance unless ``flags`` name a preset
    (the report's single-instance views need one instance)."""
    preset = () if "--preset" in flags else ("--preset", "seed-doc")
    return attnrl(
        "run", "--model", "simulated", "--runs", str(runs), "--seed", str(seed),
        "--out", str(out), "--no-progress", *preset, *flags,
    )  # fmt: skip


@dataclass(frozen=True)
class RunDirs:
    single: Path
    single_stdout: str
    other: Path
    family: Path
    calibration: Path


def summary_of(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "summary.json").read_text()))
