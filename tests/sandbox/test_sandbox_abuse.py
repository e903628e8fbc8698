"""Hostile code in the python tool: each case asserts containment AND an unharmed harness.

Every test runs its code through :func:`run_hostile`, which also checks that the harness
stayed responsive during the call (an event-loop heartbeat), that its environment and
working directory are intact, that no process of the call is left (host-wide, by the
calls' uids, and under the sandbox's server process) and that a later call still works.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from proc_tree import process_tree

from attnrl.sandbox import ExecResult, LocalSandbox, open_sandbox
from attnrl.sandbox.limits import SandboxLimits

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAKE_KEY = "sk-test-" + uuid.uuid4().hex
SENTINEL = "attnrl-sentinel-" + uuid.uuid4().hex
"""Lives in the test process only; the model's code must never find it."""
REPO = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(
    timeout_s=2.0,
    cpu_s=1,
    memory_bytes=512 << 20,
    max_processes=32,
    max_file_bytes=1 << 20,
    max_output_chars=10_000,
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sb() -> AsyncIterator[LocalSandbox]:
    # The key is in the harness's environment before the sandbox starts, as in a real run.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
        mp.setenv("OPENAI_API_KEY", FAKE_KEY)
        async with open_sandbox(LIMITS, max_concurrency=4) as sandbox:
            await sandbox.run("pass")
            await asyncio.sleep(0.5)  # the pre-forked children are in place
            sandbox.test_baseline = _descendants(sandbox.server_pid)  # type: ignore[attr-defined]
            yield sandbox


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _descendants(pid: int | None) -> set[int]:
    """Live (non-zombie) processes of the sandbox, ``pid`` (its server) included."""
    return set() if pid is None else process_tree(pid, live_only=True)


def _uid_processes(uids: range | None) -> list[int]:
    """Live host processes running as one of the calls' uids."""
    if uids is None:
        return []
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        status = _read(f"/proc/{name}/status")
        for line in status.splitlines():
            if line.startswith("Uid:"):
                if int(line.split()[1]) in uids and "\nState:\tZ" not in status:
                    found.append(int(name))
                break
    return found


async def _assert_no_leftovers(sb: LocalSandbox) -> None:
    """No process of a call is left: none runs as a call's uid any more (host-wide) when
    calls have their own uids; otherwise the sandbox's process tree is back to its idle
    size (the zygote and its pre-forked children, which are replaced after use)."""
    baseline = len(sb.test_baseline)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5.0
    while True:
        if sb.call_uids is not None:
            left = _uid_processes(sb.call_uids)
        else:
            tree = _descendants(sb.server_pid)
            left = sorted(tree) if len(tree) > baseline else []
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"leftover processes: {left} ({sb.info})")
        await asyncio.sleep(0.05)


def memory_hog_code(mib: int, linger_s: float) -> str:
    """Code that touches ``mib`` MiB in itself and in each of 4 forked children (which
    linger ``linger_s`` before exiting), then prints the children's exit codes."""
    return f"""
import os, time
def hog():
    block = bytearray({mib} << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return block
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        hog()
        time.sleep({linger_s})
        os._exit(0)
    children.append(pid)
keep = hog()
print(sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in children))
"""


async def run_hostile(sb: LocalSandbox, code: str) -> ExecResult:
    """Run ``code``; assert the harness was responsive throughout and is unharmed after."""
    cwd = os.getcwd()
    server = sb.server_pid
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    try:
        result = await sb.run(code)
    finally:
        done.set()
        await beat
    duration = time.monotonic() - started
    assert isinstance(result, ExecResult)
    json.dumps(result.to_tool_json())  # always serialisable for the model
    # The harness: responsive, same environment and cwd, same sandbox server.
    # A loop blocked on the call would stall for all of it: for a call long enough to tell
    # (a second or more), the longest stall is a small part of it (a ratio, not a time).
    assert gaps, "the event loop never ran during the call"
    if duration >= 1.0:
        assert max(gaps) < duration / 2, f"event loop stalled {max(gaps):.2f} of {duration:.2f} s"
    assert os.environ.get("ANTHROPIC_API_KEY") == FAKE_KEY
    assert os.getcwd() == cwd
    assert sb.server_pid == server and sb.restarts == 0, (sb.server_pid, server, sb.restarts)
    await _assert_no_leftovers(sb)
    after = await sb.run("print(6 * 7)")
    assert (after.result, after.error) == ("42\n", None)
    return result


