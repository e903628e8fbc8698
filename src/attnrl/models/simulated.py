"""Offline scripted agents: they write real numpy code, run it through the sandbox, submit.

Each agent follows a :class:`Plan`: the reference, one catalogued bug, or a harness-level
failure (no submission, malformed submission). Its code is written from the instance
data, like a model's would be, and its answer is whatever that code printed, so the
whole path prompt → tools → sandbox → submission → grade is exercised without a key.
Runs made with it are always labelled simulated.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from attnrl.models.base import SIMULATED_NAME, Message, ModelTurn, ToolCall, ToolSpec
from attnrl.task.base import CatalogueEntry, Task
from attnrl.task.tools import PYTHON_TOOL, SUBMIT_TOOL
from attnrl.tasks.attention.solution import solution_code

__all__ = [
    "DOC_MIX",
    "PracticeLearner",
    "Plan",
    "SimulatedAgents",
    "SimulatedModel",
    "SkillModel",
    "assign_plans",
    "fit_plan",
    "solution_code",
]


PlanKind = Literal["reference", "bug", "no_submission", "malformed"]


@dataclass(frozen=True)
class Plan:
    """What one simulated agent will do."""

    kind: PlanKind
    bug: str | None = None
    """The catalogued bug, for ``kind == "bug"``."""
    stumble: bool = False
    """Make a first tool call that raises, then recover (exercises error tool results)."""
    category: str | None = None
    """The bug's failure category, for ``kind == "bug"`` (from the task's catalogue)."""

    @property
    def intended_category(self) -> str | None:
        """The failure category this agent is meant to produce (None: meant to pass)."""
        if self.kind == "reference":
            return None
        if self.kind == "no_submission":
            return "no_submission"
        if self.kind == "malformed":
            return "format"
        return self.category

    def label(self) -> str:
        return self.bug if self.kind == "bug" and self.bug else self.kind


DOC_MIX: dict[str, float] = {
    "success": 4 / 15,
    "dimension": 5 / 15,
    "causal_mask": 3 / 15,
    "numerical": 2 / 15,
    "no_submission": 1 / 15,
}
"""The failure mix the seed document reports: 27% success, 33% dimension, 20% mask, 13%
numerical, 7% no submission (named ``SEED_MIX`` before; that name still works, deprecated)."""


def __getattr__(name: str) -> Any:
    """``SEED_MIX``, the old name of :data:`DOC_MIX`, with a deprecation warning."""
    if name == "SEED_MIX":
        import warnings

        warnings.warn(
            "attnrl.models.simulated.SEED_MIX is deprecated, use DOC_MIX (same mix)",
            DeprecationWarning,
            stacklevel=2,
        )
        return DOC_MIX
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _detectable(task: Task) -> list[CatalogueEntry]:
    """The honest bugs (not the cheap answers) that ``task``'s grading rejects: what a
    simulated agent may make (a bug that passes cannot show its category)."""
    return [
        b for b, e in zip(task.bugs(), task.audit(), strict=True) if e.detected and b.kind == "bug"
    ]


def _bug_plan(bug: CatalogueEntry, *, stumble: bool) -> Plan:
    return Plan("bug", bug=bug.name, stumble=stumble, category=bug.category)


def _counts(mix: dict[str, float], runs: int) -> dict[str, int]:
    """Largest-remainder apportionment of ``runs`` over ``mix``."""
    total = sum(mix.values())
    exact = {k: runs * w / total for k, w in mix.items()}
    counts = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(exact, key=lambda k: (exact[k] - counts[k], k), reverse=True)
    for k in by_remainder[: runs - sum(counts.values())]:
        counts[k] += 1
    return counts


def assign_plans(
    task: Task, runs: int, seed: int | None = None, mix: dict[str, float] | None = None
) -> list[Plan]:
    """One plan per run, in the proportions of ``mix``, reproducible from ``seed``.

    Bug plans use only bugs the task's grading rejects (a bug that passes cannot show
    its category) with the wanted category; a category with none left falls back to
    the detectable bugs of any category.
    """
    rng = random.Random(0 if seed is None else seed)
    detectable = _detectable(task)
    plans: list[Plan] = []
    for kind, count in _counts(mix or DOC_MIX, runs).items():
        for _ in range(count):
            if kind == "success":
                plans.append(Plan("reference", stumble=rng.random() < 0.5))
            elif kind == "no_submission":
                plans.append(Plan("no_submission"))
            elif kind == "format":
                plans.append(Plan("malformed"))
            else:
                pool = [b for b in detectable if b.category == kind] or detectable
                plans.append(_bug_plan(rng.choice(pool), stumble=rng.random() < 0.2))
    rng.shuffle(plans)
    return plans


def _call(turn: int, name: str, arguments: dict[str, Any]) -> ToolCall:
    return ToolCall(id=f"sim_{turn}_{name}", name=name, arguments=arguments)


class SimulatedModel:
    """A scripted agent following one :class:`Plan`; implements :class:`~attnrl.models.Model`."""

    def __init__(self, task: Task, plan: Plan, delay_s: float = 0.0) -> None:
        self.task = task
        self.plan = plan
        self.delay_s = delay_s
        self._code = task.solution_code(plan.bug if plan.kind == "bug" else None)

    @property
    def name(self) -> str:
        return SIMULATED_NAME

    def record_fields(self) -> dict[str, Any]:
        """The plan and the category it means to produce, so the analysis can check that the
        diagnosis recovers it."""
        return {"intended_category": self.plan.intended_category, "plan": self.plan.label()}

    async def generate(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        del tools  # the script knows its two tools
        if self.delay_s:
            import asyncio

            await asyncio.sleep(self.delay_s)
        turn = sum(1 for m in messages if m.role == "assistant")
        if self.plan.kind == "no_submission":
            return self._text("I computed the attention but I am not confident enough to submit.")
        last = messages[-1]
        if turn == 0:
            if self.plan.stumble:
                return self._python(turn, "print(Q_pos)  # forgot that calls are stateless\n")
            return self._python(turn, self._code)
        printed = self._printed(last)
        if printed is None:
            return self._python(turn, self._code)
        if self.plan.kind == "malformed":
            broken = dict(printed)
            broken.pop("final_output", None)
            return self._tool(turn, SUBMIT_TOOL, {"answer": json.dumps(broken)[:-1]})
        return self._tool(turn, SUBMIT_TOOL, {"answer": printed})

    @staticmethod
    def _printed(message: Message) -> dict[str, Any] | None:
        """The answer the previous python call printed, or None if it failed."""
        for result in message.tool_results:
            try:
                payload = json.loads(result.content)
                answer = json.loads(payload["result"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(answer, dict):
                return answer
        return None

    def _python(self, turn: int, code: str) -> ModelTurn:
        return self._tool(turn, PYTHON_TOOL, {"expression": code})

    @staticmethod
    def _tool(turn: int, name: str, arguments: dict[str, Any]) -> ModelTurn:
        return ModelTurn(
            text="", tool_calls=(_call(turn, name, arguments),), stop_reason="tool_use"
        )

    @staticmethod
    def _text(text: str) -> ModelTurn:
        return ModelTurn(text=text, tool_calls=(), stop_reason="end_turn")


class SimulatedAgents:
    """The :class:`~attnrl.models.base.ModelSource` of a simulated batch: one scripted agent
    per run id, following the reproducible plans of :func:`assign_plans`."""

    def __init__(
        self,
        task: Task,
        runs: int,
        seed: int | None = None,
        delay_s: float = 0.0,
        plans: Sequence[Plan] | None = None,
        task_for_run: Callable[[int], Task] | None = None,
    ) -> None:
        """``plans`` replaces the seeded mix (benchmarks script every run as the reference);
        ``task_for_run`` gives each run its own instance (a task family), each agent's bug
        then being one its instance's grading rejects."""
        self.task = task
        self.plans = list(plans) if plans is not None else assign_plans(task, runs, seed)
        if len(self.plans) < runs:
            raise ValueError(f"{len(self.plans)} plans for {runs} runs")
        self.delay_s = delay_s
        self.seed = seed
        self._task_for_run = task_for_run

    @property
    def name(self) -> str:
        return SIMULATED_NAME

    def for_run(self, run_id: int) -> SimulatedModel:
        plan = self.plans[run_id - 1]
        if self._task_for_run is None:
            return SimulatedModel(self.task, plan, delay_s=self.delay_s)
        task = self._task_for_run(run_id)
        rng = random.Random(f"{self.seed}:{run_id}")
        return SimulatedModel(task, fit_plan(plan, task, rng), delay_s=self.delay_s)

    async def aclose(self) -> None:
        """Nothing to release: the agents hold no connections."""


