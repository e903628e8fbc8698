"""Issue 19, items 1-4: no process outlives its call, slow exits never retire slots or kill
the pool, each call has its own memory budget, and concurrent calls share no channel.

Every attack runs through the public API (:func:`attnrl.sandbox.open_sandbox`); the
process-survival class also through ``attnrl exec`` and a real ``attnrl run``
(:mod:`test_sandbox_containment_run`), and through the verl tool and a TRL environment
(``tests/trainers/test_sandbox_trainer_paths.py``). After each attack, innocent calls in
the attacked slot and in every other slot succeed and see nothing of it. What a call may
not do is shown by the kernel's own answer (an errno, a signal); no test times anything.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from proc_tree import children, zygote_pid
from test_sandbox_abuse import memory_hog_code

import attnrl.sandbox.local as local
from attnrl.sandbox import LocalSandbox, open_sandbox
from attnrl.sandbox.limits import SandboxLimits

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="per-call uids and namespaces need root")
module_loop = pytest.mark.asyncio(loop_scope="module")

MiB = 1 << 20
LIMITS = SandboxLimits(timeout_s=20.0, cpu_s=20, memory_bytes=1 << 30, max_processes=32)

SPY = r'''
def spy(token):
    """What a leftover of the call would do to later calls: read their code and
    environment, signal them, lower their limits, write into their output; and leave its
    session's autogroup at nice 19 (a program it starts may), slowing whoever shares it."""
    import ctypes, os, resource, signal, subprocess, sys, time
    ctypes.CDLL(None).prctl(15, token.encode(), 0, 0, 0)  # PR_SET_NAME: found by the test
    nice = "import os\ntry:\n    os.write(os.open('/proc/self/autogroup', 1), b'19')\n"
    nice += "except OSError:\n    pass"
    subprocess.run([sys.executable, "-c", nice], capture_output=True)
    end = time.monotonic() + 15
    while time.monotonic() < end:
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (1, os.getpid()):
                continue  # not the call it came from
            pid = int(name)
            for what in ("cmdline", "environ"):
                try:
                    open(f"/proc/{pid}/{what}", "rb").read()
                except OSError:
                    pass
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            try:
                resource.prlimit(pid, resource.RLIMIT_AS, (1 << 20, 1 << 20))
            except (OSError, ValueError):
                pass
            try:
                fd = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, b"PWNED\n")
                os.close(fd)
            except OSError:
                pass
        time.sleep(0.01)
    os._exit(0)