def _no_secret(result: ExecResult) -> None:
    blob = json.dumps(result.to_tool_json())
    assert FAKE_KEY not in blob and FAKE_KEY[8:] not in blob
    assert SENTINEL not in blob and SENTINEL[16:] not in blob


async def test_api_key_not_in_os_environ(sb: LocalSandbox) -> None:
    code = (
        "import os\n"
        "print(dict(os.environ))\n"
        "print({k: v for k, v in os.environ.items() if 'KEY' in k or 'TOKEN' in k})\n"
    )
    result = await run_hostile(sb, code)
    assert result.error is None
    assert "ANTHROPIC_API_KEY" not in result.result and "OPENAI_API_KEY" not in result.result
    assert "PATH" in result.result
    _no_secret(result)


async def test_api_key_not_in_proc_environ(sb: LocalSandbox) -> None:
    code = f"""
import os
seen = []
pids = [p for p in os.listdir('/proc') if p.isdigit()] + ['self', '{os.getpid()}']
for pid in pids:
    for name in ('environ', 'cmdline'):
        try:
            with open(f'/proc/{{pid}}/{{name}}', 'rb') as f:
                seen.append((pid, name, f.read()))
        except OSError as exc:
            seen.append((pid, name, type(exc).__name__))
print(seen)
"""
    result = await run_hostile(sb, code)
    assert result.error is None
    assert "/proc" not in (result.error or "")
    _no_secret(result)


async def test_stack_and_gc_walk_cannot_reach_the_harness(sb: LocalSandbox) -> None:
    local_sentinel = SENTINEL  # noqa: F841 - a live local of the test while the call runs
    code = """
import gc, sys, os
found = []
def look(v):
    if isinstance(v, str) and 'attnrl-sentinel' in v:
        found.append(v)
    elif isinstance(v, bytes) and b'attnrl-sentinel' in v:
        found.append(v)
for obj in gc.get_objects():
    if obj is found:
        continue
    try:
        if isinstance(obj, dict):
            for v in list(obj.values()):
                look(v)
        elif isinstance(obj, (list, tuple)):
            for v in list(obj):
                look(v)
    except Exception:
        pass
frame = sys._getframe()
while frame is not None:
    for v in list(frame.f_locals.values()) + list(frame.f_globals.values()):
        look(v)
    frame = frame.f_back
for mod in list(sys.modules.values()):
    for v in list(getattr(mod, '__dict__', {}).values()):
        look(v)
# Raw memory: ours, and every other process we can open.
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        maps = open(f'/proc/{pid}/maps').read().splitlines()
        with open(f'/proc/{pid}/mem', 'rb') as mem:
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
                if 'r' not in line.split()[1] or hi - lo > 16 << 20:
                    continue
                try:
                    mem.seek(lo)
                    chunk = mem.read(hi - lo)
                except OSError:
                    continue
                i = chunk.find(b'attnrl-sentinel-')
                while i >= 0:
                    found.append(chunk[i:i + 48])
                    i = chunk.find(b'attnrl-sentinel-', i + 1)
    except OSError:
        pass
print(len(found), found[:50])
"""
    result = await run_hostile(sb, code)
    assert result.error is None, result.error
    _no_secret(result)


