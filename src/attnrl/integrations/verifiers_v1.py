"""verifiers v1 (prime-rl's environments): the task as a ``vf.Taskset``.

prime-rl loads only ``verifiers.v1`` tasksets, and v1 resolves a taskset id to an installed
module that exports one ``Taskset`` subclass (and optionally its ``Harness`` and ``Env``)
through ``__all__``. Ours is the id ``attnrl-v1`` (module :mod:`attnrl_v1`, a re-export of
this one), because the module ``attnrl`` itself answers ``vf-eval attnrl`` for verifiers v0
(:mod:`attnrl.integrations.verifiers`)::

    vf-eval attnrl-v1 -m gpt-4.1-mini -n 8 -r 4 --no-push
    vf-eval attnrl-v1 --env.taskset.preset seed-doc -m gpt-4.1-mini -n 1 -r 15
    vf-validate attnrl-v1 -n 100 --runtime.type subprocess

- :class:`AttentionTaskset`: ``procedural`` (the default) is infinite (``INFINITE = True``),
  one instance per seed from ``seed`` on, so a trainer draws as many as it needs and a
  run bounds it with ``-n``; a fixed preset (``seed-doc``, ``seed-doc-text``) is its one instance.
- :class:`AttentionTask`: ``@vf.reward`` is attnrl's :meth:`~attnrl.task.Task.grade` of the
  answer the episode submitted (0 without one), with ``attnrl_passed`` and
  ``attnrl_full_success`` metrics and the grade in ``trace.info["attnrl"]``; ``validate``
  checks the row's gold answer against the grader (the reference passes, a catalogued bug
  does not).
- :class:`~attnrl.integrations._v1_harness.AttentionHarness` (the taskset's default
  harness) runs attnrl's episode with ``python_expression`` in attnrl's sandbox.
- :class:`AttentionEnv`: the single-agent env with this taskset's defaults (harness on the
  host: it executes no model code; the code goes to the jail), holding the worker's
  sandbox open from start to stop.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

from pydantic import field_validator, model_validator

from attnrl.harness.tools import NO_SUBMISSION
from attnrl.integrations._common import grade_submission, install_hint, task_for
from attnrl.integrations._v1_harness import (
    SHARED_SANDBOX,
    AttentionHarness,
    AttentionHarnessConfig,
)
from attnrl.task import Task, load_task
from attnrl.task.dataset import dataset_row
from attnrl.task.grade import Grade
from attnrl.task.registry import DEFAULT_TASK, UnknownTask, get_plugin
from attnrl.tasks.attention.presets import PROCEDURAL, canonical_preset

try:
    import verifiers.v1 as vf
except ImportError as exc:  # pragma: no cover - exercised only without verifiers v1
    raise ImportError(install_hint("verifiers_v1", "verifiers", "verifiers>=0.4")) from exc

__all__ = [
    "AttentionData",
    "AttentionEnv",
    "AttentionEnvConfig",
    "AttentionHarness",
    "AttentionHarnessConfig",
    "AttentionState",
    "AttentionTask",
    "AttentionTaskset",
    "AttentionTasksetConfig",
]

TASKSET_ID = "attnrl-v1"
"""The id v1 (``vf-eval``, ``vf-validate``, prime-rl's ``[env.taskset] id``) loads us by."""


class AttentionData(vf.TaskData):  # type: ignore[misc]
    """One instance on the wire (``trace.task.data``): the prompt the model gets, the row's
    ``info`` (the whole spec and its hash) and its gold ``answer``, both as JSON strings, as
    in :func:`attnrl.task.dataset.dataset_row`."""

    info: str
    answer: str


class AttentionState(vf.State):  # type: ignore[misc]
    """What the episode left for scoring (set by the harness)."""

    submitted: bool = False
    submission: Any = None
    """The answer exactly as the model sent it; graded only when ``submitted``."""
    stop: str | None = None
    """Why the loop ended: submitted, no_tool_use, step_limit (see attnrl.harness.agent)."""
    steps: int = 0
    tool_errors: int = 0
    isolation: str | None = None


class AttentionTask(vf.Task[AttentionData, AttentionState, vf.TaskConfig]):  # type: ignore[misc]
    """An attnrl instance: scored by attnrl's grader, checked by ``validate``."""

    @property
    def key(self) -> str:
        """The spec's content hash: the same instance has the same key in any run."""
        return str(task_for(self.data.info).content_hash)

    def grade(self, trace: Any) -> Grade:
        """The grade of what ``trace``'s episode submitted (``no_submission`` if nothing)."""
        task = task_for(self.data.info)
        state = trace.state
        if not state.submitted:
            return grade_submission(task, NO_SUBMISSION)
        return task.grade(state.submission)

    @vf.reward(weight=1.0)  # type: ignore[untyped-decorator]
    async def attnrl_reward(self, trace: Any) -> float:
        grade = self.grade(trace)
        trace.info["attnrl"] = {
            "outcome": grade.outcome,
            "passed": grade.passed,
            "category": grade.category,
            "message": grade.message,
            "reward": grade.reward,
            "stop": trace.state.stop,
            "isolation": trace.state.isolation,
        }
        return float(grade.reward)

    @vf.metric  # type: ignore[untyped-decorator]
    async def attnrl_passed(self, trace: Any) -> float:
        return 1.0 if self.grade(trace).passed else 0.0

    @vf.metric  # type: ignore[untyped-decorator]
    async def attnrl_full_success(self, trace: Any) -> float:
        return 1.0 if self.grade(trace).outcome == "full_success" else 0.0

    async def validate(self, runtime: Any = None) -> bool:  # noqa: ARG002 - v1 passes it
        """The gold check: the row's ``answer`` earns full success from its own grader."""
        return task_for(self.data.info).grade(self.data.answer).outcome == "full_success"


def attention_task(task: Task, config: Any = None) -> AttentionTask:
    """The v1 task of an attnrl :class:`~attnrl.task.Task`."""
    row = dataset_row(task)
    spec = task.spec
    name = spec.preset if spec.seed is None else f"{spec.preset}#{spec.seed}"
    data = AttentionData(
        id=f"{name}:{task.content_hash[:12]}",
        name=name,
        prompt=task.prompt,
        info=row["info"],
        answer=row["answer"],
    )
    return AttentionTask(data, config)


class AttentionTasksetConfig(vf.TasksetConfig):  # type: ignore[misc]
    """``--env.taskset.*``: which instances load."""

    task_name: str = DEFAULT_TASK
    """The registered attnrl task (``attention``, ``rope``, or a plug-in's); ``task`` is v1's
    own task configuration."""
    preset: str = PROCEDURAL
    """``procedural`` (infinite, one instance per seed) or a fixed preset (one instance)."""
    seed: int = 0
    """The first procedural seed: task ``idx`` i is seed ``seed + i`` (hold out a range for
    evaluation, e.g. 1000000)."""

    @field_validator("preset")
    @classmethod
    def _current_preset_name(cls, value: str) -> str:
        value, note = canonical_preset(value)  # an old name (seed, seed-text) still works
        if note is not None:
            warnings.warn(note, DeprecationWarning, stacklevel=2)
        return value

    @field_validator("task_name")
    @classmethod
    def _known_task(cls, value: str) -> str:
        try:
            get_plugin(value)
        except UnknownTask as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _known_preset(self) -> AttentionTasksetConfig:
        presets = get_plugin(self.task_name).presets
        if self.preset not in presets:
            raise ValueError(
                f"unknown attnrl preset {self.preset!r}; the presets are {list(presets)}"
            )
        return self


class AttentionTaskset(vf.Taskset[AttentionTask, AttentionTasksetConfig]):  # type: ignore[misc]
    """The attnrl instances of one preset, in seed order."""

    INFINITE = True

    def __init__(self, config: AttentionTasksetConfig) -> None:
        super().__init__(config)
        if config.preset not in get_plugin(config.task_name).seeded_presets:
            self.INFINITE = False  # a fixed preset is one instance

    def load(self) -> Iterator[AttentionTask]:
        preset, config, name = self.config.preset, self.config.task, self.config.task_name
        if preset not in get_plugin(name).seeded_presets:
            yield attention_task(load_task(preset, task=name), config)
            return
        for seed in itertools.count(self.config.seed):
            yield attention_task(load_task(preset, seed, task=name), config)


class AttentionEnvConfig(vf.EnvConfig):  # type: ignore[misc]
    """The single ``agent`` seat, its runtime on the host: the harness executes no model
    code there (``EXECUTES_CODE = False``), the code goes to attnrl's sandbox."""

    agent: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())


class AttentionEnv(vf.Env[AttentionEnvConfig]):  # type: ignore[misc]
    """One agent per episode; the worker's sandbox is opened at start, closed at stop."""

    async def run(self, task: Any, agents: Any) -> None:
        await agents.agent.run(task)

    async def start(self) -> None:
        await SHARED_SANDBOX.acquire()

    async def stop(self) -> None:
        await SHARED_SANDBOX.release()
