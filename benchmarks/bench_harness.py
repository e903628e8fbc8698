"""Harness throughput: simulated runs per second at concurrency 16, 64, 256, and peak memory.

Every run is the same two-turn work: one python_expression call (the agent's numpy
solution) and one submit_answer, with an instant model; each run is graded and
appended to results.jsonl as in ``attnrl run``. Beside it, in the same process and
on the same loop, a baseline whose python tool starts a cold ``python -c`` per call.
Target (issue 4): >= 100 runs/s at concurrency 64 with isolation on, peak <= 1 GiB.
Peak memory is the highest sum of RSS over this process and all its descendants
(zygote, jail, per-call children), sampled every 20 ms from /proc.

Run: python benchmarks/bench_harness.py [--runs 512]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from attnrl.models.simulated import SimulatedModel, assign_plans
from attnrl.runner import RunConfig, run_batch
from attnrl.sandbox import open_sandbox
from attnrl.sandbox.base import ExecResult, Sandbox
from attnrl.task import load_task

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Sum of RSS (bytes) of ``root`` and every process descended from it."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE
    total = 0
    for pid in rss:
        p = pid
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += rss[pid]
    return total


class PeakRss:
    """Samples the process tree's RSS in a thread; ``peak`` after ``stop``."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval_s,), daemon=True)

    def _loop(self, interval_s: float) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(me))
            self._stop.wait(interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class ColdSubprocessSandbox:
    """Baseline: a fresh ``python -c`` per call (numpy imported each time), no jail."""

    isolation = "cold subprocess (baseline, no jail)"

    async def run(self, code: str) -> ExecResult:
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import numpy as np\n" + code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        error = err.decode(errors="replace")[-500:] or None if proc.returncode else None
        return ExecResult(out.decode(errors="replace"), error, False, time.perf_counter() - start)

    async def aclose(self) -> None:
        return None


async def measure(label: str, sandbox: Sandbox, runs: int, concurrency: int) -> None:
    task = load_task("seed")
    plans = assign_plans(task, runs, seed=0, mix={"success": 1.0})
    plans = [p.__class__("reference") for p in plans]  # no stumbles: exactly two turns
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            model="simulated", out=Path(tmp), runs=runs, concurrency=concurrency, progress=False
        )
        with PeakRss() as mem:
            start = time.perf_counter()
            summary = await run_batch(
                config, task, lambda i: SimulatedModel(task, plans[i - 1]), sandbox=sandbox
            )
            elapsed = time.perf_counter() - start
    assert summary["passed"] == runs, summary
    print(
        f"{label:44} {concurrency:>5} {runs:>6} {runs / elapsed:>10.1f} {mem.peak / 2**20:>12.0f}"
    )


async def main(runs: int, baseline_runs: int) -> None:
    print(f"{'harness':44} {'conc':>5} {'runs':>6} {'runs/s':>10} {'peak MiB':>12}")
    for concurrency in (16, 64, 256):
        async with open_sandbox(max_concurrency=min(concurrency, 16)) as sandbox:
            await measure(f"attnrl ({sandbox.isolation})", sandbox, runs, concurrency)
    for concurrency in (16, 64):
        await measure(
            "baseline: cold python -c per call", ColdSubprocessSandbox(), baseline_runs, concurrency
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=512)
    parser.add_argument("--baseline-runs", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.baseline_runs))
