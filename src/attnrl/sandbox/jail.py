"""How the zygote is started: the bubblewrap command line, or the plain process fallback.

The jail sees the host filesystem read-only (``--ro-bind / /``) with a few directories
masked by empty tmpfs (the temp dir, the home directory, the repository the harness runs
from, ``/run``, and any directory the calls' uid could not traverse anyway); the exact
directories the interpreter needs are bound back read-only on top of those masks, so a
virtualenv under ``/tmp`` or ``$HOME`` keeps working. The only writable places are the
calls' work directories (a size-capped tmpfs) and a small ``/dev/shm``. The jail has
no network (an empty network namespace), its own PID, IPC and UTS namespaces, a new
session, a seccomp deny-list (:func:`seccomp_filter`), only the capabilities the zygote
needs (dropped by each call), and dies with the harness.
"""

from __future__ import annotations

import json
import os
import platform
import site
import stat
import struct
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "JailPlan",
    "MountOp",
    "bwrap_argv",
    "default_hidden_paths",
    "interpreter_paths",
    "interpreter_readable_by_others",
    "plan_mounts",
    "process_argv",
    "sandbox_env",
    "seccomp_filter",
]

PROTECTED = frozenset(
    "/ /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc /proc /dev /sys /var /opt /nix /gnu "
    "/srv /boot".split()
)
"""Directories never masked, whatever the environment says HOME or the repo root is."""

THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)

ZYGOTE_CAPS = (
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_KILL",
    "CAP_CHOWN",
    "CAP_DAC_READ_SEARCH",
    "CAP_SYS_ADMIN",
)
"""What the zygote keeps inside bwrap (as root): to drop each call to its own uid, kill
overdue calls, hand each slot its work directory, check it was left empty, and give each
call its own namespaces and tmpfs (CAP_SYS_ADMIN, for ``unshare`` and ``mount`` only: the
seccomp filter refuses the rest). A call's child holds none of them (they go with the uid
drop), and installs the stricter call filter."""


