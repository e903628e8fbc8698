"""Warm fork server ("zygote") of the python tool sandbox.

Self-contained on purpose: it imports nothing from attnrl. The harness copies this file
into a private runtime directory and runs it by path (``python -I -B zygote.py CONFIG``),
inside bubblewrap when it can. The zygote imports numpy once, then forks one child per
call, so each call costs a fork instead of an interpreter start.

The zygote never sees a call's code or output. The harness creates each call's file
descriptors (a memfd holding the code, and pipes for stdout, stderr and a status line)
and passes them over a ``SOCK_SEQPACKET`` socket; the zygote forks the call's child with
them, enforces the wall-clock deadline, and reports the call once every process of it
is gone.

Protocol (one JSON object per packet)::

    harness -> zygote
      {"op": "run", "id": N, "limits": {...}}   + SCM_RIGHTS [code, stdout, stderr, status]
      {"op": "kill", "id": N}                   stop the call now (output flood, cancel)
    zygote -> harness
      {"op": "ready", "pid": ..., "uid_mode": bool, "uid_note": str, ...}
      {"op": "done", "id": N, "exit": int|None, "signal": int|None, "cpu_s": float,
       "timed_out": bool, "killed": bool, "slot": int, "retired": int, "pid1": bool}
      {"op": "failed", "id": N, "message": str}   the call could not be started

Per call, the child is PID 1 of a fresh PID namespace (:func:`_fork_call`, as root); it
joins its slot's memory cgroup, closes every descriptor but its own, gets its own mount,
IPC and network namespaces, tmpfs, ``/proc`` and devpts (:func:`_isolate`), sets its
rlimits (address space, CPU, file size, processes, open files, no core), raises its OOM
score, drops to the slot's own unprivileged uid (``uid_base + slot``), becomes
non-dumpable (no_new_privs is set for all by the zygote), and runs the code like a script
in a fresh ``__main__`` and a fresh work directory. A couple of children are forked ahead
of demand while the zygote is idle (:func:`pool_child_main`), taking the fork off a call's
critical path.

When the child is gone, the kernel has killed and released every process of its PID
namespace before the zygote's ``wait4`` returns: the call is reported done then. A slot is
handed out again only when :meth:`Zygote.slot_clean` finds nothing of its last call (no
process in its cgroup or of its uid, an empty directory); otherwise it rests and is swept
(as its uid), and is retired, and replaced by a spare uid, only if something survives
``REST_S``. Without PID namespaces (not root) the child kills what it started as it ends
(``kill(-1)`` as its uid when it has one) and the zygote, a child subreaper, kills
whatever orphans reach it.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal.signal without its enum wrapper
import _thread
import array
import ast
import builtins
import ctypes
import functools
import gc
import io
import json
import linecache
import os
import random
import resource
import select
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from json import dumps as _dumps
from typing import Any, NoReturn

import numpy

FILENAME = "<python_expression>"
"""Name the model's code carries in tracebacks."""
STATUS_FD = 3
"""Descriptor on which the child reports ``{"error": ...}`` once the code has run."""
EXIT_SETUP_FAILED = 121
"""Exit status of a child that could not set itself up (it then reports ``setup_error``)."""
TRACEBACK_TAIL_CHARS = 2000
"""At most this many characters of traceback follow the ``Type: message`` line."""
MAX_ERROR_MESSAGE_CHARS = 2000

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_NOSUID = 2
MS_NODEV = 4
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_RDONLY = 1
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")
RUN_MARK = b'{"run": 1}\n'
"""Written on the status descriptor just before the code runs: what precedes it (a
``setup_error``) can only come from the sandbox, what follows is the call's own."""
TEARDOWN_S = 10.0
"""A killed call whose processes are not all gone this long after SIGKILL is reported done
anyway, and its slot is retired (the kernel normally needs milliseconds; freeing a few
hundred MB can take a few hundred)."""
REST_S = 10.0
"""How long a slot that is not clean may rest (swept meanwhile) before it is retired."""
SWEEP_EVERY_S = 0.25
"""Pause between two sweeps of a resting slot."""
SLOT_MEMORY_LEFT_BYTES = 1 << 20
"""A finished call's slot is clean only while less than this is still charged to its memory
cgroup that the kernel cannot reclaim (anonymous, shmem, socket buffers): memfds parked in
unix sockets in flight outlive the call's processes until the kernel's unix-socket
collector runs, and would leave the slot's next call that much less memory."""
_HELD_MEMORY = (b"rss", b"anon", b"shmem", b"sock")
"""``memory.stat`` keys of memory nothing reclaims (cgroup v1 ``rss``, v2 ``anon``)."""
RESERVED_TYPES = (
    "SandboxError",
    "OutputLimitError",
    "ProcessKilled",
    "CancelledError",
    "StatusForgeryError",
)
"""Error names only the harness reports (the same as ``attnrl.sandbox.call``'s)."""

PRELOAD = (
    "collections functools itertools json math random re string time typing numpy.linalg "
    "numpy.fft numpy.random"
).split()
"""Modules the zygote imports so a call gets them for free. Kept short: every preloaded
page is part of every fork. Failures to import are ignored."""

PRELOAD_WIDE = (
    "abc argparse array base64 binascii bisect calendar cmath contextlib copy csv ctypes "
    "dataclasses datetime decimal difflib encodings.idna enum fnmatch fractions glob gzip "
    "hashlib heapq inspect io itertools logging multiprocessing multiprocessing.pool numbers "
    "operator pathlib pickle pprint queue shutil signal socket statistics struct subprocess "
    "tempfile textwrap threading timeit traceback unicodedata unittest uuid warnings weakref "
    "zlib numpy.testing numpy.polynomial numpy.lib.stride_tricks"
).split()
"""Also imported when the calls' uid cannot read the interpreter's files (the fallback
without bubblewrap, with the interpreter under a private home): then only what the zygote
imported is importable by the code."""

_libc: Any = None
_RAW_FORK: Any = None
"""libc's ``fork`` called with the GIL held (``ctypes.PyDLL``), set once the zygote is ready;
see :func:`_fork`. None: calls are forked with ``os.fork``."""
_PIDNS_FD: int | None = None
"""The zygote's own PID namespace (``/proc/self/ns/pid``), to return to after forking a
call as PID 1 of a fresh one (:func:`_fork_call`); None when calls cannot have their own."""
_ISOLATE: dict[str, int] | None = None
"""Per-call namespaces (mount, IPC, network) and size-capped tmpfs: ``disk_bytes``,
``shm_bytes``, ``inodes``; None when the zygote cannot create them (not root)."""
_CALL_FILTER: tuple[Any, Any] | None = None
"""The calls' seccomp program (buffer, sock_fprog), installed by each child before the
code runs; kept alive here for the children's prctl."""
_STREAMS: tuple[_TrackedText, _TrackedText] | None = None
"""The children's stdout and stderr objects, made once by the zygote (fewer page copies
per call); each child writes them to its own descriptors 1 and 2."""
_ZYGOTE_STREAMS: tuple[Any, ...] = ()
"""The interpreter's own ``sys.stdout``/``stderr`` (and ``__stdout__``/``__stderr__``), held
here so that a child replacing them with :data:`_STREAMS` does not free them: freeing a text
stream flushes and closes it through Python code (~20 page faults, ~0.1 ms in every child)."""


