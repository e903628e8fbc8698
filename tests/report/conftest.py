"""Run directories of every kind a report reads, made once per session by the real CLI
(simulated agents, real sandbox), and a headless Debian chromium driven by playwright."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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
    return attnrl(
        "run", "--model", "simulated", "--runs", str(runs), "--seed", str(seed),
        "--out", str(out), "--no-progress", *flags,
    )  # fmt: skip


@dataclass(frozen=True)
class RunDirs:
    single: Path
    single_stdout: str
    other: Path
    family: Path
    calibration: Path


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> RunDirs:
    root = tmp_path_factory.mktemp("report_dirs")
    stdout = simulated(root / "sim", "--html")
    simulated(root / "other", runs=30, seed=11)
    for seed, tokens, d_model, heads in FAMILY:
        simulated(
            root / "family" / f"instance_{seed}", "--preset", "procedural", "--tokens",
            str(tokens), "--d-model", str(d_model), "--heads", heads, runs=6, seed=seed,
        )  # fmt: skip
    for scale in RUNGS:
        simulated(root / "calibration" / f"rung_{scale}", "--tolerance-scale", scale, runs=10)
    card = {"model": "simulated", "knob": "tolerance_scale", "rungs": list(RUNGS),
            "target_band": [0.1, 0.4]}  # fmt: skip
    (root / "calibration" / "card.json").write_text(json.dumps(card))
    return RunDirs(root / "sim", stdout, root / "other", root / "family", root / "calibration")


def summary_of(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "summary.json").read_text()))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless. Missing: skipped locally, a failure in CI (CI=true)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make browser-deps` (apt-get install chromium)")
        pytest.skip("chromium is not installed: run `make browser-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
