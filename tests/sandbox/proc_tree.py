"""The host's view of a sandbox's processes, for tests that look at them from outside."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def process_tree(pid: int) -> set[int]:
    """``pid`` and every process under it (any thread's children), as the host sees them."""
    out, todo = {pid}, [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            for c in children:
                if c not in out:
                    out.add(c)
                    todo.append(c)
    return out


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
