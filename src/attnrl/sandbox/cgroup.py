"""A cgroup around the whole jail, and a memory cgroup per call slot under it.

Per-call rlimits count per process: a call may hold ``max_processes`` processes of up to
``memory_bytes`` each. Each slot's own memory cgroup (limit: the call's ``memory_bytes``)
bounds what all processes of the call in that slot use together: past it the kernel's OOM
killer picks among that call's processes only, and counts the kill in that slot's own
counter, so the out-of-memory is reported in that call alone. The jail's cgroup bounds the
total (every call at its limit, at most half the machine), so the host cannot be driven
out of memory by the calls together.

Best effort: cgroup v1 (``memory`` and ``pids`` hierarchies; slots in the memory one) or v2
(a child of the harness's cgroup, when its controllers can be delegated; the jail's
processes then sit in a ``zygote`` leaf beside the slots, as v2 wants no process in an
inner cgroup); created by the harness (root only) under its own cgroup, joined by a
``/bin/sh`` wrapper that then execs bwrap (or the zygote), and removed at close. Each
call's child joins its slot through a descriptor of the slot's ``cgroup.procs`` the harness
opened (so the jail needs no view of the cgroup tree). When it cannot be set up, the
sandbox runs without it and says why.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
from dataclasses import dataclass, field

__all__ = ["JailCgroup", "default_jail_memory_bytes", "remove_stale_cgroups"]


def default_jail_memory_bytes(max_concurrency: int, memory_bytes: int) -> int:
    """Every call at its limit plus the zygote, but at most half the machine's memory."""
    want = max_concurrency * memory_bytes + (256 << 20)
    total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
                    break
    return min(want, total // 2) if total else want


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, root within the hierarchy, fstype, super options) of cgroup mounts."""
    out = []
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        lf, rf = left.split(), right.split()
        if len(lf) >= 5 and len(rf) >= 3 and rf[0] in ("cgroup", "cgroup2"):
            out.append((lf[4], lf[3], rf[0], rf[2]))
    return out


def _own_dir(mountpoint: str, root: str, path: str) -> str | None:
    if root != "/" and not (path == root or path.startswith(root + "/")):
        return None
    rel = path[len(root) :] if root != "/" else path
    return os.path.join(mountpoint, rel.lstrip("/"))


@dataclass
class JailCgroup:
    """The created cgroup directories, what to join, and where OOM kills are counted."""

    dirs: list[str] = field(default_factory=list)
    procs: list[str] = field(default_factory=list)
    oom_file: str | None = None
    memory_bytes: int = 0
    slot_dirs: list[str] = field(default_factory=list)
    """The slots' memory cgroups, by slot (the uid's index in the sandbox's block)."""
    slot_oom_name: str = "memory.oom_control"
    slot_join_name: str = "tasks"
    """What a call's child writes ``0`` to, to join its slot. v1: ``tasks``, which moves
    the (single-threaded) child alone and so skips the global lock a whole-process move
    takes (an RCU grace period: milliseconds per call on a loaded machine); v2:
    ``cgroup.procs``."""

    @classmethod
    def create(
        cls, memory_bytes: int, pids: int, slots: int = 0, slot_memory_bytes: int = 0
    ) -> tuple[JailCgroup | None, str]:
        """Make the cgroup (and ``slots`` memory cgroups of ``slot_memory_bytes`` each
        under it); (None, reason) when it is not possible here."""
        if os.geteuid() != 0:
            return None, "not root"
        try:
            own = [line.split(":", 2) for line in _read("/proc/self/cgroup").splitlines()]
            mounts = _mounts()
        except OSError as exc:
            return None, f"cannot read cgroups: {exc}"
        tag = f"attnrl-sandbox-{os.getpid()}-{secrets.token_hex(4)}"
        cg = cls(memory_bytes=memory_bytes)
        try:
            v1 = {c: p for _, ctrls, p in own for c in ctrls.split(",") if c}
            for ctrl, limit_file, value in (
                ("memory", "memory.limit_in_bytes", str(memory_bytes)),
                ("pids", "pids.max", str(pids)),
            ):
                if ctrl not in v1:
                    continue
                mount = next(
                    (m for m in mounts if m[2] == "cgroup" and ctrl in m[3].split(",")), None
                )
                base = _own_dir(mount[0], mount[1], v1[ctrl]) if mount else None
                if base is None or not os.path.isdir(base):
                    continue
                remove_stale_cgroups(base)
                path = os.path.join(base, tag)
                os.mkdir(path, 0o755)
                cg.dirs.append(path)
                _write(os.path.join(path, limit_file), value)
                cg.procs.append(os.path.join(path, "cgroup.procs"))
                if ctrl == "memory":
                    cg.oom_file = os.path.join(path, "memory.oom_control")
                    for slot in range(slots):
                        cg._add_slot(path, slot, "memory.limit_in_bytes", slot_memory_bytes)
            if not cg.dirs:
                unified = next((p for h, c, p in own if h == "0" and c == ""), None)
                mount = next((m for m in mounts if m[2] == "cgroup2"), None)
                if unified is None or mount is None:
                    return None, "no memory or pids cgroup controller"
                base = _own_dir(mount[0], mount[1], unified)
                if base is None:
                    return None, "the harness's cgroup is outside the mounted hierarchy"
                _write(os.path.join(base, "cgroup.subtree_control"), "+memory +pids")
                remove_stale_cgroups(base)
                path = os.path.join(base, tag)
                os.mkdir(path, 0o755)
                cg.dirs.append(path)
                _write(os.path.join(path, "memory.max"), str(memory_bytes))
                _write(os.path.join(path, "pids.max"), str(pids))
                cg.oom_file = os.path.join(path, "memory.events")
                leaf = os.path.join(path, "zygote")
                os.mkdir(leaf, 0o755)
                cg.dirs.append(leaf)
                cg.procs.append(os.path.join(leaf, "cgroup.procs"))
                cg.slot_oom_name = "memory.events"
                cg.slot_join_name = "cgroup.procs"
                if slots:
                    _write(os.path.join(path, "cgroup.subtree_control"), "+memory +pids")
                for slot in range(slots):
                    cg._add_slot(path, slot, "memory.max", slot_memory_bytes)
        except OSError as exc:
            cg.remove()
            return None, f"cannot set up a cgroup: {exc.strerror or exc}"
        if cg.oom_file is None:
            cg.remove()
            return None, "no memory cgroup controller"
        return cg, ""

    def _add_slot(self, parent: str, slot: int, limit_file: str, limit: int) -> None:
        path = os.path.join(parent, f"s{slot}")
        os.mkdir(path, 0o755)
        self.slot_dirs.append(path)
        _write(os.path.join(path, limit_file), str(limit))

    def open_slot_procs(self) -> list[int]:
        """Descriptors of each slot's process list (read: is anything left in it; write: a
        call's child joins; see :attr:`slot_join_name`), for the zygote; the caller closes
        them once passed."""
        return self._open_in_slots(self.slot_join_name, os.O_RDWR)

    def open_slot_stats(self) -> list[int]:
        """Read-only descriptors of each slot's ``memory.stat``, for the zygote: what a
        finished call left charged to its slot (see ``zygote.memory_left``); the caller
        closes them once passed."""
        return self._open_in_slots("memory.stat", os.O_RDONLY)

    def _open_in_slots(self, name: str, flags: int) -> list[int]:
        """File ``name`` of every slot, opened with ``flags``: all or none."""
        fds: list[int] = []
        try:
            for path in self.slot_dirs:
                fds.append(os.open(os.path.join(path, name), flags | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def slot_oom_kills(self, slot: int) -> int:
        """OOM kills counted in the slot's own memory cgroup so far (-1: no such slot)."""
        if not 0 <= slot < len(self.slot_dirs):
            return -1
        return _oom_count(os.path.join(self.slot_dirs[slot], self.slot_oom_name))

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run by a shell that first joins the cgroup (and lowers its OOM score)."""
        joins = " && ".join(f"echo $$ > {shlex.quote(p)}" for p in self.procs)
        script = f"{joins} && {{ echo -1000 > /proc/self/oom_score_adj; }} 2>/dev/null; "
        script += 'exec "$0" "$@"'
        return ["/bin/sh", "-c", script, *argv]

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer killed in the cgroup so far."""
        return 0 if self.oom_file is None else max(0, _oom_count(self.oom_file))

    def remove(self) -> None:
        """Remove the cgroup directories (they must be empty of processes by now)."""
        for path in reversed(self.slot_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        self.slot_dirs = [p for p in self.slot_dirs if os.path.isdir(p)]
        for path in reversed(self.dirs):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        self.dirs = [p for p in self.dirs if os.path.isdir(p)]


STALE_NAME = re.compile(r"attnrl-sandbox-(\d+)-[0-9a-f]+")
"""Name of a jail cgroup: the harness's pid, then a random tag."""


def remove_stale_cgroups(base: str) -> list[str]:
    """Remove the jail cgroups under ``base`` whose harness is dead (killed before its
    ``remove``): their slot cgroups first, then them. A cgroup that still holds a process,
    or whose pid is alive again, is left alone; returns what was removed."""
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        match = STALE_NAME.fullmatch(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(base, name)
        with contextlib.suppress(OSError):
            for child in os.listdir(path):
                if os.path.isdir(os.path.join(path, child)):
                    os.rmdir(os.path.join(path, child))
            os.rmdir(path)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _oom_count(path: str) -> int:
    """The ``oom_kill`` counter of a ``memory.oom_control`` (v1) or ``memory.events`` (v2)."""
    try:
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return -1
    return 0
