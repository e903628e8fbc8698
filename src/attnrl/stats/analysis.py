"""Statistics of many runs: pass rate with its Wilson interval, band verdict, breakdowns.

Pure functions over run records. Infrastructure errors are not failures of the model:
they are excluded from the pass-rate denominator and reported apart (DESIGN.md 6).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from attnrl.stats.band import Verdict, band_verdict
from attnrl.stats.sequential import DEFAULT_PRIOR, ConfidenceSequence
from attnrl.stats.turns import turn_fields, turn_lines

__all__ = [
    "CATEGORY_LABELS",
    "Verdict",
    "band_verdict",
    "cost_fields",
    "decision",
    "percentile",
    "render_analysis",
    "sequence_fields",
    "summarize",
    "wilson_interval",
]


CATEGORY_LABELS = {
    "dimension": "Dimension errors",
    "causal_mask": "Causal mask errors",
    "numerical": "Numerical issues",
    "logic": "Logic errors",
    "format": "Format errors",
    "no_submission": "No submission",
    "context_overflow": "Context overflow",
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


def decision(summary: dict[str, Any]) -> tuple[Verdict, str, tuple[float, float]]:
    """The one band verdict of a summary, the interval that decides it and its name.

    A batch that ran to its fixed size is decided by the Wilson 95% interval (the seed's
    fixed-n statistic); one that stopped as soon as the anytime-valid confidence sequence was
    decided (``--stop-when-decided``) by that sequence, the only interval still valid after
    optional stopping."""
    if summary.get("stopped_early") and "pass_rate_cs95" in summary:
        lo, hi = summary["pass_rate_cs95"]
        return summary["sequence_verdict"], "anytime-valid 95% sequence", (lo, hi)
    lo, hi = summary["pass_rate_ci95"]
    return summary["verdict"], "Wilson 95% interval", (lo, hi)


def _verdict_line(summary: dict[str, Any], band_text: str) -> str:
    """``Verdict: ...`` with the deciding interval, why, and, for the simulated agents, that
    the rate is their scripted mix's by construction."""
    band = summary["target_band"]
    verdict, name, (lo, hi) = decision(summary)
    interval = f"{name} {_pct(lo)} - {_pct(hi)}"
    if verdict == "in band":
        why = f"IN BAND ({band_text}): the {interval} lies wholly inside the band"
    elif verdict == "out of band":
        side = ("too easy", "above") if lo > band[1] else ("too hard", "below")
        why = f"OUT OF BAND ({band_text}), {side[0]}: the {interval} lies wholly {side[1]} it"
    else:
        edges = [f"{100 * e:g}%" for e in band if lo < e < hi] or [band_text]
        why = (
            f"INCONCLUSIVE ({band_text}): the {interval} straddles {' and '.join(edges)}; "
            "more runs narrow it"
        )
    if summary.get("stopped_early") and name.startswith("anytime"):
        why += f" (the batch stopped once it was decided, after {summary['runs']} runs)"
    if summary.get("simulated"):
        why += " [simulated: the scripted mix's rate by construction, not a model's]"
    return f"Verdict: {why}"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _passed(record: dict[str, Any]) -> bool:
    """Only a recorded ``true`` passes (the string "false" is truthy)."""
    return record.get("passed") is True


def _number(value: Any) -> float | None:
    """A recorded finite number, else None (a hand-edited "x", a bool, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def summarize(
    records: Sequence[dict[str, Any]], band: tuple[float, float] = (0.10, 0.40)
) -> dict[str, Any]:
    """The ``summary.json`` statistics of finished runs (rates are fractions).

    Readers hand it only records that pass :func:`attnrl.harness.rundir.record_problem`;
    as a second line of defence a field of the wrong kind counts as missing here (a run
    passes only on ``true``), never as a crash."""
    infra = [r for r in records if r.get("category") == "infrastructure"]
    graded = [r for r in records if r.get("category") != "infrastructure"]
    passed = sum(1 for r in graded if _passed(r))
    n = len(graded)
    ci = wilson_interval(passed, n)
    categories = Counter(str(r.get("category")) for r in graded if not _passed(r))
    durations = [d for r in graded if (d := _number(r.get("duration_s"))) is not None]
    steps = [int(k) for r in graded if (k := _number(r.get("steps"))) is not None]
    intended = [r for r in graded if r.get("intended_category") and not _passed(r)]
    recovered = sum(1 for r in intended if r.get("category") == r["intended_category"])
    summary: dict[str, Any] = (
        {
            "runs": n,
            "passed": passed,
            "failed": n - passed,
            "full_success": sum(1 for r in graded if r.get("outcome") == "full_success"),
            "partial_success": sum(1 for r in graded if r.get("outcome") == "partial_success"),
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
            "diagnosis_recovery": (
                {"intended": len(intended), "recovered": recovered} if intended else None
            ),
        }
        | _usage_fields(records)
        | turn_fields(records)
    )
    # distinct instances among the graded runs: 1 for a fixed instance, ~runs for a family
    summary["instances"] = len({r.get("task_hash") for r in graded})
    sequence = sequence_fields(graded, band)
    return summary | sequence | cost_fields(records, sequence["decided_at"])


def _run_order(record: dict[str, Any]) -> int:
    run_id = record.get("run_id")
    return run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else 0


def sequence_fields(
    graded: Sequence[dict[str, Any]], band: tuple[float, float], alpha: float = 0.05
) -> dict[str, Any]:
    """The anytime-valid confidence sequence over graded runs in run-id order
    (:mod:`attnrl.stats.sequential`): its interval, its verdict, and after how many runs
    that verdict came."""
    ordered = sorted(graded, key=_run_order)
    cs = ConfidenceSequence.of((_passed(r) for r in ordered), alpha=alpha)
    return {
        "pass_rate_cs95": [cs.lower, cs.upper],
        "sequence_verdict": cs.verdict(band),
        "decided_at": cs.decided_at(band),
        "sequence": {
            "method": "beta-binomial mixture (Robbins), running intersection",
            "alpha": alpha,
            "prior": list(DEFAULT_PRIOR),
        },
    }


def _usage_fields(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Token totals as billed; a cache count some record did not know is None."""

    def total(field: str) -> int | None:
        values = [u.get(field, 0) if isinstance(u := r.get("usage"), dict) else 0 for r in records]
        counts = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in values]
        return None if any(v is None for v in counts) else sum(v for v in counts if v is not None)

    return {
        "tokens": {
            "input": total("input_tokens") or 0,
            "output": total("output_tokens") or 0,
            "cache_write": total("cache_creation_input_tokens"),
            "cache_read": total("cache_read_input_tokens"),
        }
    }