'''

ATTACKS: dict[str, str] = {
    # The attack: the thread-group leader ends with the raw exit syscall (a zombie
    # while its threads run), a thread forks the spy, then the call ends with os._exit.
    "zombie_leader": r"""
import ctypes, os, threading, time
def worker():
    time.sleep(0.1)
    if os.fork() == 0:
        spy(TOKEN)
    time.sleep(0.1)
    os._exit(0)
threading.Thread(target=worker).start()
ctypes.CDLL(None).syscall(60, 0)
""",
    # A classic daemon: double fork, new session, the middle process exits.
    "setsid_double_fork": r"""
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        spy(TOKEN)
    os._exit(0)
os.wait()
print("daemonized")
""",
    # Process-group games: the spy in a group of its own; the call leaves at once.
    "process_group": r"""
import os
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    spy(TOKEN)
os._exit(0)
""",
    # A thread of the call's own process keeps running (and forking) as the call ends.
    "running_thread": r"""
import os, threading
def forever():
    if os.fork() == 0:
        spy(TOKEN)
    spy(TOKEN)
threading.Thread(target=forever, daemon=True).start()
print("returning")
""",
    # Re-parenting: a child forks the spy and exits; the spy is an orphan.
    "reparented_orphan": r"""
import os
pid = os.fork()
if pid == 0:
    if os.fork() == 0:
        spy(TOKEN)
    os._exit(0)
os.waitpid(pid, 0)
print("orphaned")
""",
    # A real executable started in a new session (what subprocess users do).
    "new_session_subprocess": r"""
import subprocess, sys
src = SPY_SOURCE + "\nspy(sys.argv[1])\n"
subprocess.Popen([sys.executable, "-c", "import sys\n" + src, TOKEN], start_new_session=True)
print("started")
""",
}

INNOCENT = r"""
import json, os, resource, signal, time
caught = []
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(s, lambda n, f: caught.append(n))
time.sleep(0.2)  # a window in which a leftover could act
total = float(np.ones(5_000_000).sum())
print(json.dumps({
    "uid": os.getuid(),
    "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
    "as": list(resource.getrlimit(resource.RLIMIT_AS)),
    "caught": caught,
    "total": total,
    "pts": sorted(os.listdir("/dev/pts")),
    "nice": (
        open("/proc/self/autogroup").read().split()[-1]
        if os.path.exists("/proc/self/autogroup") else "0"
    ),
}))
"""


def attack_code(name: str, token: str) -> str:
    return (
        f"TOKEN = {token!r}\nSPY_SOURCE = {SPY!r}\n"
        + SPY
        + "import os\nprint('UID', os.getuid(), flush=True)\n"
        + ATTACKS[name]
    )


def host_processes_named(token: str) -> list[int]:
    """Host processes whose name (``/proc/PID/comm``) is ``token``, zombies excluded."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{name}/stat") as f:
                zombie = ") Z" in f.read()
        except OSError:
            continue
        if comm == token[:15] and not zombie:
            found.append(int(name))
    return found


def host_processes_of(uids: range | None) -> list[int]:
    """Host processes running as one of ``uids`` (zombies included)."""
    if uids is None:
        return []
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                status = f.read()
        except OSError:
            continue
        uid = int(status.split("\nUid:")[1].split()[0])
        if uid in uids:
            found.append(int(name))
    return found


def assert_innocent(seen: dict[str, Any], limits: SandboxLimits) -> None:
    """What an innocent call must see: only itself, its limits intact, no signal, its own
    output only, its own empty devpts."""
    assert seen["pids"] == ["1"], seen  # PID 1 of its own namespace, alone
    assert seen["as"] == [limits.memory_bytes, limits.memory_bytes], seen
    assert seen["caught"] == [], seen
    assert seen["total"] == 5_000_000.0, seen
    assert seen["pts"] == ["ptmx"], seen
    assert seen["nice"] == "0", seen  # its session's autogroup: its own, at nice 0


async def innocent(sb: LocalSandbox) -> dict[str, Any]:
    result = await sb.run(INNOCENT)
    assert result.error is None, result
    lines = result.result.splitlines()
    assert len(lines) == 1, result.result  # nothing was written into its output
    seen: dict[str, Any] = json.loads(lines[0])
    assert_innocent(seen, sb.limits)
    return seen


async def innocents_everywhere(sb: LocalSandbox, attacked_uid: int) -> None:
    """Innocent calls, one at a time and concurrently, until every slot (the attacked one
    included) has had one."""
    slots = len(sb.call_uids or ())
    seen: set[int] = set()
    for _ in range(3):
        for _ in range(slots):
            seen.add((await innocent(sb))["uid"])
        batch = await asyncio.gather(*(innocent(sb) for _ in range(sb.max_concurrency)))
        seen.update(s["uid"] for s in batch)
        if attacked_uid in seen and len(seen) >= slots:
            return
    raise AssertionError(f"the attacked slot {attacked_uid} never came back: {sorted(seen)}")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sb() -> AsyncIterator[LocalSandbox]:
    async with open_sandbox(LIMITS, max_concurrency=2) as sandbox:
        await sandbox.run("pass")
        zygote = sandbox.info["zygote"] or {}
        # As root, every call has its own uid and PID namespace: not a reason to skip.
        assert zygote.get("pid_namespaces") and sandbox.call_uids is not None, zygote
        yield sandbox


# ------------------------------------------------------------------ 1. nothing outlives a call


@module_loop
@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_nothing_a_call_starts_outlives_it(sb: LocalSandbox, attack: str) -> None:
    token = "spy" + uuid.uuid4().hex[:12]
    result = await sb.run(attack_code(attack, token))
    assert result.error is None, result
    uid = int(result.result.split()[1])
    # The call is reported done only once its PID namespace is empty: nothing to wait for.
    assert host_processes_named(token) == []
    assert host_processes_of(sb.call_uids) == []
    await innocents_everywhere(sb, uid)
    assert sb.restarts == 0 and sb.retired_slots == 0


@module_loop
async def test_a_leftover_cannot_reach_a_concurrent_call(sb: LocalSandbox) -> None:
    """The spy of a running call (not yet over) and an innocent call at the same time."""
    token = "spy" + uuid.uuid4().hex[:12]
    code = attack_code("running_thread", token) + "import time\ntime.sleep(1.5)\n"
    attack = asyncio.create_task(sb.run(code))
    await asyncio.sleep(0.3)
    for seen in await asyncio.gather(innocent(sb), innocent(sb)):
        assert seen["uid"] not in (None, 0)
    assert (await attack).error is None
    assert host_processes_named(token) == []


@module_loop
async def test_a_call_cannot_make_its_own_pid_namespace_or_leave_it(sb: LocalSandbox) -> None:
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def err(rc):
    return ctypes.get_errno() if rc != 0 else 0
print(err(libc.unshare(0x20000000)))  # CLONE_NEWPID
fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
print(err(libc.setns(fd, 0x20000000)))
print(err(libc.unshare(0x00020000)))  # CLONE_NEWNS
"""
    result = await sb.run(code)
    assert result.result.split() == [str(errno.EPERM)] * 3, result


def test_attnrl_exec_leaves_nothing_behind() -> None:
    """The same attack through ``attnrl exec`` (its own sandbox, a real process)."""
    token = "spy" + uuid.uuid4().hex[:12]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    for attack in ("zombie_leader", "new_session_subprocess"):
        proc = subprocess.run(
            [sys.executable, "-m", "attnrl", "exec", "-"],
            input=attack_code(attack, token),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["error"] is None, proc.stdout
        assert host_processes_named(token) == []
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "exec", "-"],
        input=INNOCENT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    out = json.loads(proc.stdout)
    assert out["error"] is None, out
    assert_innocent(json.loads(out["result"]), SandboxLimits())


# ------------------------------------------------------------------ 2. slow exits


SLOW_EXIT = """
import multiprocessing as mp, os
def hold(q):
    a = np.ones(300 << 17)  # 300 MiB, touched
    q.put(float(a[::4096].sum()))
    import time
    time.sleep(60)
ctx = mp.get_context("fork")
q = ctx.Queue()
children = [ctx.Process(target=hold, args=(q,), daemon=True) for _ in range(2)]
for c in children:
    c.start()
print(sorted(q.get() for _ in children))
os._exit(0)  # the children still hold 600 MiB: the kernel frees it as it kills them
"""
SLOW_EXIT_OUT = "[9600.0, 9600.0]\n"


@module_loop
async def test_slow_exits_neither_retire_slots_nor_kill_the_pool(sb: LocalSandbox) -> None:
    server = sb.server_pid
    for _ in range(25):  # back to back
        result = await sb.run(SLOW_EXIT)
        assert (result.result, result.error) == (SLOW_EXIT_OUT, None), result
        # The call was reported once every process of it was gone (memory freed).
        assert host_processes_of(sb.call_uids) == []
    results = await asyncio.gather(*(sb.run(SLOW_EXIT) for _ in range(25)))  # concurrently
    assert [(r.result, r.error) for r in results] == [(SLOW_EXIT_OUT, None)] * 25
    assert host_processes_of(sb.call_uids) == []
    assert sb.server_pid == server and sb.restarts == 0 and sb.retired_slots == 0
    await innocents_everywhere(sb, sb.call_uids[0] if sb.call_uids else 0)


def _sleeper_in_the_jail(sb: LocalSandbox) -> tuple[subprocess.Popen[bytes], int]:
    """Host pid of a ``sleep`` started in the jail's PID namespace (where whatever is left
    of a call would be), by ``nsenter``."""
    if shutil.which("nsenter") is None:
        pytest.skip("nsenter is not installed")
    assert sb.server_pid is not None
    jail_init = children(sb.server_pid)[0]  # bubblewrap's PID 1 of the jail
    nsenter = subprocess.Popen(
        ["nsenter", "--target", str(jail_init), "--pid", "--", "sleep", "300"]
    )
    for _ in range(500):
        kids = children(nsenter.pid)
        if kids:
            return nsenter, kids[0]
        time.sleep(0.01)
    nsenter.kill()
    nsenter.wait()
    raise AssertionError("nsenter started nothing")


async def test_a_slot_is_retired_only_on_real_survival_and_replaced() -> None:
    """A process the sandbox did not start sits in one slot's memory cgroup (as something
    of an earlier call would): no call runs in that slot while it is there; the slot rests,
    is retired, and a spare uid of the block takes its place; no call fails meanwhile."""
    async with open_sandbox(LIMITS, max_concurrency=2, prefork=0) as own:
        await own.run("pass")
        cgroup = own.info["cgroup"]
        zygote = own.info["zygote"] or {}
        if not isinstance(cgroup, list) or not zygote.get("slot_cgroups") or not own.call_uids:
            pytest.skip(f"no per-slot cgroups here ({cgroup})")
        uids = own.call_uids
        slots = len(uids)
        victim = slots - 1  # a slot no call has used yet (slots are taken in order)
        nsenter, sleeper = _sleeper_in_the_jail(own)
        try:
            with open(os.path.join(cgroup[0], f"s{victim}", "cgroup.procs"), "w") as f:
                f.write(str(sleeper))
            used: list[int] = []
            for _ in range(200):  # the slot is retired after the zygote's REST_S
                result = await own.run("import os\nprint(os.getuid())")
                assert result.error is None, result
                used.append(int(result.result))
                if own.retired_slots:
                    break
                await asyncio.sleep(0.1)
            assert own.retired_slots == 1
            for _ in range(2 * slots):
                result = await own.run("import os\nprint(os.getuid())")
                used.append(int(result.result))
        finally:
            os.kill(sleeper, signal.SIGKILL)
            nsenter.wait()
        assert uids.start + victim not in used  # never handed out while occupied
        assert uids.start + slots in used  # the replacement: the next uid of the block
        assert own.restarts == 0


def test_the_harness_knows_the_zygotes_teardown_allowance() -> None:
    """``local.TEARDOWN_S`` mirrors the zygote's (which imports nothing of attnrl)."""
    tree = ast.parse(local.ZYGOTE_SOURCE.read_text())
    values = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert values["TEARDOWN_S"] == local.TEARDOWN_S


async def _stalled_call(
    own: LocalSandbox, monkeypatch: pytest.MonkeyPatch, resume_on_ping: bool
) -> tuple[Any, list[bool]]:
    """A call whose report the zygote cannot send in time (it is stopped, as a zygote whose
    call is slow to die is busy waiting), with the harness's allowances shrunk to a second;
    ``resume_on_ping``: the zygote is continued when the harness asks whether it serves."""
    monkeypatch.setattr(local, "TEARDOWN_S", 0.0)
    monkeypatch.setattr(local, "BACKSTOP_S", 1.0)
    zygote = zygote_pid(own)
    answers: list[bool] = []
    ask = own._answers

    async def answers_after_resuming(z: Any) -> bool:
        if resume_on_ping:
            os.kill(zygote, signal.SIGCONT)
        answers.append(await ask(z))
        return answers[-1]

    monkeypatch.setattr(own, "_answers", answers_after_resuming)
    call = asyncio.create_task(own.run("import time\ntime.sleep(30)"))
    await asyncio.sleep(0.3)
    os.kill(zygote, signal.SIGSTOP)
    try:
        result = await call
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(zygote, signal.SIGCONT)
    return result, answers


async def test_a_zygote_that_still_serves_is_asked_not_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past a call's limit and the teardown allowance the harness pings the zygote: one that
    answers keeps serving and reports the call at its wall-clock limit; no call in flight is
    lost (a call whose processes are slow to die made every call fail before)."""
    async with open_sandbox(SandboxLimits(timeout_s=1.0, cpu_s=5), max_concurrency=2) as own:
        await own.run("pass")
        server = own.server_pid
        result, answers = await _stalled_call(own, monkeypatch, resume_on_ping=True)
        assert answers and all(answers), answers
        assert result.error is not None and result.error.startswith("TimeoutError:"), result
        assert own.restarts == 0 and own.server_pid == server
        assert (await own.run("print(1)")).result == "1\n"


async def test_a_zygote_that_does_not_answer_is_lost_and_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with open_sandbox(SandboxLimits(timeout_s=1.0, cpu_s=5), max_concurrency=2) as own:
        await own.run("pass")
        result, answers = await _stalled_call(own, monkeypatch, resume_on_ping=False)
        assert answers == [False]
        assert result.error is not None and "stopped answering" in result.error, result
        assert (await own.run("print(1)")).result == "1\n"
        assert own.restarts == 1


# ------------------------------------------------------------------ 3. per-call memory


async def test_one_calls_memory_never_gets_a_neighbour_killed() -> None:
    """Five processes of 250 MiB in one call, 300 MiB in a concurrent innocent one. The
    jail's budget (2 calls x 512 MiB + 256 MiB) fits both calls at their limit, but not
    what the greedy call asks for: its own cgroup stops it, and only it."""
    limits = SandboxLimits(timeout_s=60.0, cpu_s=60, memory_bytes=512 * MiB, max_processes=16)
    async with open_sandbox(limits, max_concurrency=2) as own:
        await own.run("pass")
        zygote = own.info["zygote"] or {}
        if not zygote.get("slot_cgroups"):
            pytest.skip(f"no per-slot cgroups here ({own.info['cgroup']})")
        greedy = memory_hog_code(250, linger_s=3)
        modest = """
import time
block = bytearray(300 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(2)
print("kept", len(block) >> 20)
"""
        for _ in range(2):
            hungry, innocent_result = await asyncio.gather(own.run(greedy), own.run(modest))
            assert (innocent_result.result, innocent_result.error) == ("kept 300\n", None)
            # The OOM killer took the greedy call's main process (a MemoryError of that
            # call) or one of its children (SIGKILL: -9 in what it printed).
            if hungry.error is not None:
                assert hungry.error.startswith("MemoryError: out of memory: the kernel's OOM")
                assert "512 MiB" in hungry.error
            else:
                assert hungry.result.startswith("[-9"), hungry.result
        after = await own.run("print(6 * 7)")
        assert (after.result, after.error) == ("42\n", None)
        assert own.restarts == 0


# ------------------------------------------------------------------ 4. channels


@module_loop
async def test_socket_families_outside_the_allow_list_cannot_be_created(sb: LocalSandbox) -> None:
    """Sockets are only created, never connected: AF_VSOCK (not network-namespaced: the
    host's vsock) and the rest are refused by the call's seccomp filter itself."""
    code = """
import socket
def make(family, kind, proto=0):
    try:
        socket.socket(family, kind, proto).close()
        return 0
    except OSError as exc:
        return exc.errno
def pair(family):
    try:
        a, b = socket.socketpair(family, socket.SOCK_STREAM)
        a.close(); b.close()
        return 0
    except OSError as exc:
        return exc.errno
print(json.dumps({
    "vsock": make(40, socket.SOCK_STREAM),
    "vsock_dgram": make(40, socket.SOCK_DGRAM),
    "vsock_pair": pair(40),
    "packet": make(17, socket.SOCK_RAW),
    "bluetooth": make(31, socket.SOCK_STREAM),
    "alg": make(38, socket.SOCK_SEQPACKET),
    "netlink_uevent": make(16, socket.SOCK_DGRAM, 15),
    "netlink_audit": make(16, socket.SOCK_DGRAM, 9),
    "unix": make(1, socket.SOCK_STREAM),
    "unix_pair": pair(1),
    "inet": make(2, socket.SOCK_STREAM),
    "inet6": make(10, socket.SOCK_DGRAM),
    "netlink_route": make(16, socket.SOCK_DGRAM, 0),
}))
"""
    result = await sb.run("import json\n" + code)
    assert result.error is None, result
    got = json.loads(result.result)
    refused = ("vsock", "vsock_dgram", "vsock_pair", "packet", "bluetooth", "alg")
    refused += ("netlink_uevent", "netlink_audit")
    assert {k: got[k] for k in refused} == dict.fromkeys(refused, errno.EAFNOSUPPORT), got
    allowed = ("unix", "unix_pair", "inet", "inet6", "netlink_route")
    assert {k: got[k] for k in allowed} == dict.fromkeys(allowed, 0), got


@module_loop
async def test_each_call_has_its_own_pseudo_terminals(sb: LocalSandbox) -> None:
    holder = """
import os, time
master, slave = os.openpty()
print(os.ttyname(slave), sorted(os.listdir("/dev/pts")), flush=True)
time.sleep(1.5)
"""
    held = asyncio.create_task(sb.run(holder))
    await asyncio.sleep(0.4)
    lister = await sb.run("import os\nprint(sorted(os.listdir('/dev/pts')))")
    result = await held
    assert result.error is None, result
    assert result.result.split(" ", 1)[0] == "/dev/pts/0"  # numbered from 0: its own
    assert (lister.result, lister.error) == ("['ptmx']\n", None)


@module_loop
async def test_inotify_fanotify_and_flock_are_refused(sb: LocalSandbox) -> None:
    """The channels through the shared read-only files: watch a file another call opens,
    or lock one another call tests."""
    code = """
import ctypes, fcntl, os
libc = ctypes.CDLL(None, use_errno=True)
out = []
for name, call in (("inotify_init1", lambda: libc.inotify_init1(0)),
                   ("fanotify_init", lambda: libc.fanotify_init(0, 0))):
    rc = call()
    out.append((name, rc, ctypes.get_errno() if rc < 0 else 0))
fd = os.open(os.__file__, os.O_RDONLY)
try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    out.append(("flock", 0, 0))
except OSError as exc:
    out.append(("flock", -1, exc.errno))
print(out)
"""
    result = await sb.run(code)
    assert result.error is None, result
    eperm = errno.EPERM
    assert result.result == (
        f"[('inotify_init1', -1, {eperm}), ('fanotify_init', -1, {eperm}), "
        f"('flock', -1, {eperm})]\n"
    )


@module_loop
async def test_leases_and_dnotify_are_refused(sb: LocalSandbox) -> None:
    """dnotify reports another call's reads in a shared directory, as inotify would: refused,
    with leases; ``fcntl``'s other commands work, record locks included (in the call's own
    directory, SQLite needs them; see the docs' "Not contained")."""
    code = """
import fcntl, os
fd = os.open(os.__file__, os.O_RDONLY)
folder = os.open(os.path.dirname(os.__file__), os.O_RDONLY)
here = os.open(".", os.O_RDONLY)
out = []
for name, call in (
    ("F_SETLEASE", lambda: fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)),
    ("F_NOTIFY", lambda: fcntl.fcntl(folder, fcntl.F_NOTIFY, fcntl.DN_ACCESS | fcntl.DN_MULTISHOT)),
    ("F_NOTIFY_here", lambda: fcntl.fcntl(here, fcntl.F_NOTIFY, fcntl.DN_CREATE)),
):
    try:
        call()
        out.append((name, 0))
    except OSError as exc:
        out.append((name, exc.errno))
out.append(("F_GETFL", fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY))
out.append(("F_SETFD", fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)))
own = os.open("db", os.O_RDWR | os.O_CREAT)
out.append(("lockf", fcntl.lockf(own, fcntl.LOCK_EX | fcntl.LOCK_NB)))
print(out)
"""
    result = await sb.run(code)
    assert result.error is None, result
    refused = [(name, errno.EPERM) for name in ("F_SETLEASE", "F_NOTIFY", "F_NOTIFY_here")]
    working = [("F_GETFL", True), ("F_SETFD", 0), ("lockf", None)]
    assert result.result == repr([*refused, *working]) + "\n"


@module_loop
async def test_page_cache_probes_are_refused(sb: LocalSandbox) -> None:
    """Dropping a shared file's pages from the page cache, and reading only cached ones
    (``RWF_NOWAIT``): a message to a later call, one page per bit."""
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(os.__file__, os.O_RDONLY)
out = []
for name, call in (
    ("fadvise", lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)),
    ("fadvise_willneed", lambda: os.posix_fadvise(fd, 0, 4096, os.POSIX_FADV_WILLNEED)),
    ("preadv2", lambda: os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT)),
    ("preadv2_plain", lambda: os.preadv(fd, [bytearray(4096)], 0, os.RWF_HIPRI)),
):
    try:
        call()
        out.append((name, 0))
    except OSError as exc:
        out.append((name, exc.errno))
rc = libc.readahead(fd, ctypes.c_long(0), ctypes.c_size_t(4096))
out.append(("readahead", ctypes.get_errno() if rc < 0 else 0))
out.append(("pread", len(os.pread(fd, 16, 0))))
print(out)
"""
    result = await sb.run(code)
    assert result.error is None, result
    refused = ["fadvise", "fadvise_willneed", "preadv2", "preadv2_plain", "readahead"]
    assert result.result == repr([*((n, errno.EPERM) for n in refused), ("pread", 16)]) + "\n"


PRIORITY = r"""
import os, subprocess, sys
out = []
for name, call in (
    ("nice", lambda: os.nice(5)),
    ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 19)),
    ("sched_idle", lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))),
    ("sched_batch", lambda: os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))),
    ("sched_setparam", lambda: os.sched_setparam(0, os.sched_param(0))),
):
    try:
        call()
        out.append((name, 0))
    except OSError as exc:
        out.append((name, exc.errno))
# A program the call starts is dumpable again, so it owns /proc/self/autogroup: it may set
# its session's nice value (the kernel allows one such write per 100 ms: EAGAIN otherwise).
SET_NICE = '''
import os
path = "/proc/self/autogroup"
if not os.path.exists(path):
    print("none none")
