"""Calibration: find the rung of a difficulty ladder whose pass rate is in band for a model.

The ladder (:data:`attnrl.tasks.attention.ladder.LADDER`) orders knob settings of the ``procedural``
preset from easy to hard; what a solver must compute on each rung is measured there
(:func:`attnrl.tasks.attention.ladder.rung_measures`)
and a test checks the order over those measures.
Each visited rung is a real batch (:func:`run_batch`, one instance per run,
``--stop-when-decided``), so it stops as soon as the confidence sequence
says "in band" or "out of band"; a binary search moves harder when a rung is too easy and
easier when too hard, and an undecided rung (its run cap reached) moves toward the band's
centre. The result is a preset card (:mod:`attnrl.stats.card`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attnrl.harness.runner import RunConfig, run_with_models
from attnrl.models.base import ModelSource
from attnrl.stats.calibration_result import choose_rung, result_text
from attnrl.stats.card import CARD_FORMAT, grpo_informative_share, knobs_to_json
from attnrl.stats.cost import Price
from attnrl.task.family import TaskFamily
from attnrl.task.registry import DEFAULT_TASK, TaskPlugin, get_plugin

__all__ = ["CalibrationConfig", "ModelsFor", "calibrate"]

ModelsFor = Callable[[TaskFamily, dict[str, Any], int, int], ModelSource]
"""``(family, knobs, runs, seed) -> models`` of one rung's batch (called inside its loop)."""


@dataclass(frozen=True)
class CalibrationConfig:
    """One calibration: the model, the band, the budgets, and the task whose ladder (of its
    default preset: never a gameable fixed instance) is walked."""

    model: str
    out: Path
    band: tuple[float, float] = (0.10, 0.40)
    max_runs: int = 1000
    """Runs over the whole calibration."""
    rung_runs: int = 300
    """Runs at most on one rung before it counts as undecided."""
    max_cost: float | None = None
    seed: int = 0
    concurrency: int = 16
    max_steps: int = 15
    ladder: tuple[dict[str, Any], ...] = ()
    """Easy to hard; empty: the task's own ladder (:meth:`TaskPlugin.rungs`)."""
    task: str = DEFAULT_TASK
    """The registered task calibrated (``--task``)."""
    prices: dict[str, Price] = field(default_factory=dict)
    """``--pricing`` entries."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Recorded in the card (e.g. the simulated skill)."""

    def __post_init__(self) -> None:
        if self.max_runs < 1 or self.rung_runs < 1:
            raise ValueError(f"--max-runs must be >= 1, got {self.max_runs}")
        if not self.ladder:
            object.__setattr__(self, "ladder", self.plugin.rungs())
        if not self.ladder:
            raise ValueError(f"task {self.task!r} has no difficulty ladder to calibrate on")

    @property
    def plugin(self) -> TaskPlugin:
        return get_plugin(self.task)


def _rung_summary(index: int, knobs: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "rung": index,
        "knobs": knobs_to_json(knobs),
        "runs": summary["runs"],
        "passed": summary["passed"],
        "pass_rate": summary["pass_rate"],
        "pass_rate_ci95": summary["pass_rate_ci95"],
        "pass_rate_cs95": summary["pass_rate_cs95"],
        "verdict": summary["sequence_verdict"],
        "decided_at": summary["decided_at"],
        "cost_usd": summary["cost_usd"]["total"],
        "cost_per_run_usd": summary["cost_usd"]["per_run"],
        "cost_to_verdict_usd": summary["cost_usd"]["to_verdict"],
    }


