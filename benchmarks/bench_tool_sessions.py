"""4,096 concurrent tool sessions through attnrl's verl tool classes (verl's default 512
prompts x 8 samples), in one worker process, against a cold ``python -c`` per call.

Each session is one verl episode as ``ToolAgentLoop`` drives it: its own ``request_id``
and ``extra_fields``, a ``python_expression`` call (create -> execute -> release) whose
numpy code prints a number only that session can expect, then a ``submit_answer`` of its
own instance's reference. All 4,096 start at once; the worker's one sandbox runs at most
16 calls at a time, the rest wait, so a call's latency includes that queue, as a rollout
sees it (the sandbox's own figure, 16 in flight without the tool layer, is printed
beside it). Checked for every session: its python output is its own number (no call lost
or crossed), its step reward is 1.0 and its recorded submission is its own instance's.

The baseline is the same tool classes with the sandbox swapped for a cold ``python -c``
per call (numpy imported each time, no jail), at the same 16 calls at a time, on fewer
sessions (it is ~50x slower). Peak PSS is the largest sum of proportional set size over
this process and every process under it, sampled every 500 ms (bench_sandbox's Probe).
"worker ms" is this process's own CPU time per session: the tool layer, the sandbox's
client side and asyncio, without the jail's processes (the figure load moves least).
"The whole machine" is every process's and kernel worker's CPU over the sessions, from
``/proc/stat``: its inverse bounds the sessions/s these cores can serve. It is split by
role from each process's own and reaped CPU (bench_sandbox's ``cpu_by_role``): this worker,
the zygote, the calls it forked, bubblewrap, and the rest (kernel workers, other processes).

Targets (issue 14): >= 400 calls/s, peak PSS <= 1 GiB, no call lost or crossed.
Needs verl (the trainer tier's environment); without it, says so and exits 0.
Run: python benchmarks/bench_tool_sessions.py [--sessions 4096] [--baseline 128] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from attnrl.sandbox.base import ExecResult
from attnrl.task import load_task
from bench_sandbox import Probe  # same directory: one process-tree memory probe

DISTINCT_TASKS = 64
"""Sessions cycle over this many procedural instances (drawing 4,096 would dominate)."""
MAX_IN_FLIGHT = 16
PSS_SAMPLE_S = 0.5
"""The memory sampler walks every page table of the tree; at 0.1 s, with verl and torch
loaded in this process, it took ~5% of the machine (``perf record -a``). The 4,096 sessions
hold their memory for the whole run, so a sample every 0.5 s still sees the peak."""


@dataclass(eq=False)
class AgentData:
    """The two attributes of verl's ``AgentData`` the tools use; one object per episode,
    hashed by identity like verl's (the tools key an episode on it)."""

    request_id: str
    extra_fields: dict[str, Any] = field(default_factory=dict)


class ColdPython:
    """Baseline sandbox: a fresh ``python -c`` per call, 16 at a time, no jail."""

    isolation = "cold python -c (baseline, no jail)"

    def __init__(self) -> None:
        self._sem = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def run(self, code: str) -> ExecResult:
        async with self._sem:
            start = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "import numpy as np\n" + code,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            )
            out, err = await proc.communicate()
            error = err.decode(errors="replace")[-500:] if proc.returncode else None
            return ExecResult(
                out.decode(errors="replace"), error, False, time.perf_counter() - start
            )

    async def aclose(self) -> None:
        return None