async def test_infinite_loop_is_stopped_by_a_limit() -> None:
    """The CPU limit stops a busy loop by its own signal, whatever the machine's load: the
    wall-clock limit is far away (an hour), so only the CPU limit can end it, and the
    error names it. As PID 1 of its PID namespace the call ignores SIGXCPU, so the limit's
    signal is the hard limit's SIGKILL (soft and hard limits are equal)."""
    limits = SandboxLimits(timeout_s=3600.0, cpu_s=1, memory_bytes=512 << 20)
    async with open_sandbox(limits, max_concurrency=2) as own:
        result = await own.run("print('spinning', flush=True)\nwhile True:\n    pass\n")
        pid1 = bool((own.info["zygote"] or {}).get("pid_namespaces"))
        signame = "SIGKILL" if pid1 else "SIGXCPU"
        assert result.error == (
            f"TimeoutError: CPU time limit of 1 s exceeded (killed by signal {signame})"
        )
        assert result.result == "spinning\n"  # output before the kill is kept
        assert result.time_limit == "cpu"
        child = await own.run(
            "import subprocess, sys\n"
            "p = subprocess.run([sys.executable, '-c', 'while True: pass'])\n"
            "print(p.returncode)"
        )
        # A child has the same limit (per process), and the same signal.
        code = -9 if pid1 else -24
        assert (child.result, child.error) == (f"{code}\n", None), child


LOWERED_CPU_LIMITS = {
    "hard and soft to 1 s": "resource.setrlimit(resource.RLIMIT_CPU, (1, 1))",
    "to 2 s of 4": "resource.setrlimit(resource.RLIMIT_CPU, (2, 2))",
    "soft only, to 1 s": "resource.setrlimit(resource.RLIMIT_CPU, (1, 4))",
}


@pytest.mark.parametrize("lower", LOWERED_CPU_LIMITS.values(), ids=LOWERED_CPU_LIMITS.keys())
async def test_code_that_lowers_its_own_cpu_limit_gets_no_time_limit_verdict(lower: str) -> None:
    """An adversarial review (2026-12-04): code that lowered its own RLIMIT_CPU to 1 s and
    spun was reported as the sandbox's CPU limit (``time_limit="cpu"``, TimeLimitExceeded
    through the service) after 1 s. The verdict is the sandbox's only when the call used
    the sandbox's CPU seconds; a limit the code set is its own end, and the next call is
    untouched."""
    limits = SandboxLimits(timeout_s=3600.0, cpu_s=4, memory_bytes=512 << 20)
    async with open_sandbox(limits, max_concurrency=2) as own:
        pid1 = bool((own.info["zygote"] or {}).get("pid_namespaces"))
        result = await own.run(f"import resource\n{lower}\nwhile True:\n    pass\n")
        if "(1, 4)" in lower and pid1:
            # PID 1 ignores the soft limit's SIGXCPU: the sandbox's own hard limit ends it
            assert result.time_limit == "cpu", result
        else:
            assert result.time_limit is None, result
            assert result.error is not None and result.error.startswith("ProcessKilled"), result
        after = await own.run("print(6 * 7)")
        assert (after.result, after.error, after.time_limit) == ("42\n", None, None)


async def test_cpu_burn_in_threads_hits_a_limit(sb: LocalSandbox) -> None:
    code = """
import threading
def burn():
    x = 0
    while True:
        x += 1
threads = [threading.Thread(target=burn, daemon=True) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
    result = await run_hostile(sb, code)
    assert result.error is not None
    assert result.error.startswith("TimeoutError:")  # CPU (SIGXCPU) or wall clock, whichever first


async def test_memory_bomb_is_a_memory_error(sb: LocalSandbox) -> None:
    """A loop that allocates until it fails ends by the memory limit, as a MemoryError that
    names it. Only that limit can end it here. The bomb zeroes ~350 MiB before the limit
    stops it, 0.21-0.27 s of CPU on this VM at load 2.5, but one clean-clone ``make test``
    saw it pass the module's 1 s CPU limit first: against that limit and the 2 s wall clock
    it raced them. Its own sandbox keeps the module's memory limit and moves the other two
    far away. (``sb``: the module's environment, API keys set, before this sandbox starts.)"""
    del sb
    limits = replace(LIMITS, timeout_s=120.0, cpu_s=60)
    async with open_sandbox(limits, max_concurrency=2) as own:
        await own.run("pass")
        await asyncio.sleep(0.5)  # the pre-forked children are in place
        own.test_baseline = _descendants(own.server_pid)  # type: ignore[attr-defined]
        rss_before = _rss_kib()
        code = "chunks = []\nwhile True:\n    chunks.append(bytearray(32 << 20))\n"
        result = await run_hostile(own, code)
        assert result.error is not None and result.error.startswith("MemoryError"), result
        assert "512 MiB" in result.error and result.time_limit is None
        big = await own.run("import numpy as np\nx = np.ones((1 << 16, 1 << 16))")
        assert big.error is not None and big.error.startswith("MemoryError: Unable to allocate")
        assert _rss_kib() - rss_before < 64 << 10  # the harness did not hold any of it


async def test_fork_bomb_is_bounded_and_swept(sb: LocalSandbox) -> None:
    code = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, len(_uid_processes(sb.call_uids)))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        result = await run_hostile(sb, code)
    finally:
        watcher.cancel()
    assert result.error is not None and result.error.startswith("TimeoutError"), result
    if sb.call_uids is not None:
        # RLIMIT_NPROC holds the bomb at max_processes; +1: the sweeper that kills them
        # runs as the same uid for a moment.
        assert 2 <= peak <= LIMITS.max_processes + 1, peak


