"""The difficulty ladder, and what a solver must compute on each rung.

:data:`LADDER` orders knob settings of the ``procedural`` preset from easy to hard; calibration
(:mod:`attnrl.stats.calibrate`) walks it. Its order is not assumed: :func:`rung_measures`
measures, over drawn instances, what a solver must compute on a rung (arithmetic operations,
the numbers in the answer, the rules it follows, the decimals the tolerances need), and a test
checks that no rung asks for less than the one below it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from attnrl.task.spec import MaskSpec, TaskSpec

__all__ = ["LADDER", "RungMeasures", "Workload", "rung_measures", "workload"]

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
        "tokens": (8, 10),
        "d_model": (8, 10),
        "tolerance_scale": 0.1,
        "residual": True,
        "mask": _WINDOW,
        "layer_norm": True,
    },
)
"""Easy to hard, built from the knobs (unset: the ``procedural`` defaults, strict policy,
2-4 heads, 4-12 tokens, d_model 3-12, causal mask). Rungs 0-1 use the ``lenient`` policy
(partial credit needs the outputs computed); rung 9 is capped at 10 tokens and d_model 10 so
its answer fits the tool output and a 4,096-token response (:mod:`attnrl.task.answer_size`)."""
