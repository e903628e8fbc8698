"""attnrl's TRL reward inside TRL's real ``GRPOTrainer``: a few training steps on a tiny model,
then correct, wrong and malformed completions through TRL's own reward path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grpo_smoke import smoke_config

from attnrl.integrations import trl as attnrl_trl
from attnrl.integrations._commands import MAX_RESPONSE_TOKENS, TRL_CONFIG, trl_python

N_ROWS = 4


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three GRPO steps with ``reward_funcs=`` attnrl's function, recording every call."""
    from trl import GRPOConfig, GRPOTrainer

    calls: list[dict[str, Any]] = []

    def reward_func(**kwargs: Any) -> list[float]:
        rewards = attnrl_trl.reward_func(**kwargs)
        calls.append({"kwargs": kwargs, "rewards": rewards})
        return rewards

    config = smoke_config(tmp_path_factory.mktemp("grpo"))
    trainer = GRPOTrainer(
        model=str(tiny_model_dir),
        reward_funcs=reward_func,
        train_dataset=attnrl_trl.load_dataset("procedural", n=N_ROWS, seed=0),
        args=GRPOConfig(**config),
    )
    trainer.train()
    return {"trainer": trainer, "calls": calls}


def test_the_readme_config_is_a_real_grpo_config(tmp_path: Path) -> None:
    from trl import GRPOConfig

    config = GRPOConfig(**dict(TRL_CONFIG, output_dir=str(tmp_path), use_cpu=True, bf16=False))
    assert config.max_completion_length == MAX_RESPONSE_TOKENS
    assert "max_completion_length=8192" in trl_python()


def test_grpo_trains_and_calls_the_reward_with_the_dataset_columns(
    trained: dict[str, Any],
) -> None:
    trainer, calls = trained["trainer"], trained["calls"]
    assert trainer.state.global_step == 3
    assert len(calls) >= 3
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3
    rows = {row["info"]: row for row in attnrl_trl.load_dataset("procedural", n=N_ROWS, seed=0)}
    for call in calls:
        kwargs, rewards = call["kwargs"], call["rewards"]
        assert {"prompts", "completions", "completion_ids", "answer", "info"} <= set(kwargs)
        assert {"trainer_state", "log_extra", "log_metric"} <= set(kwargs)
        n = len(kwargs["completions"])
        assert n == len(kwargs["prompts"]) == len(kwargs["answer"]) == len(rewards) == 2
        assert all(isinstance(r, float) and 0.0 <= r <= 1.0 for r in rewards)
        for info, answer in zip(kwargs["info"], kwargs["answer"], strict=True):
            assert rows[info]["answer"] == answer  # each completion carries its own row
        # a conversational dataset: completions are assistant messages
        assert all(c[-1]["role"] == "assistant" for c in kwargs["completions"])


def test_correct_wrong_malformed_through_trls_reward_path(
    trained: dict[str, Any], submissions: dict[str, str]
) -> None:
    trainer = trained["trainer"]
    row = attnrl_trl.load_dataset("procedural", n=1, seed=0)[0]
    assert json.loads(row["info"])["seed"] == 0
    names = ("correct", "wrong", "malformed")
    completions = [[{"role": "assistant", "content": submissions[n]}] for n in names]
    ids = [trainer.processing_class(submissions[n])["input_ids"] for n in names]
    rewards = trainer._calculate_rewards(
        [row] * len(names), [row["prompt"]] * len(names), completions, ids
    )
    assert rewards.shape == (3, 1)
    assert rewards[:, 0].tolist() == [1.0, 0.0, 0.0]