async def test_output_flood_is_bounded_while_read(sb: LocalSandbox) -> None:
    rss_before = _rss_kib()
    code = "import os\nblock = b'x' * (1 << 20)\nwhile True:\n    os.write(1, block)\n"
    result = await run_hostile(sb, code)
    assert result.truncated and result.error is not None
    assert result.error.startswith("OutputLimitError")  # stopped for flooding, not timed out
    assert result.result.startswith("x" * LIMITS.max_output_chars + "\n... [output truncated:")
    assert len(result.result) < LIMITS.max_output_chars + 200
    assert _rss_kib() - rss_before < 64 << 10


async def test_stray_background_processes_are_killed(sb: LocalSandbox) -> None:
    code = """
import os, signal, subprocess, time
p = subprocess.Popen(['setsid', 'sleep', '300'])
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # a classic double-fork daemon that ignores the polite signals
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        while True:
            time.sleep(1)
    os._exit(0)
os.close(w)
daemon = os.read(r, 32).decode()
time.sleep(0.2)
print(p.pid, daemon)
"""
    result = await run_hostile(sb, code)
    assert result.error is None, result.error
    pids = [int(p) for p in result.result.split()]
    assert len(pids) == 2
    check = f"""
import os, time
pids = {pids!r}
for _ in range(300):
    alive = [p for p in pids if os.path.exists(f'/proc/{{p}}')]
    if not alive:
        break
    time.sleep(0.01)
print(alive)
"""
    after = await sb.run(check)
    assert (after.result, after.error) == ("[]\n", None)


async def test_loopback_listener_gets_no_connection(sb: LocalSandbox) -> None:
    if not sb.isolation.startswith("bwrap"):
        pytest.skip(f"no network namespace without bwrap ({sb.isolation})")
    connections = 0

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = f"""
import socket
for host in ('127.0.0.1', 'localhost', '::1', '0.0.0.0'):
    try:
        s = socket.create_connection((host, {port}), timeout=1)
        print('CONNECTED', host)
        s.close()
    except OSError as exc:
        print('blocked', host, type(exc).__name__)
"""
    try:
        result = await run_hostile(sb, code)
        await asyncio.sleep(0.1)
    finally:
        server.close()
        await server.wait_closed()
    assert "CONNECTED" not in result.result
    assert connections == 0


