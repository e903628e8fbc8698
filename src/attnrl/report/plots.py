"""The report's figures: matplotlib rendered to SVG strings that the page inlines.

Matplotlib's object API only (no pyplot, no global backend switch), text kept as text
(``svg.fonttype = none``), metadata and XML/DOCTYPE headers stripped so a figure names no URL.
Above :data:`RASTER_ABOVE` points a scatter is rasterized into the SVG as a PNG, so a
10,000-run page stays small.
"""

from __future__ import annotations

import io
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from attnrl.report.data import RunRow
from attnrl.stats.analysis import wilson_interval

__all__ = [
    "comparison_svg",
    "errors_svg",
    "family_svg",
    "outcomes_svg",
    "pass_rate_svg",
    "resources_figure",
    "resources_svg",
    "rungs_svg",
    "sequence_of",
]

RASTER_ABOVE = 1500
SEQUENCE_CURVE_MAX = 2000
"""Above this many graded runs the sequence is drawn as its final interval only: recomputing
it per n costs ~0.4 ms a run (4 s at 10,000), more than the rest of the page."""
ERROR_FLOOR = 1e-6
ERROR_CAP = 1e2
OUTCOME_COLORS = {
    "full_success": "#2e7d32",
    "partial_success": "#81c784",
    "partial": "#ffb74d",
    "failure": "#e53935",
    "invalid": "#8e24aa",
    "error": "#757575",
}
PASS, FAIL, BAND = "#2e7d32", "#e53935", "#1e88e5"


def _svg(fig: Figure, name: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", metadata={"Date": None})  # constrained layout fits it
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    return text.replace("<svg", f'<svg role="img" aria-label="{name}"', 1)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=96)
    fig.set_layout_engine("constrained")
    return fig


def sequence_of(
    summary: dict[str, Any], rows: Sequence[RunRow]
) -> tuple[list[float], list[float]] | None:
    """The anytime-valid confidence sequence's bounds after each graded run, recomputed in
    run-id order (:mod:`attnrl.stats.sequential`) when the summary carries one."""
    graded_n = sum(1 for r in rows if r.category != "infrastructure")
    if not isinstance(summary.get("pass_rate_cs95"), list) or graded_n > SEQUENCE_CURVE_MAX:
        return None
    from attnrl.stats.sequential import DEFAULT_PRIOR, ConfidenceSequence

    options = summary.get("sequence") or {}
    graded = sorted((r for r in rows if r.category != "infrastructure"), key=lambda r: r.run_id)
    cs = ConfidenceSequence.of(
        (r.passed for r in graded),
        alpha=float(options.get("alpha", 0.05)),
        prior=tuple(options.get("prior", DEFAULT_PRIOR)),
    )
    return [lo for lo, _ in cs.history], [hi for _, hi in cs.history]


def pass_rate_svg(rows: Sequence[RunRow], summary: dict[str, Any]) -> str:
    """Running pass rate over the graded runs (in run order) with the fixed-n Wilson interval
    at each n, the anytime-valid sequence when recorded, and the target band."""
    graded = [r for r in sorted(rows, key=lambda r: r.run_id) if r.category != "infrastructure"]
    fig = _figure(7.5, 3.2)
    ax = fig.add_subplot()
    band = summary.get("target_band") or [0.1, 0.4]
    ax.axhspan(band[0], band[1], color=BAND, alpha=0.12, label="target band")
    xs, rate, lo, hi = [], [], [], []
    passed = 0
    for n, row in enumerate(graded, start=1):
        passed += row.passed
        w = wilson_interval(passed, n)
        xs.append(n)
        rate.append(passed / n)
        lo.append(w[0])
        hi.append(w[1])
    if xs:
        ax.fill_between(xs, lo, hi, color="#9e9e9e", alpha=0.35, label="Wilson 95% at each n")
        ax.plot(xs, rate, color="black", lw=1.5, label="pass rate so far")
    seq = sequence_of(summary, rows)
    if seq:
        n_seq = list(range(1, len(seq[0]) + 1))
        ax.plot(n_seq, seq[0], color="#6a1b9a", lw=1.2, ls="--", label="anytime-valid 95%")
        ax.plot(n_seq, seq[1], color="#6a1b9a", lw=1.2, ls="--")
    elif isinstance(final := summary.get("pass_rate_cs95"), list) and xs:
        ax.errorbar(
            [xs[-1]],
            [rate[-1]],
            yerr=[[max(0.0, rate[-1] - final[0])], [max(0.0, final[1] - rate[-1])]],
            color="#6a1b9a",
            capsize=4,
            label="anytime-valid 95% (final)",
        )
    ax.set_xlim(1, max(2, len(xs)))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # runs are whole
    ax.set_ylim(0, 1)
    ax.set_xlabel("graded runs")
    ax.set_ylabel("pass rate")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3)
    return _svg(fig, "pass rate over the runs")


