"""A slot is handed out again only when its last call left no memory charged to it that
nothing reclaims (an adversarial review, 2026-12-04: memfds parked in unix sockets in
flight kept 900 MiB of a 1 GiB slot charged after the call returned, its slot called clean;
a next call there would have had a tenth of its memory)."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from types import ModuleType

import pytest

import attnrl.sandbox
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.local import open_sandbox

ZYGOTE = Path(attnrl.sandbox.__file__).with_name("zygote.py")
MiB = 1 << 20


def _zygote_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zygote_under_test", ZYGOTE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["zygote_under_test"] = module
    spec.loader.exec_module(module)
    return module


V1_STAT = "cache {cache}\nrss {rss}\nrss_huge 0\nshmem {shmem}\nmapped_file 0\n"
V2_STAT = "anon {anon}\nfile {file}\nkernel 0\nsock {sock}\nshmem {shmem}\n"


@pytest.mark.parametrize(
    ("stat", "clean"),
    [
        pytest.param(V1_STAT.format(cache=900 * MiB, rss=0, shmem=900 * MiB), False, id="v1 shmem"),
        pytest.param(V1_STAT.format(cache=0, rss=2 * MiB, shmem=0), False, id="v1 rss"),
        pytest.param(V1_STAT.format(cache=64 * MiB, rss=0, shmem=0), True, id="v1 page cache"),
        pytest.param(V2_STAT.format(anon=0, file=0, sock=3 * MiB, shmem=0), False, id="v2 sock"),
        pytest.param(V2_STAT.format(anon=0, file=9 * MiB, sock=0, shmem=0), True, id="v2 file"),
        pytest.param(V2_STAT.format(anon=0, file=0, sock=0, shmem=MiB - 1), True, id="under 1 MiB"),
    ],
)
def test_a_slot_with_memory_nothing_reclaims_is_not_clean(
    tmp_path: Path, stat: str, clean: bool
) -> None:
    z = _zygote_module()
    (tmp_path / "s0").mkdir()
    path = tmp_path / "memory.stat"
    path.write_text(stat)
    fd = os.open(path, os.O_RDONLY)
    a, b = socket.socketpair()
    try:
        zygote = z.Zygote(sock=a, work=str(tmp_path), slots=1, uid_base=None, memory_stats={0: fd})
        assert zygote.slot_clean(0) is clean
        path.write_text(V1_STAT.format(cache=0, rss=0, shmem=0))  # the collector ran
        assert zygote.slot_clean(0) is True
    finally:
        os.close(fd)
        a.close()
        b.close()


PARK = r"""
import array, os, socket
block = b"\xaa" * (1 << 20)
fds = []
for _ in range({files}):
    fd = os.memfd_create("parked")
    for _ in range(15):
        os.write(fd, block)
    fds.append(fd)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS)
a.sendmsg([b"x"], [(*rights, array.array("i", [a.fileno(), b.fileno(), *fds]))])
b.sendmsg([b"x"], [(*rights, array.array("i", [a.fileno(), b.fileno()]))])
print("parked", {files} * 15)
"""
INNOCENT = """
block = bytearray(300 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
print("kept", len(block) >> 20)
"""


async def test_memory_parked_in_flight_never_reaches_a_later_call() -> None:
    """900 MiB parked in a cycle of unix sockets in flight by one call of a 1 GiB slot;
    then, slot after slot, innocent calls of 300 MiB each: every one keeps its memory, and
    the slots the zygote reports are all checked."""
    limits = SandboxLimits(timeout_s=60.0, cpu_s=60, memory_bytes=1024 * MiB)
    async with open_sandbox(limits, max_concurrency=1) as own:
        await own.run("pass")
        zygote = own.info["zygote"] or {}
        if not zygote.get("slot_cgroups"):
            pytest.skip(f"no per-slot cgroups here ({own.info['cgroup']})")
        assert zygote["slot_memory_stats"] == zygote["slot_cgroups"]
        for _ in range(2):
            parked = await own.run(PARK.format(files=60))
            assert (parked.result, parked.error) == ("parked 900\n", None), parked
            for _ in range(8):  # more than the slots of one call at a time (7)
                result = await own.run(INNOCENT)
                assert (result.result, result.error) == ("kept 300\n", None), result
        assert own.restarts == 0
