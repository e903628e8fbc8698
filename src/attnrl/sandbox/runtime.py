"""Where a sandbox keeps its runtime files, and how those of a dead sandbox go away.

Each sandbox copies the zygote into a private ``$TMPDIR/attnrl-sandbox-*`` directory. A
harness killed with SIGKILL cannot remove it, so the directory carries an owner lock
(``flock``, released by the kernel when its holder dies): the next sandbox to start removes
every such directory whose lock nobody holds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile

__all__ = ["OWNER_LOCK", "RUNTIME_PREFIX", "new_runtime_dir", "remove_stale_runtime_dirs"]

log = logging.getLogger(__name__)

RUNTIME_PREFIX = "attnrl-sandbox-"
OWNER_LOCK = "owner.lock"
"""Held (flock) by the sandbox that owns a runtime directory, for as long as it lives."""


def new_runtime_dir() -> tuple[str, int]:
    """A fresh runtime directory and its owner lock, held until closed (or our death). A
    sweep that took the lock in the instant before we did may have removed it: retry."""
    for _ in range(5):
        path = tempfile.mkdtemp(prefix=RUNTIME_PREFIX)
        lock = os.path.join(path, OWNER_LOCK)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return path, fd
        except OSError:
            pass
        os.close(fd)
    raise OSError(f"cannot create a runtime directory in {tempfile.gettempdir()}")


def remove_stale_runtime_dirs(tmp: str | None = None) -> list[str]:
    """Remove the runtime directories of sandboxes whose owner is gone (killed with
    SIGKILL, say): those whose owner lock nobody holds. Directories without a lock file
    (another tool's, or being created this instant) are left alone. Returns what it removed."""
    removed: list[str] = []
    tmp = tmp or tempfile.gettempdir()
    try:
        names = os.listdir(tmp)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(tmp, name)
        if not name.startswith(RUNTIME_PREFIX) or os.path.islink(path):
            continue
        try:
            fd = os.open(os.path.join(path, OWNER_LOCK), os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(path, ignore_errors=True)  # holding the lock
            removed.append(path)
        except OSError:
            continue  # its owner is alive
        finally:
            os.close(fd)
    if removed:
        log.info("sandbox: removed %d stale runtime directories", len(removed))
    return removed