def sandbox_env(work_dir: str | Path) -> dict[str, str]:
    """The whole environment of the zygote and every call: a short allow-list."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(work_dir),
        "TMPDIR": str(work_dir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg",
        # glibc reserves 64 MiB of address space per thread arena; under RLIMIT_AS a few
        # threads would then exhaust the memory limit without using any memory.
        "MALLOC_ARENA_MAX": "2",
    }
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    return env


# seccomp: a small deny-list on top of the namespaces, for kernel attack surface the code has
# no use for. Numbers per architecture; None where the syscall does not exist.
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "clone": 56,
        "clone3": 435,
        "unshare": 272,
        "setns": 308,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "bpf": 321,
        "perf_event_open": 298,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "userfaultfd": 323,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "open_by_handle_at": 304,
        "name_to_handle_at": 303,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "reboot": 169,
        "swapon": 167,
        "swapoff": 168,
        "acct": 163,
        "chroot": 161,
        "inotify_init": 253,
        "inotify_init1": 294,
        "fanotify_init": 300,
        "flock": 73,
        "setpriority": 141,
        "sched_setparam": 142,
        "sched_setscheduler": 144,
        "sched_setattr": 314,
        "fadvise64": 221,
        "readahead": 187,
        "preadv2": 327,
        "pwritev2": 328,
        "fcntl": 72,
        "socket": 41,
        "socketpair": 53,
    },
    "aarch64": {
        "clone": 220,
        "clone3": 435,
        "unshare": 97,
        "setns": 268,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "bpf": 280,
        "perf_event_open": 241,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "userfaultfd": 282,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "open_by_handle_at": 265,
        "name_to_handle_at": 264,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "reboot": 142,
        "swapon": 224,
        "swapoff": 225,
        "acct": 89,
        "chroot": 51,
        "inotify_init1": 26,
        "fanotify_init": 262,
        "flock": 32,
        "setpriority": 140,
        "sched_setparam": 118,
        "sched_setscheduler": 119,
        "sched_setattr": 274,
        "fadvise64": 223,
        "readahead": 213,
        "preadv2": 286,
        "pwritev2": 287,
        "fcntl": 25,
        "socket": 198,
        "socketpair": 199,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_CLONE_NEW_FLAGS = 0x7E020080
"""CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME: no new namespaces."""
_CLONE_NEWPID = 0x20000000
_ZYGOTE_UNSHARE_DENIED = _CLONE_NEW_FLAGS & ~(0x00020000 | 0x08000000 | 0x40000000 | _CLONE_NEWPID)
"""What the zygote may not unshare: all but CLONE_NEWNS|NEWIPC|NEWNET|NEWPID (each call's
own); it may ``setns`` back into its own PID namespace only (CLONE_NEWPID)."""
SOCKET_FAMILIES = (1, 2, 10)
"""AF_UNIX, AF_INET, AF_INET6 (each call has its own empty network namespace); AF_NETLINK
(16) only with protocol NETLINK_ROUTE (0), for the interface queries libc makes. Every
other family (AF_VSOCK, which no network namespace covers, AF_PACKET, ...) is refused
with EAFNOSUPPORT."""
_AF_NETLINK, _NETLINK_ROUTE = 16, 0
_FCNTL_REFUSED = (1024, 1026, 37, 38)
"""``fcntl`` commands refused: a lease (``F_SETLEASE``), dnotify (``F_NOTIFY``, inotify's
predecessor: another call's reads in a shared directory, as events), and the locks of an
open file description (``F_OFD_SETLK``, ``F_OFD_SETLKW``): such a lock lives as long as its
description, which a call can park in a unix socket in flight past its own end, so that
later calls in other slots read a message from its byte range on a shared file. POSIX
record locks stay (a process's own, gone with it; see the sandbox docs' "Not contained":
SQLite in a call's own directory needs them)."""
_NOT_CALLS = ("clone", "clone3", "socket", "socketpair", "fcntl")
"""Syscalls the filter inspects by argument instead of refusing outright."""

SeccompRole = Literal["call", "zygote"]


def seccomp_filter(machine: str | None = None, role: SeccompRole = "call") -> bytes | None:
    """A classic-BPF seccomp program; None if the architecture is not known here (the jail
    then runs without it).

    ``role="call"``: what each call's child installs before the code runs. ``"zygote"``:
    bwrap's ``--seccomp`` for the zygote, the same except that it may ``unshare`` a mount,
    IPC and network namespace and ``mount`` (each call's own namespaces and tmpfs; see
    the zygote's ``_isolate``). Filters stack: a call is bound by both.

    Denied with EPERM: new namespaces (``unshare``, ``setns``, ``clone`` with a CLONE_NEW*
    flag), io_uring, bpf, perf_event_open, keyrings, userfaultfd, module and kexec loading,
    mount APIs, file handles, chroot, swap, acct and reboot; the channels a call could
    open to a concurrent one through the shared read-only files (inotify, fanotify,
    ``flock``, and ``fcntl``'s leases, dnotify and open-file-description locks:
    :data:`_FCNTL_REFUSED`);
    the page-cache probes that would let it pass a message to a later call, a page per bit
    of a shared file cached or not (``fadvise64`` to drop pages, ``readahead``,
    ``preadv2``/``pwritev2``, whose ``RWF_NOWAIT`` reads only cached pages); and lowering
    its own scheduling priority (``setpriority``, ``sched_setscheduler``, ``setparam``,
    ``setattr``), which would starve its teardown when the limits end it.
    ``socket``/``socketpair`` of a family outside :data:`SOCKET_FAMILIES` get
    EAFNOSUPPORT. ``clone3`` gets ENOSYS, so libc falls back to ``clone`` (whose flags a
    filter can inspect). Other ABIs on the same machine (i386, x32) get ENOSYS. Everything
    else is allowed. The zygote's variant also allows ``unshare(CLONE_NEWPID)`` and
    ``setns(fd, CLONE_NEWPID)``: each call's process is PID 1 of its own PID namespace.
    """
    arch = machine or platform.machine()
    if arch not in _SYSCALLS:
        return None
    nrs = _SYSCALLS[arch]
    allow, enosys = 0x7FFF0000, 0x00050000 | 38
    eperm = 0x00050000 | 1
    eafnosupport = 0x00050000 | 97
    ld_abs, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    zygote_ok = ("unshare", "mount", "setns") if role == "zygote" else ()
    deny = sorted(v for k, v in nrs.items() if k not in (*_NOT_CALLS, *zygote_ok))
    prog: list[tuple[int, int, int, int]] = [
        (ld_abs, 0, 0, 4),  # arch
        (jeq, 1, 0, _AUDIT_ARCH[arch]),
        (ret, 0, 0, enosys),
        (ld_abs, 0, 0, 0),  # syscall number
    ]
    if arch == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, enosys)]  # the x32 ABI
    prog += [(jeq, 0, 1, nrs["clone3"]), (ret, 0, 0, enosys)]
    for nr in deny:
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    if role == "zygote":
        prog += [
            (jeq, 0, 4, nrs["unshare"]),
            (ld_abs, 0, 0, 16),  # unshare flags
            (jset, 0, 1, _ZYGOTE_UNSHARE_DENIED),
            (ret, 0, 0, eperm),
            (ret, 0, 0, allow),
            (jeq, 0, 4, nrs["setns"]),
            (ld_abs, 0, 0, 24),  # setns nstype (args[1])
            (jeq, 0, 1, _CLONE_NEWPID),
            (ret, 0, 0, allow),
            (ret, 0, 0, eperm),
        ]
    for nr in (nrs["socket"], nrs["socketpair"]):
        unix, inet, inet6 = SOCKET_FAMILIES
        prog += [
            (jeq, 0, 9, nr),
            (ld_abs, 0, 0, 16),  # the family (args[0])
            (jeq, 5, 0, unix),
            (jeq, 4, 0, inet),
            (jeq, 3, 0, inet6),
            (jeq, 0, 3, _AF_NETLINK),
            (ld_abs, 0, 0, 32),  # the protocol (args[2])
            (jeq, 0, 1, _NETLINK_ROUTE),
            (ret, 0, 0, allow),
            (ret, 0, 0, eafnosupport),
        ]
    refused = len(_FCNTL_REFUSED)
    prog += [
        (jeq, 0, refused + 3, nrs["fcntl"]),
        (ld_abs, 0, 0, 24),  # the command (args[1]; the kernel reads an unsigned int)
        *((jeq, refused - i, 0, cmd) for i, cmd in enumerate(_FCNTL_REFUSED)),
        (ret, 0, 0, allow),
        (ret, 0, 0, eperm),
    ]
    prog += [
        (jeq, 0, 3, nrs["clone"]),
        (ld_abs, 0, 0, 16),  # clone flags: low 32 bits of args[0] (little-endian)
        (jset, 0, 1, _CLONE_NEW_FLAGS),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def _norm(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(str(path)))


def _depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def _is_under(path: str, parent: str) -> bool:
    """True if ``path`` is ``parent`` or inside it."""
    if parent == "/":
        return True
    return path == parent or path.startswith(parent + "/")


def interpreter_paths() -> list[str]:
    """Directories the interpreter (stdlib, extensions, site-packages) needs, as real paths."""
    cands: set[str] = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths = sysconfig.get_paths()
    cands.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)
    cands.update(site.getsitepackages())
    cands.add(os.path.dirname(sys.executable))
    cands.add(os.path.dirname(os.path.realpath(sys.executable)))
    out: set[str] = set()
    for cand in cands:
        for p in (_norm(cand), _norm(os.path.realpath(cand))):
            if os.path.isdir(p):
                out.add(p)
    # Keep only the outermost: binding a directory covers what is inside it.
    return sorted(p for p in out if not any(q != p and _is_under(p, q) for q in out))


