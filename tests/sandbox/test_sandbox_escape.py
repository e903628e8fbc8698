"""Issue 10: nothing a call does survives it, and nothing of it reaches another call.

Each attack runs through the public sandbox API; then innocent calls, in the attack's slot
and in every other slot, must succeed and see nothing of it (files, IPC objects, sockets,
memory or disk it took). Run in the bubblewrap jail and in the fallback (plain process)
mode. The status-forgery and limit classes are here too; the planted-copy and stale
directory checks are at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from proc_tree import zygote_pid

from attnrl.sandbox import LocalSandbox, open_sandbox
from attnrl.sandbox.base import safe_text
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.runtime import remove_stale_runtime_dirs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="per-call namespaces need root")

KEY = 0x0A77
"""The SysV IPC key the attacks plant objects under (and the probes look for)."""
LIMITS = SandboxLimits(
    timeout_s=8.0, cpu_s=8, memory_bytes=1 << 30, max_file_bytes=16 << 20, disk_bytes=48 << 20
)
module_loop = pytest.mark.asyncio(loop_scope="module")

LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"

TCP_PROBE = """
t = socket.socket()
t.settimeout(0.5)
try:
    t.connect(("127.0.0.1", 47474))
    seen["tcp"] = "connected"
except OSError as e:
    seen["tcp"] = e.errno
"""
"""Whether a loopback listener of another call answers (each call's loopback is down)."""

PROBE = (
    LIBC
    + f"KEY = {KEY}\n"
    + r"""
import json, socket
seen = {}
cwd = os.getcwd()
seen["slot"] = os.path.basename(os.path.dirname(cwd))
seen["cwd"] = os.listdir(".")
seen["slot_dir"] = sorted(os.listdir(".."))
seen["dev_shm"] = os.listdir("/dev/shm")
seen["sysv"] = [
    line
    for k in ("shm", "msg", "sem")
    for line in open(f"/proc/sysvipc/{k}").read().splitlines()[1:]
]
seen["shmget"] = libc.shmget(KEY, 0, 0)
seen["msgget"] = libc.msgget(KEY, 0)
seen["semget"] = libc.semget(KEY, 0, 0)
seen["mq"] = libc.mq_open(b"/attnrl-plant", os.O_RDONLY)
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    u.connect("\0attnrl-plant")
    seen["abstract"] = "connected"
except OSError as e:
    seen["abstract"] = e.errno
"""
    + TCP_PROBE
    + r"""seen["alloc"] = float(np.ones(20_000_000).sum())
with open("big", "wb") as f:
    f.write(b"x" * (16 << 20))
seen["write"] = os.path.getsize("big")
print(json.dumps(seen))
"""
)


def assert_clean(seen: dict[str, Any]) -> None:
    """What an innocent call must see: an empty, private working space and no trace of
    any other call."""
    assert seen["cwd"] == [], seen
    assert len(seen["slot_dir"]) == 1 and seen["slot_dir"][0].startswith("call-"), seen
    assert seen["dev_shm"] == [], seen
    assert seen["sysv"] == [], seen
    assert seen["shmget"] == seen["msgget"] == seen["semget"] == seen["mq"] == -1, seen
    assert seen["abstract"] != "connected" and seen["tcp"] != "connected", seen
    assert seen["alloc"] == 20_000_000.0 and seen["write"] == 16 << 20, seen


async def probe(sb: LocalSandbox) -> dict[str, Any]:
    result = await sb.run(PROBE)
    assert result.error is None, result.error
    seen: dict[str, Any] = json.loads(result.result)
    assert_clean(seen)
    return seen


async def probe_every_slot(sb: LocalSandbox, attacked: str) -> None:
    """Innocent calls until every slot (the attacked one included) has had one, some of
    them concurrently."""
    slots = sb.max_concurrency + 4 + 2
    seen: set[str] = set()
    for _ in range(3):
        for _ in range(slots):
            seen.add((await probe(sb))["slot"])
        for s in await asyncio.gather(*(probe(sb) for _ in range(sb.max_concurrency))):
            seen.add(s["slot"])
        if attacked in seen and len(seen) >= slots:
            return
    assert attacked in seen and len(seen) >= sb.max_concurrency, (attacked, seen)


def slot_of(result_text: str) -> str:
    line = [x for x in result_text.splitlines() if x.startswith("SLOT ")][-1]
    return line.split()[1]


SLOT = "print('SLOT', os.path.basename(os.path.dirname(os.getcwd())))\n"


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=["bwrap", "process"])
async def sb(request: pytest.FixtureRequest) -> AsyncIterator[LocalSandbox]:
    bwrap = "bwrap" if request.param == "bwrap" else None
    async with open_sandbox(LIMITS, max_concurrency=3, bwrap=bwrap) as sandbox:
        await sandbox.run("pass")
        if request.param == "bwrap" and not sandbox.isolation.startswith("bwrap"):
            pytest.skip(f"bubblewrap unusable here: {sandbox.isolation}")
        assert sandbox.info["zygote"]["call_namespaces"], sandbox.info
        yield sandbox


