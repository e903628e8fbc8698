"""The python tool sandbox: what a call returns, statelessness, limits, concurrency, fallback,
lifecycle, the mount plan and the ``exec`` command. Hostile code: test_sandbox_abuse.py."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from proc_tree import process_tree

from attnrl.sandbox import ExecResult, LocalSandbox, Sandbox, format_output, open_sandbox
from attnrl.sandbox.jail import (
    _SYSCALLS,
    MountOp,
    SeccompRole,
    default_hidden_paths,
    interpreter_paths,
    plan_mounts,
    seccomp_filter,
)
from attnrl.sandbox.limits import SandboxLimits

LIMITS = SandboxLimits(timeout_s=5.0, cpu_s=5, max_output_chars=1000)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sb() -> AsyncIterator[LocalSandbox]:
    async with open_sandbox(LIMITS, max_concurrency=4) as sandbox:
        yield sandbox


module_loop = pytest.mark.asyncio(loop_scope="module")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return ") Z" not in f.read()
    except OSError:
        return False


def _host_pids_running(token: str) -> list[int]:
    """Live host processes with ``token`` as an argument."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if token.encode() in args and _alive(int(name)):
            found.append(int(name))
    return found


# ----------------------------------------------------------------------------- what a call is


@module_loop
async def test_it_is_a_sandbox_and_reports_its_isolation(sb: LocalSandbox) -> None:
    assert isinstance(sb, Sandbox)
    if os.path.exists("/usr/bin/bwrap") or os.path.exists("/bin/bwrap"):
        assert sb.isolation == "bwrap"
    else:
        assert sb.isolation.startswith("process (bwrap unavailable")


@module_loop
async def test_numpy_is_preloaded_as_np_and_importable(sb: LocalSandbox) -> None:
    code = "import numpy\nprint(type(np.arange(3)).__name__, numpy is np, np.ones((2, 2)).sum())"
    result = await sb.run(code)
    assert result == ExecResult("ndarray True 4.0\n", None, False, result.duration_s)
    assert result.to_tool_json() == {"result": "ndarray True 4.0\n", "error": None}


@module_loop
async def test_last_bare_expression_is_shown_only_if_nothing_was_printed(sb: LocalSandbox) -> None:
    assert (await sb.run("x = 6\nx * 7")).result == "42\n"
    assert (await sb.run("np.arange(3)")).result == "array([0, 1, 2])\n"
    assert (await sb.run("print('hi')\n1 + 1")).result == "hi\n"
    assert (await sb.run("None")).result == ""
    assert (await sb.run("x = 1")).result == ""
    assert (await sb.run("")).result == ""


@module_loop
async def test_stdout_then_stderr(sb: LocalSandbox) -> None:
    code = "import sys\nprint('to err', file=sys.stderr)\nprint('to out', end='')"
    result = await sb.run(code)
    assert result.result == "to out\nto err\n" and result.error is None


@module_loop
async def test_calls_are_stateless(sb: LocalSandbox) -> None:
    first = await sb.run(
        "import os, sys\nsecret = 1\nnp.sum = None\nsys.modules['json'].dumps = None\n"
        "open('left.txt', 'w').write('x')\nos.environ['LEAK'] = '1'\n"
        "np.random.seed(0)\nprint(os.getcwd())"
    )
    assert first.error is None
    second = await sb.run(
        "import json, os\n"
        "print('secret' in globals(), np.sum is None, json.dumps is None, os.listdir('.'),"
        " 'LEAK' in os.environ)"
    )
    assert second.result == "False False False [] False\n"
    previous_dir = first.result.strip()
    third = await sb.run(
        f"import os\nprint(os.getcwd() != {previous_dir!r}, os.path.exists({previous_dir!r}))"
    )
    assert third.result == "True False\n"  # a fresh work dir per call, removed afterwards
    draws = {(await sb.run("print(np.random.rand())")).result for _ in range(3)}
    assert len(draws) == 3  # fresh random state per call
    assert sb.info["zygote"]["libc_fork"] is True  # the path the next lines are about
    stdlib = {(await sb.run("import random\nprint(random.random())")).result for _ in range(3)}
    assert len(stdlib) == 3  # the stdlib's too (the zygote reseeds it: children skip the hook)
    # a call's own fork still runs the at-fork hooks: parent and child draw differently
    forked = await sb.run(
        "import os, random\nr, w = os.pipe()\npid = os.fork()\n"
        "if pid == 0:\n    os.write(w, repr(random.random()).encode()); os._exit(0)\n"
        "os.waitpid(pid, 0)\nprint(os.read(r, 64).decode() != repr(random.random()))"
    )
    assert forked.result == "True\n", forked