def fit_plan(plan: Plan, task: Task, rng: random.Random) -> Plan:
    """``plan`` on another instance: a bug that instance's grading does not reject (or that
    its catalogue lacks) is swapped for a rejected one of the same category, else of any."""
    if plan.kind != "bug":
        return plan
    detectable = _detectable(task)
    if any(b.name == plan.bug for b in detectable) or not detectable:
        return plan
    pool = [b for b in detectable if b.category == plan.category] or detectable
    return _bug_plan(rng.choice(pool), stumble=plan.stumble)


# ---------------------------------------------------------------------------------------------
# The skill model: offline agents whose pass rate falls as the knobs make the task harder


_PROCEDURAL_DEFAULTS: dict[str, Any] = {
    "heads": (2, 4),
    "tokens": (4, 12),
    "d_model": (3, 12),
    "policy": "strict",
    "tolerance_scale": 1.0,
}


@dataclass(frozen=True)
class SkillModel:
    """A documented stand-in for a real model's ability, so calibration runs offline.

    Each knob adds to a difficulty score d (means of ranges; unset knobs take the
    ``procedural`` defaults)::

        d = 0.5 (heads - 1) + 0.1 (tokens - 4) + 0.05 (d_model - 3) + 0.7 [strict]
            + log2(1 / tolerance_scale) + 0.6 [residual] + 0.8 [layer norm]
            + 0.7 [window mask] - 0.8 [no mask] - 0.6 [no position encoding]

    and a run passes with probability 1 / (1 + exp(d - skill)). A failing run picks its
    failure mode with weights that grow with the knobs behind it: dimension 5 (1 + 0.5
    (heads - 1)), causal mask 3 (1 + [window]) (0 without a mask), numerical 2 (1 +
    log2(1 / tolerance_scale) + [layer norm]), no submission 1 (1 + 0.1 (tokens - 4)): the
    seed's failure mix at its own settings, each mode more likely on the rungs that provoke it.
    Outcomes are drawn independently per run from ``seed``.
    """

    skill: float = 3.0

    @staticmethod
    def _features(knobs: dict[str, Any]) -> dict[str, float]:
        k = _PROCEDURAL_DEFAULTS | {key: v for key, v in knobs.items() if v is not None}

        def mean(value: Any) -> float:
            return sum(value) / 2 if isinstance(value, tuple | list) else float(value)

        mask = k.get("mask")
        kind = getattr(mask, "kind", "causal")
        return {
            "heads": mean(k["heads"]),
            "tokens": mean(k["tokens"]),
            "d_model": mean(k["d_model"]),
            "strict": float(k["policy"] == "strict"),
            "tightness": math.log2(1.0 / float(k["tolerance_scale"])),
            "residual": float(bool(k.get("residual"))),
            "layer_norm": float(bool(k.get("layer_norm"))),
            "window": float(kind == "sliding_window"),
            "no_mask": float(kind == "none"),
            "no_pos": float(k.get("position_encoding") is False),
        }

    def difficulty(self, knobs: dict[str, Any]) -> float:
        f = self._features(knobs)
        return (
            0.5 * (f["heads"] - 1)
            + 0.1 * (f["tokens"] - 4)
            + 0.05 * (f["d_model"] - 3)
            + 0.7 * f["strict"]
            + f["tightness"]
            + 0.6 * f["residual"]
            + 0.8 * f["layer_norm"]
            + 0.7 * f["window"]
            - 0.8 * f["no_mask"]
            - 0.6 * f["no_pos"]
        )

    def pass_probability(self, knobs: dict[str, Any]) -> float:
        return 1.0 / (1.0 + math.exp(self.difficulty(knobs) - self.skill))

    def failure_weights(self, knobs: dict[str, Any]) -> dict[str, float]:
        f = self._features(knobs)
        return {
            "dimension": 5 * (1 + 0.5 * (f["heads"] - 1)),
            "causal_mask": 0.0 if f["no_mask"] else 3 * (1 + f["window"]),
            "numerical": 2 * (1 + max(f["tightness"], 0.0) + f["layer_norm"]),
            "no_submission": 1 * (1 + 0.1 * (f["tokens"] - 4)),
        }

    def plans(self, task: Task, knobs: dict[str, Any], runs: int, seed: int | None) -> list[Plan]:
        """One independently drawn plan per run on ``task``'s family with ``knobs``."""
        rng = random.Random(f"skill:{0 if seed is None else seed}")
        p = self.pass_probability(knobs)
        weights = self.failure_weights(knobs)
        detectable = _detectable(task)
        plans: list[Plan] = []
        for _ in range(runs):
            if rng.random() < p:
                plans.append(Plan("reference", stumble=rng.random() < 0.5))
                continue
            kind = rng.choices(list(weights), weights=list(weights.values()))[0]
            if kind == "no_submission":
                plans.append(Plan("no_submission"))
                continue
            pool = [b for b in detectable if b.category == kind] or detectable
            plans.append(_bug_plan(rng.choice(pool), stumble=rng.random() < 0.2))
        return plans