async def calibrate(config: CalibrationConfig, models_for: ModelsFor) -> dict[str, Any]:
    """Walk the ladder within the budgets and return the preset card (also written to
    ``out/card.json``; each rung's run directory is ``out/rung_NN``)."""
    lo, hi = 0, len(config.ladder) - 1
    centre = sum(config.band) / 2
    runs_left, spent = config.max_runs, 0.0
    visited: list[dict[str, Any]] = []
    chosen: dict[str, Any] | None = None
    families: dict[int, TaskFamily] = {}
    while lo <= hi and runs_left > 0:
        if config.max_cost is not None and spent >= config.max_cost:
            break
        index = (lo + hi) // 2
        knobs = config.ladder[index]
        seed = config.seed * 100 + index
        family = TaskFamily(config.plugin.task_maker(None, **knobs), seed, seeded=True)
        families[index] = family
        runs = min(config.rung_runs, runs_left)
        run_config = RunConfig(
            model=config.model,
            out=config.out / f"rung_{index:02d}",
            runs=runs,
            concurrency=config.concurrency,
            max_steps=config.max_steps,
            seed=seed,
            band=config.band,
            knobs=knobs_to_json(knobs),  # the rung's manifest says what it ran
            progress=False,
            stop_when_decided=True,
            max_cost=None if config.max_cost is None else config.max_cost - spent,
            prices=config.prices,
        )
        summary = await run_with_models(
            run_config, family, functools.partial(models_for, family, knobs, runs, seed)
        )
        rung = _rung_summary(index, knobs, summary) | {
            "family_hash": family.family_hash,
            "workload": _workload(config.plugin, knobs),
        }
        visited.append(rung)
        runs_left -= summary["runs"] + summary["infrastructure_errors"]
        spent += summary["cost_usd"]["total"] or 0.0
        rate = summary["pass_rate"] if summary["pass_rate"] is not None else centre
        if rung["verdict"] == "in band":
            chosen = rung
            break
        if rate > centre:
            lo = index + 1  # too easy (or leaning so): harder
        else:
            hi = index - 1
    chosen, result = choose_rung(visited, config.band)
    card = _card(config, chosen, visited, spent)
    return card | {"result": result, "result_text": result_text(result, chosen, config.band)}


WORKLOAD_PROBES = 20
"""Instances (seeds 0..N-1) over which a rung's workload is measured for the card."""


def _workload(plugin: TaskPlugin, knobs: dict[str, Any]) -> dict[str, Any] | None:
    """What a solver must compute on a rung, and the answer's size (the task's
    :attr:`TaskPlugin.workload` over a few instances; None when the task measures none)."""
    return plugin.measure(knobs, range(WORKLOAD_PROBES))


def _card(
    config: CalibrationConfig,
    chosen: dict[str, Any],
    visited: list[dict[str, Any]],
    spent: float,
) -> dict[str, Any]:
    p = chosen["pass_rate"] or 0.0
    runs_total = sum(r["runs"] for r in visited)
    costs = [r["cost_usd"] for r in visited]
    return {
        "format": CARD_FORMAT,
        "task": config.task,
        "preset": config.plugin.default_preset,
        "knobs": chosen["knobs"],
        "rung": chosen["rung"],
        "model": config.model,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "target_band": list(config.band),
        "verdict": chosen["verdict"],
        "pass_rate": chosen["pass_rate"],
        "passed": chosen["passed"],
        "runs": chosen["runs"],
        "pass_rate_ci95": chosen["pass_rate_ci95"],
        "pass_rate_cs95": chosen["pass_rate_cs95"],
        "sequence": {"method": "beta-binomial mixture (Robbins)", "alpha": 0.05},
        "decided_at": chosen["decided_at"],
        "cost_usd": chosen["cost_usd"],
        "cost_per_run_usd": chosen["cost_per_run_usd"],
        "cost_to_verdict_usd": chosen["cost_to_verdict_usd"],
        "family_hash": chosen["family_hash"],
        "workload": chosen["workload"],
        "grpo_informative_share": grpo_informative_share(p),
        "calibration": {
            "runs": runs_total,
            "cost_usd": None if any(c is None for c in costs) else spent,
            "seed": config.seed,
            "rungs_visited": visited,
            "ladder_size": len(config.ladder),
        }
        | config.extra,
    }