def host_sysv_keys() -> set[int]:
    keys: set[int] = set()
    for kind in ("shm", "msg", "sem"):
        with open(f"/proc/sysvipc/{kind}") as f:
            for line in f.read().splitlines()[1:]:
                keys.add(int(line.split()[0]))
    return keys


# ----------------------------------------------------------------- 1. the working space

DEEP_TREE = (
    "import os\n"
    "for i in range(3000):\n"
    "    os.mkdir('d')\n"
    "    os.chdir('d')\n"
    "for i in range(2):\n"
    "    open(f'plant{i}', 'wb').write(b'p' * (8 << 20))\n"
    "for i in range(3000):\n"  # lock every directory on the way up
    "    os.chdir('..')\n"
    "    os.chmod('d', 0)\n"
)
ODD_TREE = (
    "import os\n"
    "os.mkdir(b'\\xff\\n odd')\n"
    "for i in range(5000):\n"
    "    open(os.path.join(b'\\xff\\n odd', b'%d\\x01' % i), 'wb').close()\n"
    "os.symlink('/etc', 'link')\n"
    "os.mkfifo('fifo')\n"
    "os.mkdir('locked')\n"
    "open('locked/f', 'w').write('x')\n"
    "os.chmod('locked', 0)\n"
    "os.chmod('.', 0o500)\n"
)
FILL_DISK = (
    "import os, errno\n"
    "total = 0\n"
    "try:\n"
    "    for i in range(64):\n"
    "        with open(f'fill{i}', 'wb') as f:\n"
    "            f.write(b'f' * (16 << 20))\n"
    "        total += 16 << 20\n"
    "except OSError as e:\n"
    "    print('ERRNO', e.errno)\n"
    "print('TOTAL', total)\n"
)


@module_loop
@pytest.mark.parametrize("attack", [DEEP_TREE, ODD_TREE], ids=["deep", "odd"])
async def test_a_tree_of_any_shape_is_discarded_whole(sb: LocalSandbox, attack: str) -> None:
    result = await sb.run(attack + SLOT)
    assert result.error is None, result.error
    await probe_every_slot(sb, slot_of(result.result))


@module_loop
async def test_each_call_has_its_own_disk_quota(sb: LocalSandbox) -> None:
    # Two calls fill their disk at once; a third, concurrent, still writes 16 MiB.
    fills = [sb.run(FILL_DISK + "import time; time.sleep(1)\n" + SLOT) for _ in range(2)]
    results = await asyncio.gather(*fills, probe(sb))
    for result in results[:-1]:
        assert isinstance(result, type(results[0]))
        text = result.result  # type: ignore[union-attr]
        assert "ERRNO 28" in text, text  # ENOSPC at the call's own quota
        total = int(text.split("TOTAL ")[1].split()[0])
        assert total <= LIMITS.disk_bytes
    await probe_every_slot(sb, slot_of(results[0].result))  # type: ignore[union-attr]