def interpreter_readable_by_others() -> bool:
    """Whether another uid can reach the interpreter's directories (no jail needed)."""
    return not _untraversable_ancestors(interpreter_paths())


def _untraversable_ancestors(paths: Iterable[str]) -> set[str]:
    """For each path, the outermost ancestor that others (the calls' uid) cannot enter."""
    found: set[str] = set()
    for path in paths:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            ancestor = str(Path(*parts[:i]))
            try:
                mode = os.stat(ancestor).st_mode
            except OSError:
                break
            if not mode & stat.S_IXOTH:
                found.add(ancestor)
                break
    return found


def _repo_root() -> str | None:
    """The checkout the harness runs from (``<root>/src/attnrl``), else the package dir."""
    pkg = Path(__file__).resolve().parent.parent
    if pkg.parent.name == "src" and (pkg.parent.parent / "pyproject.toml").exists():
        return str(pkg.parent.parent)
    return str(pkg)


def default_hidden_paths(extra: Sequence[str | Path] = ()) -> list[str]:
    """Directories masked by an empty tmpfs in the jail (see the module docstring)."""
    cands: list[str] = ["/tmp", tempfile.gettempdir(), "/run", "/var/run"]
    try:
        cands.append(str(Path.home()))
    except RuntimeError:
        pass
    root = _repo_root()
    if root:
        cands.append(root)
    cands.append(os.getcwd())
    cands.extend(str(p) for p in extra)
    cands.extend(_untraversable_ancestors(interpreter_paths()))
    out: set[str] = set()
    for cand in cands:
        p = _norm(os.path.realpath(cand))
        if p not in PROTECTED and os.path.isdir(p):
            out.add(p)
    return sorted(out)