async def test_writes_outside_the_work_dir_do_not_land(sb: LocalSandbox) -> None:
    tag = f"attnrl-pwned-{uuid.uuid4().hex}"
    targets = [
        REPO / tag,
        REPO / "src" / "attnrl" / f"{tag}.py",
        Path(tempfile.gettempdir()) / tag,
        Path("/etc") / tag,
        Path("/var/tmp") / tag,
        Path.home() / tag,
        Path("/dev/shm") / tag,
    ]
    if not sb.isolation.startswith("bwrap"):
        # Without a mount namespace the world-writable directories are writable.
        targets = [t for t in targets if not str(t).startswith(("/tmp", "/var/tmp", "/dev/shm"))]
    code = f"""
import os
for path in {[str(t) for t in targets]!r}:
    try:
        with open(path, 'w') as f:
            f.write('pwned')
        print('WROTE', path)
    except OSError as exc:
        print('refused', path, type(exc).__name__)
"""
    result = await run_hostile(sb, code)
    assert result.error is None
    for target in targets:
        assert not target.exists(), f"{target} was written ({result.result})"
    # What the call may write (its work dir, the jail's /dev/shm) is gone for the next one.
    leftover = await sb.run(f"import os; print(os.listdir('.'), os.path.exists('/dev/shm/{tag}'))")
    assert leftover.result == "[] False\n"


async def test_ignoring_sigterm_does_not_survive_the_limit(sb: LocalSandbox) -> None:
    code = """
import signal, subprocess, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
subprocess.Popen(['sh', '-c', 'trap "" TERM HUP INT; while :; do sleep 1; done'])
while True:
    time.sleep(0.05)
"""
    result = await run_hostile(sb, code)  # also: nothing of the call is left after it
    assert result.error is not None and result.error.startswith("TimeoutError: execution")
    assert result.time_limit == "wall_clock"  # it sleeps: only the wall clock can end it


@pytest.mark.parametrize(
    "message",
    [
        "execution exceeded 2.0 s wall-clock limit",
        "CPU time limit of 1 s exceeded (killed by signal SIGKILL)",
    ],
)
async def test_code_raising_a_limits_words_is_no_limit(sb: LocalSandbox, message: str) -> None:
    result = await run_hostile(sb, f"raise TimeoutError({message!r})")
    assert result.error is not None and result.error.startswith(f"TimeoutError: {message}")
    assert result.time_limit is None  # what the sandbox saw, not what the code said


async def test_deep_recursion_is_an_error_not_a_crash(sb: LocalSandbox) -> None:
    result = await run_hostile(sb, "def f(n):\n    return f(n + 1)\n\nf(0)\n")
    assert result.error is not None
    assert result.error.startswith("RecursionError: maximum recursion depth exceeded")
    assert len(result.error) < 3000  # the traceback tail is bounded
    # Past the C stack: the interpreter may crash; that is the call's problem only.
    deeper = await run_hostile(
        sb,
        "import sys\nsys.setrecursionlimit(10**7)\nx = []\n"
        "for _ in range(10**6):\n    x = [x]\nprint(len(repr(x)))\n",
    )
    assert deeper.error is not None
    assert deeper.error.startswith(("RecursionError", "ProcessKilled", "MemoryError", "Timeout"))


async def test_segfault_via_ctypes_is_reported(sb: LocalSandbox) -> None:
    code = "import ctypes\nprint('before the crash')\nctypes.string_at(0)\n"
    result = await run_hostile(sb, code)
    assert result.result == "before the crash\n"
    assert result.error == "ProcessKilled: killed by signal SIGSEGV (Segmentation fault)"


async def test_binary_garbage_on_stdout_is_decoded_with_replacement(sb: LocalSandbox) -> None:
    code = (
        "import os, sys\n"
        "os.write(1, bytes(range(256)) * 8)\n"
        "sys.stdout.buffer.write(b'\\xff\\xfe\\xc3(\\x00 tail')\n"
    )
    result = await run_hostile(sb, code)
    assert result.error is None
    # Invalid UTF-8 is replaced; control characters (issue 10) are shown escaped.
    assert "\ufffd" in result.result and result.result.endswith("(\\x00 tail")
    assert "\x00" not in result.result and "\x1b" not in result.result
    result.result.encode("utf-8")
    assert json.loads(json.dumps(result.to_tool_json()))["result"] == result.result