@module_loop
async def test_a_calls_mounts_stay_in_its_own_namespace(sb: LocalSandbox) -> None:
    # Each call mounts tmpfs on its slot and /dev/shm, devpts and /proc in its own mount
    # namespace; none of it reaches the zygote's (each call makes its copies private).
    zygote = zygote_pid(sb)
    before = Path(f"/proc/{zygote}/mountinfo").read_text()
    code = "import os\n" + SLOT + "open('f', 'w').write('x')\n"
    show = sb.run(code + "print(open('/proc/self/mountinfo').read())")
    results = await asyncio.gather(show, *(sb.run(code) for _ in range(5)))
    assert all(r.error is None for r in results), results
    assert " /dev/shm " in results[0].result  # the call did mount its own
    assert Path(f"/proc/{zygote}/mountinfo").read_text() == before


SHARED_ROOT_PROBE = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from proc_tree import zygote_pid
from test_sandbox_escape import LIMITS, SLOT
from attnrl.sandbox import open_sandbox

async def main():
    async with open_sandbox(LIMITS, max_concurrency=3, bwrap=None) as sb:
        await sb.run("pass")
        zygote = zygote_pid(sb)
        before = Path(f"/proc/{zygote}/mountinfo").read_text()
        shared = sum(" shared:" in line.split(" - ")[0] for line in before.splitlines())
        code = "import os\\n" + SLOT + "open('f', 'w').write('x')\\n"
        results = await asyncio.gather(*(sb.run(code) for _ in range(6)))
        assert all(r.error is None for r in results), results
        print(shared, Path(f"/proc/{zygote}/mountinfo").read_text() == before)

asyncio.run(main())
"""


def test_with_shared_mounts_a_calls_mounts_still_stay_in_its_namespace() -> None:
    # The zygote (no bubblewrap) in a mount namespace whose mounts are all shared, as under
    # systemd: each call must make its copies private before mounting anything.
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and util-linux's unshare")
    argv = [unshare, "-m", "--propagation", "shared", sys.executable, "-c", SHARED_ROOT_PROBE]
    done = subprocess.run(
        [*argv, str(Path(__file__).parent)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shared, unchanged = done.stdout.split()
    assert int(shared) > 0 and unchanged == "True", done.stdout


# ----------------------------------------------------------------------------- 2. IPC

IPC_PLANT = (
    LIBC
    + f"KEY = {KEY}\n"
    + """
libc.shmat.restype = ctypes.c_void_p
size = 256 << 20
sid = libc.shmget(KEY, size, 0o1666)
assert sid >= 0, ctypes.get_errno()
addr = libc.shmat(sid, None, 0)
ctypes.memset(addr, 0x41, 64 << 20)
assert libc.shmdt(ctypes.c_void_p(addr)) == 0
assert libc.msgget(KEY, 0o1666) >= 0
assert libc.semget(KEY, 1, 0o1666) >= 0
assert libc.mq_open(b"/attnrl-plant", os.O_CREAT | os.O_RDWR, ctypes.c_int(0o666), None) >= 0
open("/dev/shm/plant", "w").write("x")
print(open("/proc/sysvipc/shm").read().count("\\n") - 1, "segments")
"""
)


@module_loop
async def test_ipc_objects_die_with_the_call(sb: LocalSandbox) -> None:
    before = host_sysv_keys()
    for _ in range(3):  # would leak 768 MiB of shared memory without the namespace
        result = await sb.run(IPC_PLANT + SLOT)
        assert result.error is None, result.error
        assert result.result.startswith("1 segments"), result.result
        assert KEY not in host_sysv_keys() - before  # not in the host's namespace either
    await probe_every_slot(sb, slot_of(result.result))


HOLD = (
    IPC_PLANT
    + """