def _barh(
    ax: Any, counts: dict[str, int], title: str, colors: dict[str, str] | None = None
) -> None:
    names = list(counts)[::-1]
    values = [counts[n] for n in names]
    ax.barh(names, values, color=[(colors or {}).get(n, "#607d8b") for n in names])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, max(values, default=1) * 1.25 + 0.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # counts
    ax.tick_params(labelsize=8)
    if not counts:  # no bars: no axis of made-up values (+/-0.04) either
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)


def outcomes_svg(rows: Sequence[RunRow], top_bugs: int = 12) -> str:
    """Outcomes, failure categories and the catalogued bugs the failures matched."""
    outcomes = Counter(r.outcome for r in rows)
    ordered = {k: outcomes[k] for k in OUTCOME_COLORS if outcomes[k]}
    ordered |= {k: v for k, v in outcomes.items() if k not in ordered}
    categories = Counter(r.category for r in rows if not r.passed and r.category)
    bugs = Counter(r.bug for r in rows if not r.passed and r.bug)
    fig = _figure(10, 3.0)
    axes = fig.subplots(1, 3)
    _barh(axes[0], ordered, "outcomes", OUTCOME_COLORS)
    _barh(axes[1], dict(categories.most_common()), "failure categories")
    _barh(axes[2], dict(bugs.most_common(top_bugs)), "matched catalogued bugs")
    return _svg(fig, "outcomes, categories and matched bugs")


def errors_svg(rows: Sequence[RunRow]) -> str:
    """Each graded run's max error per component on a log scale, with the tolerance drawn
    per component: how far failures were from passing."""
    components: list[str] = []
    for r in rows:
        components += [k for k in r.errors if k not in components]
    tolerances: dict[str, float] = {}
    for r in rows:
        tolerances |= r.tolerances
    fig = _figure(max(6.0, 1.1 * len(components) + 2), 3.6)
    ax = fig.add_subplot()
    rng = random.Random(0)
    points: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for r in rows:
        for i, key in enumerate(components):
            value = r.errors.get(key)
            if value is None:
                continue
            y = ERROR_CAP if not math.isfinite(value) else min(max(value, ERROR_FLOOR), ERROR_CAP)
            points[r.passed][0].append(i + rng.uniform(-0.3, 0.3))
            points[r.passed][1].append(y)
    raster = sum(len(p[0]) for p in points.values()) > RASTER_ABOVE
    for ok, (xs, ys) in points.items():
        if xs:
            ax.scatter(
                xs,
                ys,
                s=14,
                alpha=0.55,
                color=PASS if ok else FAIL,
                lw=0,
                label="passed runs" if ok else "failed runs",
                rasterized=raster,
            )
    for i, key in enumerate(components):
        if key in tolerances:
            ax.hlines(
                tolerances[key],
                i - 0.42,
                i + 0.42,
                color="black",
                lw=2,
                label="tolerance" if i == 0 else "_nolegend_",
            )
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # 8 decades: majors suffice
    ax.set_ylim(ERROR_FLOOR / 2, ERROR_CAP * 2)
    ax.set_xticks(
        range(len(components)),
        [c.replace("_", " ") for c in components],
        rotation=20,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel(f"max |error| (floor {ERROR_FLOOR:g}, non-finite at {ERROR_CAP:g})", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    if not components:
        ax.text(0.5, 0.5, "no graded components", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(loc="upper right", fontsize=8)
    return _svg(fig, "component errors against tolerances")


def resources_svg(rows: Sequence[RunRow]) -> str:
    """Histograms of steps, tokens, duration and cost per run."""
    return _svg(resources_figure(rows), "steps, tokens, duration and cost per run")


def resources_figure(rows: Sequence[RunRow]) -> Figure:
    """:func:`resources_svg`'s figure. Each axis gets at most 4 ticks with short labels: a
    cost axis of small decimals (``0.00012``) otherwise prints labels over each other."""
    fig = _figure(10, 2.6)
    axes = fig.subplots(1, 4)
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    series: list[tuple[str, Sequence[float]]] = [
        ("steps", [r.steps for r in rows]),
        ("tokens (in + out)", [r.tokens_in + r.tokens_out for r in rows]),
        ("duration (s)", [r.duration_s for r in rows]),
        ("cost (USD)", costs),
    ]
    for ax, (title, values) in zip(axes, series, strict=True):
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        if values:
            ax.hist(values, bins=min(30, max(5, len(set(values)))), color="#546e7a")
            ax.xaxis.set_major_locator(
                matplotlib.ticker.MaxNLocator(nbins=4, integer=title == "steps")
            )
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short_tick))
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    axes[0].set_ylabel("runs", fontsize=8)
    return fig


def _short_tick(value: float, _pos: int | None = None) -> str:
    """A tick label of at most 3 significant digits (``1.2e-04``, ``3,500``, ``12.5``)."""
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return f"{value:.1e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _rate_points(
    groups: dict[Any, list[bool]],
) -> tuple[list[Any], list[float], list[float], list[float]]:
    keys = sorted(groups)
    rates, lo, hi = [], [], []
    for k in keys:
        n, p = len(groups[k]), sum(groups[k])
        w = wilson_interval(p, n)
        rates.append(p / n)
        lo.append(max(0.0, p / n - w[0]))  # Wilson's bound can miss p by a rounding error
        hi.append(max(0.0, w[1] - p / n))
    return keys, rates, lo, hi


