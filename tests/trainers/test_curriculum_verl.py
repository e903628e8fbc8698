"""The difficulty controller inside verl's own code: Hydra composes ``ppo_trainer.yaml`` with
the docs' overrides, verl's ``create_rl_dataset`` loads the dataset class from
``data.custom_cls``, verl's ``StatefulDataLoader`` and ``collate_fn`` batch its draws, verl's
reward loop worker scores them through the same file, the rewards reach the controller through
the shared store, and the controller's state rides in the dataloader's checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_verl import _batch, _compose
from test_verl_tools import verl_config  # noqa: F401 - the fixture

from attnrl.integrations._commands import MAX_PROMPT_TOKENS, MAX_RESPONSE_TOKENS, substitute
from attnrl.integrations.curriculum_verl import REWARDS_FILE, VERL_CURRICULUM_OVERRIDES
from attnrl.task.dataset import dataset_row, task_from_info
from attnrl.task.lengths import row_texts
from conftest import reward_file


@pytest.fixture
def config(tmp_path: Path, tiny_model_dir: Path) -> Any:
    overrides = [
        o.replace("$PWD", str(tmp_path))
        for o in substitute(VERL_CURRICULUM_OVERRIDES, reward_file("curriculum_verl"))
    ]
    return _compose(
        [
            *overrides,
            f"data.max_prompt_length={MAX_PROMPT_TOKENS}",
            f"data.max_response_length={MAX_RESPONSE_TOKENS}",
            "data.train_batch_size=2",
            f"actor_rollout_ref.model.path={tiny_model_dir}",
        ]
    )


def _loader(config: Any, tokenizer: Any) -> tuple[Any, Any]:
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler
    from verl.utils.dataset.rl_dataset import collate_fn

    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    loader = StatefulDataLoader(  # as verl's RayPPOTrainer builds it
        dataset=dataset,
        batch_size=config.data.train_batch_size,
        num_workers=config.data.dataloader_num_workers,
        drop_last=True,
        collate_fn=collate_fn,
        sampler=create_rl_sampler(config.data, dataset),
    )
    return dataset, loader


def test_verl_loads_the_dataset_from_its_custom_cls_config(config: Any, tokenizer: Any) -> None:
    assert config.data.custom_cls.path == reward_file("curriculum_verl")
    assert config.reward.custom_reward_function.path == reward_file("curriculum_verl")
    dataset, loader = _loader(config, tokenizer)
    assert type(dataset).__name__ == "CurriculumDataset"
    batch = next(iter(loader))
    infos = list(batch["extra_info"])
    assert len(infos) == 2 and [i["draw"] for i in infos] == [1, 2]
    assert {i["rung"] for i in infos} <= {1, 2, 3}  # start rung 2 and its neighbours
    assert all(i["curriculum_store"] == str(dataset.store) for i in infos)


def test_rewards_from_verls_reward_worker_reach_the_controller(config: Any, tokenizer: Any) -> None:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    dataset, loader = _loader(config, tokenizer)
    batch = next(iter(loader))
    rows = [
        {k: batch[k][i] for k in ("raw_prompt", "data_source", "reward_model", "extra_info")}
        for i in range(2)
    ]
    # each row answered correctly, twice (verl's rollout.n repeats a prompt)
    answers = [
        row_texts(dataset_row(task_from_info(r["extra_info"]["info"])))["answer_4dp"] for r in rows
    ]
    worker = RewardLoopWorker(config)
    data = _batch(
        tokenizer, [r for r in rows for _ in (0, 1)], [a for a in answers for _ in (0, 1)]
    )
    scores = worker.loop.run_until_complete(worker.compute_score_batch(data))
    assert [s["reward_score"] for s in scores] == [1.0] * 4
    assert len((dataset.store / REWARDS_FILE).read_text().splitlines()) == 4
    assert dataset.sync() == 4
    controller = dataset.controller
    assert controller.steps == 1
    for r in rows:
        assert controller.estimate(r["extra_info"]["rung"]) == 1.0
    assert dataset.last_report["curriculum/zero_variance"] == 1.0  # both groups all-pass


def test_the_controller_state_rides_in_the_dataloader_checkpoint(
    config: Any, tokenizer: Any
) -> None:
    dataset, loader = _loader(config, tokenizer)
    it = iter(loader)
    next(it)
    for draw in (1, 2):
        dataset.controller.observe(2, 1.0, group=draw)
    dataset.controller.step()
    saved = loader.state_dict()
    restored, restored_loader = _loader(config, tokenizer)
    restored_loader.load_state_dict(saved)
    next(iter(restored_loader))
    assert restored.controller.steps == 1 and restored.controller.estimate(2) == 1.0
    assert restored.source == dataset.source  # its rewards in the store are still its own


def test_a_restored_run_counts_each_draw_once(config: Any, tokenizer: Any) -> None:
    """verl checkpoints (the dataloader's state, the controller's with it), trains a step
    whose rewards reach the store, dies, and restarts from the checkpoint: the restored
    controller draws the same rows again and scores them anew. The dead run's lines for those
    draws are set aside, so every draw is counted once; a torn line is skipped; lines of draws
    from before the checkpoint scored after it still count."""
    from attnrl.integrations import curriculum_verl

    def score(rows: list[dict[str, Any]]) -> None:  # verl's reward worker, per response
        for row in rows:
            for _ in (0, 1):  # rollout.n = 2
                curriculum_verl.compute_score(
                    "attnrl", "no answer", row["reward_model"]["ground_truth"], row["extra_info"]
                )

    dataset, loader = _loader(config, tokenizer)
    it = iter(loader)
    first = _rows(next(it))
    score(first[:1])  # one row scored before the checkpoint, the other after it
    saved = loader.state_dict()
    score(first[1:])
    lost = _rows(next(it))
    score(lost)  # then the job dies
    with (dataset.store / REWARDS_FILE).open("a") as f:
        f.write('{"source": "' + dataset.source + '", "rung"')  # torn by the crash
    restored, restored_loader = _loader(config, tokenizer)
    restored_loader.load_state_dict(saved)
    again = _rows(next(iter(restored_loader)))
    assert [r["extra_info"]["draw"] for r in again] == [r["extra_info"]["draw"] for r in lost]
    score(again)
    restored.sync()
    counted = sum(seq["n"] for seq in restored.controller.state_dict()["sequences"])
    assert counted == 2 * (len(first) + len(again))  # each draw's two responses, once


def _rows(batch: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: batch[k][i] for k in ("reward_model", "extra_info")}
        for i in range(len(batch["extra_info"]))
    ]


def test_the_contract_cases_score_as_verls_adapter(submissions: dict[str, str]) -> None:
    """The curriculum's reward is attnrl's verl reward (tested on the contract's cases)."""
    from attnrl.integrations import curriculum_verl, verl
    from attnrl.integrations._common import build_rows

    info = build_rows("procedural", 1, 0)[0]["info"]
    for text in submissions.values():
        assert curriculum_verl.compute_score("attnrl", text, None, {"info": info}) == (
            verl.compute_score("attnrl", text, None, {"info": info})
        )


def test_rewards_from_verls_tool_agent_loop_reach_the_controller(
    tmp_path: Path,
    verl_config: Any,  # noqa: F811 - the fixture imported from test_verl_tools
    tokenizer: Any,
) -> None:
    """``+data.curriculum.tools=true``: a tool-agent row drawn by the controller runs through
    verl's own ToolAgentLoop (sandbox, submit_answer), and its reward comes back."""
    from agentic_helpers import python_call
    from omegaconf import OmegaConf
    from test_verl_tools import ScriptedServer, _episode

    from attnrl.integrations import curriculum_verl

    config = OmegaConf.create({"curriculum": {"store": str(tmp_path), "start": 2, "tools": True}})
    dataset = curriculum_verl.CurriculumDataset(config=config)
    row = dataset[0]
    assert row["agent_name"] == "tool_agent" and row["tools_kwargs"]
    task = task_from_info(row["extra_info"]["info"])
    output = _episode(verl_config, tokenizer, ScriptedServer(tokenizer, python_call(task)), row)
    extra_info = dict(row["extra_info"]) | dict(output.extra_fields.items())
    response = tokenizer.decode(output.response_ids, skip_special_tokens=True)
    result = curriculum_verl.compute_tool_score(
        row["data_source"], response, row["reward_model"]["ground_truth"], extra_info
    )
    assert result["score"] == 1.0 and result["outcome"] == "full_success"
    assert dataset.sync() == 1
    assert dataset.controller.estimate(row["extra_info"]["rung"]) == 1.0