import socket, time
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.bind("\\0attnrl-plant")
u.listen(8)
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 47474))
t.listen(8)
open("here", "w").write("x")
print("HOLDING", flush=True)
time.sleep(3)
"""
)


@module_loop
async def test_concurrent_calls_have_no_channel_between_them(sb: LocalSandbox) -> None:
    holder = asyncio.ensure_future(sb.run(HOLD))
    await asyncio.sleep(1.0)  # the holder has its objects and listeners
    for _ in range(2):
        await asyncio.gather(*(probe(sb) for _ in range(sb.max_concurrency - 1)))
    result = await holder
    assert result.error is None and "HOLDING" in result.result, result


IN_FLIGHT = """
import array, os, socket
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.bind("\\0attnrl-plant")
u.listen(8)
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
d.bind("\\0attnrl-plant-dgram")
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 47474))
t.listen(8)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
fds = array.array("i", [u.fileno(), d.fileno(), t.fileno(), b.fileno()])
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
print("IN FLIGHT")
"""
"""A call whose listeners outlive its processes: each is in flight on a socket that is
itself in flight, a cycle only the kernel's UNIX-socket collector frees, some time after
the call is gone. Until then the names stay bound and accept connections (checked on
this host: a plain process doing this leaves its abstract name connectable after it
exits), so only a fresh network namespace per call keeps them from the next call. The
names are the ones :data:`PROBE` looks for."""

NAMES_FREE = (
    """
import json, os, socket
seen = {}
for name, kind in (("\\0attnrl-plant", 1), ("\\0attnrl-plant-dgram", 2)):
    c = socket.socket(socket.AF_UNIX, kind)  # SOCK_STREAM, SOCK_DGRAM
    try:
        c.connect(name)
        seen[name[1:] + " connect"] = "connected"
    except OSError as e:
        seen[name[1:] + " connect"] = e.errno
    s = socket.socket(socket.AF_UNIX, kind)
    try:
        s.bind(name)
        seen[name[1:] + " bind"] = "free"
    except OSError as e:
        seen[name[1:] + " bind"] = e.errno
"""
    + TCP_PROBE
    + "print(json.dumps(seen))\n"
)


@module_loop
async def test_a_listener_kept_in_flight_does_not_reach_the_next_call(sb: LocalSandbox) -> None:
    for _ in range(2):
        attack = await sb.run(IN_FLIGHT + SLOT)
        assert attack.error is None and "IN FLIGHT" in attack.result, attack
        attacked = slot_of(attack.result)
        seen_slots: set[str] = set()
        for _ in range(2 * sb.max_concurrency + 6):  # at once, before any collector runs
            result = await sb.run(NAMES_FREE + SLOT)
            assert result.error is None, result.error
            seen = json.loads(result.result.splitlines()[0])
            assert "connected" not in seen.values(), seen
            assert all(v == "free" for k, v in seen.items() if k.endswith(" bind")), seen
            seen_slots.add(slot_of(result.result))
        assert attacked in seen_slots, (attacked, seen_slots)
    await probe_every_slot(sb, attacked)


LOCKS_IN_FLIGHT = """
import errno, fcntl, os, socket, struct
shared = os.open("/etc/passwd", os.O_RDONLY)  # a file every call can open
out = []
for name, cmd, start in (("F_OFD_SETLK", 37, 4242), ("F_OFD_SETLKW", 38, 4343),
                         ("F_SETLK", fcntl.F_SETLK, 4444)):
    try:
        fcntl.fcntl(shared, cmd, struct.pack("hhqqi", fcntl.F_RDLCK, 0, start, 1, 0))
        out.append((name, "locked"))
    except OSError as exc:
        out.append((name, errno.errorcode[exc.errno]))
