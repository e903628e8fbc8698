"""The curriculum section of a report: a training trace of the difficulty controller.

A run directory (or a directory of them) may hold ``curriculum.json``, the per-step trace of
one or more training arms (``benchmarks/bench_curriculum.py --trace`` writes it)::

    {"band": [0.1, 0.4], "group_size": 8,
     "arms": {"controller 10-40%": [{"step": 0, "pass_rate": 0.27, "zero_variance": 0.0,
                                     "rung": 2.0}, ...], ...}}

The figure shows each arm's pass rate against the band, above the share of its groups whose
rewards were all equal (both smoothed over a window of steps), so a controller that keeps the
rate in band and an arm that drifts out read side by side.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from attnrl.report.data import ReportError
from attnrl.report.plots import BAND, _svg

__all__ = ["TRACE_FILE", "curriculum_section", "curriculum_svg", "read_trace"]

TRACE_FILE = "curriculum.json"
COLORS = ("#1e88e5", "#8e24aa", "#e53935", "#2e7d32", "#fb8c00")


def read_trace(path: Path) -> dict[str, Any] | None:
    """``path``'s curriculum trace, or None when it has none; a broken one is an error."""
    file = path / TRACE_FILE
    if not file.exists():
        return None
    try:
        trace = json.loads(file.read_text(encoding="utf-8"))
        band = [float(b) for b in trace["band"]]
        arms = {str(k): list(v) for k, v in trace["arms"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportError(
            f"{file} is not a curriculum trace ({exc}); rewrite or remove it"
        ) from None
    return {"band": band, "group_size": trace.get("group_size"), "arms": arms}


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def curriculum_svg(trace: dict[str, Any]) -> str:
    """Pass rate per step against the band (top) and the zero-variance share (bottom)."""
    fig = Figure(figsize=(8.0, 5.0), dpi=96)
    fig.set_layout_engine("constrained")
    rate_ax, zero_ax = fig.subplots(2, 1, sharex=True)
    band = trace["band"]
    rate_ax.axhspan(band[0], band[1], color=BAND, alpha=0.12, label="target band")
    longest = max((len(steps) for steps in trace["arms"].values()), default=1)
    window = max(1, longest // 50)
    for color, (name, steps) in zip(COLORS * 4, trace["arms"].items(), strict=False):
        xs = [s["step"] for s in steps]
        rate = [s.get("expected", s.get("pass_rate", 0.0)) for s in steps]
        rate_ax.plot(xs, _smooth(rate, window), color=color, lw=1.2, label=name)
        zero = [s.get("zero_variance", 0.0) for s in steps]
        zero_ax.plot(xs, _smooth(zero, window), color=color, lw=1.2, label=name)
    for ax, label in ((rate_ax, "pass rate"), (zero_ax, "all-equal groups")):
        ax.set_ylim(0, 1)
        ax.set_ylabel(label)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    zero_ax.set_xlabel(f"training step (mean over {window} steps)")
    rate_ax.legend(loc="upper left", fontsize=8)
    return _svg(fig, "curriculum: pass rate and all-equal groups per step")


def curriculum_section(path: Path) -> str | None:
    """The report section of ``path``'s trace (None: no trace there)."""
    trace = read_trace(path)
    if trace is None:
        return None
    g = trace["group_size"]
    note = (
        f"<p>Band {100 * trace['band'][0]:g}-{100 * trace['band'][1]:g}%; all-equal groups at "
        f"group size {html.escape(str(g))} teach GRPO nothing.</p>"
    )
    figure = f'<figure class="plot">{curriculum_svg(trace)}</figure>'
    return f'<section id="curriculum"><h2>Curriculum</h2>{note}{figure}</section>'