async def test_signalling_the_harness_or_the_server_fails(sb: LocalSandbox) -> None:
    code = f"""
import os, signal
print('self', os.getpid())
for target in (os.getppid(), 1, {os.getpid()}, {sb.server_pid or 1}):
    try:
        os.kill(target, signal.SIGKILL)
        print('killed', target)
    except OSError as exc:
        print('refused', target, type(exc).__name__)
try:
    os.kill(-1, signal.SIGKILL)  # everything it may signal: only itself survives this
except ProcessLookupError:
    pass  # nothing else in its PID namespace
print('still here')
"""
    result = await run_hostile(sb, code)
    lines = result.result.splitlines()
    own = int(lines[0].split()[1])
    killed = {int(line.split()[1]) for line in lines if line.startswith("killed ")}
    # Only the call itself "accepts" a signal: as PID 1 of its own PID namespace (pid 1,
    # parent 0, its own process group 0) it ignores SIGKILL from inside; nothing else of
    # the host or the jail (pid 1 of the jail, the harness, the server) can be reached.
    assert killed <= {own, 0} and (1 not in killed or own == 1), result.result
    if sb.call_uids is not None:
        assert f"killed {os.getpid()}" not in result.result
        assert result.result.endswith("still here\n")


async def test_repository_sources_are_not_readable(sb: LocalSandbox) -> None:
    if not sb.isolation.startswith("bwrap"):
        pytest.skip(f"no mount namespace without bwrap ({sb.isolation})")
    code = f"""
import os
for path in ({str(REPO / "src" / "attnrl" / "reference.py")!r}, {str(REPO / "tests")!r}):
    print(path, os.path.exists(path))
import importlib.util
print('attnrl', importlib.util.find_spec('attnrl'))
"""
    result = await run_hostile(sb, code)
    assert result.error is None
    assert "True" not in result.result and "attnrl None" in result.result


async def test_file_size_limit(sb: LocalSandbox) -> None:
    code = "with open('big', 'wb') as f:\n    f.write(b'x' * (8 << 20))\n"
    result = await run_hostile(sb, code)
    assert result.error is not None and result.error.startswith(
        "OSError: [Errno 27] File too large"
    )


def _rss_kib() -> int:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_new_namespaces_and_io_uring_are_refused(sb: LocalSandbox) -> None:
    if not sb.isolation.startswith("bwrap"):
        pytest.skip(f"no seccomp filter without bwrap ({sb.isolation})")
    code = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print('unshare(NEWUSER)', libc.unshare(0x10000000), ctypes.get_errno())
print('unshare(NEWNS)', libc.unshare(0x00020000), ctypes.get_errno())
print('io_uring_setup', libc.syscall(425, 8, ctypes.create_string_buffer(120)), ctypes.get_errno())
"""
    result = await run_hostile(sb, code)
    assert result.result == ("unshare(NEWUSER) -1 1\nunshare(NEWNS) -1 1\nio_uring_setup -1 1\n"), (
        result.result
    )


async def test_memory_of_all_processes_together_is_bounded() -> None:
    """rlimits count per process; the jail's cgroup bounds the sum (when it can be made)."""
    limits = SandboxLimits(timeout_s=10.0, memory_bytes=800 << 20, max_processes=16)
    async with LocalSandbox(limits, max_concurrency=2, jail_memory_bytes=512 << 20) as own:
        if not isinstance(own.info["cgroup"], list):
            pytest.skip(f"no jail cgroup here ({own.info['cgroup']})")
        await own.run("pass")
        await asyncio.sleep(0.5)
        own.test_baseline = _descendants(own.server_pid)  # type: ignore[attr-defined]
        code = memory_hog_code(256, linger_s=2)
        server = own.server_pid
        result = await own.run(code)
        # 5 x 256 MiB against a 512 MiB budget: the OOM killer took the call's main
        # process (reported as a MemoryError) or one of its children (SIGKILL, -9).
        if result.error is not None:
            assert result.error.startswith("MemoryError: out of memory"), result.error
        else:
            assert result.result.startswith("[-9"), result.result
        assert own.server_pid == server and own.restarts == 0
        await _assert_no_leftovers(own)
        after = await own.run("print(6 * 7)")
        assert (after.result, after.error) == ("42\n", None)