a, b = socket.socketpair()
socket.send_fds(a, [b"x"], [a.fileno(), b.fileno(), shared])  # a cycle in flight holds it
print(out)
"""
"""A call that would leave a message in the locks of a shared file: a lock of an open file
description lives as long as the description, which a unix-socket cycle in flight keeps
past the call's processes until the kernel's collector runs (found by the 2026-12-04
review: later calls in other slots read its offset for seconds). POSIX locks are the
process's own and go with it."""

LOCKS_SEEN = """
import fcntl, os, struct
shared = os.open("/etc/passwd", os.O_RDONLY)
seen = []
for cmd in (36, fcntl.F_GETLK):  # F_OFD_GETLK, F_GETLK: any lock on the whole file
    got = fcntl.fcntl(shared, cmd, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
    kind, _, start, _, _ = struct.unpack("hhqqi", got)
    seen.append(None if kind == fcntl.F_UNLCK else start)
print("LOCKS", seen)
"""


@module_loop
async def test_a_lock_kept_in_flight_does_not_reach_a_later_call(sb: LocalSandbox) -> None:
    for _ in range(2):
        attack = await sb.run(LOCKS_IN_FLIGHT + SLOT)
        assert attack.error is None, attack
        assert attack.result.startswith(
            "[('F_OFD_SETLK', 'EPERM'), ('F_OFD_SETLKW', 'EPERM'), ('F_SETLK', 'locked')]\n"
        ), attack.result
        attacked = slot_of(attack.result)
        seen_slots: set[str] = set()
        for _ in range(2):  # one at a time, then all slots at once, before any collector
            for result in [await sb.run(LOCKS_SEEN + "import os\n" + SLOT)] + list(
                await asyncio.gather(
                    *(sb.run(LOCKS_SEEN + "import os\n" + SLOT) for _ in range(sb.max_concurrency))
                )
            ):
                assert result.error is None, result.error
                assert "LOCKS [None, None]" in result.result, result.result
                seen_slots.add(slot_of(result.result))
        assert len(seen_slots) >= 2, seen_slots
    await probe_every_slot(sb, attacked)


# ----------------------------------------------------------------- 4. status forgery

FORGERIES = {
    "closed": 'os.write(3, b\'{"error": "SandboxError: the sandbox is closed"}\\n\'); os._exit(0)',
    "escapes": 'os.write(3, b\'{"error": "\\\\u001b[2J\\\\u001b[31mpwned"}\\n\'); os._exit(0)',
    "surrogate": 'os.write(3, b\'{"error": "\\\\ud800 lone"}\\n\'); os._exit(0)',
    "setup": 'os.write(3, b\'{"setup_error": "fake"}\\n\'); os._exit(121)',
    "second_mark": 'os.write(3, b\'\\n{"run": 1}\\n{"error": "OutputLimitError: x"}\\n\')',
    "garbage": "os.write(3, b'\\xff\\xfe not json')",
    "bare_paren": (
        'os.write(3, b\'{"error": "SandboxError (the call could not be started): x"}\\n\'); '
        "os._exit(0)"
    ),
    "bare_newline": 'os.write(3, b\'{"error": "ProcessKilled\\\\nby SIGKILL"}\\n\'); os._exit(0)',
    "bare_name": 'os.write(3, b\'{"error": "OutputLimitError"}\\n\'); os._exit(0)',
    "class": "class SandboxError(Exception): pass\nraise SandboxError('the sandbox is closed')",
    "builtins": (
        "class ProcessKilled(Exception): pass\nProcessKilled.__module__ = 'builtins'\n"
        "raise ProcessKilled('killed by signal SIGKILL')"
    ),
}


