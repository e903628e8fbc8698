"""Latency, throughput, CPU and memory of one ``python_expression`` call, three ways.

(a) cold: a fresh ``python -c`` per call (numpy imported each time);
(b) sandbox: attnrl's sandbox (a fork of a warm, jailed zygote per call), BEFORE and AFTER
    a change: the package at a git revision (``--before REV``, default the commit issue 19's
    work started from: calls without their own PID namespace, /proc, devpts and memory
    cgroup) against the working tree, each in its own worker process, alternated twice in
    the same run, in short rounds whose order alternates, so that a change in the machine's
    load hits both alike;
(c) in-process ``exec``: the seed's unsafe baseline (no isolation at all).

Each at 1 and 16 calls in flight, on the same small numpy snippet. Issue 19's bound: the
sandbox's calls/s and p50 may lose at most 15% (printed at the end: the median over the
rounds of after/before within a round, so that load drifting between rounds cancels).

Measured: latency is wall-clock per call as the caller sees it; calls/s is completed calls
over the whole batch; CPU ms/call is user+system time of the caller process and every
process under it (the sandbox's bwrap, zygote and call processes, or the cold
interpreters), reaped children included; faults/call counts the same tree's minor page
faults (the pages a fork shares and then copies or maps again: the kernel's share of a
call, which the neighbours' load does not move); peak PSS is the largest sum of proportional set
size (shared pages split between the processes sharing them) over the caller and all
its descendant processes, sampled every 100 ms
(the sampler's own CPU time is subtracted). The machine may be shared: numbers vary.
Run: python benchmarks/bench_sandbox.py [--before REV]   (about 2 min on a quiet machine)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

SNIPPET = "x = np.arange(64.0).reshape(8, 8)\nprint(float((x @ x.T).sum()))\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]
BEFORE = "a621f86"
"""The commit issue 19's sandbox work started from (the default ``--before``)."""


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _tree(pid: int) -> list[int]:
    out, todo = [pid], [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            for child in _read(f"/proc/{p}/task/{tid}/children").split():
                out.append(int(child))
                todo.append(int(child))
    return out


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total


def _stat_sum(pids: list[int], first: int, stop: int) -> int:
    total = 0
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[first:stop])
    return total


def _cpu_s(pids: list[int]) -> float:
    """utime+stime+cutime+cstime of ``pids`` (children they reaped are included)."""
    return _stat_sum(pids, 11, 15) / CLK_TCK


def _minor_faults(pids: list[int]) -> int:
    """minflt+cminflt of ``pids``: pages copied on write or mapped again after a fork, the
    kernel's share of a forked call, counted rather than timed (load does not move it)."""
    return _stat_sum(pids, 7, 9)


ROLES = ("caller", "zygote", "calls", "jail")
"""Where :func:`cpu_by_role` puts a process tree's CPU: this process, the sandbox's zygote
(its own work: forking, page copies, bookkeeping), the calls it forked (reaped or not),
and the rest of the tree (bubblewrap)."""


def _ticks(pid: int) -> tuple[int, int, int]:
    """(ppid, own utime+stime, reaped children's utime+stime) of ``pid``, in clock ticks."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return 0, 0, 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


Ticks = tuple[str, int, str | None, int]
"""One process: the role of its own CPU, its own ticks, the role of what it reaped (None: not
counted), its reaped children's ticks."""


def cpu_by_role(root: int) -> dict[int, Ticks]:
    """Each process of ``root``'s tree with the roles (:data:`ROLES`) of its own and reaped
    ticks. A zygote is a process running ``zygote.py`` whose parent does not: what it reaped
    are calls (and sweepers), as is every live process under it. The caller's reaped
    children are left out: none end mid-run."""
    pids = _tree(root)
    info = {pid: _ticks(pid) for pid in pids}
    zygote = {
        pid
        for pid in pids
        if "zygote.py" in _read(f"/proc/{pid}/cmdline")
        and _read(f"/proc/{pid}/comm").strip() != "bwrap"  # bwrap's arguments name it too
    }
    roles: dict[int, Ticks] = {}
    for pid in pids:
        ppid, own, reaped = info[pid]
        if pid == root:
            roles[pid] = ("caller", own, None, reaped)
        elif pid in zygote and ppid not in zygote:
            roles[pid] = ("zygote", own, "calls", reaped)
        else:
            role = "calls" if pid in zygote or ppid in zygote else "jail"
            roles[pid] = (role, own, role, reaped)
    return roles


