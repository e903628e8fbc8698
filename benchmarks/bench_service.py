"""Latency and calls/s of one python call through the HTTP service versus in-process.

(a) in-process: ``LocalSandbox.run`` in this process; (b) HTTP: ``attnrl serve-sandbox`` in
its own process (same limits and concurrency), called with httpx over loopback keep-alive
connections, SandboxFusion's ``/run_code``. Alternated in rounds in the same run, at 1 and
16 calls in flight, on the same snippet; the figure to read is the ratio HTTP / in-process
within a round (the machine's load cancels). Run: python benchmarks/bench_service.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable

import httpx

from attnrl.sandbox.local import LocalSandbox
from bench_sandbox import timed_calls  # same directory: one timing loop

SNIPPET = "x = np.arange(64.0).reshape(8, 8)\nprint(float((x @ x.T).sum()))\n"


async def measure(call: Callable[[], Awaitable[str]], n: int, in_flight: int) -> dict[str, float]:
    lat, rate = await timed_calls(call, n, in_flight, expected=await call())
    lat.sort()
    return {
        "p50_ms": statistics.median(lat) * 1e3,
        "p95_ms": lat[int(0.95 * n)] * 1e3,
        "rate": rate,
    }


def start_server() -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnrl", "serve-sandbox", "--port", "0", "--concurrency", "16"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.split("listening on ", 1)[1].split()[0]


async def main(rounds: int, n1: int, n16: int) -> None:
    print(__doc__.split("\n\n")[0])
    proc, url = start_server()
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with (
            LocalSandbox(max_concurrency=16) as sb,
            httpx.AsyncClient(base_url=url, timeout=120, limits=limits, trust_env=False) as http,
        ):

            async def local() -> str:
                return (await sb.run(SNIPPET)).result

            async def remote() -> str:
                r = await http.post("/run_code", json={"code": SNIPPET, "language": "python"})
                body = r.json()
                return str(body["run_result"]["stdout"])

            await measure(local, 30, 16)
            await measure(remote, 30, 16)
            for index in range(rounds):
                sides = [("in-process", local), ("HTTP", remote)]
                for name, call in sides if index % 2 == 0 else sides[::-1]:
                    for flight, n in ((1, n1), (16, n16)):
                        rows.setdefault((name, flight), []).append(await measure(call, n, flight))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"{os.cpu_count()} CPUs; load average {' '.join(load)}; {rounds} rounds")
    print(f"{'path':12} {'in flight':>9} {'p50 ms':>8} {'p95 ms':>8} {'calls/s':>8}")
    for (name, flight), got in rows.items():
        med = {k: statistics.median(g[k] for g in got) for k in ("p50_ms", "p95_ms", "rate")}
        print(
            f"{name:12} {flight:>9} {med['p50_ms']:>8.2f} {med['p95_ms']:>8.2f} {med['rate']:>8.0f}"
        )
    for flight in (1, 16):
        p50 = statistics.median(
            h["p50_ms"] / i["p50_ms"]
            for h, i in zip(rows[("HTTP", flight)], rows[("in-process", flight)], strict=True)
        )
        rate = statistics.median(
            h["rate"] / i["rate"]
            for h, i in zip(rows[("HTTP", flight)], rows[("in-process", flight)], strict=True)
        )
        print(f"HTTP / in-process at {flight:>2} in flight: p50 x{p50:.2f}, calls/s x{rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n1", type=int, default=100)
    parser.add_argument("--n16", type=int, default=400)
    cli = parser.parse_args()
    asyncio.run(main(cli.rounds, cli.n1, cli.n16))
