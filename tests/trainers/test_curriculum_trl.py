"""The difficulty controller inside TRL's real ``GRPOTrainer``: rows drawn from the controller,
rewards fed back through the reward function, its metrics in TRL's logs, its state saved with
the trainer's checkpoint and restored on resume. A tiny model on CPU: the wiring, not learning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grpo_smoke import smoke_config

from attnrl.curriculum import ControllerConfig, DifficultyController, RungInstances
from attnrl.integrations.curriculum_trl import (
    CURRICULUM_GRPO_CONFIG,
    CurriculumReward,
    curriculum_callback,
    curriculum_dataset,
)
from attnrl.tasks.attention.ladder import LADDER

START = 2


def _trainer(model: Path, out: Path, controller: DifficultyController, steps: int) -> Any:
    """The docs' setup (docs/curriculum.md), made small enough for a CPU smoke run."""
    from trl import GRPOConfig, GRPOTrainer

    calls: list[dict[str, Any]] = []
    reward = CurriculumReward(controller)

    def recording(**kwargs: Any) -> list[float]:
        rewards = reward(**kwargs)
        calls.append({"rung": list(kwargs["rung"]), "draw": list(kwargs["draw"])})
        return rewards

    recording.__name__ = reward.__name__
    config = smoke_config(
        out,
        **CURRICULUM_GRPO_CONFIG,
        per_device_train_batch_size=4,
        max_steps=steps,
        save_strategy="steps",
        save_steps=2,
    )
    trainer = GRPOTrainer(
        model=str(model),
        reward_funcs=recording,
        train_dataset=curriculum_dataset(controller, RungInstances(LADDER, seed=0)),
        args=GRPOConfig(**config),
        callbacks=[curriculum_callback(controller)],
    )
    trainer.attnrl_calls = calls
    return trainer


def _controller() -> DifficultyController:
    return DifficultyController(ControllerConfig(rungs=len(LADDER), start=START, group_size=2))


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("grpo-curriculum")
    controller = _controller()
    trainer = _trainer(tiny_model_dir, out, controller, steps=3)
    trainer.train()
    return {"trainer": trainer, "controller": controller, "out": out}


def test_grpo_trains_on_rows_the_controller_draws(trained: dict[str, Any]) -> None:
    trainer, controller = trained["trainer"], trained["controller"]
    calls = trainer.attnrl_calls
    assert trainer.state.global_step == 3
    assert len(calls) == 3 and controller.steps == 3  # one controller step per generation
    for call in calls:
        draws = call["draw"]
        # TRL repeats each drawn row num_generations times: a group is one draw on one rung
        assert len(draws) == 4 and draws[0::2] == draws[1::2]
        assert set(call["rung"]) <= set(controller.mix()) | {START}
    seen = [d for call in calls for d in call["draw"][0::2]]
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # drawn in order, never replayed
    assert controller.draws >= max(seen)


def test_the_controller_metrics_are_in_trls_logs(trained: dict[str, Any]) -> None:
    logged = [e for e in trained["trainer"].state.log_history if "loss" in e]
    assert len(logged) == 3
    for entry in logged:
        assert entry["curriculum/rung"] == pytest.approx(START, abs=1.0)
        assert 0.0 <= entry["curriculum/rung_lower"] <= entry["curriculum/rung_upper"] <= 1.0
        assert entry[f"curriculum/mix/{START}"] > 0.5
        assert 0.0 <= entry["curriculum/zero_variance"] <= 1.0


def test_the_state_is_saved_with_the_checkpoint_and_restored_on_resume(
    trained: dict[str, Any], tiny_model_dir: Path
) -> None:
    out = trained["out"]
    saved = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    state = saved["stateful_callbacks"]["CurriculumCallback"]["args"]["curriculum"]
    assert state["format"] == "attnrl-curriculum/1" and state["steps"] == 2
    resumed = _controller()
    assert resumed.steps == 0
    trainer = _trainer(tiny_model_dir, out, resumed, steps=3)
    trainer.train(resume_from_checkpoint=str(out / "checkpoint-2"))
    # restored at step 2, then one more generation batch
    assert trainer.state.global_step == 3
    assert resumed.steps == 3 and len(trainer.attnrl_calls) == 1
    assert resumed.draws > state["draws"]
    first_new = trainer.attnrl_calls[0]["draw"][0]
    assert first_new > state["draws"] - 2  # continues the numbering, does not start over
