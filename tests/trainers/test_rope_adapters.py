"""The second task through every trainer's own code: rope rows (``--task rope``) read by TRL's
GRPOTrainer, verl's RLHFDataset and reward loop, and OpenRLHF's dataset code and executor;
the reward functions rebuild the rope task from each row's ``info`` and grade it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from grpo_smoke import smoke_config
from test_openrlhf import execute, readme_prompts
from test_verl import _batch, _readme_config

from attnrl.integrations import trl as attnrl_trl
from attnrl.integrations.openrlhf import openrlhf_rows
from attnrl.integrations.verl import verl_rows
from attnrl.task import load_task

NAMES = ("correct", "wrong", "malformed")


@pytest.fixture(scope="module")
def rope_submissions() -> dict[str, str]:
    """Completions for rope seed 0 (the first row of every dataset here): the reference
    fenced, the ``inverse_rotation`` bug, and text that is not an answer."""
    task = load_task(task="rope", seed=0)
    bug = next(b for b in task.bugs() if b.name == "inverse_rotation")
    return {
        "correct": f"The answer:\n```json\n{task.answer_text()}\n```",
        "wrong": json.dumps(task.entry_answer(bug)),
        "malformed": "the rotated queries are [[1, 2]",
    }


def test_trl_grpo_trains_on_rope_rows_and_grades_them(
    tiny_model_dir: Path, tmp_path: Path, rope_submissions: dict[str, str]
) -> None:
    from trl import GRPOConfig, GRPOTrainer

    calls: list[list[float]] = []

    def reward_func(**kwargs: Any) -> list[float]:
        rewards = attnrl_trl.reward_func(**kwargs)
        calls.append(rewards)
        return rewards

    dataset = attnrl_trl.load_dataset("procedural", n=2, seed=0, task="rope")
    assert all(json.loads(r["info"])["attnrl_task"] == "rope" for r in dataset)
    config = smoke_config(tmp_path, max_steps=1)
    trainer = GRPOTrainer(
        model=str(tiny_model_dir),
        reward_funcs=reward_func,
        train_dataset=dataset,
        args=GRPOConfig(**config),
    )
    trainer.train()
    assert trainer.state.global_step == 1 and calls
    row = dataset[0]
    completions = [[{"role": "assistant", "content": rope_submissions[n]}] for n in NAMES]
    ids = [trainer.processing_class(rope_submissions[n])["input_ids"] for n in NAMES]
    rewards = trainer._calculate_rewards([row] * 3, [row["prompt"]] * 3, completions, ids)
    assert rewards[:, 0].tolist() == [1.0, 0.0, 0.0]


def test_verl_reward_loop_scores_rope_rows(
    tmp_path: Path, tiny_model_dir: Path, tokenizer: Any, rope_submissions: dict[str, str]
) -> None:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.utils.dataset.rl_dataset import RLHFDataset

    pd.DataFrame(verl_rows("procedural", n=2, seed=0, task="rope")).to_parquet(
        tmp_path / "train.parquet"
    )
    pd.DataFrame(verl_rows("procedural", n=1, seed=9, split="test", task="rope")).to_parquet(
        tmp_path / "test.parquet"
    )
    config = _readme_config(tmp_path, tiny_model_dir)
    worker = RewardLoopWorker(config)
    row = RLHFDataset(str(tmp_path / "train.parquet"), tokenizer, config.data)[0]
    data = _batch(tokenizer, [row] * 3, [rope_submissions[n] for n in NAMES])
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    assert [o["reward_score"] for o in outputs] == [1.0, 0.0, 0.0]


def test_openrlhf_executor_scores_rope_rows(
    tmp_path: Path, tokenizer: Any, rope_submissions: dict[str, str]
) -> None:
    rows = openrlhf_rows("procedural", 2, 0, task="rope")
    args, prompts, labels = readme_prompts(tmp_path / "attnrl.jsonl", rows, tokenizer)
    rewards = [
        execute(args, tokenizer, prompts[0], labels[0], rope_submissions[name])["reward"].item()
        for name in NAMES
    ]
    assert rewards == [1.0, 0.0, 0.0]
