"""Statistics of many runs: pass rate with its Wilson interval, band verdict, breakdowns.

Pure functions over run records. Infrastructure errors are not failures of the model:
they are excluded from the pass-rate denominator and reported apart (DESIGN.md 6).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "CATEGORY_LABELS",
    "Verdict",
    "band_verdict",
    "percentile",
    "render_analysis",
    "summarize",
    "wilson_interval",
]

Verdict = Literal["in band", "out of band", "inconclusive"]

CATEGORY_LABELS = {
    "dimension": "Dimension errors",
    "causal_mask": "Causal mask errors",
    "numerical": "Numerical issues",
    "logic": "Logic errors",
    "format": "Format errors",
    "no_submission": "No submission",
}
RULE = "=" * 80


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def band_verdict(ci: tuple[float, float], band: tuple[float, float]) -> Verdict:
    """``in band`` if the whole interval is inside the band, ``out of band`` if it is
    wholly outside, else ``inconclusive``."""
    lo, hi = ci
    if band[0] <= lo and hi <= band[1]:
        return "in band"
    if hi < band[0] or lo > band[1]:
        return "out of band"
    return "inconclusive"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(
    records: Sequence[dict[str, Any]], band: tuple[float, float] = (0.10, 0.40)
) -> dict[str, Any]:
    """The ``summary.json`` statistics of finished runs (rates are fractions)."""
    infra = [r for r in records if r.get("category") == "infrastructure"]
    graded = [r for r in records if r.get("category") != "infrastructure"]
    passed = sum(1 for r in graded if r["passed"])
    n = len(graded)
    ci = wilson_interval(passed, n)
    categories = Counter(r["category"] for r in graded if not r["passed"])
    durations = [float(r["duration_s"]) for r in graded]
    steps = [int(r["steps"]) for r in graded]
    intended = [r for r in graded if r.get("intended_category") and not r["passed"]]
    recovered = sum(1 for r in intended if r["category"] == r["intended_category"])
    return {
        "runs": n,
        "passed": passed,
        "failed": n - passed,
        "full_success": sum(1 for r in graded if r["outcome"] == "full_success"),
        "partial_success": sum(1 for r in graded if r["outcome"] == "partial_success"),
        "pass_rate": passed / n if n else None,
        "pass_rate_ci95": [ci[0], ci[1]],
        "target_band": [band[0], band[1]],
        "in_band_point_estimate": bool(n) and band[0] <= passed / n <= band[1],
        "verdict": band_verdict(ci, band) if n else "inconclusive",
        "categories": dict(sorted(categories.items())),
        "infrastructure_errors": len(infra),
        "timing_s": {
            "mean": statistics.fmean(durations) if durations else None,
            "p50": percentile(durations, 50) if durations else None,
            "p95": percentile(durations, 95) if durations else None,
            "max": max(durations) if durations else None,
        },
        "steps": {
            "mean": statistics.fmean(steps) if steps else None,
            "max": max(steps) if steps else None,
        },
        "tokens": {
            "input": sum(int(r.get("usage", {}).get("input_tokens", 0)) for r in records),
            "output": sum(int(r.get("usage", {}).get("output_tokens", 0)) for r in records),
        },
        "diagnosis_recovery": (
            {"intended": len(intended), "recovered": recovered} if intended else None
        ),
    }


def _knob(name: str, value: Any) -> str:
    """A knob as its flag would say it: ``heads 3``, ``tokens 4-12``, ``residual on``."""
    if isinstance(value, bool):
        shown = "on" if value else "off"
    elif isinstance(value, list | tuple):
        shown = str(value[0]) if value[0] == value[-1] else f"{value[0]}-{value[-1]}"
    else:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{name.replace('_', ' ')} {shown}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render_analysis(summary: dict[str, Any]) -> str:
    """The seed's TASK ANALYSIS block, plus the interval, verdict, timing and tokens."""
    head = summary  # model, preset, hash and sandbox, when the summary carries them
    n = summary["runs"]
    band = summary["target_band"]
    band_text = f"{100 * band[0]:g}-{100 * band[1]:g}%"
    lines = [RULE, "TASK ANALYSIS - Positional Multi-Head Attention Implementation", RULE]
    if head.get("model"):
        note = " (SIMULATED offline agents, not a real model)" if head.get("simulated") else ""
        lines.append(f"Model: {head['model']}{note}")
    if head.get("preset"):
        seed = f", seed {head['seed']}" if head.get("seed") is not None else ""
        lines.append(
            f"Task: preset {head['preset']}{seed}, content hash {str(head.get('task_hash'))[:12]}"
        )
    if head.get("knobs"):
        lines.append("Knobs: " + ", ".join(_knob(k, v) for k, v in head["knobs"].items()))
    if head.get("batches"):
        per = head["batches"]
        lines.append(
            f"Batches: {len(per)} (seeds {per[0]['seed']}-{per[-1]['seed']}), pooled below"
        )
    if head.get("isolation"):
        lines.append(f"Sandbox: {head['isolation']}")
    lines += [
        f"Total Runs: {n}",
        f"Successful: {summary['passed']}",
        f"Failed: {summary['failed']}",
    ]
    if n:
        lo, hi = summary["pass_rate_ci95"]
        lines += [
            f"Pass Rate: {_pct(summary['pass_rate'])}",
            f"  full successes: {summary['full_success']}, partial successes: "
            f"{summary['partial_success']}",
            f"  Wilson 95% interval: {_pct(lo)} - {_pct(hi)}",
        ]
    else:
        lines.append("Pass Rate: n/a (no graded runs)")
    if summary["infrastructure_errors"]:
        lines.append(
            f"Infrastructure errors (not counted, re-run with --resume): "
            f"{summary['infrastructure_errors']}"
        )
    lines += ["", "Failure Analysis:"]
    if not summary["categories"]:
        lines.append("  none")
    for name, count in sorted(summary["categories"].items(), key=lambda kv: (-kv[1], kv[0])):
        label = CATEGORY_LABELS.get(name, name)
        lines.append(f"  {label}: {count} run{'s' if count != 1 else ''} ({_pct(count / n)})")
    recovery = summary.get("diagnosis_recovery")
    if recovery:
        lines.append(
            f"  (simulated: diagnosis recovered {recovery['recovered']}/{recovery['intended']} "
            "intended categories)"
        )
    lines.append("")
    if n:
        if summary["in_band_point_estimate"]:
            lines.append(f"✓ PASS RATE IN TARGET RANGE ({band_text})")
        else:
            side = "too easy" if summary["pass_rate"] > band[1] else "too hard"
            lines.append(f"✗ PASS RATE OUTSIDE TARGET RANGE ({band_text}): {side}")
        lines.append(
            f"Band verdict from the 95% interval: {summary['verdict'].upper()}"
            + (" (more runs needed)" if summary["verdict"] == "inconclusive" else "")
        )
    t = summary["timing_s"]
    if t["mean"] is not None:
        lines.append(
            f"Timing per run: mean {t['mean']:.2f}s, p50 {t['p50']:.2f}s, p95 {t['p95']:.2f}s, "
            f"max {t['max']:.2f}s"
        )
        lines.append(
            f"Steps: mean {summary['steps']['mean']:.1f}, max {summary['steps']['max']}; "
            f"tokens: {summary['tokens']['input']:,} in, {summary['tokens']['output']:,} out"
        )
    lines.append(RULE)
    return "\n".join(lines)
