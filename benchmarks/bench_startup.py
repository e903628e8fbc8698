"""Start-up of the CLI against ``python -c pass``, and a whole ``attnrl run`` process against a
loop of cold python subprocesses, measured side by side in one run (issue 21 item 1).

(1) Each command is started ``--repeat`` times as a fresh process (``python -m attnrl ...``);
the median wall time is printed beside the median of ``python -c pass`` (same interpreter,
interleaved so both see the same load), as a difference (target: within 0.3 s) and a ratio.

(2) ``attnrl run --model simulated --runs 400 --concurrency 64`` as one whole process, from
spawn to exit (start-up, imports, sandbox, 400 graded runs, summary), against a loop of 400
cold ``python -c`` subprocesses each running one simulated agent's solution code (numpy
imported each time): what each run would cost if every attempt were its own interpreter.
Target: the whole process more than 4.5x faster than the cold loop.

Both are wall times of real processes on this machine, so the load average is printed too;
the import graph itself is checked in tests/cli/test_cli_startup.py, never a time.

``--cold-sample N`` times only N cold subprocesses and scales to ``--runs`` (said so in the
output): the full loop takes minutes on a loaded machine.

Run: ./tools/uv run python benchmarks/bench_startup.py [--repeat 7] [--runs 400]
[--concurrency 64] [--cold-sample N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (
    ("--help",),
    ("run", "--help"),
    ("report", "--help"),
    ("prompt",),
    ("presets",),
)
TARGET_DELTA_S = 0.3
TARGET_SPEEDUP = 4.5


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return elapsed


def start_up(repeat: int) -> None:
    python = [sys.executable]
    known = subprocess.run(
        [*python, "-m", "attnrl", "--help"], capture_output=True, text=True
    ).stdout
    print(f"{'command':28} {'median s':>9} {'python -c pass':>15} {'delta s':>8} {'ratio':>7}")
    for args in COMMANDS:
        if args[0] != "--help" and f"    {args[0]} " not in known:
            print(f"{'attnrl ' + ' '.join(args):28} (not a command of this tree)")
            continue
        base, cmd = [], []
        for _ in range(repeat):  # interleaved: both see the same load
            base.append(wall([*python, "-c", "pass"]))
            cmd.append(wall([*python, "-m", "attnrl", *args]))
        b, c = statistics.median(base), statistics.median(cmd)
        verdict = "ok" if c - b <= TARGET_DELTA_S else f"over {TARGET_DELTA_S} s"
        print(
            f"{'attnrl ' + ' '.join(args):28} {c:9.3f} {b:15.3f} {c - b:8.3f} {c / b:7.1f}x"
            f"  {verdict}"
        )


def cold_code() -> str:
    """The solution code a simulated agent runs in its python tool (the reference plan)."""
    from attnrl.models.simulated import solution_code
    from attnrl.task import load_task

    return "import numpy as np\n" + solution_code(load_task().spec)


def whole_process(runs: int, concurrency: int, cold_sample: int | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    with tempfile.TemporaryDirectory() as tmp:
        batch = wall(
            [
                sys.executable, "-m", "attnrl", "run", "--model", "simulated",
                "--runs", str(runs), "--concurrency", str(concurrency),
                "--no-progress", "--out", str(Path(tmp) / "batch"),
            ],
            env=env,
        )  # fmt: skip
    code = cold_code()
    timed = min(runs, cold_sample or runs)
    start = time.perf_counter()
    for _ in range(timed):
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    cold = (time.perf_counter() - start) * runs / timed
    scaled = f" (timed {timed}, scaled)" if timed < runs else ""
    speedup = cold / batch
    verdict = "ok" if speedup > TARGET_SPEEDUP else f"under {TARGET_SPEEDUP}x"
    print(f"\n{'':44} {'runs':>5} {'wall s':>8} {'runs/s':>8}")
    print(f"{f'attnrl run (one process, concurrency {concurrency})':44} {runs:5} {batch:8.2f}"
          f" {runs / batch:8.1f}")  # fmt: skip
    print(
        f"{'loop of cold python -c (one per run)':44} {runs:5} {cold:8.2f} {runs / cold:8.1f}"
        + scaled
    )
    print(f"whole process vs cold loop: {speedup:.2f}x faster  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cold-sample", type=int, default=None)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cpus)")
    start_up(args.repeat)
    whole_process(args.runs, args.concurrency, args.cold_sample)


if __name__ == "__main__":
    main()
