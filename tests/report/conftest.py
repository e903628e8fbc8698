"""Run directories of every kind a report reads, made once per session by the real CLI
(simulated agents, real sandbox), and a headless Debian chromium driven by playwright."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_dirs import CHROMIUM, CHROMIUM_ARGS, FAMILY, RUNGS, RunDirs, simulated


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


@pytest.fixture(scope="module")
def browser(run_dirs: RunDirs) -> Iterator[Any]:
    """Debian's chromium, headless. Missing: skipped locally, a failure in CI (CI=true).

    Module-scoped, and started after the run directories: playwright's sync API keeps an
    event loop running while it is open, and ``asyncio.run`` (``attnrl run``, the async
    tests of other modules) refuses to start inside one."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make browser-deps` (apt-get install chromium)")
        pytest.skip("chromium is not installed: run `make browser-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
