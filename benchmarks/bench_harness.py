"""Harness throughput: simulated runs per second at concurrency 16, 64, 256, and peak memory.

Every run is the same two-turn work: one python_expression call (the agent's numpy
solution) and one submit_answer, with an instant model; each run is graded and
appended to results.jsonl as in ``attnrl run``. Beside it, in the same process and
on the same loop, a baseline whose python tool starts a cold ``python -c`` per call.
Target (issue 4): >= 100 runs/s at concurrency 64 with isolation on, peak <= 1 GiB.
Peak memory is the highest proportional set size (PSS) summed over this process and all
its descendants (zygote, jail, per-call children), sampled by bench_sandbox's Probe.

Run: python benchmarks/bench_harness.py [--runs 512]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from attnrl.harness.runner import RunConfig, run_batch
from attnrl.models.simulated import Plan, SimulatedAgents
from attnrl.sandbox import open_sandbox
from attnrl.sandbox.base import ExecResult, Sandbox
from attnrl.task import load_task
from bench_sandbox import Probe  # same directory: one process-tree memory probe


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
    task = load_task("seed-doc")
    agents = SimulatedAgents(task, runs, plans=[Plan("reference")] * runs)  # two turns each
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            model="simulated", out=Path(tmp), runs=runs, concurrency=concurrency, progress=False
        )
        with Probe() as mem:
            start = time.perf_counter()
            summary = await run_batch(config, task, agents, sandbox=sandbox)
            elapsed = time.perf_counter() - start
    assert summary["passed"] == runs, summary
    rate, peak_mib = runs / elapsed, mem.peak_kib / 1024
    print(f"{label:44} {concurrency:>5} {runs:>6} {rate:>10.1f} {peak_mib:>12.0f}")


async def main(runs: int, baseline_runs: int) -> None:
    print(f"{'harness':44} {'conc':>5} {'runs':>6} {'runs/s':>10} {'peak PSS MiB':>12}")
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