@dataclass
class PracticeLearner:
    """A :class:`SkillModel` that learns: a stand-in for a policy under RL, offline.

    A run on a rung passes with the SkillModel's probability at the current ``skill`` (the
    rung's knobs give the difficulty). Practice raises the skill by ``rate`` for each group of
    rollouts whose rewards differ, and not at all for an all-equal group, as GRPO learns only
    from groups with a nonzero advantage: on a rung far too easy or far too hard it stops
    learning, on a rung near p = 0.5 it learns fastest.
    """

    ladder: tuple[dict[str, Any], ...]
    skill: float = 0.5
    rate: float = 0.0003

    def __post_init__(self) -> None:
        if not self.ladder:
            raise ValueError("the learner needs a ladder of at least one rung")
        self._difficulty = [SkillModel().difficulty(knobs) for knobs in self.ladder]

    def pass_probability(self, rung: int) -> float:
        return 1.0 / (1.0 + math.exp(self._difficulty[rung] - self.skill))

    def group(self, rung: int, size: int, rng: random.Random) -> list[float]:
        """One group of ``size`` rollouts on ``rung`` (rewards 1.0 / 0.0), then learn from it."""
        p = self.pass_probability(rung)
        rewards = [float(rng.random() < p) for _ in range(size)]
        if max(rewards) != min(rewards):
            self.skill += self.rate
        return rewards
