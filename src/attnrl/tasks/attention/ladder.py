"""The difficulty ladder, and what a solver must compute on each rung.

:data:`LADDER` orders knob settings of the ``procedural`` preset from easy to hard; calibration
(:mod:`attnrl.harness.calibrate`) walks it. Its order is not assumed: :func:`rung_measures`
measures, over drawn instances, what a solver must compute on a rung (arithmetic operations,
the numbers in the answer, the rules it follows, the decimals the tolerances need), and a test
checks that no rung asks for less than the one below it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from attnrl.tasks.attention.spec import MaskSpec, TaskSpec

__all__ = [
    "LADDER",
    "MEASURE_NAMES",
    "RungMeasures",
    "Workload",
    "rung_measures",
    "workload_card",
    "workload",
]

_WINDOW = MaskSpec("sliding_window", 3)

LADDER: tuple[dict[str, Any], ...] = (
    {
        "heads": (1, 1),
        "tokens": (4, 4),
        "d_model": (3, 4),
        "policy": "lenient",
        "tolerance_scale": 1.5,
    },
    {"heads": (1, 2), "tokens": (4, 6), "d_model": (3, 6), "policy": "lenient"},
    {"heads": (2, 2), "tokens": (4, 8), "d_model": (4, 8)},
    {"heads": (2, 3), "tokens": (4, 10), "d_model": (4, 10)},
    {},
    {"tolerance_scale": 0.5},
    {"tolerance_scale": 0.5, "residual": True},
    {"tolerance_scale": 0.5, "residual": True, "mask": _WINDOW},
    {"tolerance_scale": 0.25, "residual": True, "mask": _WINDOW, "layer_norm": True},
    {
        "heads": (3, 4),
        "tokens": (8, 12),
        "d_model": (8, 12),
        "tolerance_scale": 0.1,
        "residual": True,
        "mask": _WINDOW,
        "layer_norm": True,
    },
)
"""Easy to hard, built from the knobs (unset: the ``procedural`` defaults, strict policy,
2-4 heads, 4-12 tokens, d_model 3-12, causal mask). Rungs 0-1 use the ``lenient`` policy
(partial credit needs the outputs computed). Every rung's instances keep their answer within
the budget of :mod:`attnrl.tasks.attention.answer_size` (on rung 9 that trims the largest draws)."""


@dataclass(frozen=True)
class Workload:
    """What a solver must compute for one instance."""

    operations: int
    """Arithmetic operations of the forward pass: position adds (3 n d), scores and outputs
    (n^2 d multiply-adds each), softmax (3 per weight: exp, sum, divide), residual (n d),
    layer norm (4 n d)."""
    numbers: int
    """Numbers in the answer."""
    answer_tokens: int
    """:func:`~attnrl.tasks.attention.answer_size.size_estimate` of the answer."""
    rules: int
    """Rules beyond plain attention the prompt states: position encoding, several heads, a mask,
    a window, a residual, a layer norm."""
    precision: float
    """1 / the smallest tolerance: how exactly every number must be right."""
    all_required: bool
    """Whether reward needs every component (``strict``) rather than a subset (partial credit)."""


def workload(spec: TaskSpec) -> Workload:
    """The :class:`Workload` of ``spec``."""
    from attnrl.tasks.attention.answer_size import answer_decimals, answer_numbers, size_estimate

    n, d, h = spec.n_tokens, spec.d_model, len(spec.heads)
    ops = (
        3 * n * d * spec.position_encoding
        + 2 * n * n * d
        + 3 * h * n * n
        + n * d * spec.residual
        + 4 * n * d * spec.layer_norm
    )
    numbers = answer_numbers(spec)
    return Workload(
        operations=ops,
        numbers=numbers,
        answer_tokens=size_estimate(numbers, answer_decimals(spec), len(spec.answer_keys())),
        rules=sum(
            (
                spec.position_encoding,
                h > 1,
                spec.masked,
                spec.mask.kind == "sliding_window",
                spec.residual,
                spec.layer_norm,
            )
        ),
        precision=1.0 / min(spec.tolerance(c) for c in spec.components()),
        all_required=spec.policy == "strict",
    )


@dataclass(frozen=True)
class RungMeasures:
    """Medians (and the largest answer) of :class:`Workload` over a rung's probed instances."""

    operations: float
    numbers: float
    answer_tokens: float
    max_answer_tokens: int
    rules: float
    precision: float
    all_required: float

    def ordered(self) -> tuple[float, ...]:
        """The measures the ladder's order is checked on (harder never asks for less)."""
        return (
            self.operations,
            self.numbers,
            self.rules,
            self.precision,
            self.all_required,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "numbers": self.numbers,
            "answer_tokens": self.answer_tokens,
            "max_answer_tokens": self.max_answer_tokens,
            "rules": self.rules,
            "precision": self.precision,
            "all_required": self.all_required,
        }


MEASURE_NAMES = ("operations", "numbers", "rules", "precision", "all_required")
"""Names of :meth:`RungMeasures.ordered`, in order."""


def rung_measures(specs: Iterable[TaskSpec]) -> RungMeasures:
    """Medians of :func:`workload` over ``specs`` (e.g. a rung's instances of seeds 0..N-1)."""
    loads = [workload(s) for s in specs]
    if not loads:
        raise ValueError("rung_measures needs at least one instance")

    def median(values: Iterable[float]) -> float:
        return float(statistics.median(values))

    return RungMeasures(
        operations=median(w.operations for w in loads),
        numbers=median(w.numbers for w in loads),
        answer_tokens=median(w.answer_tokens for w in loads),
        max_answer_tokens=max(w.answer_tokens for w in loads),
        rules=median(w.rules for w in loads),
        precision=median(w.precision for w in loads),
        all_required=median(float(w.all_required) for w in loads),
    )


def workload_card(specs: Iterable[TaskSpec]) -> dict[str, Any]:
    """:func:`rung_measures` as the calibration card records it."""
    return rung_measures(specs).to_dict()
