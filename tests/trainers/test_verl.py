"""attnrl's verl reward inside verl's own code: Hydra composes ``ppo_trainer.yaml`` with exactly
the README's overrides, verl's RLHFDataset reads the README's parquet, and verl's reward loop
worker (``load_reward_manager`` -> ``NaiveRewardManager``) scores decoded responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from attnrl.integrations._commands import (
    MAX_PROMPT_TOKENS,
    MAX_RESPONSE_TOKENS,
    VERL_DETAILS_OVERRIDE,
    VERL_OVERRIDES,
    substitute,
    verl_shell,
)
from attnrl.integrations._common import build_rows
from attnrl.integrations.verl import verl_rows
from attnrl.task.lengths import count_tokens_with, length_stats, load_tokenizer
from conftest import reward_file

NAMES = ("correct", "wrong", "malformed")


def _compose(overrides: list[str]) -> Any:
    import verl.trainer
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    config_dir = str(Path(verl.trainer.__file__).parent / "config")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's two parquet files (fewer rows)."""
    out = tmp_path_factory.mktemp("verl-data")
    pd.DataFrame(verl_rows("procedural", n=4, seed=0)).to_parquet(out / "train.parquet")
    pd.DataFrame(verl_rows("procedural", n=2, seed=10_000, split="test")).to_parquet(
        out / "test.parquet"
    )
    return out


def _readme_config(data_dir: Path, model_dir: Path, *extra: str) -> Any:
    overrides = [
        o.replace("=train.parquet", f"={data_dir / 'train.parquet'}").replace(
            "=test.parquet", f"={data_dir / 'test.parquet'}"
        )
        for o in substitute(VERL_OVERRIDES, reward_file("verl"))
    ]
    return _compose([*overrides, f"actor_rollout_ref.model.path={model_dir}", *extra])


def test_the_readme_prints_these_overrides() -> None:
    assert all(override in verl_shell() for override in VERL_OVERRIDES)


def test_readme_overrides_reach_the_reward_config(data_dir: Path, tiny_model_dir: Path) -> None:
    config = _readme_config(data_dir, tiny_model_dir)
    assert config.reward.custom_reward_function.path == reward_file("verl")
    assert config.reward.custom_reward_function.name == "compute_score"
    assert config.data.max_prompt_length == MAX_PROMPT_TOKENS
    assert config.data.max_response_length == MAX_RESPONSE_TOKENS
    assert config.actor_rollout_ref.rollout.prompt_length == MAX_PROMPT_TOKENS
    assert config.actor_rollout_ref.rollout.response_length == MAX_RESPONSE_TOKENS


def test_the_legacy_top_level_key_is_silently_ignored(
    data_dir: Path, tiny_model_dir: Path, tokenizer: Any, submissions: dict[str, str]
) -> None:
    """Why the README uses ``reward.``: main_ppo composes the old key and never reads it, and
    verl's default scorer then fails every attnrl sample."""
    config = _compose(
        [
            f"data.train_files={data_dir / 'train.parquet'}",
            f"custom_reward_function.path={reward_file('verl')}",
            "custom_reward_function.name=compute_score",
            f"actor_rollout_ref.model.path={tiny_model_dir}",
        ]
    )
    assert config.reward.custom_reward_function.path is None
    with pytest.raises(NotImplementedError, match="data_source='attnrl'"):
        _scores(config, tokenizer, data_dir, submissions)


def test_verl_dataset_keeps_every_prompt_under_the_readme_limit(
    data_dir: Path, tiny_model_dir: Path, tokenizer: Any
) -> None:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    # verl's own token count of each templated prompt (its filter; without it an overlong
    # prompt fails the rollout, `truncation: error`)
    config = _readme_config(data_dir, tiny_model_dir, "data.filter_overlong_prompts=true")
    dataset = RLHFDataset(str(data_dir / "train.parquet"), tokenizer, config.data)
    assert len(dataset) == 4  # none overlong at the README's limit
    # The filter counts at least the tokens `attnrl dataset --stats` reports (the chat
    # template adds its own): at the shortest prompt's count it drops every row.
    count = count_tokens_with(load_tokenizer(tiny_model_dir))
    stats = length_stats(verl_rows_as_dataset_rows(4), count)
    shortest = next(s for s in stats if s.field == "prompt" and s.unit == "tokens").min
    config.data.max_prompt_length = shortest
    assert len(RLHFDataset(str(data_dir / "train.parquet"), tokenizer, config.data)) == 0


def verl_rows_as_dataset_rows(n: int) -> list[dict[str, Any]]:
    """The attnrl rows behind ``verl_rows("procedural", n, seed=0)``."""
    return build_rows("procedural", n, 0)


def _batch(tokenizer: Any, rows: list[dict[str, Any]], responses: list[str]) -> Any:
    """A DataProto as verl's rollout hands it to the reward loop: left-padded prompts,
    right-padded responses, one attention mask over both."""
    import torch
    from verl import DataProto

    prompts = [
        tokenizer.apply_chat_template(r["raw_prompt"], add_generation_prompt=True, tokenize=True)
        for r in rows
    ]
    prompts = [p["input_ids"] if isinstance(p, dict) or hasattr(p, "keys") else p for p in prompts]
    answers = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in responses]
    p_len, r_len = max(map(len, prompts)), max(map(len, answers))
    pad = tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + list(p) for p in prompts])
    response_ids = torch.tensor([list(a) + [pad] * (r_len - len(a)) for a in answers])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * len(p) + [1] * len(a) + [0] * (r_len - len(a))
            for p, a in zip(prompts, answers, strict=True)
        ]
    )
    return DataProto.from_single_dict(
        {
            "prompts": prompt_ids,
            "responses": response_ids,
            "attention_mask": mask,
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
            "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
        }
    )


def _scores(config: Any, tokenizer: Any, data_dir: Path, submissions: dict[str, str]) -> list[Any]:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.utils.dataset.rl_dataset import RLHFDataset

    worker = RewardLoopWorker(config)
    assert isinstance(worker.reward_manager, NaiveRewardManager)
    row = RLHFDataset(str(data_dir / "train.parquet"), tokenizer, config.data)[0]
    assert row["extra_info"]["index"] == 0  # seed 0, the instance of `submissions`
    data = _batch(tokenizer, [row] * len(NAMES), [submissions[n] for n in NAMES])
    return list(worker.loop.run_until_complete(worker.compute_score_batch(data)))


def test_reward_loop_scores_correct_wrong_malformed(
    data_dir: Path, tiny_model_dir: Path, tokenizer: Any, submissions: dict[str, str]
) -> None:
    config = _readme_config(data_dir, tiny_model_dir)
    outputs = _scores(config, tokenizer, data_dir, submissions)
    assert [o["reward_score"] for o in outputs] == [1.0, 0.0, 0.0]
    assert [o["reward_extra_info"] for o in outputs] == [{"acc": 1.0}, {"acc": 0.0}, {"acc": 0.0}]


def test_details_option_through_reward_kwargs(
    data_dir: Path, tiny_model_dir: Path, tokenizer: Any, submissions: dict[str, str]
) -> None:
    config = _readme_config(data_dir, tiny_model_dir, VERL_DETAILS_OVERRIDE)
    outputs = _scores(config, tokenizer, data_dir, submissions)
    assert [o["reward_score"] for o in outputs] == [1.0, 0.0, 0.0]
    extra = [o["reward_extra_info"] for o in outputs]
    assert [e["outcome"] for e in extra] == ["full_success", "partial", "invalid"]
    assert [e["passed"] for e in extra] == [True, False, False]
