"""The report's "Turns" section: per-turn latency and output tokens (empty and truncated turns
marked), and the batch's turn figures with its repeated calls and context overflows.

A real local model's batch is explained by its turns (a 91 s turn, turns cut at the output
limit, empty turns from a full context, a model repeating its last call), which the per-run
figures average away. Batches recorded before turns were kept get no section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attnrl.report.page import kv_table
from attnrl.stats.turns import CONTEXT_OVERFLOW, turn_fields

__all__ = ["turn_rows", "turns_section_parts", "turns_svg"]


def turn_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every recorded turn of ``records``, in run order."""
    return [
        m["turn"]
        for r in sorted(records, key=lambda r: int(r.get("run_id", 0)))
        for m in r.get("transcript") or []
        if isinstance(m, dict) and isinstance(m.get("turn"), dict)
    ]


def turns_svg(turns: Sequence[dict[str, Any]]) -> str:
    """Latency and output tokens of each turn, in order; empty and truncated turns in red
    and orange."""
    import matplotlib

    from attnrl.report.plots import _figure, _svg

    fig = _figure(10, 2.6)
    axes = fig.subplots(1, 2)
    xs = list(range(1, len(turns) + 1))
    colors = {"empty": "#e53935", "truncated": "#fb8c00"}
    color = [colors.get(str(t.get("issue")), "#546e7a") for t in turns]
    for ax, key, title in (
        (axes[0], "latency_s", "latency per turn (s)"),
        (axes[1], "output_tokens", "output tokens per turn"),
    ):
        ax.bar(xs, [float(t.get(key) or 0) for t in turns], color=color, width=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("turn (all runs, in run order)", fontsize=8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    for issue, c in colors.items():
        axes[1].bar([], [], color=c, label=f"{issue} turn")
    axes[1].legend(loc="upper right", fontsize=8)
    return _svg(fig, "latency and output tokens per turn")


def turns_section_parts(records: Sequence[dict[str, Any]]) -> list[str] | None:
    """The section's table and figure, or None when no turn was recorded with a time or an
    issue (older batches; the simulated agents, which make no request)."""
    turns = turn_rows(records)
    fields = turn_fields(records)
    t, repeats = fields["turns"], fields["repeats"]
    if not (t["timed"] or t["empty"] or t["truncated"]):
        return None
    lat = t["latency_s"]
    rate = t["output_tokens_per_s"]
    pairs: list[tuple[str, Any]] = [
        ("turns", ("turns", t["count"])),
        (
            "latency p50 / p95 / max",
            "not timed"
            if lat["max"] is None
            else f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['max']:.2f} s",
        ),
        ("output tokens per second", "n/a" if rate is None else f"{rate:.1f}"),
        ("empty turns", ("turns:empty", t["empty"])),
        ("truncated turns", ("turns:truncated", t["truncated"])),
        ("retries", ("turns:retries", t["retries"])),
        ("repeated calls (turns)", ("repeats", repeats["total"])),
        ("runs with a repeated call", ("repeats:runs", repeats["runs"])),
        ("runs over the model's context", (CONTEXT_OVERFLOW, fields[CONTEXT_OVERFLOW])),
    ]
    return [kv_table(pairs, "counts"), f'<figure class="plot">{turns_svg(turns)}</figure>']