@module_loop
async def test_script_semantics(sb: LocalSandbox) -> None:
    result = await sb.run(
        "import sys, __main__\nprint(__name__, __main__.__dict__ is globals(), sys.argv)"
    )
    assert result.result == "__main__ True ['']\n"
    assert (await sb.run("import sys\nsys.exit(0)")).error is None
    assert (await sb.run("raise SystemExit")).error is None
    assert (await sb.run("import sys\nsys.exit('bye')")).error == "SystemExit: bye"
    code3 = await sb.run("import os\nprint('x', flush=True)\nos._exit(3)")
    assert code3.result == "x\n"
    assert code3.error == "SystemExit: the process exited with status 3"
    joined = await sb.run(
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.1), print('late'))).start()"
    )
    assert joined.result == "late\n"  # non-daemon threads are joined, like a script


# ----------------------------------------------------------------------------- errors


@module_loop
async def test_errors_are_type_message_and_traceback_tail(sb: LocalSandbox) -> None:
    result = await sb.run("print('partial')\ndef f(x):\n    return x / 0\n\nf(1)\n")
    assert result.result == "partial\n"
    assert result.error is not None
    lines = result.error.splitlines()
    assert lines[0] == "ZeroDivisionError: division by zero"
    assert lines[1] == "Traceback (most recent call last):"
    assert '  File "<python_expression>", line 5, in <module>' in lines
    assert '  File "<python_expression>", line 3, in f' in lines
    assert "    return x / 0" in lines
    assert "zygote" not in result.error  # the sandbox's own frames are not shown


@module_loop
async def test_error_type_names(sb: LocalSandbox) -> None:
    custom = await sb.run("class Boom(Exception):\n    pass\nraise Boom('bang')")
    assert custom.error is not None and custom.error.startswith("Boom: bang\n")
    lin = await sb.run("np.linalg.inv(np.zeros((2, 2)))")
    assert lin.error is not None and lin.error.startswith("numpy.linalg.LinAlgError: Singular")
    bare = await sb.run("raise KeyError")
    assert bare.error is not None and bare.error.startswith("KeyError\n")
    syntax = await sb.run("x = (1,\nprint(x")
    assert syntax.error is not None and syntax.error.startswith("SyntaxError: ")
    assert '"<python_expression>", line 2' in syntax.error


@module_loop
async def test_output_is_truncated_with_a_visible_marker(sb: LocalSandbox) -> None:
    result = await sb.run("print('a' * 2500)")
    assert result.truncated
    assert result.result == "a" * 1000 + "\n... [output truncated: 1501 more characters]"
    assert result.to_tool_json()["truncated"] is True
    exact = await sb.run("print('b' * 999)")
    assert not exact.truncated and exact.result == "b" * 999 + "\n"
    assert "truncated" not in exact.to_tool_json()


def test_format_output() -> None:
    assert format_output(b"out", b"err", 100) == ("out\nerr", False)
    assert format_output(b"\xff\xfeok", b"", 100) == ("\ufffd\ufffdok", False)
    text, cut = format_output("é".encode() * 10, b"", 4, more_chars=5)
    assert cut and text == "éééé\n... [output truncated: 11 more characters]"
    text, cut = format_output(b"x" * 10, b"", 4, more_chars=100, stopped=True)
    assert cut and text.startswith("xxxx\n... [output truncated: at least 106 more characters;")


@module_loop
async def test_code_size_limit(sb: LocalSandbox) -> None:
    result = await sb.run("#" * (2 << 20))
    assert result.error is not None and result.error.startswith("ValueError: the code is")


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        SandboxLimits(timeout_s=0)
    with pytest.raises(ValueError, match="max_output_chars"):
        SandboxLimits(max_output_chars=10)