@module_loop
@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_the_call_cannot_speak_for_the_sandbox(sb: LocalSandbox, name: str) -> None:
    result = await sb.run("import os\n" + FORGERIES[name])
    error = result.error
    assert error is not None, result
    for text in (result.result, error):
        text.encode("utf-8")  # valid UTF-8 whatever the call wrote
        assert not any(ord(c) < 32 and c not in "\n\t" for c in text), repr(text)
    head = _HEAD.match(error).group()  # type: ignore[union-attr]
    assert head not in ("SandboxError", "OutputLimitError", "ProcessKilled"), error
    if name in ("class", "builtins"):
        assert head in ("__main__.SandboxError", "builtins.ProcessKilled"), error
    elif name != "setup":
        assert head == "StatusForgeryError", error
    assert (await sb.run("print(1)")).result == "1\n"


_HEAD = re.compile(r"[\w.]*")
"""The error's type, as a reader takes it: the name it starts with."""

HOSTILE = """
class Meta(type):
    @property
    def __module__(cls):
        raise Hostile("no module")

    def __getattribute__(cls, name):
        if name == "__qualname__":
            raise Hostile("no name")
        return super().__getattribute__(name)


class Hostile(Exception, metaclass=Meta):
    def __str__(self):
        raise Hostile("no text")
"""
UNCAUGHT = {
    "plain": "raise Hostile()",
    "from_memory_error": "try:\n    raise MemoryError\nexcept MemoryError:\n    raise Hostile()",
    "in_a_thread_exit": "import threading\nthreading.Thread(target=lambda: 1).start()\n"
    "raise Hostile()",
    "exit_equal_to_zero": (
        "class Zero:\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = object.__hash__\n"
        "    def __format__(self, spec):\n        raise Hostile()\n"
        "raise SystemExit(Zero())"
    ),
}


@module_loop
@pytest.mark.parametrize("name", sorted(UNCAUGHT))
async def test_an_uncaught_exception_is_never_success(sb: LocalSandbox, name: str) -> None:
    """An exception whose class, metaclass or text raise while it is reported (or an exit
    code that only claims to equal 0) is still reported as the call's error."""
    result = await sb.run(HOSTILE + UNCAUGHT[name])
    assert result.error is not None, result
    head = _HEAD.match(result.error).group()  # type: ignore[union-attr]
    assert head not in ("SandboxError", "OutputLimitError", "ProcessKilled", ""), result.error
    assert (await sb.run("print(1)")).result == "1\n"


def test_safe_text_escapes_controls_and_lone_surrogates() -> None:
    assert safe_text("a\x1b[31m\r\x00\x9b\ud800\n\tb") == "a\\x1b[31m\\x0d\\x00\\x9b\\ud800\n\tb"
    assert safe_text("ok é 漢 🙂\n") == "ok é 漢 🙂\n"


# ----------------------------------------------------------------------- 5. bad limits

