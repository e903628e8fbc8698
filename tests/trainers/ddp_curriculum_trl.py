"""One process of a two-process ``GRPOTrainer`` run on the controller's stream (started by
``torchrun`` from test_curriculum_trl_ddp.py): the policy is scripted to solve every row on rank
0 and none on rank 1, so each group of 4 (2 completions per process) is half passes. Writes what
this process drew, fed back and ended with to ``<out>/rank<r>.json``.

Run: torchrun --nproc_per_node 2 ddp_curriculum_trl.py MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch.distributed as dist
from grpo_smoke import smoke_config
from trl import GRPOConfig, GRPOTrainer

from attnrl.curriculum import ControllerConfig, DifficultyController, RungInstances
from attnrl.integrations.curriculum_trl import (
    CURRICULUM_GRPO_CONFIG,
    CurriculumReward,
    curriculum_dataset,
)
from attnrl.tasks.attention.ladder import LADDER

STEPS = 4


def main(model: str, out: Path) -> None:
    controller = DifficultyController(ControllerConfig(rungs=len(LADDER), start=2, group_size=4))
    reward = CurriculumReward(controller)
    rows: list[list[int]] = []
    zero_variance: list[float] = []

    def scripted(**kwargs: Any) -> list[float]:
        if dist.get_rank() == 0:  # rank 0 "solves": its completions submit the reference
            solved = [[{"role": "assistant", "content": a}] for a in kwargs["answer"]]
            kwargs["completions"] = solved
        rows.extend([int(r), int(d)] for r, d in zip(kwargs["rung"], kwargs["draw"], strict=True))
        logged: dict[str, float] = {}
        to_trl = kwargs["log_metric"]

        def log_metric(name: str, value: float) -> None:
            logged[name] = value
            to_trl(name, value)

        rewards = reward(**{**kwargs, "log_metric": log_metric})
        zero_variance.append(logged["curriculum/zero_variance"])
        return rewards

    scripted.__name__ = reward.__name__
    config = smoke_config(
        out / "trainer",
        **CURRICULUM_GRPO_CONFIG,
        num_generations=4,
        per_device_train_batch_size=2,  # a group of 4 spans the two processes
        max_steps=STEPS,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=scripted,
        train_dataset=curriculum_dataset(controller, RungInstances(LADDER, seed=0)),
        args=GRPOConfig(**config),
    )
    trainer.train()
    result = {
        "world_size": dist.get_world_size(),
        "rows": rows,
        "steps": controller.steps,
        "zero_variance": zero_variance,
        "state": controller.state_dict(),
    }
    (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
