"""The controller under a two-process ``GRPOTrainer`` (``torchrun``, gloo on CPU, loopback only):
TRL has both processes read the same stream and keep a slice of each batch, so a group of 4
spans them. Rank 0's completions are scripted to pass, rank 1's to fail: every group is half
passes. The controllers must gather every process's rewards to see that, stay identical, and
keep drawing the same stream; fed only their own slice they would see all-equal groups and
drift apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SRC_PATH = os.pathsep.join([str(HERE.parents[1] / "src"), os.environ.get("PYTHONPATH", "")])


@pytest.fixture(scope="module")
def ranks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("grpo-ddp")
    env = dict(
        os.environ,
        GLOO_SOCKET_IFNAME="lo",  # gloo's pair sockets on loopback, never the machine's address
        OMP_NUM_THREADS="1",
        PYTHONPATH=SRC_PATH,
    )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=127.0.0.1:0",  # a free loopback port
        str(HERE / "ddp_curriculum_trl.py"),
        str(tiny_model_dir),
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_both_processes_trained_as_one_job(ranks: list[dict[str, Any]]) -> None:
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert all(r["steps"] == 4 for r in ranks)  # one controller step per generation batch
    for r in ranks:
        draws = [d for _, d in r["rows"]]
        assert len(draws) == 8 and draws[0::2] == draws[1::2]  # 2 of each group per process


def test_each_group_is_judged_whole(ranks: list[dict[str, Any]]) -> None:
    # half of every group passes (rank 0) and half fails (rank 1): no group is all-equal
    for r in ranks:
        assert r["zero_variance"] == [0.0, 0.0, 0.0, 0.0]


def test_the_controllers_stay_identical_and_draw_the_same_stream(
    ranks: list[dict[str, Any]],
) -> None:
    first, second = ranks
    assert first["state"] == second["state"]
    assert first["rows"] == second["rows"]  # the same draws on the same rungs, in order