@dataclass(frozen=True)
class MountOp:
    kind: Literal["mask", "bind"]
    path: str


def plan_mounts(
    needed: Iterable[str], hidden: Iterable[str], root_visible: bool = True
) -> list[MountOp]:
    """The masks and read-only re-binds, in mount order, on top of ``--ro-bind / /``
    (``root_visible``) or of an empty root (the allow-list, :mod:`attnrl.sandbox.allowlist`).

    Every ``needed`` path ends up visible and every ``hidden`` one masked unless it
    is inside a needed one that it would hide (the needed paths win); redundant operations
    are dropped.
    """
    needed_set = {_norm(p) for p in needed}
    hidden_set = {_norm(p) for p in hidden} - needed_set
    ops: dict[str, str] = {}

    def visible_above(path: str) -> bool:
        best, kind = -1, "bind" if root_visible else "mask"  # the root
        for p, k in ops.items():
            if p != path and _is_under(path, p) and _depth(p) > best:
                best, kind = _depth(p), k
        return kind == "bind"

    items: list[tuple[str, str]] = [(h, "mask") for h in hidden_set]
    items += [(n, "bind") for n in needed_set]
    items.sort(
        key=lambda item: (_depth(item[0]), item[1] == "bind", item[0]),
    )
    for path, kind in items:
        shown = visible_above(path)
        if kind == "mask" and shown:
            ops[path] = "mask"
        elif kind == "bind" and not shown:
            ops[path] = "bind"
    return [
        MountOp("mask", p) if k == "mask" else MountOp("bind", p)
        for p, k in sorted(ops.items(), key=lambda kv: (_depth(kv[0]), kv[1] == "bind", kv[0]))
    ]


