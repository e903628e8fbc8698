"""The second task through every trainer's own code: rope rows (``--task rope``) read by TRL's
GRPOTrainer, verl's RLHFDataset and reward loop, and OpenRLHF's dataset code and executor;
the reward functions rebuild the rope task from each row's ``info`` and grade it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from test_openrlhf import _Engine, _Strategy, parse
from test_verl import _batch, _readme_config

from attnrl.integrations import trl as attnrl_trl
from attnrl.integrations._commands import OPENRLHF_ARGS, TRL_CONFIG, substitute
from attnrl.integrations.openrlhf import openrlhf_rows
from attnrl.integrations.verl import verl_rows
from attnrl.task import load_task
from conftest import reward_file

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
    config = dict(
        TRL_CONFIG,
        output_dir=str(tmp_path),
        max_completion_length=8,
        num_generations=2,
        per_device_train_batch_size=2,
        max_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        seed=0,
    )
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
    from openrlhf.datasets import PromptDataset
    from openrlhf.datasets.utils import blending_datasets
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    out = tmp_path / "attnrl.jsonl"
    out.write_text(
        "".join(json.dumps(r) + "\n" for r in openrlhf_rows("procedural", 2, 0, task="rope"))
    )
    mp = pytest.MonkeyPatch()
    try:
        argv = substitute(OPENRLHF_ARGS, reward_file("openrlhf"))
        argv[argv.index("attnrl.jsonl")] = str(out)
        args = parse(argv, mp)
    finally:
        mp.undo()
    strategy = _Strategy(args)
    data = blending_datasets(
        args.data.prompt_dataset,
        args.data.prompt_probs,
        strategy,
        dataset_split=args.data.prompt_split,
    )
    dataset = PromptDataset(data, tokenizer, strategy, input_template=args.data.input_template)
    prompt, label = list(dataset.prompts)[0], list(dataset.labels)[0]
    executor = SingleTurnAgentExecutor(remote_rm_url=args.reward.remote_url)
    rewards = []
    for name in NAMES:
        engine = _Engine(tokenizer(rope_submissions[name], add_special_tokens=False)["input_ids"])
        params = SimpleNamespace(max_tokens=args.rollout.max_new_tokens, logprobs=None)
        result = asyncio.run(
            executor.execute(prompt, label, params, args.data.max_len, tokenizer, engine)
        )
        rewards.append(result["reward"].item())
    assert rewards == [1.0, 0.0, 0.0]
