"""The host's view of a sandbox's processes, for tests that look at them from outside."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def children(pid: int) -> list[int]:
    """The processes any thread of ``pid`` started (none when ``pid`` is gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def process_tree(pid: int, live_only: bool = False) -> set[int]:
    """``pid`` and every process under it, as the host sees them; ``live_only`` leaves out
    zombies (exited, not yet reaped)."""
    out, todo = {pid}, [pid]
    while todo:
        for c in children(todo.pop()):
            if c not in out and not (live_only and _zombie(c)):
                out.add(c)
                todo.append(c)
    return out


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def zygote_pid(sb: Any) -> int:
    """Host pid of a LocalSandbox's zygote: the python in its tree (bwrap's, or the sandbox's
    own process) whose parent is not a python of that tree, as a call's process is."""
    assert sb.server_pid is not None, "the sandbox is not started"
    tree = process_tree(sb.server_pid)
    for pid in tree:
        if not _comm(pid).startswith("python"):
            continue
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent not in tree or not _comm(parent).startswith("python"):
            return pid
    raise AssertionError("no zygote process under the sandbox")