def cost_fields(records: Sequence[dict[str, Any]], decided_at: int | None) -> dict[str, Any]:
    """Cost in USD from each record's ``cost_usd``: total, per graded run, and spent up to
    the sequence's verdict; all None (with a note) when any run has no known price."""
    graded = sorted((r for r in records if r.get("category") != "infrastructure"), key=_run_order)
    unknown = sorted({str(r.get("model")) for r in records if _number(r.get("cost_usd")) is None})
    if unknown or not records:
        note = (
            f"cost unknown: no published price for {', '.join(unknown)}; pass --pricing FILE"
            if unknown
            else None
        )
        return {"cost_usd": {"total": None, "per_run": None, "to_verdict": None, "note": note}}
    total = sum(float(r["cost_usd"]) for r in records)
    to_verdict = (
        sum(float(r["cost_usd"]) for r in graded[:decided_at]) if decided_at is not None else None
    )
    return {
        "cost_usd": {
            "total": total,
            "per_run": total / len(graded) if graded else None,
            "to_verdict": to_verdict,
            "note": None,
        }
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


def _task_label(head: dict[str, Any]) -> str:
    """``rope, `` for a task other than attention (whose analysis reads as it always has)."""
    task = head.get("task")
    return f"{task}, " if task and task != "attention" else ""


def render_analysis(summary: dict[str, Any]) -> str:
    """The seed's TASK ANALYSIS block, plus the interval, verdict, timing and tokens."""
    head = summary  # model, preset, hash and sandbox, when the summary carries them
    n = summary["runs"]
    band = summary["target_band"]
    band_text = f"{100 * band[0]:g}-{100 * band[1]:g}%"
    title = head.get("title") or "Positional Multi-Head Attention Implementation"
    lines = [RULE, f"TASK ANALYSIS - {title}", RULE]
    if head.get("model"):
        note = " (SIMULATED offline agents, not a real model)" if head.get("simulated") else ""
        lines.append(f"Model: {head['model']}{note}")
    if head.get("preset"):
        seed = f", seed {head['seed']}" if head.get("seed") is not None else ""
        lines.append(
            f"Task: {_task_label(head)}preset {head['preset']}{seed}, content hash "
            f"{str(head.get('task_hash'))[:12]}"
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
            *_sequence_lines(summary),
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
            f"  (simulated, by construction: the grader's diagnosis recovered "
            f"{recovery['recovered']}/{recovery['intended']} intended categories)"
        )
    lines.append("")
    if n:
        lines.append(_verdict_line(summary, band_text))
    else:
        lines.append(f"Verdict: none ({band_text}): no graded runs")
    lines += turn_lines(summary)
    stopped = summary.get("stopped_early")
    if stopped:
        lines.append(f"Stopped scheduling runs: {stopped['reason']}")
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
    lines += _cost_lines(summary)
    lines.append(RULE)
    return "\n".join(lines)


def _sequence_lines(summary: dict[str, Any]) -> list[str]:
    """The anytime-valid interval under the seed's fixed-n one (the verdict is stated once,
    in the ``Verdict`` line)."""
    if "pass_rate_cs95" not in summary:
        return []
    lo, hi = summary["pass_rate_cs95"]
    decided = summary.get("decided_at")
    when = f"; decided after {decided} runs" if decided else ""
    return [f"  anytime-valid 95% sequence: {_pct(lo)} - {_pct(hi)} (valid at every n{when})"]


def _cost_lines(summary: dict[str, Any]) -> list[str]:
    cost = summary.get("cost_usd")
    if not cost:
        return []
    if cost["total"] is None:
        return [f"Cost: {cost['note']}"] if cost.get("note") else []
    parts = [f"Cost: ${cost['total']:.4f} total"]
    if cost["per_run"] is not None:
        parts.append(f"${cost['per_run']:.4f} per run")
    if cost["to_verdict"] is not None:
        parts.append(f"${cost['to_verdict']:.4f} to the verdict")
    tokens = summary["tokens"]
    cache = (
        f"; cache: {tokens['cache_write']:,} written, {tokens['cache_read']:,} read"
        if tokens.get("cache_write") is not None and tokens.get("cache_read") is not None
        else ""
    )
    return [", ".join(parts) + cache]