async def run_sessions(n: int, rows: list[dict[str, Any]], tools: dict[str, Any]) -> dict[str, Any]:
    from attnrl.integrations import verl_tools

    python, submit = tools["python_expression"], tools["submit_answer"]
    latencies: dict[str, list[float]] = {"python_expression": [], "submit_answer": []}
    problems: list[str] = []
    references = [load_task("procedural", r["_seed"]).reference() for r in rows]

    async def call(
        tool: Any, kwargs: dict[str, Any], params: dict[str, Any], data: AgentData
    ) -> Any:
        start = time.perf_counter()
        instance_id, _ = await tool.create(create_kwargs=kwargs["create_kwargs"])
        try:
            return await tool.execute(instance_id, params, agent_data=data)
        finally:
            await tool.release(instance_id)
            latencies[tool.name].append(time.perf_counter() - start)

    async def session(i: int) -> None:
        row = rows[i % len(rows)]
        kwargs = row["extra_info"]["tools_kwargs"]
        data = AgentData(request_id=f"req-{i}")
        code = f"print(int(np.int64({i}) * 7 + 3))"
        response, _, _ = await call(python, kwargs["python_expression"], {"expression": code}, data)
        text = response.text
        if text.startswith(verl_tools.RECEIPT_LINE):  # an episode's first result: its receipt
            text = text.split("\n", 1)[1]
        if json.loads(text) != {"result": f"{i * 7 + 3}\n", "error": None}:
            problems.append(f"session {i}: python result {response.text[:120]!r}")
        answer = {"answer": references[i % len(rows)]}
        _, reward, _ = await call(submit, kwargs["submit_answer"], answer, data)
        recorded = json.loads(data.extra_fields.get(verl_tools.SUBMISSION_KEY, "null"))
        if reward != 1.0 or recorded != references[i % len(rows)]:
            problems.append(f"session {i}: step reward {reward}, submission not its own")

    with Probe(PSS_SAMPLE_S) as probe:
        start, worker_start, machine_start = time.perf_counter(), time.process_time(), machine()
        await asyncio.gather(*(session(i) for i in range(n)))
        elapsed, worker_cpu = time.perf_counter() - start, time.process_time() - worker_start
        machine_busy, machine_sys = (b - a for a, b in zip(machine_start, machine(), strict=True))
    worker_cpu -= probe.own_cpu_s  # the sampler's thread is not the worker's work
    lat = sorted(latencies["python_expression"])
    return {
        "sessions": n,
        "calls": len(lat) + len(latencies["submit_answer"]),
        "python_calls_per_s": len(lat) / elapsed,
        "calls_per_s": (len(lat) + len(latencies["submit_answer"])) / elapsed,
        "p50_ms": statistics.median(lat) * 1e3,
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3,
        "peak_pss_mib": probe.peak_kib / 1024,
        "cpu_ms_per_python_call": probe.cpu_s / max(1, len(lat)) * 1e3,
        "worker_cpu_ms_per_session": worker_cpu / n * 1e3,
        "machine_cpu_ms_per_python_call": machine_busy / max(1, len(lat)) * 1e3,
        "machine_sys_ms_per_python_call": machine_sys / max(1, len(lat)) * 1e3,
        "machine_busy_share": machine_busy / (elapsed * (os.cpu_count() or 1)),
        "role_ms_per_session": {k: v / n * 1e3 for k, v in probe.roles.items()},
        "rest_ms_per_session": (machine_busy - sum(probe.roles.values())) / n * 1e3,
        "problems": problems,
        "open_episodes": len(verl_tools.EPISODES),
    }


