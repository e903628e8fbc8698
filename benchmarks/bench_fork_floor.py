"""The floor under a sandboxed python call, beside attnrl's sandbox in the same run.

A fork per call is what keeps calls apart (nothing of one call outlives it). What does such a
call cost at the least, with the isolation each call gets and nothing else (no harness, no
zygote bookkeeping, no limits, seccomp or uid drop)? Measured step by step in a bare CPython
with numpy loaded and frozen, forking with libc's ``fork`` as the zygote does, one call at a
time, as CPU of parent and child per call (``getrusage``, children reaped) and minor faults:

  fork + exit
  + its own mount, IPC and network namespaces, made private, a tmpfs work dir and /dev/shm
  + PID 1 of its own PID namespace, with its own /proc
  + the benchmark snippet (bench_sandbox's), compiled and run, printing to a pipe

then attnrl's sandbox on the same snippet at 1 in flight (CPU of the whole process tree per
call, bench_sandbox's Probe), in rounds that take turns. Not counted on either side: the
kernel worker that frees each network namespace. The floor runs under ``unshare --mount
--pid --fork`` (its tmpfs mounts never touch the host's; a user namespace when not root).
Run: python benchmarks/bench_fork_floor.py [--calls 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable

from bench_sandbox import EXPECTED, SNIPPET, measure, snippet_call, stats  # same directory

CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
CLONE_NEWNET, CLONE_NEWPID = 0x40000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 1 << 18
STEPS = (
    "fork + exit",
    "+ mount, IPC, net namespaces, 2 tmpfs",
    "+ PID 1 of its own PID namespace, /proc",
    "+ the snippet, compiled and run",
)


def floor_worker(calls: int) -> None:
    """Inside ``unshare``: measure each step; print one JSON list of [cpu ms, faults]."""
    import resource

    import numpy

    libc = ctypes.CDLL(None, use_errno=True)
    fork = ctypes.PyDLL(None, use_errno=True).fork
    work = tempfile.mkdtemp(prefix="attnrl-floor-")
    pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    out_r, out_w = os.pipe()

    def check(rc: int, what: str) -> None:
        if rc != 0:
            raise OSError(ctypes.get_errno(), what)

    def mount(src: str, target: str, fs: str | None, flags: int, data: str | None) -> None:
        rc = libc.mount(
            src.encode(),
            target.encode(),
            fs.encode() if fs else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        )
        check(rc, f"mount {target}")

    def namespaces() -> None:
        check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
        mount("none", "/", None, MS_REC | MS_PRIVATE, None)
        mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, "size=67108864,mode=0700")
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=67108864,mode=1777")

    def with_proc() -> None:
        namespaces()
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)

    def with_snippet() -> None:
        with_proc()
        os.dup2(out_w, 1)
        code = compile(SNIPPET, "<python_expression>", "exec", dont_inherit=True)
        exec(code, {"np": numpy, "__builtins__": __builtins__})
        sys.stdout.flush()

    def usage() -> tuple[float, int]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        return cpu, own.ru_minflt + kids.ru_minflt

    def step(child: Callable[[], None], new_pidns: bool) -> list[float]:
        cpu0, faults0 = usage()
        for _ in range(calls):
            if new_pidns:
                check(libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
            pid = int(fork())
            if pid == 0:
                status = 0
                try:
                    child()
                except BaseException:  # noqa: BLE001
                    status = 1
                os._exit(status)
            if new_pidns:
                check(libc.setns(pidns, CLONE_NEWPID), "setns")
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise SystemExit(f"a floor child failed (status {status})")
            if child is with_snippet and os.read(out_r, 1 << 16).decode() != EXPECTED:
                raise SystemExit("the floor's snippet printed something else")
        cpu1, faults1 = usage()
        return [(cpu1 - cpu0) / calls * 1e3, (faults1 - faults0) / calls]

    code = compile(SNIPPET, "<warm>", "exec")  # the parent warm, as the zygote is
    exec(code, {"np": numpy}, {})
    gc.collect()
    gc.freeze()
    try:
        steps = [
            step(lambda: None, False),
            step(namespaces, False),
            step(with_proc, True),
            step(with_snippet, True),
        ]
    finally:
        os.rmdir(work)  # empty: each tmpfs was mounted in a child's own namespace
    print(json.dumps(steps), flush=True)


def run_floor(calls: int) -> list[list[float]] | str:
    """The floor's steps measured in a fresh ``unshare``, or why it cannot run here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "util-linux's unshare is not installed"
    argv = [sys.executable, __file__, "--floor-worker", "--calls", str(calls)]
    private = ["--mount", "--pid", "--fork", "--mount-proc"]
    tries = [[unshare, *private]]
    if os.geteuid() != 0:
        tries = [[unshare, "--user", "--map-root-user", *private]]
    errors = []
    for prefix in tries:
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            result: list[list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
            return result
        errors.append((done.stderr.strip().splitlines() or ["no output"])[-1])
    return "; ".join(errors)


async def sandbox_cpu_ms(calls: int) -> tuple[float, float, str]:
    """attnrl's sandbox, 1 in flight: CPU ms and faults per call of the tree, isolation."""
    from attnrl.sandbox import open_sandbox

    async with open_sandbox(max_concurrency=16) as sb:
        sandboxed = snippet_call(sb)
        await measure(sandboxed, 30, 1)  # warm-up
        st = stats(*await measure(sandboxed, calls, 1))
        return st["cpu_ms"], st["faults"], sb.isolation


def main(calls: int, rounds: int) -> None:
    floors: list[list[list[float]]] = []
    sandbox: list[tuple[float, float]] = []
    isolation = ""
    for _ in range(rounds):
        floor = run_floor(calls)
        if isinstance(floor, str):
            print(f"the floor cannot be measured here: {floor}")
            return
        floors.append(floor)
        cpu, faults, isolation = asyncio.run(sandbox_cpu_ms(calls))
        sandbox.append((cpu, faults))
    print(f"{calls} calls a step, 1 in flight, medians of {rounds} rounds; sandbox: {isolation}")
    print(f"{'':48} {'CPU ms/call':>12} {'faults/call':>12}")
    for i, name in enumerate(STEPS):
        floor_cpu = statistics.median(f[i][0] for f in floors)
        faults = statistics.median(f[i][1] for f in floors)
        print(f"floor: {name:41} {floor_cpu:>12.2f} {faults:>12.0f}")
    # floor_cpu is now the last step's: the whole floor
    cpu = statistics.median(s[0] for s in sandbox)
    faults = statistics.median(s[1] for s in sandbox)
    print(f"{'attnrl sandbox (whole process tree)':48} {cpu:>12.2f} {faults:>12.0f}")
    cores = os.cpu_count() or 1
    print(
        f"sandbox / floor, CPU per call: x{cpu / floor_cpu:.2f}; at full use of {cores} cores "
        f"the floor allows {cores * 1e3 / floor_cpu:,.0f} calls/s, the sandbox "
        f"{cores * 1e3 / cpu:,.0f}"
    )
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"load average after: {load}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--floor-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_worker:
        floor_worker(args.calls)
    else:
        main(args.calls, args.rounds)
