"""The page's sections: one batch, a collection of batches (rungs, batches, family members),
or two inputs compared. Each section is HTML with its figure; counts carry ``data-key``
attributes so a test can read them off the rendered page."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from attnrl.report import plots
from attnrl.report.compare import compare_pass_rates
from attnrl.report.data import Batch, Collection, RunRow, number
from attnrl.report.page import kv_table
from attnrl.report.turns import turns_section_parts
from attnrl.stats.analysis import CATEGORY_LABELS, band_verdict, wilson_interval

__all__ = ["batch_sections", "collection_sections", "comparison_sections", "header"]

SIMULATED_NOTE = " (SIMULATED offline agents, not a real model)"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _section(title: str, *parts: str, css: str = "") -> str:
    slug = "-".join(title.lower().split())
    cls = f' class="{css}"' if css else ""
    head = f'<section id="{html.escape(slug)}"{cls}><h2>{html.escape(title)}</h2>'
    return head + "".join(parts) + "</section>"


def _figure(svg: str) -> str:
    return f'<figure class="plot">{svg}</figure>'


def knobs(spec: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Every knob of the task, as the spec records it."""
    if spec is None:
        return [("knobs", "not recorded (run.json written before it carried the task spec)")]
    heads = spec.get("heads") or []
    layout = "; ".join(f"qk {h['qk'][0]}:{h['qk'][1]} v {h['v'][0]}:{h['v'][1]}" for h in heads)
    mask = spec.get("mask") or {}
    window = f" W={mask['window']}" if mask.get("window") else ""
    tol = spec.get("tolerances") or {}
    return [
        ("tokens x d_model", f"{len(spec.get('q') or [])} x {len((spec.get('q') or [[]])[0])}"),
        ("heads", f"{len(heads)} ({layout})"),
        ("mask", f"{mask.get('kind')}{window}"),
        ("position encoding", "on" if spec.get("position_encoding") else "off"),
        ("residual", "on" if spec.get("residual") else "off"),
        ("layer norm", "on" if spec.get("layer_norm") else "off"),
        ("value source", spec.get("value_source")),
        ("policy", spec.get("policy")),
        ("tolerances", ", ".join(f"{k} {v:g}" for k, v in tol.items())),
        ("instance seed", "none" if spec.get("seed") is None else spec["seed"]),
    ]


def _cost(batch: Batch) -> str:
    total = number(batch.summary.get("cost_usd"))  # a newer summary's total, when present
    if total is None:
        costs = [r.cost_usd for r in batch.rows if r.cost_usd is not None]
        total = sum(costs) if costs else None
    if total is None:
        return "not recorded (no price known for this model)"
    return f"${float(total):,.4f}"


def _dates(batch: Batch) -> str:
    starts = sorted(str(r["started_at"]) for r in batch.records if r.get("started_at"))
    ends = sorted(str(r["finished_at"]) for r in batch.records if r.get("finished_at"))
    if starts and ends:
        return f"{starts[0]} to {ends[-1]}"
    return str(batch.summary.get("written_at") or batch.manifest.get("updated") or "unknown")


def header(batch: Batch) -> list[tuple[str, Any]]:
    """Model, preset, knobs, seed, hash, isolation, date and cost of one batch."""
    s, m = batch.summary, batch.manifest
    model = str(s.get("model") or m.get("model"))
    simulated = bool(s.get("simulated") or m.get("simulated"))
    pairs: list[tuple[str, Any]] = [
        ("model", ("model", model + (SIMULATED_NOTE if simulated else ""))),
        ("preset", s.get("preset") or m.get("preset")),
        ("seed", m.get("seed")),
        ("task hash", s.get("task_hash") or m.get("task_hash")),
        ("sandbox isolation", s.get("isolation")),
        ("date", _dates(batch)),
        ("cost", ("cost", _cost(batch))),
        ("max steps per run", m.get("max_steps")),
        ("runs planned", m.get("runs")),
    ]
    options = m.get("options") or {}
    pairs += [(f"option {k}", v) for k, v in options.items() if v is not None]
    context = m.get("context")  # the up-front context check, as run printed it
    if isinstance(context, dict) and isinstance(context.get("line"), str):
        pairs.append(("context", ("context", context["line"].removeprefix("Context: "))))
    return pairs + knobs(batch.spec)