# ----------------------------------------------------------------------------- concurrency


@module_loop
async def test_a_runaway_call_does_not_delay_a_fast_one(sb: LocalSandbox) -> None:
    runaway = asyncio.create_task(sb.run("import time\nwhile True:\n    time.sleep(0.001)\n"))
    await asyncio.sleep(0.3)
    fast = await sb.run("print(np.eye(3).trace())")
    assert fast.result == "3.0\n" and fast.error is None
    assert not runaway.done()  # the fast call came back while the runaway still ran
    slow = await runaway
    assert slow.error is not None and slow.error.startswith("TimeoutError")


@module_loop
async def test_concurrent_calls_are_bounded_and_all_answered(sb: LocalSandbox) -> None:
    codes = [f"import time\ntime.sleep(0.05)\nprint({i} * 2)" for i in range(24)]
    results = await asyncio.gather(*(sb.run(c) for c in codes))
    assert [r.result for r in results] == [f"{i * 2}\n" for i in range(24)]
    assert all(r.error is None for r in results)


@module_loop
async def test_a_cancelled_call_is_stopped(sb: LocalSandbox) -> None:
    task = asyncio.create_task(sb.run("import time\nprint('started', flush=True)\ntime.sleep(60)"))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await sb.run("print('next')")).result == "next\n"


# ----------------------------------------------------------------------------- lifecycle


async def test_fallback_is_loud_when_bwrap_is_disabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="attnrl.sandbox")
    async with open_sandbox(LIMITS, max_concurrency=2, bwrap=None) as fallback:
        assert fallback.isolation.startswith("process (bwrap unavailable: disabled")
        result = await fallback.run("print(np.arange(3).sum())")
        assert (result.result, result.error) == ("3\n", None)
        # A pid the call prints may be one of its own PID namespace: find the stray on the
        # host by a token in its command line instead.
        token = f"60.{time.monotonic_ns() % 10**9}"
        stray = await fallback.run(
            f"import subprocess\nprint(subprocess.Popen(['setsid', 'sleep', '{token}']).pid)"
        )
        assert stray.error is None and int(stray.result) > 0, stray
        deadline = time.monotonic() + 120  # a hang guard: a killed stray is reaped, late or not
        while _host_pids_running(token) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not _host_pids_running(token)  # strays are swept in the fallback too
    assert any(
        r.levelno == logging.WARNING and "bubblewrap unavailable" in r.getMessage()
        for r in caplog.records
    )


async def test_fallback_when_bwrap_is_missing_or_fails_its_self_test(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="attnrl.sandbox")
    missing = LocalSandbox(LIMITS, bwrap="/nonexistent/bwrap")
    async with missing:
        assert missing.isolation.startswith("process (bwrap unavailable: '/nonexistent/bwrap'")
    broken = LocalSandbox(LIMITS, bwrap="/bin/false")
    async with broken:
        assert broken.isolation.startswith("process (bwrap unavailable: self-test failed")
        assert (await broken.run("print(1)")).result == "1\n"


async def test_two_sandboxes_on_one_host_do_not_share_uids() -> None:
    async with (
        open_sandbox(LIMITS, max_concurrency=2) as jailed,
        open_sandbox(LIMITS, max_concurrency=2, bwrap=None) as plain,
    ):
        if jailed.call_uids is None or plain.call_uids is None:
            pytest.skip("calls do not get their own uids here (not root)")
        assert not set(jailed.call_uids) & set(plain.call_uids)
        slow = asyncio.create_task(jailed.run("import time\ntime.sleep(1)\nprint('alive')"))
        await asyncio.sleep(0.3)
        # Without a PID namespace this reaches every process its uid may signal on the host.
        await plain.run("import os, signal\nos.kill(-1, signal.SIGKILL)")
        assert (await slow).result == "alive\n"


