"""TRL: ``GRPOTrainer`` trained on what the difficulty controller draws, through TRL's own code.

Three pieces, all TRL's extension points:

- :func:`curriculum_dataset`: a ``datasets.IterableDataset`` whose rows the controller draws
  one at a time (TRL repeats each row ``num_generations`` times itself, so a group is one
  instance); each row carries its ``rung`` and ``draw`` number as columns.
- :class:`CurriculumReward`: the reward function. It grades like
  :func:`attnrl.integrations.trl.reward_func`, feeds every reward back with its rung and group
  (the draw), closes a controller step per generation batch, and logs the step's metrics
  through TRL's ``log_metric`` (they appear in ``trainer.state.log_history``).
- :func:`curriculum_callback`: a callback that saves the controller's state with each checkpoint, in
  ``trainer_state.json`` (``stateful_callbacks``), and restores it on ``resume_from_checkpoint``.

:data:`CURRICULUM_GRPO_CONFIG` are the ``GRPOConfig`` settings this needs: no shuffle buffer
(it would draw a thousand rows ahead of the feedback), no replay of skipped batches on resume
(the stream is not a fixed list), callback states restored.

With several training processes (``accelerate launch``/``torchrun``), TRL has every process read
the same stream and keep its own slice of each batch, and a group of ``num_generations``
completions may span processes. So every process holds a controller built alike, and the
reward function gathers every process's rewards before feeding them back: all controllers see
the same rewards in the same order, stay identical, and draw the same stream; each group is
judged whole (its zero-variance figure counts all its members).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from attnrl.curriculum import DifficultyController, RungInstances
from attnrl.integrations._common import install_hint
from attnrl.integrations.trl import reward_func

__all__ = [
    "CURRICULUM_GRPO_CONFIG",
    "CurriculumReward",
    "curriculum_callback",
    "curriculum_dataset",
    "from_every_process",
]

CURRICULUM_GRPO_CONFIG: dict[str, Any] = {
    "shuffle_dataset": False,
    "ignore_data_skip": True,
    "restore_callback_states_from_checkpoint": True,
}
"""``GRPOConfig`` keyword arguments for a controller-drawn dataset (docs/curriculum.md)."""


def curriculum_dataset(controller: DifficultyController, instances: RungInstances) -> Any:
    """An endless ``datasets.IterableDataset`` of rows drawn from ``controller`` (set
    ``max_steps``)."""
    if len(instances) != controller.config.rungs:
        raise ValueError(
            f"the ladder has {len(instances)} rungs but the controller {controller.config.rungs}"
        )
    try:
        from datasets import IterableDataset
    except ImportError as exc:
        raise ImportError(install_hint("trl", "hf", "the datasets library")) from exc

    def rows() -> Iterator[dict[str, Any]]:
        while True:
            rung = controller.draw()
            yield instances.row(rung, controller.draws)

    return IterableDataset.from_generator(rows)


class CurriculumReward:
    """A TRL reward function that also steers: grade, feed back, step, log."""

    __name__ = "attnrl_curriculum"  # TRL names each reward function's column by it

    def __init__(self, controller: DifficultyController) -> None:
        self.controller = controller

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        answer: Sequence[Any] | None = None,
        info: Sequence[Any] | None = None,
        rung: Sequence[int] | None = None,
        draw: Sequence[int] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_kwargs: Any,
    ) -> list[float]:
        rewards = reward_func(prompts=prompts, completions=completions, answer=answer, info=info)
        if rung is None or draw is None:
            raise ValueError("rows need 'rung' and 'draw' columns: train on curriculum_dataset()")
        local = [(int(r), int(d), reward) for r, d, reward in zip(rung, draw, rewards, strict=True)]
        for r, d, reward in from_every_process(local):
            self.controller.observe(r, reward, group=d)
        report = self.controller.step()
        if log_metric is not None:
            for name, value in report.metrics().items():
                log_metric(name, value)
        return rewards


def from_every_process(items: list[Any]) -> list[Any]:
    """``items`` of every training process, in rank order (``items`` itself when there is one
    process). Every process calls the reward function at the same point of each step, so this
    collective cannot leave one waiting."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - TRL always brings torch
        return items
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def curriculum_callback(controller: DifficultyController, name: str = "default") -> Any:
    """A ``TrainerCallback`` that checkpoints ``controller`` with the trainer
    (:mod:`attnrl.integrations._curriculum_callback`; needs transformers)."""
    try:
        from attnrl.integrations._curriculum_callback import CurriculumCallback, register
    except ImportError as exc:
        raise ImportError(install_hint("trl", "hf", "transformers")) from exc
    register(name, controller)
    return CurriculumCallback(name=name)