class FunctionClock:
    """``--profile``: the worker thread's CPU time inside named functions of the tool layer
    (``time.thread_time``, so time the worker spends preempted by the jail's processes is
    not counted), and in the garbage collector by generation. Patched by name, so the same
    profile runs against an older tree put first on ``PYTHONPATH``."""

    TARGETS = (
        ("attnrl.integrations._tool_session", None, "call_digest"),
        ("attnrl.harness.tools", None, "nested_too_deep"),
        ("attnrl.task.base", "Task", "answer_keys"),
        ("attnrl.integrations._tool_session", None, "grade_submission"),
        ("attnrl.integrations._tool_session", "ToolSession", "answer_json"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.gc_seconds: dict[int, float] = {}
        self.gc_runs: dict[int, int] = {}
        self._gc_start = 0.0

    def install(self) -> None:
        import gc
        import importlib

        for module_name, class_name, name in self.TARGETS:
            owner: Any = importlib.import_module(module_name)
            if class_name is not None:
                owner = getattr(owner, class_name)
            setattr(owner, name, self._clocked(name, getattr(owner, name)))
        gc.callbacks.append(self._on_gc)

    def _clocked(self, name: str, fn: Any) -> Any:
        self.seconds[name] = 0.0

        def clocked(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.thread_time() - start

        return clocked

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
            return
        gen = info["generation"]
        self.gc_seconds[gen] = self.gc_seconds.get(gen, 0.0) + time.thread_time() - self._gc_start
        self.gc_runs[gen] = self.gc_runs.get(gen, 0) + 1

    def report(self, sessions: int) -> None:
        parts = [f"{name} {1e6 * s / sessions:.0f}" for name, s in self.seconds.items()]
        print(f"  tool layer, us of the worker's CPU per session: {', '.join(parts)}")
        gcs = [
            f"generation {g}: {self.gc_runs[g]} runs, {1e6 * self.gc_seconds[g] / sessions:.0f} us"
            for g in sorted(self.gc_runs)
        ]
        print(f"  garbage collection per session (inside the figures above too): {'; '.join(gcs)}")


def python_budget_ms(cores: int, target_per_s: float = 400.0) -> float:
    """Machine CPU per session that ``target_per_s`` sessions/s leave on ``cores``."""
    return cores * 1e3 / target_per_s


def machine() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy, and of those in the kernel, since boot
    (``/proc/stat``): every process and kernel worker, such as the one that frees the calls'
    network namespaces, which no process tree's own count includes."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / hz, ticks[2] / hz


async def raw_sandbox(sandbox: Any, n: int) -> dict[str, Any]:
    """The worker's sandbox driven directly, 16 in flight: what the tool layer adds."""
    sem = asyncio.Semaphore(MAX_IN_FLIGHT)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with sem:
            start = time.perf_counter()
            result = await sandbox.run(f"print(int(np.int64({i}) * 7 + 3))")
            latencies.append(time.perf_counter() - start)
            if result.result != f"{i * 7 + 3}\n":
                raise RuntimeError(f"raw call {i}: {result!r}")

    start, worker_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed, worker_cpu = time.perf_counter() - start, time.process_time() - worker_start
    lat = sorted(latencies)
    return {
        "calls": n,
        "worker_cpu_ms_per_session": worker_cpu / n * 1e3,
        "calls_per_s": n / elapsed,
        "p50_ms": statistics.median(lat) * 1e3,
        "p99_ms": lat[min(n - 1, int(0.99 * n))] * 1e3,
    }


def _report(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label:34} {r['sessions']:>8} {r['calls']:>6} {r['calls_per_s']:>9.0f}"
        f" {r['python_calls_per_s']:>9.0f}"
        f" {r['p50_ms']:>10.0f} {r['p99_ms']:>10.0f} {r['peak_pss_mib']:>13.0f}"
        f" {r['cpu_ms_per_python_call']:>8.1f} {r['worker_cpu_ms_per_session']:>9.2f}"
        f" {len(r['problems']):>8}"
    )
    for p in r["problems"][:5]:
        print(f"  {p}")


async def main(sessions: int, baseline: int, profile: bool = False) -> int:
    from verl.tools.tool_registry import initialize_tools_from_config

    from attnrl.integrations import verl_tools
    from attnrl.integrations._tool_session import worker_sandbox

    tools = {t.name: t for t in initialize_tools_from_config(str(verl_tools.tool_config_path()))}
    rows = []
    for seed in range(DISTINCT_TASKS):
        row = verl_tools.verl_tool_row(load_task("procedural", seed), seed)
        row["_seed"] = seed
        rows.append(row)
    print(
        f"{'tools (verl BaseTool classes)':34} {'sessions':>8} {'calls':>6} {'calls/s':>9}"
        f" {'py/s':>9} {'p50 ms':>10} {'p99 ms':>10} {'peak PSS MiB':>13} {'CPU ms':>8}"
        f" {'worker ms':>9} {'problems':>8}"
    )
    sandbox = worker_sandbox()
    await sandbox.run("pass")  # start the worker's sandbox before the clock
    clock = FunctionClock() if profile else None
    if clock is not None:
        clock.install()
    result = await run_sessions(sessions, rows, tools)
    _report(f"attnrl sandbox ({sandbox.isolation})", result)
    cores = os.cpu_count() or 1
    print(
        f"  the whole machine: {result['machine_cpu_ms_per_python_call']:.1f} ms of CPU per "
        f"session ({result['machine_sys_ms_per_python_call']:.1f} in the kernel), "
        f"{100 * result['machine_busy_share']:.0f}% of {cores} cores busy: at that cost the "
        f"{cores} cores allow at most "
        f"{cores * 1e3 / result['machine_cpu_ms_per_python_call']:.0f} sessions/s"
    )
    roles = result["role_ms_per_session"]
    print(
        f"  of it, per session: this worker {roles['caller']:.2f} ms (tool layer, sandbox client,"
        f" asyncio), the zygote {roles['zygote']:.2f} (forks, its page copies, bookkeeping), the"
        f" calls {roles['calls']:.2f} (each a fork: setup, code, exit), bubblewrap"
        f" {roles['jail']:.2f}, the rest of the machine {result['rest_ms_per_session']:.2f}"
        f" (kernel workers, such as the one that frees the calls' network namespaces, and other"
        f" processes); {python_budget_ms(cores):.1f} ms per session is the most that allows"
        f" 400 python calls/s on {cores} fully busy cores"
    )
    if clock is not None:
        clock.report(sessions)
    raw = await raw_sandbox(sandbox, min(sessions, 1024))
    print(
        f"{'  same sandbox, no tool layer':34} {raw['calls']:>8} {raw['calls']:>6} {'':>9}"
        f" {raw['calls_per_s']:>9.0f} {raw['p50_ms']:>10.0f} {raw['p99_ms']:>10.0f}"
        f" {'':>13} {'':>8} {raw['worker_cpu_ms_per_session']:>9.2f}"
    )
    await sandbox.aclose()
    verl_tools.EPISODES.sandbox = ColdPython()
    cold = await run_sessions(baseline, rows, tools)
    _report("cold python -c per call", cold)
    ok = (
        not result["problems"]
        and result["calls"] == 2 * sessions
        and result["open_episodes"] == 0
        and not cold["problems"]
    )
    print(
        f"targets: >= 400 python calls/s: {result['python_calls_per_s'] >= 400}; "
        f"peak PSS <= 1 GiB: {result['peak_pss_mib'] <= 1024}; "
        f"no call lost or crossed: {ok}; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "calls/s: all tool calls (python + submit); py/s, p50, p99: python_expression calls; "
        "CPU ms: CPU time of the whole process tree per python call; worker ms: CPU time of "
        "this worker process alone per session (python call + submit; for the row without "
        "the tool layer, per call): the tool layer's own cost, which load moves least"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4096)
    parser.add_argument("--baseline", type=int, default=128)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also time the tool layer's functions and the garbage collector in the worker",
    )
    args = parser.parse_args()
    try:
        import verl.tools.base_tool  # noqa: F401
    except ImportError:
        print("skipped: verl is not installed (it is in the trainer tier's environment)")
        sys.exit(0)
    sys.exit(asyncio.run(main(args.sessions, args.baseline, args.profile)))
