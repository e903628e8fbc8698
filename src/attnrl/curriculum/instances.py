"""Instances of a rung: a task's default preset with that rung's knobs, one seed per draw.

Any registered task with a ladder works (:meth:`attnrl.task.registry.TaskPlugin.rungs`);
attention is the default.

A draw is numbered; its instance seed comes from the curriculum seed, the rung and the draw
number (:func:`attnrl.task.family.instance_seed`), so a resumed training redraws the same
instance for the same draw. Rows are the trainers' usual rows
(:func:`attnrl.task.dataset.dataset_row`) plus ``rung`` and ``draw`` columns, which carry each
reward back to its rung and its group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attnrl.task.base import Task
from attnrl.task.dataset import dataset_row
from attnrl.task.family import instance_seed
from attnrl.task.registry import DEFAULT_TASK, get_plugin

__all__ = ["RungInstances"]


class RungInstances:
    """``row(rung, draw)``: the dataset row of one draw on one rung of ``ladder`` (the task's
    own ladder when None)."""

    def __init__(
        self,
        ladder: tuple[dict[str, Any], ...] | None = None,
        seed: int = 0,
        task: str = DEFAULT_TASK,
    ) -> None:
        self.plugin = get_plugin(task)
        ladder = self.plugin.rungs() if ladder is None else ladder
        if not ladder:
            raise ValueError(
                f"task {task!r} has no difficulty ladder; give at least one rung of knobs"
            )
        self.ladder = ladder
        self.seed = seed
        self._factories: dict[int, Callable[[int | None], Task]] = {}

    def __len__(self) -> int:
        return len(self.ladder)

    def _factory(self, rung: int) -> Callable[[int | None], Task]:
        if not 0 <= rung < len(self.ladder):
            raise ValueError(f"rung {rung} does not exist; the ladder has rungs 0-{len(self) - 1}")
        if rung not in self._factories:
            self._factories[rung] = self.plugin.task_maker(None, **self.ladder[rung])
        return self._factories[rung]

    def task(self, rung: int, draw: int) -> Task:
        seed = instance_seed(self.seed * len(self.ladder) + rung, draw)
        return self._factory(rung)(seed)

    def row(self, rung: int, draw: int) -> dict[str, Any]:
        return dataset_row(self.task(rung, draw)) | {"rung": rung, "draw": draw}