def _get_libc() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg: int) -> None:
    _check(_get_libc().prctl(option, arg, 0, 0, 0), f"prctl({option})")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    libc = _get_libc()
    rc = libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {target}")


def _isolate(slot_dir: str, uid: int | None, iso: dict[str, int]) -> None:
    """Give this (future) call its own mount, IPC and network namespaces and a fresh
    size-capped tmpfs as its working space and ``/dev/shm``.

    Nothing the call creates there (files of any depth or name, SysV and POSIX IPC,
    abstract UNIX sockets, loopback listeners) is reachable by any other call, and all of it
    is gone with the call's last process: the kernel drops the namespaces and their tmpfs
    whole. The zygote never enters them."""
    libc = _get_libc()
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)  # nothing propagates out
    owner = "" if uid is None else f",uid={uid},gid={uid}"
    opts = f"size={iso['disk_bytes']},nr_inodes={iso['inodes']},mode=0700{owner}"
    _mount("tmpfs", slot_dir, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    if os.path.isdir("/dev/shm"):
        opts = f"size={iso['shm_bytes']},nr_inodes=4096,mode=1777"
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    if iso.get("devpts") and os.path.isdir("/dev/pts"):
        # Its own pseudo-terminals: no other call's pty can be listed or opened.
        opts = "newinstance,ptmxmode=0666,mode=0600"
        _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, opts)
    if iso.get("proc"):
        # A /proc of the call's own PID namespace: no other call's processes are listed.
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        # Read-only as bubblewrap's --proc leaves them, for a call that would keep root's
        # uid; one of the slot's own uid may not write them anyway (and 8 mounts cost ~5%).
        for sub in PROC_READ_ONLY if uid is None else ():
            path = f"/proc/{sub}"
            if os.path.exists(path):
                _mount(path, path, None, MS_BIND | MS_REC, None)
                _mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def _fork() -> int:
    """``fork(2)`` for a call's child, without CPython's after-fork work when it has none to do.

    ``os.fork`` runs, in the child, the interpreter's reinitialisation for other threads (the
    GIL, the import lock, other threads' states) and every ``os.register_at_fork`` hook:
    ``threading``'s reset of its thread table and ``random``'s reseed. That is ~0.4 ms of CPU
    and ~190 page copies in every child (measured: 510-540 us and 231 faults before the
    child's first line, against 107 us and 39 with libc's ``fork``), a tenth of a call. All
    of it concerns threads other than the forking one, and the zygote has none: checked here
    at every fork (``_thread._count()``, the threads Python started), else ``os.fork``. libc's
    own ``pthread_atfork`` handlers still run, and :meth:`Zygote.reseed` gives the next child
    fresh ``random`` and numpy states. A call's code that forks gets ``os.fork`` in full."""
    if _RAW_FORK is not None and _thread._count() == 0:
        pid = int(_RAW_FORK())
        if pid < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"fork: {os.strerror(err)}")
        return pid
    return os.fork()