@dataclass(frozen=True)
class JailPlan:
    """Everything needed to start one zygote."""

    python: str
    zygote: str
    runtime_dir: str
    work_dir: str
    slots: int
    uid_base: int | None
    scratch_bytes: int
    shm_bytes: int
    hidden: tuple[str, ...] = ()
    needed: tuple[str, ...] = ()
    allow_list: bool = False
    """Start from an empty root and bind only ``needed`` (else ``--ro-bind / /``)."""
    symlinks: tuple[tuple[str, str], ...] = ()
    """``(target, path)`` symlinks made at the jail's root (with ``allow_list``)."""
    preload_wide: bool = False
    """Preload much of the stdlib: the calls' uid cannot read the interpreter's files."""
    prefork: int = 0
    """Children the zygote keeps forked and set up ahead of demand."""
    limits: dict[str, Any] | None = None
    """The calls' limits, so the pre-forked children can be set up before a call comes."""
    isolate: dict[str, int] | None = None
    """Per-call namespaces and tmpfs sizes (``disk_bytes``, ``shm_bytes``, ``inodes``), or
    None for none (the zygote also turns them off when it cannot create them)."""
    call_seccomp: bytes | None = None
    """The seccomp program every call installs before its code runs."""
    uid_block: int = 0
    """Uids claimed from ``uid_base`` up (spares replace slots the zygote retires)."""
    slot_cgroups: tuple[int, ...] = ()
    """Descriptors of each slot's memory ``cgroup.procs``, passed to the zygote."""
    slot_memory_stats: tuple[int, ...] = ()
    """Descriptors of each slot's ``memory.stat``, passed to the zygote."""

    def config(self, fd: int) -> str:
        cfg: dict[str, Any] = {
            "fd": fd,
            "work": self.work_dir,
            "slots": self.slots,
            "uid_base": self.uid_base,
            "preload_wide": self.preload_wide,
            "jailed": bool(self.needed),
            "prefork": self.prefork,
            "limits": self.limits,
            "isolate": self.isolate,
            "call_seccomp": self.call_seccomp.hex() if self.call_seccomp else None,
            "uid_block": self.uid_block,
            "slot_cgroups": list(self.slot_cgroups),
            "slot_memory_stats": list(self.slot_memory_stats),
        }
        return json.dumps(cfg)


def bwrap_argv(
    bwrap: str, plan: JailPlan, fd: int, as_root: bool, seccomp_fd: int | None = None
) -> list[str]:
    """The bubblewrap command line that starts the zygote in the jail."""
    argv = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        *(() if plan.allow_list else ("--ro-bind", "/", "/")),
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--size",
        str(plan.shm_bytes),
        "--tmpfs",
        "/dev/shm",
    ]
    for target, path in plan.symlinks:
        argv += ["--symlink", target, path]
    needed = [*plan.needed, plan.runtime_dir]
    ops = plan_mounts(needed, plan.hidden, root_visible=not plan.allow_list)
    masks = [op.path for op in ops if op.kind == "mask"] + ([] if not plan.allow_list else ["/"])
    made: set[str] = set()
    for op in ops:
        if op.kind == "mask":
            argv += ["--tmpfs", op.path]
            continue
        # Directories between a mask and a bind are made in the mask's tmpfs; make them
        # 0755 explicitly (bwrap's default would lock the calls' uid out).
        mask = max(
            (m for m in masks if _is_under(op.path, m) and m != op.path), key=len, default=None
        )
        if mask is not None:
            rel = Path(op.path).relative_to(mask).parts[:-1]
            cur = mask
            for part in rel:
                cur = os.path.join(cur, part)
                if cur not in made:
                    made.add(cur)
                    argv += ["--perms", "0755", "--dir", cur]
        argv += ["--ro-bind", op.path, op.path]
    argv += ["--perms", "0711", "--size", str(plan.scratch_bytes), "--tmpfs", plan.work_dir]
    for op in ops:
        if op.kind == "mask":
            argv += ["--remount-ro", op.path]
    if plan.allow_list:
        argv += ["--remount-ro", "/"]
    if as_root:
        argv += ["--cap-drop", "ALL"]
        for cap in ZYGOTE_CAPS:
            argv += ["--cap-add", cap]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv += ["--clearenv"]
    for key, value in sandbox_env(plan.work_dir).items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", plan.work_dir, "--"]
    argv += process_argv(plan, fd)
    return argv


def process_argv(plan: JailPlan, fd: int) -> list[str]:
    """The zygote's own command line (what bwrap runs, or the fallback runs directly)."""
    return [plan.python, "-I", "-B", plan.zygote, plan.config(fd)]
