"""The local sandbox: a warm zygote in bubblewrap (or a plain process), one fork per call.

The harness never forks itself to run the model's code. At start it launches one zygote
(:mod:`attnrl.sandbox.zygote`, run by path with a cleared environment) inside bubblewrap,
which imports numpy once; every call is a fork of that zygote, so it inherits the jail at
fork cost. Per call the harness creates the code memfd and the stdout, stderr and status
pipes, hands the child ends to the zygote over a ``SOCK_SEQPACKET`` socket, and reads the
output itself, bounded, on the event loop (non-blocking descriptors, ``loop.add_reader``).

See :mod:`attnrl.sandbox.jail` for what the jail sees, :mod:`attnrl.sandbox.zygote` for
the per-call limits and the sweep of every process a call started, and
:mod:`attnrl.sandbox.cgroup` for the memory budget of all calls together.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import fcntl
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnrl.sandbox.allowlist import jail_view
from attnrl.sandbox.base import ExecResult, StartedInContext
from attnrl.sandbox.call import Call, format_output
from attnrl.sandbox.cgroup import JailCgroup, default_jail_memory_bytes
from attnrl.sandbox.jail import (
    JailPlan,
    bwrap_argv,
    default_hidden_paths,
    interpreter_paths,
    interpreter_readable_by_others,
    process_argv,
    sandbox_env,
    seccomp_filter,
)
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.runtime import new_runtime_dir, remove_stale_runtime_dirs

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_UID_BASE",
    "LocalSandbox",
    "SandboxError",
    "format_output",
    "open_sandbox",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_UID_BASE = 40000
"""Calls run as uids from here up (root only; see the zygote): each sandbox on the host
claims its own block of ``UID_BLOCK`` uids, call slot ``i`` running as ``block + i``."""
UID_BLOCK = 64
UID_BLOCKS = 300
"""Blocks tried: uids ``DEFAULT_UID_BASE`` to ``DEFAULT_UID_BASE + 64 * 300`` (59200)."""
SPARE_SLOTS = 4
"""Slots beyond ``max_concurrency``, so a slot rests while the kernel reaps its last zombies."""
PREFORK = 2
"""Children the zygote keeps forked and set up ahead of demand (their own slots)."""
MAX_CODE_BYTES = 1 << 20
TEARDOWN_S = 10.0
"""The zygote's ``TEARDOWN_S`` (``zygote.py`` runs apart and imports nothing of ours; a test
checks the two agree): a killed call whose processes are not gone by then is reported (its
slot retired), so every call is reported by its wall-clock limit plus this."""
BACKSTOP_S = 10.0
"""Seconds past a call's limit plus ``TEARDOWN_S`` before the harness asks whether the zygote
still serves, and that the zygote gets to answer."""
BACKSTOP_ROUNDS = 6
"""Answered pings after which a call the zygote still has not reported counts as lost."""
DRAIN_S = 2.0
"""Seconds to wait for a finished call's pipes to reach end of file."""
ZYGOTE_SOURCE = Path(__file__).with_name("zygote.py")
CALL_INODES = 1 << 16
"""Files and directories one call may create in its working space."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (it could not start, or was used after ``aclose``)."""


@dataclass
class _Zygote:
    proc: asyncio.subprocess.Process
    sock: socket.socket
    jailed: bool
    ready: asyncio.Future[dict[str, Any]]
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    stderr_task: asyncio.Task[None] | None = None
    alive: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    pongs: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    """Pings sent (their numbers) -> answered."""


