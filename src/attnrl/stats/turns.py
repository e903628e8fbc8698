"""Per-turn figures of a batch, read off the records' transcripts: turn latency, empty and
truncated turns, repeated calls, and runs that outgrew the model's context.

They say what the pass rate does not: a model stuck in a loop, a server too slow for its
timeout, a context too small for the largest instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["CONTEXT_OVERFLOW", "turn_fields", "turn_lines"]

CONTEXT_OVERFLOW = "context_overflow"
"""The category of a run whose request the server refused for its size (counted)."""


def _turns(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        m["turn"]
        for r in records
        for m in r.get("transcript") or []
        if isinstance(m, dict) and isinstance(m.get("turn"), dict)
    ]


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty list (``analysis.percentile``'s method;
    not imported from there: analysis imports this module)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def turn_fields(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary's ``turns``, ``repeats`` and ``context_overflow`` fields."""
    turns = _turns(records)
    timed = [t for t in turns if t.get("latency_s") is not None]
    latencies = [float(t["latency_s"]) for t in timed]
    outputs = [int(t.get("output_tokens", 0)) for t in timed]
    total_latency = sum(latencies)
    repeats = [int(r.get("repeats") or 0) for r in records]
    return {
        "turns": {
            "count": len(turns),
            "timed": len(timed),
            "latency_s": {
                "p50": _quantile(latencies, 0.50) if timed else None,
                "p95": _quantile(latencies, 0.95) if timed else None,
                "max": max(latencies) if timed else None,
            },
            "output_tokens_per_s": sum(outputs) / total_latency if total_latency > 0 else None,
            "empty": sum(1 for t in turns if t.get("issue") == "empty"),
            "truncated": sum(1 for t in turns if t.get("issue") == "truncated"),
            "retries": sum(int(t.get("retries", 0)) for t in turns),
        },
        "repeats": {
            "total": sum(repeats),
            "runs": sum(1 for n in repeats if n),
            "share_of_turns": sum(repeats) / len(turns) if turns else None,
        },
        CONTEXT_OVERFLOW: sum(1 for r in records if r.get("category") == CONTEXT_OVERFLOW),
    }


def turn_lines(summary: dict[str, Any]) -> list[str]:
    """The TASK ANALYSIS lines for these fields (none for a summary without turns)."""
    lines: list[str] = []
    check = summary.get("context_check")  # the up-front check, as the run printed it
    if isinstance(check, dict) and isinstance(check.get("line"), str):
        lines.append(check["line"])
    overflow = summary.get(CONTEXT_OVERFLOW) or 0
    if overflow:
        lines.append(
            f"Context overflow: {overflow} run{'s' if overflow != 1 else ''} exceeded the "
            "model's context (counted as failures; a larger context or --max-tokens smaller "
            "would change that, a re-run would not)"
        )
    turns = summary.get("turns") or {}
    if turns.get("timed") or turns.get("empty") or turns.get("truncated"):
        lat = turns["latency_s"]
        rate = turns.get("output_tokens_per_s")
        timing = (
            f", latency p50 {lat['p50']:.2f}s, p95 {lat['p95']:.2f}s, max {lat['max']:.2f}s"
            if lat["max"] is not None
            else ""
        )
        speed = f", {rate:.1f} tokens/s out" if rate else ""
        lines.append(
            f"Turns: {turns['count']}{timing}{speed}; empty {turns['empty']}, truncated "
            f"{turns['truncated']}, retries {turns['retries']}"
        )
    repeats = summary.get("repeats") or {}
    if repeats.get("total"):
        share = repeats.get("share_of_turns") or 0.0
        lines.append(
            f"Repeated calls: {repeats['total']} turns ({100 * share:.1f}% of turns) repeated "
            f"the previous call exactly, in {repeats['runs']} runs (a model stuck in a loop)"
        )
    return lines