else:
    before = open(path).read().split()[-1]
    try:
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, b"19")
        os.close(fd)
        done = "set"
    except OSError as exc:
        done = str(exc.errno)
    print(before, done)
'''
child = subprocess.run([sys.executable, "-c", SET_NICE], capture_output=True, text=True)
out.append(("autogroup", child.stdout.split()))
out.append(("own_session", os.getsid(0) == os.getpid()))
out.append(("priority", os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)))
print(out)
"""


@module_loop
async def test_a_call_can_neither_lower_its_priority_nor_leave_a_nice_value(
    sb: LocalSandbox,
) -> None:
    """Lowering its own priority would starve its teardown when the limits end it; a nice
    value set on a shared session's autogroup would reach every later call. Each call has
    its own session; a later call, in every slot, finds nice 0 and the normal policy."""
    for _ in range(2 * len(sb.call_uids or range(2))):
        result = await sb.run(PRIORITY)
        assert result.error is None, result
        out = ast.literal_eval(result.result)
        refused = ["nice", "setpriority", "sched_idle", "sched_batch", "sched_setparam"]
        assert out[:5] == [(name, errno.EPERM) for name in refused], out
        # Its session's nice value is 0 when it starts (the kernel's autogroup, if any),
        # though earlier calls set theirs to 19.
        assert out[5][1] in (["0", "set"], ["0", str(errno.EAGAIN)], ["none", "none"]), out
        assert out[6:] == [("own_session", True), ("priority", 0, os.SCHED_OTHER)], out
    seen = await asyncio.gather(*(sb.run(PRIORITY) for _ in range(sb.max_concurrency)))
    assert all(r.error is None for r in seen), seen
