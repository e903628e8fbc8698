"""The tampering monitor against the real sandbox: each probe of the jail is counted under
its own name, an honest solution under none; and the tool session the trainer adapters
share (one worker sandbox, one submission, counters summed over the episode)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from attnrl.harness import tamper
from attnrl.integrations._tool_session import ToolSession, WorkerSandbox
from attnrl.models.simulated import solution_code
from attnrl.sandbox.base import ExecResult
from attnrl.sandbox.limits import SandboxLimits
from attnrl.task import load_task
from attnrl.task.dataset import dataset_row

ATTACKS = {
    "limit/timeout": "while True: pass",
    "limit/memory": "x = bytearray(4 << 30)",
    "limit/output": "print('x' * 20000)",
    "limit/processes": "import os\nfor _ in range(500): os.fork()",
    "limit/file_size": "open('big', 'wb').write(b'0' * (20 << 20))",
    "limit/killed": "import ctypes; ctypes.string_at(0)",
    "blocked/network": "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)",
    "blocked/write_outside_workdir": "open('/usr/attnrl-probe', 'w')",
}


@pytest.fixture
async def worker() -> AsyncIterator[WorkerSandbox]:
    box = WorkerSandbox(SandboxLimits(timeout_s=2, cpu_s=2))
    yield box
    await box.aclose()


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_each_attack_is_counted_under_its_name(worker: WorkerSandbox, name: str) -> None:
    code = ATTACKS[name]
    counts = tamper.call_metrics(await worker.run(code), code)
    assert counts[name] == 1, counts
    assert set(counts) == set(tamper.METRIC_NAMES)


async def test_a_caught_network_error_is_still_counted(worker: WorkerSandbox) -> None:
    code = (
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except OSError as e:\n    print('caught', e)"
    )
    result = await worker.run(code)
    assert result.error is None
    counts = tamper.call_metrics(result, code)
    assert counts["blocked/network"] == 1 and counts["probe/network"] == 1


async def test_a_refused_socket_family_is_counted_as_blocked_network(
    worker: WorkerSandbox,
) -> None:
    """A vsock or packet socket is refused at creation (EAFNOSUPPORT): never connected."""
    code = "import socket\nsocket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)"
    result = await worker.run(code)
    assert result.error is not None and "Errno 97" in result.error, result.error
    assert tamper.call_metrics(result, code)["blocked/network"] == 1


async def test_an_honest_solution_trips_nothing(worker: WorkerSandbox) -> None:
    code = solution_code(load_task("procedural", 2).spec)
    result = await worker.run(code)
    assert result.error is None
    assert sum(tamper.call_metrics(result, code).values()) == 0


@pytest.mark.parametrize(
    ("code", "probe"),
    [
        ("import subprocess", "probe/process"),
        ("import os; os.environ", "probe/environment"),
        ("open('/proc/self/environ').read()", "probe/environment"),
        ("import ctypes", "probe/native"),
        ("import sys; sys._getframe(1)", "probe/introspection"),
    ],
)
def test_probes_are_read_from_the_code(code: str, probe: str) -> None:
    counts = tamper.call_metrics(ExecResult("", None), code)
    assert counts[probe] == 1
    assert sum(counts.values()) == 1


def test_a_result_with_new_fields_or_none_is_tolerated() -> None:
    class Future:  # a backend's result with fields this monitor does not know
        result = ""
        error = "TimeoutError: execution exceeded 1.0 s wall-clock limit"
        exit_signal = 9

    assert tamper.call_metrics(Future())["limit/timeout"] == 1
    assert sum(tamper.call_metrics(None).values()) == 0
    assert tamper.summed([{"limit/timeout": 1}, {"limit/timeout": 2}])["limit/timeout"] == 3


async def test_a_session_grades_its_first_submission_and_sums_its_counters(
    worker: WorkerSandbox,
) -> None:
    task = load_task("procedural", 1)
    session = ToolSession.for_info(dataset_row(task)["info"], worker)
    text, counts = await session.python({"expression": solution_code(task.spec)})
    answer = json.loads(json.loads(text)["result"])
    await session.python(json.dumps({"expression": "open('/usr/x', 'w')"}))
    bad, _ = await session.python({"code": "print(1)"})  # wrong argument name
    assert "expression" in json.loads(bad)["error"]
    assert sum(counts.values()) == 0
    assert session.tamper["blocked/write_outside_workdir"] == 1 and session.calls == 3

    first = await session.submit({"answer": answer})
    assert not first.is_error and session.grade is not None and session.grade.reward == 1.0
    second = await session.submit({"answer": {}})
    assert second.is_error and session.grade.reward == 1.0  # the first one stands
    assert json.loads(session.answer_json() or "null") == answer


async def test_one_sandbox_per_loop_shared_by_sessions(worker: WorkerSandbox) -> None:
    a = ToolSession.for_info(dataset_row(load_task("seed-doc"))["info"], worker)
    b = ToolSession.for_info(dataset_row(load_task("seed-doc"))["info"], worker)
    await a.python({"expression": "print(1)"})
    await b.python({"expression": "print(2)"})
    assert worker.isolation != "not started"
    assert len(worker._boxes) == 1


def test_close_all_closes_a_sandbox_whose_loop_runs_in_another_thread() -> None:
    """What happens at exit under TRL, whose async tools run on a daemon thread's loop."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    box = WorkerSandbox()
    try:
        result = asyncio.run_coroutine_threadsafe(box.run("print(6 * 7)"), loop).result(60)
        assert result.result == "42\n"
        sandbox = next(iter(box._boxes.values()))
        assert sandbox.server_pid is not None
        box.close_all()
        assert not box._boxes and sandbox.server_pid is None
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