async def test_aclose_leaves_no_processes_and_no_files() -> None:
    sandbox = open_sandbox(LIMITS, max_concurrency=2)
    await sandbox.start()
    server = sandbox.server_pid
    assert server is not None
    busy = asyncio.create_task(sandbox.run("import time\ntime.sleep(30)"))
    await asyncio.sleep(0.3)
    pids = process_tree(server)
    runtime = sandbox._runtime_dir
    assert runtime is not None and os.path.isdir(runtime)
    await sandbox.aclose()
    result = await asyncio.wait_for(busy, 5)
    assert result.error is not None and result.error.startswith("SandboxError")
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not [p for p in pids if _alive(p)]
    assert not os.path.exists(runtime)
    await sandbox.aclose()  # idempotent


async def test_the_zygote_is_restarted_when_it_dies() -> None:
    async with open_sandbox(LIMITS, max_concurrency=2) as sandbox:
        busy = asyncio.create_task(sandbox.run("import time\ntime.sleep(30)"))
        await asyncio.sleep(0.3)
        server = sandbox.server_pid
        assert server is not None
        os.killpg(server, signal.SIGKILL)
        lost = await asyncio.wait_for(busy, 5)
        assert lost.error is not None and lost.error.startswith("SandboxError")
        again = await sandbox.run("print('back')")
        assert (again.result, again.error) == ("back\n", None)
        assert sandbox.restarts == 1 and sandbox.server_pid != server


# ----------------------------------------------------------------------------- the jail plan


def test_plan_masks_and_rebinds_what_the_interpreter_needs() -> None:
    ops = plan_mounts(
        needed=["/tmp/ci/repo/.venv", "/root/.pyenv/versions/3.11"],
        hidden=["/tmp", "/root", "/tmp/ci/repo", "/home/u"],
    )
    assert ops == [
        MountOp("mask", "/root"),
        MountOp("mask", "/tmp"),
        MountOp("mask", "/home/u"),
        MountOp("bind", "/root/.pyenv/versions/3.11"),
        MountOp("bind", "/tmp/ci/repo/.venv"),
    ]
    # A hidden directory inside a needed one stays hidden; visible needs need no bind.
    ops = plan_mounts(needed=["/opt/venv", "/tmp/x"], hidden=["/opt/venv/pkg", "/tmp/x"])
    assert ops == [MountOp("mask", "/opt/venv/pkg")]


def test_default_hidden_paths_never_hide_the_system_or_the_interpreter() -> None:
    hidden = default_hidden_paths()
    for path in ("/", "/usr", "/etc", "/bin", "/lib"):
        assert path not in hidden
    assert "/tmp" in hidden
    for needed in interpreter_paths():
        assert needed not in hidden
        assert os.path.isdir(needed)


def test_jail_cgroup_helpers() -> None:
    from attnrl.sandbox.cgroup import JailCgroup, default_jail_memory_bytes

    assert default_jail_memory_bytes(1, 1 << 20) == (1 << 20) + (256 << 20)
    assert default_jail_memory_bytes(10**6, 1 << 30) < 10**6 << 30  # capped by the machine
    argv = JailCgroup(procs=["/cg/a b/cgroup.procs"]).wrap(["bwrap", "--x"])
    assert argv[:2] == ["/bin/sh", "-c"] and argv[3:] == ["bwrap", "--x"]
    assert "echo $$ > '/cg/a b/cgroup.procs'" in argv[2]


def test_seccomp_filter_is_a_bpf_program_per_architecture() -> None:
    for machine in ("x86_64", "aarch64"):
        program = seccomp_filter(machine)
        assert program is not None and len(program) % 8 == 0 and len(program) // 8 < 255
    assert seccomp_filter("sparc64") is None