def _fork_call() -> int:
    """``fork()``, the child being PID 1 of a fresh PID namespace when calls get one.

    Every process the call starts then lives in that namespace, however it forks, detaches
    or re-parents; when the child's last thread is gone the kernel kills them all and waits
    until they are released (their memory freed) before the zygote's ``wait4`` on the child
    returns. The zygote returns to its own namespace at once (``setns``)."""
    if _PIDNS_FD is None:
        return _fork()
    libc = _get_libc()
    _check(libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    pid = -1
    try:
        pid = _fork()
    finally:
        if pid != 0:  # the zygote (the child stays PID 1 of its namespace)
            _check(libc.setns(_PIDNS_FD, CLONE_NEWPID), "setns(pid)")
    return pid


def _pidns_selftest() -> None:
    """Fork a child as PID 1 of a fresh namespace, come back, fork one in our own."""
    global _PIDNS_FD
    _PIDNS_FD = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    r, w = os.pipe()
    pid = _fork_call()
    if pid == 0:
        os.write(w, str(os.getpid()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    inner = os.read(r, 16)
    _PIDNS_FD = None
    pid = os.fork()  # back in our own namespace: this child is not PID 1 anywhere
    if pid == 0:
        os._exit(0 if os.getpid() != 1 else 1)
    _, status = os.waitpid(pid, 0)
    if inner != b"1" or status != 0:
        raise OSError(f"PID namespace self-test failed ({inner!r}, {status})")


def _join_cgroup(fd: int | None) -> None:
    """Move this (single-threaded) process into the slot's memory cgroup (its ``tasks`` or
    ``cgroup.procs``, opened by the harness): every process of the call is charged there,
    apart from other calls."""
    if fd is not None:
        os.write(fd, b"0")


def _make_slot_dir(path: str, uid: int | None) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)


def _shm_of(uid: int) -> bool:
    """Whether ``/dev/shm`` holds anything of ``uid``."""
    try:
        with os.scandir("/dev/shm") as it:
            return any(e.stat(follow_symlinks=False).st_uid == uid for e in it)
    except OSError:
        return False


def memory_left(stat_fd: int) -> int:
    """Bytes a slot's memory cgroup still holds that nothing reclaims, from its
    ``memory.stat`` (one read, a few microseconds)."""
    total = 0
    for line in os.pread(stat_fd, 16384, 0).split(b"\n"):
        key, _, value = line.partition(b" ")
        if key in _HELD_MEMORY:
            total += int(value)
    return total


def collect_unix_garbage() -> None:
    """Have the kernel run its unix-socket collector: it runs when a unix socket is released
    while sockets are in flight (asynchronously, in milliseconds)."""
    try:
        a, b = socket.socketpair()
    except OSError:
        return
    a.close()
    b.close()


def _uid_present(uid: int) -> bool:
    """Whether any process (zombies and zombie leaders with live threads included) runs as
    ``uid`` in our PID namespace or below."""
    for name in os.listdir("/proc"):
        if name.isdigit() and _proc_uid(int(name)) == uid:
            return True
    return False


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _load_filter(program_hex: str | None) -> tuple[Any, Any] | None:
    if not program_hex:
        return None
    program = bytes.fromhex(program_hex)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    return buf, prog


def _install_filter() -> None:
    if _CALL_FILTER is not None:
        rc = _get_libc().prctl(
            PR_SET_SECCOMP,
            ctypes.c_ulong(SECCOMP_MODE_FILTER),
            ctypes.byref(_CALL_FILTER[1]),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        _check(rc, "seccomp")


# --------------------------------------------------------------------------- the child


class _TrackedBuffer(io.BufferedWriter):
    """A binary stream that remembers whether anything was written to it."""

    used = False

    def write(self, b: Any) -> int:
        if len(b):
            self.used = True
        return super().write(b)


class _TrackedText(io.TextIOWrapper):
    """A text stream that remembers whether anything was written to it or its buffer."""

    _used = False

    @property
    def used(self) -> bool:
        buffer = self.buffer
        return self._used or (isinstance(buffer, _TrackedBuffer) and buffer.used)

    def write(self, s: str) -> int:
        if s:
            self._used = True
        return super().write(s)


def _text_stream(fd: int) -> _TrackedText:
    raw = io.FileIO(fd, "w", closefd=False)
    return _TrackedText(
        _TrackedBuffer(raw), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )


_QUALNAME = type.__dict__["__qualname__"]
_MODULE = type.__dict__["__module__"]
"""``type``'s own descriptors: a class's names as the class holds them, whatever its
metaclass makes ``cls.__qualname__`` or ``cls.__module__`` return (or raise)."""


def _type_name(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "MemoryError"
    cls = type(exc)
    name = str(_QUALNAME.__get__(cls))
    module = _MODULE.__get__(cls)
    if getattr(builtins, name, None) is cls:
        return name
    if module == "__main__" and name not in RESERVED_TYPES:
        return name
    # Module-qualified otherwise: a class the code defines can never pass for one of the
    # harness's own error names.
    return f"{module if isinstance(module, str) else '?'}.{name}"


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break reporting
        text = "<exception str() failed>"
    if len(text) > MAX_ERROR_MESSAGE_CHARS:
        text = text[:MAX_ERROR_MESSAGE_CHARS] + "..."
    return text


UNFORMATTABLE = "BaseException: <an exception that could not be formatted>"
"""The error reported for an exception whose formatting itself raised: never None."""


def report_error(exc: BaseException, memory_bytes: int) -> str:
    """:func:`format_error`, or :data:`UNFORMATTABLE` when formatting ``exc`` raises (a
    hostile class): an uncaught exception is never reported as success."""
    try:
        return format_error(exc, memory_bytes)
    except BaseException:  # noqa: BLE001 - whatever the exception's class does
        return UNFORMATTABLE


def format_error(exc: BaseException, memory_bytes: int) -> str:
    """``"<Type>: <message>"``, then the tail of the traceback (frames of the code only)."""
    head = _type_name(exc)
    if isinstance(exc, SyntaxError):
        message = exc.msg or ""
    else:
        message = _safe_str(exc)
    if message:
        head = f"{head}: {message}"
    if isinstance(exc, MemoryError):
        head += f" (memory limit: {memory_bytes // (1 << 20)} MiB of address space)"
    try:
        if isinstance(exc, SyntaxError):
            lines = traceback.format_exception_only(type(exc), exc)[:-1]
            tail = "".join(lines)
        else:
            tb = exc.__traceback__
            # Drop the sandbox's own frames: the first ones, up to the model's code.
            while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
                tb = tb.tb_next
            stack = traceback.StackSummary.extract(traceback.walk_tb(tb), limit=None)
            lines = stack.format()
            tail = "".join(lines)
            if tail:
                tail = "Traceback (most recent call last):\n" + tail
    except BaseException:  # noqa: BLE001 - e.g. MemoryError while formatting
        tail = ""
    if len(tail) > TRACEBACK_TAIL_CHARS:
        cut = tail[-TRACEBACK_TAIL_CHARS:]
        cut = cut[cut.find("\n") + 1 :]
        tail = "Traceback (most recent call last, earlier frames omitted):\n" + cut
    tail = tail.rstrip("\n")
    return f"{head}\n{tail}" if tail else head


def execute(code: str, stdout: _TrackedText, memory_bytes: int) -> str | None:
    """Run ``code`` like a script in a fresh ``__main__`` with numpy as ``np``.

    If the last statement is a bare expression whose value is not None and the code
    printed nothing to stdout, the value's repr is printed (like a REPL would show it).
    Returns the formatted error, or None.
    """
    main = types.ModuleType("__main__")
    namespace = main.__dict__
    namespace["__builtins__"] = builtins
    namespace["np"] = numpy
    sys.modules["__main__"] = main
    try:
        tree = ast.parse(code, FILENAME, "exec")
        last: ast.Expression | None = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body[-1].value)
            del tree.body[-1]
        body = compile(tree, FILENAME, "exec", dont_inherit=True)
        value_code = compile(last, FILENAME, "eval", dont_inherit=True) if last else None
        lines = code.splitlines(keepends=True)
        linecache.cache[FILENAME] = (len(code), None, lines, FILENAME)
        exec(body, namespace)
        if value_code is not None:
            value = eval(value_code, namespace)
            if value is not None and not stdout.used:
                print(repr(value), file=stdout)
    except SystemExit as exc:
        status: object = exc.code
        # Only the exits Python itself counts as success: not an object equal to 0.
        if not (status is None or (type(status) in (int, bool) and status == 0)):
            return f"SystemExit: {status}"
    except BaseException as exc:  # noqa: BLE001 - everything the code raises is its result
        return report_error(exc, memory_bytes)
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_code(fd: int) -> str:
    size = os.fstat(fd).st_size
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode("utf-8", "surrogatepass")


def _count_uid_processes(uid: int) -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit() and _proc_uid(int(name)) == uid)


def _drop_to(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid):  # paranoia: never run the code as root
        raise OSError("uid drop did not take effect")


def _set_limits(limits: dict[str, Any], uid: int | None) -> None:
    cpu = int(limits["cpu_s"])
    # PID 1 of a namespace ignores SIGXCPU (no handler); the hard limit's SIGKILL then ends it.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu if os.getpid() == 1 else cpu + 1))
    mem = int(limits["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsize = int(limits["max_file_bytes"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    nofile = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    nproc = int(limits["max_processes"])
    if uid is None:
        # Shared uid: the limit counts every process of this user, so add what exists.
        nproc += _count_uid_processes(os.getuid())
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _prepare_child(limits: dict[str, Any], uid: int | None, keep_fd: int, slot_dir: str) -> None:
    """What a call's child can do before it knows its call: descriptors, its own
    namespaces and working space (:func:`_isolate`), the calls' seccomp filter, limits.

    Every descriptor is closed except 0-2 and ``keep_fd`` (moved to ``STATUS_FD``)."""
    signal.set_wakeup_fd(-1)
    # Not signal.signal: its Python wrapper turns the old handler into an enum member, raising
    # and catching ValueError for a Python handler (~40 page copies in every child).
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if keep_fd != STATUS_FD:
        os.dup2(keep_fd, STATUS_FD)
    os.closerange(STATUS_FD + 1, 1 << 20)
    # A session of its own (also a process group, for the tree sweep): with it the call's
    # own scheduler autogroup, whose nice value /proc/<pid>/autogroup lets a process of the
    # call set and every later call of a shared session would read.
    os.setsid()
    if _ISOLATE is not None:
        _isolate(slot_dir, uid, _ISOLATE)
    _install_filter()
    _set_limits(limits, uid)
    try:  # the kernel's OOM killer takes a call's processes first
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
    except OSError:
        pass


def _become_call(uid: int | None) -> None:
    """Drop to the call's identity: the slot's uid, no capabilities, not dumpable."""
    if uid is not None:
        _drop_to(uid)
    _prctl(PR_SET_DUMPABLE, 0)  # no core dump, even to a core_pattern pipe
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a uid change cleared it


def child_main(
    fds: list[int],
    limits: dict[str, Any],
    uid: int | None,
    slot_dir: str,
    call_id: int,
    cgroup_fd: int | None,
) -> NoReturn:
    """A call's child forked for the call; never returns."""
    code_fd, out_fd, err_fd, status_fd = fds
    try:
        _join_cgroup(cgroup_fd)
        # Move the call's descriptors to 0-3 first: setup closes everything above.
        os.dup2(code_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.dup2(status_fd, STATUS_FD)
        _prepare_child(limits, uid, STATUS_FD, slot_dir)
        _become_call(uid)
    except BaseException as exc:  # noqa: BLE001
        _setup_failed(exc)
    run_call(uid, slot_dir, call_id)


def pool_child_main(
    sock_fd: int, limits: dict[str, Any], uid: int | None, slot_dir: str, cgroup_fd: int | None
) -> NoReturn:
    """A child forked ahead of demand: prepared, then waiting for a call's descriptors on
    ``sock_fd``; never returns. Takes the fork off a call's critical path. It keeps the
    zygote's uid while it waits (so no idle process holds a call's uid) and drops to the
    slot's uid as soon as it has its call, before reading the code."""
    try:
        _join_cgroup(cgroup_fd)
        _prepare_child(limits, uid, sock_fd, slot_dir)
        sock = socket.socket(fileno=STATUS_FD)
        sock.setblocking(True)
        fd_size = array.array("i").itemsize
        data, ancdata, _flags, _addr = sock.recvmsg(1 << 12, socket.CMSG_SPACE(4 * fd_size))
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(payload[: len(payload) - len(payload) % fd_size])
                fds.extend(arr)
        if not data or len(fds) != 4:
            os._exit(0)  # the zygote is shutting down
        call_id = int(json.loads(data)["id"])
        sock.detach()
        code_fd, out_fd, err_fd, status_fd = fds
        os.dup2(code_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.dup2(status_fd, STATUS_FD)  # also closes the socket
        os.closerange(STATUS_FD + 1, 1 << 20)
        _become_call(uid)
    except BaseException as exc:  # noqa: BLE001
        _setup_failed(exc)
    run_call(uid, slot_dir, call_id)


def _setup_failed(exc: BaseException) -> NoReturn:
    try:
        msg = json.dumps({"setup_error": f"{type(exc).__name__}: {exc}"})
        _write_all(STATUS_FD, msg.encode())
    except BaseException:  # noqa: BLE001, S110
        pass
    os._exit(EXIT_SETUP_FAILED)


def run_call(uid: int | None, slot_dir: str, call_id: int) -> NoReturn:
    """Run the code on descriptor 0 with stdout, stderr and status on 1, 2 and 3.

    The call works in a fresh directory ``<slot_dir>/call-<id>`` of its own; the slot
    directory (private to the slot's uid) is emptied when the call ends."""
    workdir = os.path.join(slot_dir, f"call-{call_id}")
    try:
        code = _read_code(0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.mkdir(workdir, 0o700)
        os.chdir(workdir)
        os.environ["HOME"] = workdir
        os.environ["TMPDIR"] = workdir
        os.environ["PWD"] = workdir
        sys.argv = [""]
        sys.path.insert(0, workdir)
        memory_bytes = resource.getrlimit(resource.RLIMIT_AS)[0]
    except BaseException as exc:  # noqa: BLE001
        _setup_failed(exc)
    pid = os.getpid()
    stdout, stderr = _STREAMS if _STREAMS else (_text_stream(1), _text_stream(2))
    sys.stdout = stdout
    sys.stderr = stderr
    setattr(sys, "__stdout__", stdout)  # noqa: B010 - Final in typeshed, not at runtime
    setattr(sys, "__stderr__", stderr)  # noqa: B010
    status = 0
    error: str | None = None
    try:
        _write_all(STATUS_FD, RUN_MARK)
        error = execute(code, stdout, memory_bytes)
        if os.getpid() == pid:
            for thread in threading.enumerate():
                if thread is not threading.main_thread() and not thread.daemon:
                    thread.join()
    except BaseException as exc:  # noqa: BLE001
        error = error or report_error(exc, memory_bytes)
    finally:
        for stream in (stdout, stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001, S110
                status = 1
        if os.getpid() == pid:
            # A process the code forked returns here too; only the call's child reports.
            try:
                _write_all(STATUS_FD, ("\n" + _dumps({"error": error}) + "\n").encode())
            except BaseException:  # noqa: BLE001
                status = 1
            # Clean up after ourselves; the zygote checks it was done, else it sweeps.
            try:
                if uid is not None and _PIDNS_FD is None:  # else the kernel does it
                    _kill_uid()
                if _ISOLATE is None:  # else the call's tmpfs goes with its namespace
                    os.chdir(slot_dir)
                    _wipe_dir(slot_dir)
                    if uid is not None:
                        _wipe_shm(uid)
            except BaseException:  # noqa: BLE001
                status = 1
        else:
            status = 1 if error else 0
        os._exit(status)


# --------------------------------------------------------------------------- the sweeper


def _wipe_dir(path: str) -> None:
    """Remove everything inside ``path`` (not ``path`` itself), however deep, wide, oddly
    named or permission-locked: iterative and relative to one directory descriptor at a
    time, so neither recursion depth, PATH_MAX nor the open-files limit stops it. Raises
    OSError if something is left (the zygote then retires the slot)."""
    os.chmod(path, 0o700)
    cur = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        pending = [_unlink_files(cur)]  # per level: subdirectories still to remove
        names: list[str] = []  # the path from ``path`` down to ``cur``
        while True:
            if pending[-1]:
                name = pending[-1].pop()
                os.chmod(name, 0o700, dir_fd=cur)
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                child = os.open(name, flags, dir_fd=cur)
                os.close(cur)
                cur = child
                names.append(name)
                pending.append(_unlink_files(cur))
                continue
            pending.pop()
            if not names:
                break
            parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=cur)
            os.close(cur)
            cur = parent
            os.rmdir(names.pop(), dir_fd=cur)
    finally:
        os.close(cur)
    if os.listdir(path):
        raise OSError(f"{path} is not empty after the wipe")


def _unlink_files(fd: int) -> list[str]:
    """Unlink every non-directory in the directory ``fd``; return its subdirectories."""
    subdirs: list[str] = []
    with os.scandir(fd) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    return subdirs


def _wipe_shm(uid: int) -> None:
    try:
        entries = list(os.scandir("/dev/shm"))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid == uid:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
        except OSError:
            continue


def _kill_uid() -> None:
    """SIGKILL every other process of our uid (that we may signal, in our PID namespace).

    ``kill(-1)`` walks the task list under the lock ``fork`` needs, so a fork bomb cannot
    outrun it: a child is either listed (and killed) or its parent dies before it exists.
    """
    for _ in range(2):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return


def sweeper_main(uid: int, workdir: str) -> NoReturn:
    """Kill every process of ``uid`` and empty its work directory; never returns."""
    status = 0
    try:
        signal.set_wakeup_fd(-1)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        os.closerange(3, 1 << 20)
        _drop_to(uid)
        _kill_uid()
        _wipe_dir(workdir)
        _wipe_shm(uid)
    except BaseException:  # noqa: BLE001
        status = 1
    os._exit(status)


# --------------------------------------------------------------------------- the server


@dataclass
class Call:
    id: int
    limits: dict[str, Any]
    fds: list[int]
    slot: int = -1
    pid: int = 0
    started: float = 0.0
    deadline: float = 0.0
    timed_out: bool = False
    killed: bool = False
    killed_at: float = 0.0
    reported: bool = False
    exit: int | None = None
    signal: int | None = None
    cpu_s: float = 0.0


@dataclass
class Ready:
    """A pre-forked child waiting for a call on ``sock``."""

    pid: int
    sock: socket.socket
    slot: int
    limits: dict[str, Any]


@dataclass
class Zygote:
    """The server. A slot is a uid (``uid_base + slot``), a work directory and, when the
    harness made them, a memory cgroup; one call at a time runs in it.

    A slot is handed out only when :meth:`slot_clean` says nothing of its last call is
    left (no process in its cgroup or of its uid, an empty work directory). A slot that
    is not clean rests: it is swept (as its uid) until it is, or, after ``REST_S``,
    retired and replaced by an unused uid of the block: the other calls never wait for it.
    """

    sock: socket.socket
    work: str
    slots: int
    uid_base: int | None
    uid_block: int = 0
    """Uids the harness claimed for us (``uid_base`` up): the spares replace retired slots."""
    cgroups: dict[int, int] = field(default_factory=dict)
    """Slot -> its memory cgroup's open process list (``tasks``/``cgroup.procs``)."""
    memory_stats: dict[int, int] = field(default_factory=dict)
    """Slot -> its memory cgroup's open ``memory.stat`` (:func:`memory_left`)."""
    last_collect: float = 0.0
    closed: bool = False
    calls: dict[int, Call] = field(default_factory=dict)
    by_pid: dict[int, Call] = field(default_factory=dict)
    sweepers: dict[int, int] = field(default_factory=dict)
    """Sweeper pid -> the resting slot it sweeps."""
    free: deque[int] = field(default_factory=deque)
    queue: deque[Call] = field(default_factory=deque)
    resting: dict[int, float] = field(default_factory=dict)
    """Slots not clean yet -> when they are retired if still not clean."""
    last_sweep: dict[int, float] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)
    spare: deque[int] = field(default_factory=deque)
    pool_size: int = 0
    pool_limits: dict[str, Any] | None = None
    pool: list[Ready] = field(default_factory=list)
    ready_by_pid: dict[int, Ready] = field(default_factory=dict)
    discarded: dict[int, int] = field(default_factory=dict)
    """Pre-forked children being killed (pid -> slot): the slot is free once reaped."""
    retired: set[int] = field(default_factory=set)
    """Slots something of a call survived in for ``REST_S``: never used again."""

    def uid(self, slot: int) -> int | None:
        return None if self.uid_base is None else self.uid_base + slot

    def workdir(self, slot: int) -> str:
        return os.path.join(self.work, f"s{slot}")

    def send(self, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        data = json.dumps(msg).encode()
        while True:
            try:
                self.sock.send(data)
                return
            except BlockingIOError:
                select.select([], [self.sock], [], 1.0)
            except OSError:
                self.closed = True
                return

    # -- requests

    def handle_socket(self) -> bool:
        """Read every pending request; False when the harness has gone."""
        fd_size = array.array("i").itemsize
        while True:
            try:
                data, ancdata, _flags, _addr = self.sock.recvmsg(
                    1 << 16, socket.CMSG_SPACE(8 * fd_size), socket.MSG_CMSG_CLOEXEC
                )
            except BlockingIOError:
                return True
            except OSError:
                return False
            fds: list[int] = []
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    arr = array.array("i")
                    arr.frombytes(payload[: len(payload) - len(payload) % fd_size])
                    fds.extend(arr)
            if not data:
                for fd in fds:
                    os.close(fd)
                return False
            try:
                msg = json.loads(data)
                self.handle_message(msg, fds)
            except Exception as exc:  # noqa: BLE001 - a bad packet must not kill the server
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                sys.stderr.write(f"zygote: bad request: {exc!r}\n")
                sys.stderr.flush()

    def handle_message(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        if op == "run":
            if len(fds) != 4:
                for fd in fds:
                    os.close(fd)
                self.send({"op": "failed", "id": msg["id"], "message": "expected 4 fds"})
                return
            problem = _bad_limits(msg.get("limits"))
            if problem:
                for fd in fds:
                    os.close(fd)
                self.send({"op": "failed", "id": msg["id"], "message": problem})
                return
            call = Call(id=int(msg["id"]), limits=dict(msg["limits"]), fds=fds)
            self.calls[call.id] = call
            if not self.queue and self.take_ready(call):
                return
            self.queue.append(call)
            self.start_queued()
        elif op == "kill":
            call_or_none = self.calls.get(int(msg["id"]))
            if call_or_none is not None:
                self.kill(call_or_none)
        elif op == "ping":  # the harness asks whether we still serve (a call is overdue)
            for fd in fds:
                os.close(fd)
            self.send({"op": "pong", "n": msg.get("n")})
        else:
            for fd in fds:
                os.close(fd)

    # -- slots

    def slot_clean(self, slot: int) -> bool:
        """Whether nothing of the slot's last call is left: no process in its cgroup (or,
        without one, of its uid, zombies and zombie leaders with live threads included),
        no memory charged to the cgroup that nothing reclaims (the kernel's unix-socket
        collector is asked to run meanwhile), nothing in its work directory (nor in the
        shared ``/dev/shm`` without per-call namespaces)."""
        fd = self.cgroups.get(slot)
        uid = self.uid(slot)
        try:
            if fd is not None:
                if os.pread(fd, 64, 0).strip():
                    return False
            elif uid is not None and _uid_present(uid):
                return False
            stat = self.memory_stats.get(slot)
            if stat is not None and memory_left(stat) >= SLOT_MEMORY_LEFT_BYTES:
                if time.monotonic() - self.last_collect >= SWEEP_EVERY_S:
                    self.collect()  # again, for a slot resting on what is still in flight
                return False
            if _ISOLATE is None and uid is not None and _shm_of(uid):
                return False  # no /dev/shm of its own: what it left there
            return not os.listdir(self.workdir(slot))
        except OSError:
            return False

    def take_slot(self) -> int | None:
        """A clean free slot (the others rest), or None."""
        while self.free:
            slot = self.free.popleft()
            if self.slot_clean(slot):
                return slot
            self.rest(slot)
        return None

    def release(self, slot: int) -> None:
        """The slot's call is over: free it if clean, else let it rest and sweep it."""
        if slot in self.retired or slot in self.resting:
            return
        if self.slot_clean(slot):
            self.free.append(slot)
        else:
            self.rest(slot)

    def rest(self, slot: int) -> None:
        self.resting.setdefault(slot, time.monotonic() + REST_S)
        self.sweep(slot)

    def check_resting(self) -> None:
        """Free the resting slots that are clean now; sweep or retire the others."""
        now = time.monotonic()
        for slot, until in list(self.resting.items()):
            if slot in self.sweepers.values():
                continue
            if self.slot_clean(slot):
                del self.resting[slot]
                self.free.append(slot)
            elif now >= until:
                del self.resting[slot]
                self.retire(slot, f"something of its last call was still there after {REST_S} s")
            elif now - self.last_sweep.get(slot, 0.0) >= SWEEP_EVERY_S:
                self.sweep(slot)
        self.start_queued()

    def sweep(self, slot: int) -> None:
        """Fork a sweeper that kills every process of the slot's uid and empties its work
        directory (the non-root mode kills by process tree instead, see :meth:`end`)."""
        uid = self.uid(slot)
        if uid is None or slot in self.sweepers.values():
            return
        self.last_sweep[slot] = time.monotonic()
        try:
            pid = os.fork()
        except OSError:
            return  # tried again by check_resting
        if pid == 0:
            sweeper_main(uid, self.workdir(slot))
        self.sweepers[pid] = slot

    def retire(self, slot: int, why: str) -> None:
        """Never use ``slot`` (its uid) again; put a spare uid of the block in its place."""
        self.retired.add(slot)
        self.active.discard(slot)
        spare = None
        while self.spare and spare is None:
            candidate = self.spare.popleft()
            try:
                _make_slot_dir(self.workdir(candidate), self.uid(candidate))
            except OSError:
                continue
            spare = candidate
        if spare is not None:
            self.active.add(spare)
            self.free.append(spare)
        sys.stderr.write(
            f"zygote: slot {slot} retired: {why}; "
            + (f"slot {spare} replaces it\n" if spare is not None else "no spare uid left\n")
        )
        sys.stderr.flush()
        if not self.active:
            # Nothing clean is left to run a call in: exit, and the harness restarts us.
            self.shutdown()

    # -- the pool of pre-forked children

    def known(self) -> set[int]:
        """Our children that are not strays: calls, sweepers, pre-forked children."""
        return set(self.by_pid) | set(self.sweepers) | set(self.ready_by_pid) | set(self.discarded)

    def take_ready(self, call: Call) -> bool:
        """Hand ``call`` to a pre-forked child; False if none fits."""
        while self.pool:
            ready = self.pool.pop(0)
            del self.ready_by_pid[ready.pid]
            if ready.limits != call.limits:
                self.discard(ready)
                self.pool_limits = call.limits
                continue
            try:
                ready.sock.sendmsg(
                    [_dumps({"id": call.id}).encode()],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", call.fds))],
                )
            except OSError:
                self.discard(ready)
                continue
            ready.sock.close()
            self.close_fds(call)
            call.slot = ready.slot
            call.pid = ready.pid
            call.started = time.monotonic()
            call.deadline = call.started + float(call.limits["timeout_s"])
            self.by_pid[ready.pid] = call
            return True
        self.pool_limits = call.limits
        return False

    def discard(self, ready: Ready) -> None:
        self.ready_by_pid.pop(ready.pid, None)
        if ready in self.pool:
            self.pool.remove(ready)
        ready.sock.close()
        self.discarded[ready.pid] = ready.slot
        try:
            os.kill(ready.pid, signal.SIGKILL)
        except OSError:
            pass

    def refill(self) -> None:
        """Fork children ahead of demand, while no call runs: a fork then costs a call no
        CPU and no latency (and none at the expense of a queued call)."""
        while (
            self.pool_limits is not None
            and len(self.pool) < self.pool_size
            and self.free
            and not self.queue
            and not self.by_pid
        ):
            slot = self.take_slot()
            if slot is None:
                return
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                pid = _fork_call()
            except OSError:
                ours.close()
                theirs.close()
                self.free.appendleft(slot)
                return
            if pid == 0:
                try:
                    pool_child_main(
                        theirs.fileno(),
                        self.pool_limits,
                        self.uid(slot),
                        self.workdir(slot),
                        self.cgroups.get(slot),
                    )
                finally:
                    os._exit(EXIT_SETUP_FAILED)
            theirs.close()
            ready = Ready(pid=pid, sock=ours, slot=slot, limits=self.pool_limits)
            self.pool.append(ready)
            self.ready_by_pid[pid] = ready
            self.reseed()

    def start_queued(self) -> None:
        while self.queue and self.free:
            slot = self.take_slot()
            if slot is None:
                return
            call = self.queue.popleft()
            call.slot = slot
            self.start(call)

    def start(self, call: Call) -> None:
        try:
            pid = _fork_call()
        except OSError as exc:
            self.close_fds(call)
            self.free.append(call.slot)
            del self.calls[call.id]
            self.send({"op": "failed", "id": call.id, "message": f"fork failed: {exc}"})
            return
        if pid == 0:
            try:
                child_main(
                    call.fds,
                    call.limits,
                    self.uid(call.slot),
                    self.workdir(call.slot),
                    call.id,
                    self.cgroups.get(call.slot),
                )
            finally:
                os._exit(EXIT_SETUP_FAILED)
        self.close_fds(call)
        call.pid = pid
        call.started = time.monotonic()
        call.deadline = call.started + float(call.limits["timeout_s"])
        self.by_pid[pid] = call
        self.reseed()

    @staticmethod
    def reseed() -> None:
        """Off the critical path, while the child just forked runs: the next child gets
        fresh ``random`` and legacy numpy random states (no two calls draw alike)."""
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
        random.seed(os.urandom(32))

    @staticmethod
    def close_fds(call: Call) -> None:
        for fd in call.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        call.fds = []

    def kill(self, call: Call) -> None:
        if call.pid and call.exit is None and call.signal is None and not call.killed:
            call.killed = True
            call.killed_at = time.monotonic()
            try:
                os.kill(call.pid, signal.SIGKILL)
            except OSError:
                pass
        elif not call.pid and call in self.queue:
            self.queue.remove(call)
            self.close_fds(call)
            del self.calls[call.id]
            self.send(
                {
                    "op": "done",
                    "id": call.id,
                    "exit": None,
                    "signal": None,
                    "cpu_s": 0.0,
                    "timed_out": False,
                    "killed": True,
                }
            )

    def check_deadlines(self) -> float | None:
        """Kill overdue calls; report killed calls whose processes are not gone after
        ``TEARDOWN_S`` (their slot is retired); return seconds until the next deadline."""
        now = time.monotonic()
        nearest: float | None = None
        for call in list(self.by_pid.values()):
            if call.killed:
                if call.reported:
                    continue
                left = call.killed_at + TEARDOWN_S - now
                if left <= 0:
                    self.report(call)
                    self.retire(call.slot, f"its call was not gone {TEARDOWN_S} s after SIGKILL")
                    continue
            elif now >= call.deadline:
                call.timed_out = True
                self.kill(call)
                left = TEARDOWN_S
            else:
                left = call.deadline - now
            nearest = left if nearest is None else min(nearest, left)
        return nearest

    # -- children

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            call = self.by_pid.pop(pid, None)
            if call is not None:
                if os.WIFSIGNALED(status):
                    call.signal = os.WTERMSIG(status)
                else:
                    call.exit = os.waitstatus_to_exitcode(status)
                call.cpu_s = usage.ru_utime + usage.ru_stime
                self.end(call)
                continue
            slot = self.sweepers.pop(pid, None)
            if slot is not None:
                continue  # check_resting looks at the slot again
            ready = self.ready_by_pid.pop(pid, None)
            if ready is not None:  # a pre-forked child died waiting (it ran no code)
                if ready in self.pool:
                    self.pool.remove(ready)
                ready.sock.close()
                self.release(ready.slot)
                continue
            slot = self.discarded.pop(pid, None)
            if slot is not None:
                self.release(slot)
                self.start_queued()
            # Anything else is an orphan of some call, reaped here as subreaper.

    def end(self, call: Call) -> None:
        """The call's process is reaped. With a PID namespace per call (the child was its
        PID 1) every process of the call is gone too: the kernel killed and reaped them
        before this wait returned. Without one, a uid's leftovers are swept while the slot
        rests, and without a uid the call's process tree is killed here.

        The kernel's unix-socket collector is asked to run after every call (a few
        microseconds when nothing is in flight): what a call parks in a socket cycle in
        flight, past its processes, is then freed in milliseconds, long before its slot (its
        uid, whose count of descriptors in flight would otherwise keep a later call from
        passing any) comes round again, not whenever some other socket closes."""
        if self.uid(call.slot) is None:
            try:
                self.sweep_tree(call)
            except OSError:
                pass
        if not call.reported:
            self.report(call)
        self.collect()
        self.release(call.slot)
        self.start_queued()

    def collect(self) -> None:
        """Ask for the kernel's unix-socket collector (:func:`collect_unix_garbage`), noting
        when: a slot that rests is asked for again only ``SWEEP_EVERY_S`` later."""
        self.last_collect = time.monotonic()
        collect_unix_garbage()

    def sweep_tree(self, call: Call) -> None:
        """Without a uid per call: kill the call's process group and every orphan of ours
        (orphans of calls still running too: they cannot be told apart without a uid)."""
        try:
            os.killpg(call.pid, signal.SIGKILL)
        except OSError:
            pass
        known = self.known()
        for _ in range(50):
            strays = [pid for pid in _children() if pid not in known]
            if not strays:
                break
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)
            self.reap_orphans(known)
        _wipe_dir(self.workdir(call.slot))

    def reap_orphans(self, known: set[int]) -> None:
        for pid in _children():
            if pid in known:
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass

    def report(self, call: Call) -> None:
        call.reported = True
        self.calls.pop(call.id, None)
        self.send(
            {
                "op": "done",
                "id": call.id,
                "exit": call.exit,
                "signal": call.signal,
                "cpu_s": round(call.cpu_s, 4),
                "timed_out": call.timed_out,
                "killed": call.killed,
                "slot": call.slot,
                "retired": len(self.retired),
                "pid1": _PIDNS_FD is not None,
            }
        )

    def shutdown(self) -> NoReturn:
        self.closed = True
        for call in self.queue:
            self.close_fds(call)
        self.queue.clear()
        for ready in list(self.pool):
            self.discard(ready)
        for call in list(self.by_pid.values()):
            self.kill(call)
        deadline = time.monotonic() + 2.0
        while (self.by_pid or self.sweepers or self.discarded) and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.005)
        os._exit(0)

    def serve(self, wake_fd: int) -> NoReturn:
        """Serve until the harness goes. An unexpected error is logged once; if the next
        rounds fail too the zygote exits (the harness restarts it) instead of looping."""
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        failures = 0
        while True:
            try:
                self.serve_once(poller, wake_fd)
                failures = 0
            except Exception:  # noqa: BLE001 - keep serving the other calls
                failures += 1
                if failures == 1:
                    sys.stderr.write("zygote: " + traceback.format_exc(limit=4))
                    sys.stderr.flush()
                if failures >= 3:
                    sys.stderr.write("zygote: failing repeatedly; exiting\n")
                    sys.stderr.flush()
                    self.shutdown()
                time.sleep(0.01)

    def serve_once(self, poller: select.poll, wake_fd: int) -> None:
        nearest = self.check_deadlines()
        if self.resting:
            nearest = 0.02 if nearest is None else min(nearest, 0.02)
        timeout_ms = None if nearest is None else max(1, int(nearest * 1000) + 1)
        try:
            events = poller.poll(timeout_ms)
        except InterruptedError:
            return
        for fd, _ev in events:
            if fd == wake_fd:
                try:
                    os.read(wake_fd, 4096)
                except BlockingIOError:
                    pass
        self.reap()
        if self.resting:
            self.check_resting()
        for fd, _ev in events:
            if fd == self.sock.fileno() and not self.handle_socket():
                self.shutdown()
        self.refill()


LIMIT_KEYS = ("timeout_s", "cpu_s", "memory_bytes", "max_processes", "max_file_bytes")


def _bad_limits(limits: Any) -> str:
    """'' if ``limits`` are usable, else why not (the harness validates them too: this is
    the zygote's own guard, so a bad value is one failed call, never a wedged server)."""
    if not isinstance(limits, dict):
        return "limits must be an object"
    for key in LIMIT_KEYS:
        value = limits.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"limit {key} must be a number, got {value!r}"
        if not 0 < value <= 1 << 50 or value != value:
            return f"limit {key} is out of range: {value!r}"
    if not limits["timeout_s"] <= 86400:
        return f"limit timeout_s is out of range: {limits['timeout_s']!r}"
    return ""


def _children() -> list[int]:
    pids: list[int] = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return pids


def _proc_uid(pid: int, live_only: bool = False) -> int | None:
    """Real uid of ``pid``; None if it is gone (or, with ``live_only``, a zombie)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"State:") and live_only and line.split()[1] == b"Z":
                    return None
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _probe(action: Callable[[], None], fork: Callable[[], int] = os.fork) -> str:
    """Run ``action`` in a forked child; '' when it works, else the reason."""
    r, w = os.pipe()
    pid = fork()
    if pid == 0:
        os.close(r)
        try:
            action()
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001
            os.write(w, f"{type(exc).__name__}: {exc}".encode()[:500])
            os._exit(1)
    os.close(w)
    reason = os.read(r, 1000).decode(errors="replace")
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0 and not reason:
        reason = f"probe exited with status {status}"
    return reason


def _preload(wide: bool) -> None:
    for name in PRELOAD + (PRELOAD_WIDE if wide else []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001, S112
            continue
    # Touch the code paths a small snippet uses, so children share warm pages.
    a = numpy.arange(16.0).reshape(4, 4)
    _ = (a @ a.T).sum(), numpy.linalg.norm(a), numpy.exp(a).max()
    with io.StringIO() as s:
        print(repr(a), file=s)


def main(argv: list[str]) -> NoReturn:
    config = json.loads(argv[1])
    sock = socket.socket(fileno=int(config["fd"]))
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    subreaper = True
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError:
        subreaper = False
    # Inherited by every child: no setuid/file-capability gain through exec.
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    # Nobody but root may ptrace us or read our memory, even a call sharing our uid.
    _prctl(PR_SET_DUMPABLE, 0)
    _preload(bool(config.get("preload_wide")))
    uid_base: int | None = None
    uid_note = "not root: calls share the harness's uid"
    if os.geteuid() == 0 and config.get("uid_base") is not None:
        uid_note = _probe(lambda: _drop_to(int(config["uid_base"])))
        if not uid_note:
            uid_base = int(config["uid_base"])
    slots = int(config["slots"])
    uid_block = max(slots, int(config.get("uid_block") or slots))
    work = str(config["work"])
    for slot in range(slots):
        owner = None if uid_base is None else uid_base + slot
        _make_slot_dir(os.path.join(work, f"s{slot}"), owner)
    cgroup_fds = config.get("slot_cgroups") or []
    cgroups = {slot: int(fd) for slot, fd in enumerate(cgroup_fds) if fd is not None}
    stat_fds = config.get("slot_memory_stats") or []
    memory_stats = {slot: int(fd) for slot, fd in enumerate(stat_fds) if fd is not None}
    if uid_base is not None:
        os.chmod(work, 0o711)
        if not config.get("jailed"):
            # No fresh PID namespace: a zygote before us may have died leaving strays.
            for slot in range(slots):
                pid = os.fork()
                if pid == 0:
                    sweeper_main(uid_base + slot, os.path.join(work, f"s{slot}"))
                os.waitpid(pid, 0)
    global _STREAMS, _ZYGOTE_STREAMS, _ISOLATE, _CALL_FILTER, _PIDNS_FD, _RAW_FORK
    pidns_note = "not root" if os.geteuid() != 0 else _probe(_pidns_selftest)
    if not pidns_note:
        _PIDNS_FD = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    isolate_note = "not requested"
    if config.get("isolate"):
        iso = {k: int(v) for k, v in config["isolate"].items()}
        probe_dir = os.path.join(work, "s0")
        # Each call's own /proc needs its own PID namespace; then try the full set, and
        # fall back one piece at a time (each fallback is said in the ready message).
        tries = [{"proc": 1, "devpts": 1}, {"proc": 0, "devpts": 1}, {"proc": 0, "devpts": 0}]
        notes = []
        for extra in tries if _PIDNS_FD is not None else tries[1:]:
            trial = {**iso, **extra}
            note = _probe(functools.partial(_isolate, probe_dir, uid_base, trial), _fork_call)
            if not note:
                _ISOLATE = trial
                break
            notes.append(f"{extra}: {note}")
        isolate_note = "; ".join(notes)
    _CALL_FILTER = _load_filter(config.get("call_seccomp"))
    filter_note = _probe(_install_filter) if _CALL_FILTER is not None else "none"
    if filter_note:
        _CALL_FILTER = None
    _STREAMS = (_text_stream(1), _text_stream(2))
    _ZYGOTE_STREAMS = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    Zygote.reseed()
    try:  # a libc without ``fork`` (or no shared libc at all) keeps os.fork
        _RAW_FORK = ctypes.PyDLL(None, use_errno=True).fork
    except (AttributeError, OSError):
        _RAW_FORK = None
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda _s, _f: None)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    sock.setblocking(False)
    zygote = Zygote(
        sock=sock,
        work=work,
        slots=slots,
        uid_base=uid_base,
        uid_block=uid_block,
        cgroups=cgroups,
        memory_stats=memory_stats,
    )
    zygote.free.extend(range(slots))
    zygote.active.update(range(slots))
    zygote.spare.extend(range(slots, uid_block))
    zygote.pool_size = int(config.get("prefork", 0))
    zygote.pool_limits = config.get("limits")
    zygote.refill()
    zygote.send(
        {
            "op": "ready",
            "pid": os.getpid(),
            "uid_mode": uid_base is not None,
            "uid_note": uid_note,
            "call_namespaces": _ISOLATE is not None,
            "call_namespaces_note": isolate_note,
            "pid_namespaces": _PIDNS_FD is not None,
            "pid_namespaces_note": pidns_note,
            "call_proc": bool(_ISOLATE and _ISOLATE.get("proc")),
            "call_devpts": bool(_ISOLATE and _ISOLATE.get("devpts")),
            "slot_cgroups": len(cgroups),
            "slot_memory_stats": len(memory_stats),
            "call_seccomp": _CALL_FILTER is not None,
            "call_seccomp_note": filter_note,
            "libc_fork": _RAW_FORK is not None,
            "subreaper": subreaper,
            "euid": os.geteuid(),
            "numpy": numpy.__version__,
            "python": sys.version.split()[0],
        }
    )
    zygote.serve(wake_r)


if __name__ == "__main__":
    main(sys.argv)