def _counts(summary: dict[str, Any], prefix: str = "") -> str:
    lo, hi = summary.get("pass_rate_ci95") or [0.0, 1.0]
    band = summary.get("target_band") or [0.1, 0.4]
    pairs: list[tuple[str, Any]] = [
        ("graded runs", (prefix + "runs", summary["runs"])),
        ("passed", (prefix + "passed", summary["passed"])),
        ("failed", (prefix + "failed", summary["failed"])),
        ("full successes", (prefix + "full_success", summary.get("full_success"))),
        ("partial successes", (prefix + "partial_success", summary.get("partial_success"))),
        ("pass rate", (prefix + "pass_rate", _pct(summary.get("pass_rate")))),
        ("Wilson 95% interval", (prefix + "ci95", f"{_pct(lo)} - {_pct(hi)}")),
        ("target band", f"{_pct(band[0])} - {_pct(band[1])}"),
        ("band verdict", (prefix + "verdict", summary.get("verdict"))),
        (
            "infrastructure errors (not counted)",
            (prefix + "infrastructure_errors", summary.get("infrastructure_errors", 0)),
        ),
    ]
    cs = summary.get("pass_rate_cs95")
    if isinstance(cs, list) and len(cs) == 2:
        pairs.append(
            ("anytime-valid 95% sequence", (prefix + "cs95", f"{_pct(cs[0])} - {_pct(cs[1])}"))
        )
        pairs.append(
            ("sequence verdict", (prefix + "sequence_verdict", summary.get("sequence_verdict")))
        )
    for name, count in sorted((summary.get("categories") or {}).items()):
        pairs.append((CATEGORY_LABELS.get(name, name), (f"{prefix}category:{name}", count)))
    return kv_table(pairs, "counts")


def batch_sections(batch: Batch) -> list[str]:
    """Every section of a one-batch report, the runs table excepted."""
    rows, summary = batch.rows, batch.summary
    band = summary.get("target_band") or [0.1, 0.4]
    out = [
        _section("Batch", kv_table(header(batch))),
        _section("Pass rate", _counts(summary), _figure(plots.pass_rate_svg(rows, summary))),
    ]
    turn_parts = turns_section_parts(batch.records)
    if turn_parts:
        out.append(_section("Turns", *turn_parts))
    return out + _run_sections(rows, band)


def _run_sections(rows: Sequence[RunRow], band: Sequence[float]) -> list[str]:
    out = [
        _section("Outcomes and failures", _figure(plots.outcomes_svg(rows))),
        _section("Component errors", _figure(plots.errors_svg(rows))),
        _section("Steps, tokens, duration and cost", _figure(plots.resources_svg(rows))),
    ]
    family = plots.family_svg(rows, band)
    if family:
        out.append(_section("Pass rate by instance size", _figure(family)))
    return out


def _differing_knobs(batches: Sequence[Batch]) -> dict[str, list[str]]:
    """Knob label -> per-batch value, for knobs that differ between the batches."""
    values = [dict(knobs(b.spec)) for b in batches]
    labels = [k for k in values[0] if len({str(v.get(k)) for v in values}) > 1]
    return {k: [str(v.get(k)) for v in values] for k in labels if k != "instance seed"}