def _run_bpf(program: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """The action of a classic-BPF seccomp program (the instructions the jail uses) for one
    syscall: a little interpreter, so that every architecture's jumps are checked here."""
    data = struct.pack("=iI", nr, arch) + bytes(8)
    data += b"".join(struct.pack("=Q", a) for a in (*args, 0, 0, 0, 0, 0, 0)[:6])
    code = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x06:  # ret
            return k
        if op == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
            continue
        taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[op]
        pc += 1 + (jt if taken else jf)


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
@pytest.mark.parametrize("role", ["call", "zygote"])
def test_the_filters_answer_per_syscall(machine: str, role: SeccompRole) -> None:
    program = seccomp_filter(machine, role)
    assert program is not None
    arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[machine]
    nrs = _SYSCALLS[machine]
    allow, eperm, eafnosupport = 0x7FFF0000, 0x00050001, 0x00050061
    read = {"x86_64": 0, "aarch64": 63}[machine]
    cases = [
        (read, (), allow),
        (nrs["fcntl"], (3, 1), allow),  # F_GETFD
        (nrs["fcntl"], (3, 6), allow),  # F_SETLK: record locks stay
        (nrs["fcntl"], (3, 1024), eperm),  # F_SETLEASE
        (nrs["fcntl"], (3, 1026), eperm),  # F_NOTIFY
        (nrs["fcntl"], (3, 37), eperm),  # F_OFD_SETLK
        (nrs["fcntl"], (3, 38), eperm),  # F_OFD_SETLKW
        (nrs["fcntl"], (3, 36), allow),  # F_OFD_GETLK: reads, takes nothing
        (nrs["fcntl"], (3, (1 << 32) | 1026), eperm),  # the kernel reads an unsigned int
        (nrs["setpriority"], (0, 0, 19), eperm),
        (nrs["sched_setscheduler"], (0, 5, 0), eperm),
        (nrs["sched_setattr"], (0, 0, 0), eperm),
        (nrs["fadvise64"], (3, 0, 0, 4), eperm),
        (nrs["preadv2"], (3, 0, 1, 0, 0, 8), eperm),
        (nrs["readahead"], (3, 0, 4096), eperm),
        (nrs["socket"], (2, 1, 0), allow),
        (nrs["socket"], (40, 1, 0), eafnosupport),  # AF_VSOCK
        (nrs["clone"], (0x11,), allow),
        (nrs["clone"], (0x40000000,), eperm),  # CLONE_NEWNET
        (nrs["unshare"], (0x40000000,), allow if role == "zygote" else eperm),
        (nrs["unshare"], (0x10000000,), eperm),  # CLONE_NEWUSER, for the zygote too
    ]
    for nr, args, action in cases:
        assert _run_bpf(program, arch, nr, args) == action, (nr, args)
    assert _run_bpf(program, 0x40000003, read) == 0x00050000 | 38  # another ABI: ENOSYS


# ----------------------------------------------------------------------------- attnrl exec


def _exec_parser() -> argparse.ArgumentParser:
    from attnrl.cli import exec_command

    parser = argparse.ArgumentParser(prog="attnrl")
    subparsers = parser.add_subparsers(dest="command", required=True)
    exec_command.register(subparsers)
    return parser


def _run_exec(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None
) -> tuple[int, str, str]:
    args = _exec_parser().parse_args(argv)
    if stdin is not None:
        old, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        code = args.handler(args)
    finally:
        if stdin is not None:
            sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_exec_prints_the_tool_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "snippet.py"
    script.write_text("print(np.arange(4).sum())\n")
    code, out, _ = _run_exec(["exec", str(script)], capsys)
    assert code == 0 and json.loads(out) == {"result": "6\n", "error": None}
    code, out, _ = _run_exec(["exec", "-"], capsys, stdin="1/0")
    assert code == 0  # it ran; the error is the model's to see
    assert json.loads(out)["error"].startswith("ZeroDivisionError: division by zero")


def test_exec_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run_exec(["exec", str(tmp_path / "missing.py")], capsys)
    assert code == 2 and out == ""
    assert "missing.py" in err and "error" in err
    code, out, err = _run_exec(["exec", "-", "--timeout", "0"], capsys, stdin="print(1)")
    assert code == 2 and "--timeout" in err and "SandboxLimits" not in err


def test_python_m_attnrl_exec_when_wired(tmp_path: Path) -> None:
    from attnrl import cli

    if "exec_command" not in getattr(cli, "COMMAND_MODULES", ()):
        pytest.skip("attnrl.cli does not register exec_command yet")
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "exec", "-"],
        input="print('hi')",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"result": "hi\n", "error": None}
    missing = subprocess.run(
        [sys.executable, "-m", "attnrl", "exec", str(tmp_path / "nope.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "nope.py" in missing.stderr