def role_cpu_s(before: dict[int, Ticks], after: dict[int, Ticks]) -> dict[str, float]:
    """CPU seconds per role between two :func:`cpu_by_role` snapshots (a process that is
    new counts from zero)."""
    out = dict.fromkeys(ROLES, 0.0)
    for pid, (role, own, reaped_role, reaped) in after.items():
        _, own0, _, reaped0 = before.get(pid, (role, 0, reaped_role, 0))
        out[role] += (own - own0) / CLK_TCK
        if reaped_role is not None:
            out[reaped_role] += (reaped - reaped0) / CLK_TCK
    return out


class Probe:
    """Peak PSS of this process and its descendants, and their CPU time, during a block.

    Each sample reads ``smaps_rollup``, which walks every page table of the tree: sample
    a process as big as a trainer's worker (torch, verl) less often, ``interval_s``."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.peak_kib = 0
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _pss_kib(_tree(os.getpid())))
            self._stop.wait(self.interval_s)
        self.own_cpu_s = time.thread_time()

    def __enter__(self) -> Probe:
        self._faults0 = _minor_faults(_tree(os.getpid()))
        self._cpu0 = _cpu_s(_tree(os.getpid()))
        self._roles0 = cpu_by_role(os.getpid())
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        # The sampler's own CPU (reading smaps) is not the backend's.
        self.cpu_s = _cpu_s(_tree(os.getpid())) - self._cpu0 - self.own_cpu_s
        self.faults = _minor_faults(_tree(os.getpid())) - self._faults0
        self.roles = role_cpu_s(self._roles0, cpu_by_role(os.getpid()))
        self.roles["caller"] -= self.own_cpu_s


async def timed_calls(
    call: Callable[[], Awaitable[str]], n: int, in_flight: int, expected: str
) -> tuple[list[float], float]:
    """``n`` calls, at most ``in_flight`` at a time: each one's latency, and calls/s; a call
    that does not return ``expected`` stops the benchmark."""
    latencies: list[float] = []
    sem = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with sem:
            t0 = time.perf_counter()
            out = await call()
            latencies.append(time.perf_counter() - t0)
            if out != expected:
                raise RuntimeError(f"unexpected output {out!r}")

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return latencies, n / (time.perf_counter() - start)


async def measure(
    call: Callable[[], Awaitable[str]], n: int, in_flight: int
) -> tuple[list[float], float, Probe]:
    """:func:`timed_calls` under a :class:`Probe` (CPU, faults and memory of the tree)."""
    with Probe() as probe:
        latencies, rate = await timed_calls(call, n, in_flight, EXPECTED)
    return latencies, rate, probe


def stats(lat: list[float], rate: float, probe: Probe) -> dict[str, float]:
    lat = sorted(lat)
    return {
        "calls": len(lat),
        "p50_ms": statistics.median(lat) * 1e3,
        "p95_ms": lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1e3,
        "rate": rate,
        "cpu_ms": probe.cpu_s / len(lat) * 1e3,
        "faults": probe.faults / len(lat),
        "pss_mib": probe.peak_kib / 1024,
    }


def row(name: str, in_flight: int, st: dict[str, float]) -> str:
    return (
        f"{name:28} {in_flight:>9} {int(st['calls']):>6} {st['p50_ms']:>9.2f}"
        f" {st['p95_ms']:>9.2f} {st['rate']:>9.0f} {st['cpu_ms']:>12.2f} {st['faults']:>12.0f}"
        f" {st['pss_mib']:>14.0f}"
    )


def snippet_call(sb: Any) -> Callable[[], Awaitable[str]]:
    """One call of the benchmark's snippet in sandbox ``sb``: its output; an error stops the
    benchmark."""

    async def sandboxed() -> str:
        result = await sb.run(SNIPPET)
        if result.error:
            raise RuntimeError(result.error)
        text: str = result.result
        return text

    return sandboxed


async def worker(n1: int, n16: int) -> None:
    """One side of the sandbox comparison: whatever ``attnrl`` PYTHONPATH gives this
    process; prints one JSON object (isolation and the two rows)."""
    from attnrl.sandbox import open_sandbox

    async with open_sandbox(max_concurrency=16) as sb:
        sandboxed = snippet_call(sb)
        await measure(sandboxed, 50, 16)  # warm-up
        one = stats(*await measure(sandboxed, n1, 1))
        many = stats(*await measure(sandboxed, n16, 16))
        print(json.dumps({"isolation": sb.isolation, "1": one, "16": many}))


def run_side(src: Path, n1: int, n16: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, __file__, "--worker", "--n1", str(n1), "--n16", str(n16)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


async def cold_call() -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import numpy as np\n" + SNIPPET,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    out, _ = await proc.communicate()
    return out.decode()


def exec_in_process(code: str) -> str:
    buf = io.StringIO()
    namespace = {"np": np, "print": lambda *a, **k: print(*a, **k, file=buf)}
    exec(code, namespace)
    return buf.getvalue()


EXPECTED = exec_in_process(SNIPPET)


def _loadavg() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


async def main(before: str, rounds: int) -> None:
    print(__doc__.split("\n\n")[0])
    load_before = _loadavg()
    header = (
        f"{'backend':28} {'in flight':>9} {'calls':>6} {'p50 ms':>9} {'p95 ms':>9}"
        f" {'calls/s':>9} {'CPU ms/call':>12} {'faults/call':>12} {'peak PSS MiB':>14}"
    )
    rows: list[str] = []

    # (b) the sandbox, before and after, in rounds of alternating order.
    sides: dict[str, list[dict[str, object]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", before, "src/attnrl"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        srcs = {"before": Path(tmp) / "src", "after": REPO / "src"}
        for index in range(rounds):
            order = list(srcs.items())
            for side, src in order if index % 2 == 0 else order[::-1]:
                result = run_side(src, 200, 800)
                sides[side].append(result)
                name = f"sandbox {side} ({before})" if side == "before" else "sandbox after"
                for flight in ("1", "16"):
                    rows.append(row(name, int(flight), result[flight]))  # type: ignore[arg-type]

    # (a) cold interpreter per call
    cold = {
        "1": stats(*await measure(cold_call, 12, 1)),
        "16": stats(*await measure(cold_call, 48, 16)),
    }
    rows.append(row("cold `python -c`", 1, cold["1"]))
    rows.append(row("cold `python -c`", 16, cold["16"]))

    # (c) in-process exec, the unsafe baseline (threads for 16 in flight)
    loop = asyncio.get_running_loop()

    async def inproc() -> str:
        return exec_in_process(SNIPPET)

    with ThreadPoolExecutor(16) as pool:

        async def threaded() -> str:
            return await loop.run_in_executor(pool, exec_in_process, SNIPPET)

        rows.append(row("in-process exec (unsafe)", 1, stats(*await measure(inproc, 3000, 1))))
        rows.append(row("in-process exec (unsafe)", 16, stats(*await measure(threaded, 3000, 16))))

    isolation = sides["after"][-1]["isolation"]
    print(f"sandbox isolation: {isolation}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    print(f"load average before: {load_before}; after: {_loadavg()} (other work slows all rows)")
    print(header)
    print("-" * len(header))
    for line in rows:
        print(line)
    print()
    print("issue 25: the sandbox against a cold `python -c` per call, in this run (medians):")
    for flight in ("1", "16"):
        after = [r[flight] for r in sides["after"]]
        rate = statistics.median(float(a["rate"]) for a in after)  # type: ignore[index]
        cpu = statistics.median(float(a["cpu_ms"]) for a in after)  # type: ignore[index]
        print(
            f"  {flight:>2} in flight: calls/s x{rate / cold[flight]['rate']:.1f}, CPU per call "
            f"x{cpu / cold[flight]['cpu_ms']:.3f} ({rate:.0f}/s, {cpu:.2f} ms)"
        )
    print()
    print("page faults per call, sandbox before -> after (medians over the rounds):")
    for flight in ("1", "16"):
        med = {
            side: statistics.median(float(r[flight]["faults"]) for r in sides[side])  # type: ignore[index]
            for side in sides
        }
        print(f"  {flight:>2} in flight: {med['before']:.0f} -> {med['after']:.0f}")
    print()
    print("issue 19 bound (median over rounds of after vs before in the same round; <= 15%):")
    for flight in ("1", "16"):

        def per_round(side: str, key: str, flight: str = flight) -> list[float]:
            return [float(r[flight][key]) for r in sides[side]]  # type: ignore[index]

        pairs = zip(per_round("before", "rate"), per_round("after", "rate"), strict=True)
        rate_loss = statistics.median(1 - a / b for b, a in pairs)
        pairs = zip(per_round("before", "p50_ms"), per_round("after", "p50_ms"), strict=True)
        p50_loss = statistics.median(a / b - 1 for b, a in pairs)
        ok = "ok" if max(rate_loss, p50_loss) <= 0.15 else "OVER"
        print(
            f"  {flight:>2} in flight: calls/s loss {rate_loss:+.1%} (median "
            f"{statistics.median(per_round('before', 'rate')):.0f} -> "
            f"{statistics.median(per_round('after', 'rate')):.0f}); p50 loss {p50_loss:+.1%} "
            f"(median {statistics.median(per_round('before', 'p50_ms')):.2f} -> "
            f"{statistics.median(per_round('after', 'p50_ms')):.2f} ms): {ok}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help=f"git revision (default {BEFORE})")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of before/after (4)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n1", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--n16", type=int, default=800, help=argparse.SUPPRESS)
    cli = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker(cli.n1, cli.n16) if cli.worker else main(cli.before, cli.rounds))