BAD = [float("inf"), float("nan"), 1e9, -1.0, 0.0, True, "10"]


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_limits_are_checked_where_they_enter(value: object) -> None:
    with pytest.raises(ValueError, match=r"SandboxLimits\.timeout_s must be"):
        SandboxLimits(timeout_s=value)  # type: ignore[arg-type]
    for name in ("cpu_s", "memory_bytes", "max_processes", "max_file_bytes", "disk_bytes"):
        with pytest.raises(ValueError, match=rf"SandboxLimits\.{name} must be"):
            SandboxLimits(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1e9", "inf", "nan", "-3", "0", "ten"])
def test_exec_timeout_flag_is_validated(text: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "exec", "--timeout", text, "-"],
        input="print(1)",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--timeout" in lines[0] and "Traceback" not in proc.stderr
    assert proc.stdout == ""


@module_loop
async def test_the_zygote_refuses_bad_limits_without_looping(sb: LocalSandbox) -> None:
    # Bypass the dataclass's own check, as a buggy caller of the protocol would.
    restarts = sb.restarts
    good = sb.limits
    bad = SandboxLimits()
    object.__setattr__(bad, "timeout_s", float("inf"))
    sb.limits = bad
    try:
        result = await asyncio.wait_for(sb.run("print(1)"), 10)
    finally:
        sb.limits = good
    assert result.error is not None and "timeout_s is out of range" in result.error
    assert (await sb.run("print(2)")).result == "2\n"
    assert sb.restarts == restarts


# ------------------------------------------------- 3. no other copy of the grader is reachable

SRC = Path(__file__).resolve().parents[2] / "src" / "attnrl"


def _numpy_dir() -> str:
    import numpy

    return str(Path(numpy.__file__).parent)


async def test_a_copy_of_the_package_elsewhere_on_the_host_is_invisible() -> None:
    planted: list[Path] = []
    tag = uuid.uuid4().hex[:8]
    try:
        for parent in ("/srv", "/opt", "/var/tmp", "/mnt"):
            if not os.access(parent, os.W_OK):
                continue
            copy = Path(parent) / f"attnrl-planted-{tag}"
            shutil.copytree(SRC, copy / "src" / "attnrl")
            planted.append(copy)
        assert planted, "no writable host directory to plant a copy in"
        async with open_sandbox(LIMITS, max_concurrency=1) as sb:
            await sb.run("pass")
            if not sb.isolation.startswith("bwrap"):
                pytest.skip(f"no mount namespace without bwrap ({sb.isolation})")
            others = [str(p) for p in (*planted, Path("/work/main/src"), SRC.parent) if p.exists()]
            code = (
                "import os, sys, json\n"
                f"paths = {[str(p) for p in planted] + others!r}\n"
                "seen = {p: os.path.exists(p) for p in paths}\n"
                "for p in paths:\n"
                "    sys.path.insert(0, os.path.join(p, 'src'))\n"
                "    sys.path.insert(0, p)\n"
                "try:\n"
                "    import attnrl\n"
                "    seen['import'] = attnrl.__file__\n"
                "except ImportError as e:\n"
                "    seen['import'] = type(e).__name__\n"
                "import subprocess, multiprocessing, sqlite3, decimal, zoneinfo\n"
                "seen['zone'] = str(zoneinfo.ZoneInfo('Europe/Paris'))\n"
                "ls = subprocess.run(['ls', '/'], capture_output=True, text=True)\n"
                "seen['ls'] = ls.stdout.split()\n"
                "print(json.dumps(seen))\n"
            )
            result = await sb.run(code)
            assert result.error is None, result.error
            seen = json.loads(result.result)
            assert seen.pop("import") == "ModuleNotFoundError", seen
            assert seen.pop("zone") == "Europe/Paris"
            listing = seen.pop("ls")
            # A top-level directory shows only where the interpreter or numpy must be bound
            # (a clone under /work keeps its venv there): never one of those otherwise.
            needed = {Path(p).parts[1] for p in (sys.prefix, sys.base_prefix, _numpy_dir())}
            for top in {"srv", "opt", "work", "mnt"} - needed:
                assert top not in listing, (top, listing)
            assert not any(seen.values()), seen
    finally:
        for copy in planted:
            shutil.rmtree(copy, ignore_errors=True)


# ---------------------------------------------------------------------------- 6. leftovers


def test_runtime_dirs_of_dead_owners_are_removed_at_the_next_start(tmp_path: Path) -> None:
    script = (
        "import asyncio, os, time\n"
        "from attnrl.sandbox import open_sandbox\n"
        "async def main():\n"
        "    sb = open_sandbox(max_concurrency=1)\n"
        "    await sb.start()\n"
        "    print(sb._runtime_dir, flush=True)\n"
        "    time.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    env = os.environ | {"TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    leftover = Path(proc.stdout.readline().strip())
    assert leftover.is_dir() and leftover.parent == tmp_path
    alive = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    assert alive.stdout is not None
    live_dir = Path(alive.stdout.readline().strip())
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    proc.stdout.close()
    assert leftover.is_dir()
    unrelated = tmp_path / "attnrl-sandbox-not-ours"  # no owner lock: left alone
    unrelated.mkdir()
    try:
        removed = remove_stale_runtime_dirs(str(tmp_path))
        assert removed == [str(leftover)] and not leftover.exists()
        assert live_dir.is_dir() and unrelated.is_dir()
    finally:
        alive.kill()
        alive.wait()
        alive.stdout.close()
    assert remove_stale_runtime_dirs(str(tmp_path)) == [str(live_dir)]


def test_the_sweepers_wipe_removes_any_tree(tmp_path: Path) -> None:
    """Without per-call namespaces (not root) the sweeper empties the slot directory:
    iteratively, so depth, path length, names and permissions cannot stop it."""
    from attnrl.sandbox.zygote import _wipe_dir

    top = tmp_path / "slot"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):  # deeper than PATH_MAX and the recursion limit
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("plant", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    odd = top / "\udcff\n odd"
    odd.mkdir()
    for i in range(2000):
        (odd / f"{i}\x01").touch()
    (top / "link").symlink_to("/etc")
    os.mkfifo(top / "fifo")
    (top / "locked").mkdir()
    (top / "locked" / "f").write_text("x")
    os.chmod(top / "locked", 0)
    _wipe_dir(str(top))
    assert os.listdir(top) == []
    assert os.path.isdir("/etc")


@module_loop
async def test_without_call_namespaces_a_deep_tree_is_still_swept() -> None:
    async with open_sandbox(LIMITS, max_concurrency=2, call_namespaces=False) as sb:
        result = await sb.run(DEEP_TREE + SLOT)
        assert result.error is None, result.error
        await probe_every_slot(sb, slot_of(result.result))


PARK_DESCRIPTORS = """
import os, socket
a, b = socket.socketpair()
null = os.open("/dev/null", os.O_RDONLY)
parked = 0
try:
    while True:  # until the uid's count of descriptors in flight passes RLIMIT_NOFILE
        socket.send_fds(a, [b"x"], [a.fileno(), b.fileno()] + [null] * 200)
        parked += 202
except OSError as exc:
    print("PARKED", parked, exc.errno)
a.close(); b.close()
"""
PASS_ONE = """
import os, socket
a, b = socket.socketpair()
try:
    socket.send_fds(a, [b"x"], [0])
    print("PASSES", os.getuid())
except OSError as exc:
    print("REFUSED", os.getuid(), exc.errno)
"""


async def test_descriptors_parked_in_flight_do_not_starve_the_slots_next_call() -> None:
    """A call that parks more descriptors in flight than its uid may hold (ETOOMANYREFS
    past RLIMIT_NOFILE) would keep the next call of its slot, the same uid, from passing
    any (a bit to read, and multiprocessing's fd passing broken) until the kernel's
    collector ran, which nothing else on a busy harness asks for (found by the 2026-12-04
    review, without pre-forked children). Every call of a slot after it passes one."""
    async with open_sandbox(LIMITS, max_concurrency=2, prefork=0) as sandbox:
        for _ in range(2):
            attack = await sandbox.run(PARK_DESCRIPTORS + "import os\nprint('UID', os.getuid())")
            assert attack.error is None and "PARKED" in attack.result, attack
            uid = attack.result.split("UID ")[1].split()[0]
            # Calls that close no socket of theirs (a socket released anywhere starts the
            # collector) until the attacked slot comes round, once to learn the cycle, then
            # the one that passes a descriptor lands in it.
            whose = "import os\nprint(os.getuid())"
            cycle = 1
            while (await sandbox.run(whose)).result.strip() != uid:
                cycle += 1
                assert cycle <= 40, "the attacked slot never came round"
            for _ in range(cycle - 1):
                await sandbox.run(whose)
            probe = await sandbox.run(PASS_ONE)
            assert probe.result.split()[1] == uid, (probe, uid)
            assert probe.result.startswith("PASSES"), probe