class LocalSandbox(StartedInContext):
    """Runs ``python_expression`` calls, each in a fresh fork of a warm, jailed zygote.

    Usage::

        async with open_sandbox() as sb:
            result = await sb.run("print(np.arange(3))")

    ``run`` returns what the model sees (:class:`ExecResult`) and never raises for
    anything the code does. Semantics of a call: the code runs like a script in a fresh
    ``__main__`` with numpy imported as ``np``; what it prints (stdout, then stderr) is the
    result. If its last statement is a bare expression whose value is not None and it
    printed nothing to stdout, the value's repr is printed, like a REPL would. Nothing
    persists between calls (processes, files, module state). Non-daemon threads are
    joined; every process the call started is killed when it ends.

    ``bwrap``: the bubblewrap executable, or None to disable it. Without it (or when it
    fails its self-test at start), the sandbox falls back to plain process isolation,
    logs a WARNING, and says so in :attr:`isolation`. ``seccomp``: add the jail's
    syscall deny-list (:func:`attnrl.sandbox.jail.seccomp_filter`). ``uid_base``: when
    the harness is root, each call runs as its slot's own uid, in a block of uids from
    ``uid_base`` up that this sandbox claims for itself on the host (None: never change
    uid). ``hide_paths``: more directories to mask in the jail. ``cgroup``: put the jail in a
    cgroup with a memory budget of ``jail_memory_bytes`` for all calls together (default:
    every call at its limit, at most half the machine) and a pids budget (root only, best
    effort; see :mod:`attnrl.sandbox.cgroup` and :attr:`info`). ``call_namespaces``: give
    each call its own mount, IPC and network namespaces and its own tmpfs of
    ``limits.disk_bytes`` (plus ``shm_bytes`` for ``/dev/shm``), discarded whole when it
    ends (root only; False only to measure what they cost). ``allow_list``: the jail shows
    only what :func:`attnrl.sandbox.allowlist.jail_view` lists (False: the whole host
    read-only minus the masks, the view before issue 10).
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        bwrap: str | None = "bwrap",
        uid_base: int | None = DEFAULT_UID_BASE,
        hide_paths: Sequence[str | Path] = (),
        scratch_bytes: int = 512 << 20,
        shm_bytes: int = 64 << 20,
        startup_timeout_s: float = 30.0,
        python: str | None = None,
        seccomp: bool = True,
        cgroup: bool = True,
        jail_memory_bytes: int | None = None,
        prefork: int = PREFORK,
        call_namespaces: bool = True,
        allow_list: bool = True,
    ) -> None:
        if not 1 <= max_concurrency <= UID_BLOCK - SPARE_SLOTS - prefork:
            raise ValueError(
                f"max_concurrency must be in 1..{UID_BLOCK - SPARE_SLOTS - prefork}, "
                f"got {max_concurrency!r}"
            )
        self.limits = limits or SandboxLimits()
        self.max_concurrency = max_concurrency
        self._uid_base = uid_base
        self._uid_start: int | None = None
        self._uid_lock: int | None = None
        self._hide_paths = tuple(hide_paths)
        self._scratch_bytes = scratch_bytes
        self._shm_bytes = shm_bytes
        self._startup_timeout_s = startup_timeout_s
        self._python = python or _default_python()
        self._seccomp = seccomp
        self._want_cgroup = cgroup
        self._prefork = prefork
        self._call_namespaces = call_namespaces
        self._allow_list = allow_list
        self.jail_memory_bytes = jail_memory_bytes or default_jail_memory_bytes(
            max_concurrency, self.limits.memory_bytes
        )
        """Memory budget of all calls together (the jail's cgroup), when a cgroup is used."""
        self._cgroup: JailCgroup | None = None
        self._cgroup_note = "disabled by configuration" if not cgroup else "not started"
        self._oom_seen = 0
        self._bwrap: str | None = None
        self._bwrap_reason: str | None = None
        if bwrap is None:
            self._bwrap_reason = "disabled by configuration"
        else:
            found = shutil.which(bwrap)
            if found is None:
                self._bwrap_reason = f"{bwrap!r} not found"
            else:
                self._bwrap = found
        self._sem = asyncio.Semaphore(max_concurrency)
        self._start_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._pings = itertools.count(1)
        self._calls: dict[int, Call] = {}
        self._zygote: _Zygote | None = None
        self._runtime_dir: str | None = None
        self._owner_lock: int | None = None
        self._isolation = "not started"
        self._warned = False
        self._preload_wide = False
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.restarts = 0
        """How many times the zygote had to be started again after dying."""
        self.retired_slots = 0
        """Slots the zygote retired (something of a call outlived it; each is replaced)."""
        self._slot_oom_seen: dict[int, int] = {}

    # ------------------------------------------------------------------ public API

    @property
    def isolation(self) -> str:
        """``"bwrap"``, or ``"process (bwrap unavailable: <reason>)"`` in the fallback, with
        a note when calls cannot get their own uid; ``"not started"`` before the start."""
        return self._isolation

    @property
    def info(self) -> dict[str, Any]:
        """Details for a run summary: isolation, the zygote's report, restarts."""
        z = self._zygote
        return {
            "isolation": self._isolation,
            "zygote": dict(z.info) if z is not None else None,
            "restarts": self.restarts,
            "max_concurrency": self.max_concurrency,
            "cgroup": self._cgroup.dirs if self._cgroup is not None else self._cgroup_note,
            "jail_memory_bytes": self.jail_memory_bytes if self._cgroup is not None else None,
        }

    @property
    def server_pid(self) -> int | None:
        """Host pid of the process the sandbox started (bwrap, or the zygote itself)."""
        z = self._zygote
        return z.proc.pid if z is not None and z.alive else None

    @property
    def call_uids(self) -> range | None:
        """The uids calls run as (one per slot), or None when calls share the harness's."""
        z = self._zygote
        if z is None or not z.info.get("uid_mode") or self._uid_start is None:
            return None
        return range(self._uid_start, self._uid_start + self._slots())

    def _slots(self) -> int:
        return self.max_concurrency + SPARE_SLOTS + self._prefork

    async def start(self) -> None:
        """Start the zygote (done by the first ``run`` otherwise); raise SandboxError if
        neither bubblewrap nor the plain process fallback can start."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        if self._zygote is not None and self._zygote.alive:
            return
        async with self._start_lock:
            if self._closed:
                raise SandboxError("the sandbox is closed")
            if self._zygote is not None:
                if self._zygote.alive:
                    return
                await self._dispose(self._zygote, graceful=False)
                self._zygote = None
                self.restarts += 1
            self._prepare_runtime_dir()
            if self._want_cgroup and self._cgroup is None and self._cgroup_note == "not started":
                pids = self._slots() * self.limits.max_processes + 64
                self._cgroup, self._cgroup_note = JailCgroup.create(
                    self.jail_memory_bytes,
                    pids,
                    slots=UID_BLOCK,
                    slot_memory_bytes=self.limits.memory_bytes,
                )
                if self._cgroup is None:
                    log.info("python tool sandbox: no jail cgroup (%s)", self._cgroup_note)
                else:
                    self._oom_seen = self._cgroup.oom_kills()
            if self._bwrap is not None and self._bwrap_reason is None:
                try:
                    self._zygote = await self._spawn(jailed=True)
                except SandboxError as exc:
                    self._bwrap_reason = f"self-test failed: {exc}"
                else:
                    self._isolation = self._describe(self._zygote, None)
                    log.info("python tool sandbox started: isolation=%r", self._isolation)
                    return
            reason = self._bwrap_reason or "unknown"
            self._zygote = await self._spawn(jailed=False)
            self._isolation = self._describe(self._zygote, reason)
            if not self._warned:
                self._warned = True
                extra = ""
                if self._preload_wide:
                    extra = (
                        " The calls' uid cannot read the interpreter's files: only modules "
                        "the sandbox preloads are importable."
                    )
                info = self._zygote.info
                exposed = ["read the host's filesystem"]
                if not info.get("call_namespaces"):
                    exposed.append("reach the network")
                if not info.get("pid_namespaces"):
                    exposed.append("see host processes")
                log.warning(
                    "python tool sandbox: bubblewrap unavailable (%s); falling back to plain "
                    "process isolation: the model's code can %s. isolation=%r.%s",
                    reason,
                    ", ".join(exposed),
                    self._isolation,
                    extra,
                )

    async def run(self, code: str, limits: SandboxLimits | None = None) -> ExecResult:
        """Run one ``python_expression`` call; see the class docstring for the semantics.

        ``limits``: tighter limits for this call only (the HTTP service maps a request's
        timeout and memory onto them); each must be at most the sandbox's own, and
        ``disk_bytes`` is the sandbox's (ValueError otherwise)."""
        started = time.perf_counter()
        limits = self._call_limits(limits)
        data = code.encode("utf-8", "surrogatepass")
        if len(data) > MAX_CODE_BYTES:
            return ExecResult(
                "",
                f"ValueError: the code is {len(data)} bytes; the limit is {MAX_CODE_BYTES}",
                False,
                time.perf_counter() - started,
            )
        async with self._sem:
            await self.start()
            zygote = self._zygote
            assert zygote is not None
            call = Call(next(self._ids), limits, self)
            self._calls[call.id] = call
            try:
                await self._launch(zygote, call, data)
                await self._until_settled(zygote, call, limits.timeout_s)
                try:
                    await asyncio.wait_for(asyncio.shield(call.drained), DRAIN_S)
                except TimeoutError:
                    pass
            finally:
                if call.outcome is None:  # cancelled: stop the call
                    self.send_nowait({"op": "kill", "id": call.id})
                call.close_all()
                self._calls.pop(call.id, None)
        return call.result(time.perf_counter() - started)

    async def _until_settled(self, zygote: _Zygote, call: Call, timeout_s: float) -> None:
        """Wait for the zygote's report of ``call``.

        Past the call's limit and the zygote's teardown allowance, ask whether the zygote
        still serves: processes slow to die (a call that made them so) are the zygote's to
        report, never a reason to restart it and lose every other call in flight. A zygote
        that does not answer, or answers but never reports the call, is lost."""
        wait_s = timeout_s + TEARDOWN_S + BACKSTOP_S
        for _ in range(BACKSTOP_ROUNDS):
            try:
                await asyncio.wait_for(asyncio.shield(call.settled), wait_s)
                return
            except TimeoutError:
                if not await self._answers(zygote):
                    break
            wait_s = TEARDOWN_S + BACKSTOP_S
        self._lose(zygote, "the sandbox server stopped answering; it was restarted")
        call.settle({"op": "lost", "message": "the sandbox server stopped answering"})

    async def _answers(self, zygote: _Zygote) -> bool:
        """Whether the zygote answers a ping within ``BACKSTOP_S``."""
        if not zygote.alive:
            return False
        n = next(self._pings)
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        zygote.pongs[n] = pong
        self.send_nowait({"op": "ping", "n": n})
        try:
            await asyncio.wait_for(pong, BACKSTOP_S)
        except TimeoutError:
            return False
        finally:
            zygote.pongs.pop(n, None)
        return zygote.alive

    async def aclose(self) -> None:
        """Stop the zygote and every call process; remove the runtime directory."""
        if self._closed:
            return
        self._closed = True
        async with self._start_lock:
            zygote, self._zygote = self._zygote, None
            if zygote is not None:
                await self._dispose(zygote, graceful=True)
            for call in list(self._calls.values()):
                call.settle({"op": "lost", "message": "the sandbox was closed"})
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._runtime_dir is not None:
                shutil.rmtree(self._runtime_dir, ignore_errors=True)
                self._runtime_dir = None
            if self._owner_lock is not None:
                os.close(self._owner_lock)
                self._owner_lock = None
            if self._uid_lock is not None:
                os.close(self._uid_lock)  # releases the uid block
                self._uid_lock = None
            if self._cgroup is not None:
                for _ in range(50):  # the last processes may take a moment to be released
                    self._cgroup.remove()
                    if not self._cgroup.dirs:
                        break
                    await asyncio.sleep(0.02)
                if self._cgroup.dirs:
                    log.warning("sandbox: could not remove cgroup %s", self._cgroup.dirs)
                self._cgroup = None

    # ------------------------------------------------------------------ internals

    def _describe(self, zygote: _Zygote, bwrap_reason: str | None) -> str:
        uid_mode = bool(zygote.info.get("uid_mode"))
        note = "" if uid_mode else f"shared uid: {zygote.info.get('uid_note')}"
        if bwrap_reason is None:
            return "bwrap" if uid_mode else f"bwrap ({note})"
        inner = f"bwrap unavailable: {bwrap_reason}"
        if note:
            inner += f"; {note}"
        return f"process ({inner})"

    def _prepare_runtime_dir(self) -> None:
        if self._runtime_dir is None:
            remove_stale_runtime_dirs()
            try:
                path, self._owner_lock = new_runtime_dir()
            except OSError as exc:
                raise SandboxError(str(exc)) from exc
            os.chmod(path, 0o711)
            shutil.copyfile(ZYGOTE_SOURCE, os.path.join(path, "zygote.py"))
            os.chmod(os.path.join(path, "zygote.py"), 0o644)
            self._runtime_dir = path
        work = os.path.join(self._runtime_dir, "work")
        shutil.rmtree(work, ignore_errors=True)
        os.mkdir(work, 0o711)
        os.chmod(work, 0o711)

    def _plan(self, jailed: bool) -> JailPlan:
        assert self._runtime_dir is not None
        if self._uid_start is None and self._uid_base is not None and os.geteuid() == 0:
            self._claim_uids(self._uid_base)
        uid_base = self._uid_start
        view = jail_view()
        self._preload_wide = (
            not jailed and uid_base is not None and not interpreter_readable_by_others()
        )
        return JailPlan(
            python=self._python,
            zygote=os.path.join(self._runtime_dir, "zygote.py"),
            runtime_dir=self._runtime_dir,
            work_dir=os.path.join(self._runtime_dir, "work"),
            slots=self._slots(),
            uid_base=uid_base,
            scratch_bytes=self._scratch_bytes,
            shm_bytes=self._shm_bytes,
            hidden=(*view.hidden, *default_hidden_paths(self._hide_paths)) if jailed else (),
            needed=(view.binds if self._allow_list else tuple(interpreter_paths()))
            if jailed
            else (),
            allow_list=jailed and self._allow_list,
            symlinks=view.symlinks if jailed and self._allow_list else (),
            preload_wide=self._preload_wide,
            prefork=self._prefork,
            uid_block=UID_BLOCK,
            limits=self._limits_dict(),
            isolate=(
                {
                    "disk_bytes": self.limits.disk_bytes,
                    "shm_bytes": self._shm_bytes,
                    "inodes": CALL_INODES,
                }
                if self._call_namespaces
                else None
            ),
            call_seccomp=seccomp_filter() if self._seccomp else None,
        )

    def _claim_uids(self, base: int) -> None:
        """Claim a block of uids no other sandbox on this host uses (a lock file per block,
        held until ``aclose``; and no live process may already run as one of them).

        Two sandboxes sharing a uid would share RLIMIT_NPROC counts and, without a PID
        namespace, kill each other's processes in their sweeps."""
        lock_dir = os.path.join(tempfile.gettempdir(), "attnrl-sandbox-uids")
        try:
            os.makedirs(lock_dir, mode=0o700, exist_ok=True)
            in_use = _live_uids()
        except OSError as exc:
            log.warning("sandbox: cannot claim a uid block (%s); calls share a uid", exc)
            return
        for block in range(UID_BLOCKS):
            start = base + block * UID_BLOCK
            if any(start <= uid < start + UID_BLOCK for uid in in_use):
                continue
            fd = os.open(os.path.join(lock_dir, f"{start}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._uid_start, self._uid_lock = start, fd
            return
        log.warning("sandbox: every uid block is taken; calls share the harness's uid")

    async def _spawn(self, jailed: bool) -> _Zygote:
        loop = asyncio.get_running_loop()
        plan = self._plan(jailed)
        slot_fds: list[int] = []
        stat_fds: list[int] = []
        cgroup = self._cgroup
        if cgroup is not None and cgroup.slot_dirs:
            try:
                slot_fds = cgroup.open_slot_procs()
            except OSError as exc:
                log.info("python tool sandbox: no per-call memory cgroups (%s)", exc)
            if slot_fds:
                try:
                    stat_fds = cgroup.open_slot_stats()
                except OSError as exc:
                    log.info("python tool sandbox: slots' memory is not checked (%s)", exc)
        plan = dataclasses.replace(
            plan, slot_cgroups=tuple(slot_fds), slot_memory_stats=tuple(stat_fds)
        )
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = child.fileno()
        pass_fds = [fd, *slot_fds, *stat_fds]
        seccomp_r = -1
        if jailed:
            assert self._bwrap is not None
            program = seccomp_filter(role="zygote") if self._seccomp else None
            if program is not None:
                seccomp_r, seccomp_w = os.pipe()
                os.write(seccomp_w, program)  # a few hundred bytes: fits the pipe
                os.close(seccomp_w)
                pass_fds.append(seccomp_r)
            argv = bwrap_argv(
                self._bwrap,
                plan,
                fd,
                as_root=os.geteuid() == 0,
                seccomp_fd=seccomp_r if program is not None else None,
            )
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        else:
            argv = process_argv(plan, fd)
            env = sandbox_env(plan.work_dir)
        if self._cgroup is not None and os.path.exists("/bin/sh"):
            argv = self._cgroup.wrap(argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=pass_fds,
                env=env,
                cwd=plan.runtime_dir,
                start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc
        finally:
            child.close()
            if seccomp_r >= 0:
                os.close(seccomp_r)
            for slot_fd in (*slot_fds, *stat_fds):
                os.close(slot_fd)
        parent.setblocking(False)
        zygote = _Zygote(proc=proc, sock=parent, jailed=jailed, ready=loop.create_future())
        zygote.stderr_task = asyncio.create_task(self._pump_stderr(zygote))
        loop.add_reader(parent.fileno(), self._on_socket, zygote)
        exited: asyncio.Future[Any] = asyncio.ensure_future(proc.wait())
        ready: asyncio.Future[Any] = zygote.ready
        try:
            done, _ = await asyncio.wait(
                {ready, exited},
                timeout=self._startup_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            exited.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await exited
        if zygote.ready.done() and not zygote.ready.cancelled():
            zygote.info = zygote.ready.result()
            return zygote
        await self._dispose(zygote, graceful=False)
        tail = zygote.stderr_tail[-1] if zygote.stderr_tail else "no output"
        if not done:
            raise SandboxError(f"no answer within {self._startup_timeout_s} s ({tail})")
        raise SandboxError(f"exit status {proc.returncode} ({tail})")

    async def _pump_stderr(self, zygote: _Zygote) -> None:
        stream = zygote.proc.stderr
        if stream is None:
            return
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                zygote.stderr_tail.append(text[:500])
                if zygote.ready.done():
                    log.warning("sandbox zygote: %s", text[:500])

    def _on_socket(self, zygote: _Zygote) -> None:
        while True:
            try:
                data = zygote.sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lose(zygote, "the sandbox server exited during the call")
                return
            try:
                msg = json.loads(data)
            except ValueError:
                log.warning("sandbox zygote: unreadable message %r", data[:200])
                continue
            op = msg.get("op") if isinstance(msg, dict) else None
            if op == "ready":
                if not zygote.ready.done():
                    zygote.ready.set_result(msg)
            elif op == "pong":
                n = msg.get("n")
                pong = zygote.pongs.get(n) if isinstance(n, int) else None
                if pong is not None and not pong.done():
                    pong.set_result(None)
            elif op in ("done", "failed"):
                slot = msg.get("slot")
                if isinstance(slot, int) and self._cgroup is not None and self._cgroup.slot_dirs:
                    msg["oom_kill"] = self._slot_oom_kills(slot)
                if isinstance(msg.get("retired"), int):
                    self.retired_slots = max(self.retired_slots, msg["retired"])
                call = self._calls.get(msg.get("id"))
                if call is not None:
                    call.settle(msg)

    def _lose(self, zygote: _Zygote, why: str) -> None:
        """The zygote is gone or wedged: fail its calls; the next ``run`` restarts it."""
        if not zygote.alive:
            return
        zygote.alive = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(zygote.sock.fileno())
        if zygote.ready.done() and not self._closed:
            log.warning("sandbox zygote lost: %s (%s)", why, " | ".join(zygote.stderr_tail))
        for call in list(self._calls.values()):
            call.settle({"op": "lost", "message": why})
        if not zygote.ready.done():
            zygote.ready.cancel()
        task = asyncio.get_running_loop().create_task(self._kill_zygote(zygote))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _kill_zygote(self, zygote: _Zygote) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(zygote.proc.pid, signal.SIGKILL)

    async def _dispose(self, zygote: _Zygote, graceful: bool) -> None:
        zygote.alive = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(zygote.sock.fileno())
        zygote.sock.close()  # the zygote sees EOF, kills its calls and exits
        if not zygote.ready.done():
            zygote.ready.cancel()
        try:
            await asyncio.wait_for(zygote.proc.wait(), 5.0 if graceful else 0.5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(zygote.proc.pid, signal.SIGKILL)
            await zygote.proc.wait()
        if zygote.stderr_task is not None:
            try:
                await asyncio.wait_for(zygote.stderr_task, 2.0)
            except (TimeoutError, asyncio.CancelledError):
                zygote.stderr_task.cancel()

    def _limits_dict(self, limits: SandboxLimits | None = None) -> dict[str, Any]:
        lim = limits or self.limits
        return {
            "timeout_s": lim.timeout_s,
            "cpu_s": lim.cpu_s,
            "memory_bytes": lim.memory_bytes,
            "max_processes": lim.max_processes,
            "max_file_bytes": lim.max_file_bytes,
        }

    def _call_limits(self, limits: SandboxLimits | None) -> SandboxLimits:
        """``limits`` if no looser than the sandbox's own (the jail, its cgroups and the
        harness's backstop are sized by those), else ValueError naming the field."""
        if limits is None or limits == self.limits:
            return self.limits
        for f in dataclasses.fields(SandboxLimits):
            mine, theirs = getattr(self.limits, f.name), getattr(limits, f.name)
            if f.name == "disk_bytes" and theirs != mine:
                raise ValueError(f"a call's disk_bytes is the sandbox's ({mine}), got {theirs}")
            if theirs > mine:
                raise ValueError(f"a call's {f.name} may not exceed the sandbox's {mine}: {theirs}")
        return limits

    def _slot_oom_kills(self, slot: int) -> int:
        """OOM kills in ``slot``'s memory cgroup since its last call was reported: the
        slot runs one call at a time, and the call's processes are all gone by then."""
        assert self._cgroup is not None
        count = self._cgroup.slot_oom_kills(slot)
        if count < 0:
            return 0
        seen = self._slot_oom_seen.get(slot, 0)
        self._slot_oom_seen[slot] = count
        return max(0, count - seen)

    def took_oom_kill(self) -> bool:
        """Whether the kernel OOM-killed something in the jail since last asked."""
        if self._cgroup is None:
            return False
        count = self._cgroup.oom_kills()
        if count > self._oom_seen:
            self._oom_seen = count
            return True
        return False

    def send_nowait(self, msg: dict[str, Any]) -> None:
        zygote = self._zygote
        if zygote is None or not zygote.alive:
            return
        data = json.dumps(msg).encode()
        try:
            zygote.sock.send(data)
        except BlockingIOError:
            task = asyncio.get_running_loop().create_task(self._send(zygote, data, ()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        except OSError:
            pass

    async def _send(self, zygote: _Zygote, data: bytes, fds: Sequence[int]) -> None:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        loop = asyncio.get_running_loop()
        async with self._send_lock:
            while True:
                try:
                    zygote.sock.sendmsg([data], ancillary)
                    return
                except BlockingIOError:
                    writable: asyncio.Future[None] = loop.create_future()
                    fd = zygote.sock.fileno()
                    loop.add_writer(fd, _resolve, writable)
                    try:
                        await asyncio.wait_for(writable, 5.0)
                    finally:
                        loop.remove_writer(fd)

    async def _launch(self, zygote: _Zygote, call: Call, data: bytes) -> None:
        theirs: list[int] = []
        try:
            code_fd = os.memfd_create("python_expression", os.MFD_CLOEXEC)
            theirs.append(code_fd)
            view = memoryview(data)
            while view:
                view = view[os.write(code_fd, view) :]
            for which in ("out", "err", "status"):
                r, w = os.pipe()
                theirs.append(w)
                os.set_blocking(r, False)
                call.watch(r, which)
            limits = self._limits_dict(call.limits)
            msg = json.dumps({"op": "run", "id": call.id, "limits": limits}).encode()
            if not zygote.alive:
                raise OSError("the sandbox server is not running")
            await self._send(zygote, msg, theirs)
        except (OSError, TimeoutError) as exc:
            call.settle({"op": "failed", "message": str(exc) or type(exc).__name__})
        finally:
            for fd in theirs:
                os.close(fd)


def _live_uids() -> set[int]:
    """Real uids of the processes on this host (as far as /proc shows them)."""
    uids: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        uids.add(int(line.split()[1]))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return uids


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _default_python() -> str:
    import sys

    return sys.executable


def open_sandbox(
    limits: SandboxLimits | None = None,
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    **kwargs: Any,
) -> LocalSandbox:
    """The default local sandbox (bubblewrap when available); use it as
    ``async with open_sandbox() as sb: await sb.run(code)``. Keyword arguments go to
    :class:`LocalSandbox`."""
    return LocalSandbox(limits, max_concurrency=max_concurrency, **kwargs)