def _batch_table(batches: Sequence[Batch], band: Sequence[float]) -> str:
    differing = _differing_knobs(batches)
    head = ["batch", *differing, "graded runs", "passed", "pass rate", "Wilson 95%", "verdict"]
    lines = ["<table class='batches'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)]
    for i, b in enumerate(batches):
        s = b.summary
        n, passed = int(s["runs"]), int(s["passed"])
        lo, hi = wilson_interval(passed, n)
        verdict = band_verdict((lo, hi), (band[0], band[1])) if n else "inconclusive"
        cells = [
            ("label", b.label),
            *[("", differing[k][i]) for k in differing],
            ("runs", n),
            ("passed", passed),
            ("pass_rate", _pct(passed / n if n else None)),
            ("ci95", f"{_pct(lo)} - {_pct(hi)}"),
            ("verdict", verdict),
        ]
        lines.append(
            f"<tr data-batch='{i}'>"
            + "".join(
                f"<td{f' data-key={chr(34)}batch:{i}:{k}{chr(34)}' if k else ''}>"
                f"{html.escape(str(v))}</td>"
                for k, v in cells
            )
            + "</tr>"
        )
    return "".join(lines) + "</table>"


def _pooled(batches: Sequence[Batch]) -> tuple[int, int]:
    return sum(int(b.summary["passed"]) for b in batches), sum(
        int(b.summary["runs"]) for b in batches
    )


def _band_of(collection: Collection) -> list[float]:
    card = collection.card or {}
    band = card.get("target_band") or collection.batches[0].summary.get("target_band")
    return [float(x) for x in (band or [0.1, 0.4])]


def collection_sections(collection: Collection) -> list[str]:
    """A directory of run directories: the card, one row and one interval per batch (per
    rung for a calibration), then the pooled runs."""
    batches, band = collection.batches, _band_of(collection)
    passed, n = _pooled(batches)
    out = []
    if collection.card:
        card = [
            (k, v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v))
            for k, v in collection.card.items()
        ]
        out.append(_section("Calibration card", kv_table(card)))
    title = "Pass rate per rung" if collection.card else "Pass rate per batch"
    counts = kv_table(
        [
            ("graded runs (all batches)", ("pooled:runs", n)),
            ("passed (all batches)", ("pooled:passed", passed)),
            ("pass rate (all batches)", _pct(passed / n if n else None)),
        ],
        "counts",
    )
    svg = plots.rungs_svg(
        [b.label for b in batches],
        [(int(b.summary["passed"]), int(b.summary["runs"])) for b in batches],
        band,
    )
    out.append(_section(title, counts, _batch_table(batches, band), _figure(svg)))
    out.append(
        _section(
            "Batches",
            *(
                f"<details><summary>{html.escape(b.label)}</summary>{kv_table(header(b))}</details>"
                for b in batches
            ),
        )
    )
    rows = [r for b in batches for r in b.rows]
    return out + _run_sections(rows, band)


def comparison_sections(sides: Sequence[Collection]) -> list[str]:
    """Two inputs side by side, with Fisher's exact test of the pass-rate difference."""
    a, b = sides
    (pa, na), (pb, nb) = _pooled(a.batches), _pooled(b.batches)
    diff = compare_pass_rates(pa, na, pb, nb)
    labels = [a.path.name, b.path.name]
    band = _band_of(a)
    verdict = "differ" if diff.significant else "no significant difference"
    test = kv_table(
        [
            (
                f"{labels[0]} pass rate",
                ("side:0:pass_rate", f"{_pct(pa / na if na else None)} ({pa}/{na})"),
            ),
            (
                f"{labels[1]} pass rate",
                ("side:1:pass_rate", f"{_pct(pb / nb if nb else None)} ({pb}/{nb})"),
            ),
            ("difference (first - second)", ("difference", _pct(diff.difference))),
            (
                "95% interval of the difference (Newcombe)",
                f"{_pct(diff.ci95[0])} - {_pct(diff.ci95[1])}",
            ),
            ("Fisher's exact test, two-sided", ("p_value", f"p = {diff.p_value:.4g}")),
            ("at the 5% level", ("difference_verdict", verdict)),
        ],
        "counts",
    )
    svg = plots.rungs_svg(labels, [(pa, na), (pb, nb)], band)
    shares = plots.comparison_svg(labels, [[r for bt in s.batches for r in bt.rows] for s in sides])
    out = [_section("Difference in pass rate", test, _figure(svg), _figure(shares))]
    columns = []
    for i, side in enumerate(sides):
        parts = [f"<h3>{html.escape(labels[i])}</h3>"]
        for bt in side.batches:
            parts.append(kv_table(header(bt)))
            parts.append(_counts(bt.summary, prefix=f"side:{i}:{bt.label}:"))
        rows = [r for bt in side.batches for r in bt.rows]
        parts += [_figure(plots.outcomes_svg(rows)), _figure(plots.errors_svg(rows))]
        columns.append(f"<div class='side'>{''.join(parts)}</div>")
    out.append(_section("Side by side", f"<div class='sides'>{''.join(columns)}</div>"))
    return out