def family_svg(rows: Sequence[RunRow], band: Sequence[float]) -> str | None:
    """Pass rate by instance size (tokens, d_model, heads), or None when one size only."""
    sized = [r for r in rows if r.size and r.category != "infrastructure"]
    if len({r.size for r in sized}) < 2:
        return None
    fig = _figure(10, 2.8)
    axes = fig.subplots(1, 3, sharey=True)
    for i, (ax, name) in enumerate(zip(axes, ("tokens", "d_model", "heads"), strict=True)):
        groups: dict[int, list[bool]] = defaultdict(list)
        for r in sized:
            groups[(r.size or (0, 0, 0))[i]].append(r.passed)
        keys, rates, lo, hi = _rate_points(groups)
        ax.axhspan(band[0], band[1], color=BAND, alpha=0.12)
        ax.errorbar(keys, rates, yerr=[lo, hi], fmt="o", color="black", capsize=3)
        for k, rate in zip(keys, rates, strict=True):
            ax.annotate(
                f"n={len(groups[k])}",
                (k, rate),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set_xlabel(name)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("pass rate (Wilson 95%)")
    return _svg(fig, "pass rate by instance size")


def rungs_svg(
    labels: Sequence[str], counts: Sequence[tuple[int, int]], band: Sequence[float]
) -> str:
    """Pass rate per labelled batch (calibration rung, batch, model) with its Wilson
    interval, against the band; ``counts`` are (passed, graded runs)."""
    fig = _figure(max(5.0, 0.9 * len(labels) + 2), 3.2)
    ax = fig.add_subplot()
    ax.axhspan(band[0], band[1], color=BAND, alpha=0.12, label="target band")
    xs = list(range(len(labels)))
    for x, (passed, n) in zip(xs, counts, strict=True):
        if not n:
            continue
        w, p = wilson_interval(passed, n), passed / n
        ax.errorbar(
            [x],
            [p],
            yerr=[[max(0.0, p - w[0])], [max(0.0, w[1] - p)]],
            fmt="o",
            color="black",
            capsize=4,
        )
        ax.annotate(
            f"{passed}/{n}",
            (x, p),
            fontsize=8,
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
        )
    ax.set_xticks(xs, list(labels), rotation=15, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pass rate (Wilson 95%)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper right", fontsize=8)
    return _svg(fig, "pass rate per batch")


def comparison_svg(labels: Sequence[str], rows: Sequence[Sequence[RunRow]]) -> str:
    """Outcome shares of each compared batch, side by side."""
    fig = _figure(8, 0.6 * len(labels) + 1.6)
    ax = fig.add_subplot()
    for y, batch in enumerate(rows):
        counts = Counter(r.outcome for r in batch)
        left = 0.0
        for outcome, color in OUTCOME_COLORS.items():
            share = counts[outcome] / max(1, len(batch))
            if share:
                label = None if outcome in _seen(ax) else outcome
                ax.barh(y, share, left=left, color=color, label=label)
                left += share
    ax.set_yticks(range(len(labels)), list(labels), fontsize=8)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=6, fontsize=8)
    return _svg(fig, "outcome shares per batch")


def _seen(ax: Any) -> set[str]:
    return set(ax.get_legend_handles_labels()[1])
