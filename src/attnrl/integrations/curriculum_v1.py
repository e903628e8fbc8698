"""verifiers v1 (prime-rl): a taskset that draws its instances from the difficulty controller.

:class:`CurriculumTaskset` is :class:`~attnrl.integrations.verifiers_v1.AttentionTaskset` whose
infinite ``load()`` asks the controller for each next rung and yields a fresh instance of it;
each task scores as attnrl's v1 task does and then feeds its reward back (with its rung, and
its draw as the group, since v1 rolls a task out ``-r`` times). The controller closes a step
every ``step_runs`` rewards. Settings are ``--env.taskset.*`` fields (``band``, ``start``,
``group_size``, ``step_runs``), checked when the taskset is built: a bad one is a one-line
error. Taskset, rollouts and scoring run in one env worker process, which holds the one
controller (:attr:`CurriculumTaskset.controller`). prime-rl checkpoints no environment state,
so with ``state_path`` set the taskset keeps the controller's state in that file itself: written
atomically at every controller step, read back when the taskset is built, so a restarted run
goes on from the rung mix and estimates it had. Its id is
``attnrl-curriculum-v1``::

    vf-eval attnrl-curriculum-v1 --env.taskset.start 2 --env.taskset.group-size 4 -r 4 ...
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attnrl.curriculum import (
    DEFAULT_BAND,
    ControllerConfig,
    DifficultyController,
    RungInstances,
    StepReport,
)
from attnrl.harness.rundir import write_json_atomic
from attnrl.integrations._common import install_hint
from attnrl.integrations.verifiers_v1 import (
    AttentionData,
    AttentionTask,
    AttentionTaskset,
    AttentionTasksetConfig,
)
from attnrl.task.dataset import dataset_row

try:
    import verifiers.v1 as vf
except ImportError as exc:  # pragma: no cover - exercised only without verifiers v1
    raise ImportError(install_hint("verifiers_v1", "verifiers", "verifiers>=0.4")) from exc

__all__ = ["CurriculumData", "CurriculumTask", "CurriculumTaskset", "CurriculumTasksetConfig"]

TASKSET_ID = "attnrl-curriculum-v1"
"""The id v1 loads this taskset by (module :mod:`attnrl_curriculum_v1`)."""


class CurriculumData(AttentionData):
    """An attnrl instance with the rung it was drawn on and its draw number."""

    rung: int
    draw: int


class CurriculumTask(AttentionTask):
    """attnrl's v1 task, whose score also goes back to the controller."""

    taskset: CurriculumTaskset | None = None

    async def score(self, trace: Any, runtime: Any = None) -> None:
        await super().score(trace, runtime)
        if self.taskset is not None and "attnrl" in trace.info:
            self.taskset.feed(self.data.rung, float(trace.info["attnrl"]["reward"]), self.data.draw)


class CurriculumTasksetConfig(AttentionTasksetConfig):
    """``--env.taskset.*``: the controller's settings (the preset is ``procedural``'s ladder)."""

    band: tuple[float, float] = DEFAULT_BAND
    start: int = 0
    """The rung to begin on (e.g. the one ``attnrl calibrate`` chose)."""
    group_size: int = 8
    """Rollouts per task (``-r``), for the zero-variance figures."""
    step_runs: int = 64
    """Rewards per controller step."""
    state_path: str | None = None
    """A JSON file that keeps the controller's state across restarts (read at start if it
    exists, rewritten at every step); on a filesystem the env worker sees."""


class CurriculumTaskset(AttentionTaskset, vf.Taskset[CurriculumTask, CurriculumTasksetConfig]):  # type: ignore[misc]
    """Instances of the ladder's rungs, each drawn from the controller when it is needed (the
    second base tells v1's loader which config class ``--env.taskset.*`` fills)."""

    INFINITE = True

    def __init__(self, config: CurriculumTasksetConfig) -> None:
        super().__init__(config)
        if config.step_runs < 1:
            raise ValueError(f"step_runs must be >= 1, got {config.step_runs}")
        self.instances = RungInstances(seed=config.seed, task=config.task_name)
        settings = ControllerConfig(
            rungs=len(self.instances),
            band=config.band,
            start=config.start,
            group_size=config.group_size,
        )
        self.controller = DifficultyController(settings, seed=config.seed)
        self.reports: list[StepReport] = []
        self._runs = 0
        self.state_path = None if config.state_path is None else Path(config.state_path)
        if self.state_path is not None and self.state_path.exists():
            self._restore(self.state_path)

    def _restore(self, path: Path) -> None:
        """Continue from a saved state; one that cannot be read is a one-line error."""
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            self.controller.load_state_dict(saved["controller"])
            self._runs = int(saved["runs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"cannot resume the curriculum from {path} ({exc}); "
                "delete it to start afresh or set state_path to another file"
            ) from None

    def _save(self) -> None:
        if self.state_path is not None:
            state = {"controller": self.controller.state_dict(), "runs": self._runs}
            write_json_atomic(self.state_path, state)

    def load(self) -> Iterator[CurriculumTask]:
        for _ in itertools.count():
            rung = self.controller.draw()
            draw = self.controller.draws
            task = self.instances.task(rung, draw)
            row = dataset_row(task)
            data = CurriculumData(
                id=f"curriculum:{rung}:{draw}",
                name=f"procedural rung {rung}",
                prompt=task.prompt,
                info=row["info"],
                answer=row["answer"],
                rung=rung,
                draw=draw,
            )
            item = CurriculumTask(data, self.config.task)
            item.taskset = self
            yield item

    def feed(self, rung: int, reward: float, draw: int) -> None:
        """One scored rollout; a controller step every ``step_runs``."""
        self.controller.observe(rung, reward, group=draw)
        self._runs += 1
        if self._runs % self.config.step_runs == 0:
            self.reports.append(self.controller.step())
            self._save()
