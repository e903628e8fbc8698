"""A jail cgroup left by a harness that was killed before its ``remove`` (SIGKILL, OOM) is
removed by the next sandbox that starts, as stale runtime directories are; a live
harness's cgroup is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.sandbox.cgroup import JailCgroup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _memory_base() -> Path:
    cg, note = JailCgroup.create(64 << 20, 64, slots=1, slot_memory_bytes=32 << 20)
    if cg is None:
        pytest.skip(f"no jail cgroup here ({note})")
    base = Path(cg.dirs[0]).parent
    cg.remove()
    return base


def test_a_dead_harness_cgroup_is_removed_and_a_live_one_kept() -> None:
    base = _memory_base()
    stale = base / f"attnrl-sandbox-{_dead_pid()}-0badc0de"
    live = base / f"attnrl-sandbox-{os.getpid()}-0badc0de"
    for path in (stale, live):
        path.mkdir()
        (path / "s0").mkdir()
        (path / "s1").mkdir()
    try:
        cg, note = JailCgroup.create(64 << 20, 64, slots=1, slot_memory_bytes=32 << 20)
        assert cg is not None, note
        cg.remove()
        assert not stale.exists()
        assert (live / "s0").is_dir() and (live / "s1").is_dir()
    finally:
        for path in (stale, live):
            for child in ("s0", "s1"):
                if (path / child).exists():
                    (path / child).rmdir()
            if path.exists():
                path.rmdir()
