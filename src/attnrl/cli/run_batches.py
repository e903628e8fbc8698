"""``attnrl run --batches B``: B batches in ``DIR/batch_bb``, pooled in ``DIR/summary.json``.

The seed's stability check: batch b runs with seed S + b - 1 (S drawn at random and recorded
when ``--seed`` is not given, so batches differ), and the parent directory gets a pooled
summary (the pass rate over all batches' runs, with its interval, and the between-batch
standard deviation) that ``attnrl report DIR`` reads.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnrl.harness.rundir import (
    MANIFEST_FILE,
    RESULTS_FILE,
    load_records,
    manifest_fields,
    now,
    read_manifest,
    summarize_run_dir,
    write_json_atomic,
)
from attnrl.stats.analysis import summarize

if TYPE_CHECKING:  # the runner (rich, the sandbox) is imported only when a batch runs
    from attnrl.harness.runner import RunConfig
    from attnrl.task import Task

__all__ = ["batch_dir", "render_batches", "summarize_batches", "write_batches_manifest"]


def batch_dir(out: Path, batch: int) -> Path:
    return out / f"batch_{batch:02d}"


def write_batches_manifest(out: Path, config: RunConfig, task: Task, batches: int) -> None:
    """The parent's ``run.json``: the batch settings with ``seed`` the first batch's and
    ``batches`` their number (``--resume DIR`` restores them; it never shrinks)."""
    from attnrl.harness.runner import batch_manifest

    have = read_manifest(out)
    manifest = batch_manifest(config, task) | {"batches": batches}
    runs = max(int(have.get("runs") or 0), config.runs)
    write_json_atomic(out / MANIFEST_FILE, have | manifest | {"runs": runs, "updated": now()})


def summarize_batches(out: Path, band: tuple[float, float] | None = None) -> dict[str, Any]:
    """The pooled summary of a ``--batches`` directory: :func:`summarize` over every batch's
    runs, plus each batch's pass rate and the spread between batches."""
    manifest = read_manifest(out)
    if band is None:
        stored = manifest.get("band") or (0.10, 0.40)
        band = (float(stored[0]), float(stored[1]))
    per: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for b in range(1, int(manifest.get("batches", 0)) + 1):
        path = batch_dir(out, b)
        if not (path / RESULTS_FILE).is_file():
            continue
        s = summarize_run_dir(path, band)
        per.append(
            {
                "batch": b,
                "seed": s["seed"],
                "runs": s["runs"],
                "passed": s["passed"],
                "pass_rate": s["pass_rate"],
                "complete": s["complete"],
            }
        )
        records += load_records(path / RESULTS_FILE)
    rates = [p["pass_rate"] for p in per if p["pass_rate"] is not None]
    return (
        summarize(records, band)
        | manifest_fields(manifest)
        | {
            "isolation": records[-1].get("sandbox") if records else None,
            "batches": per,
            "batch_pass_rate_mean": statistics.fmean(rates) if rates else None,
            "batch_pass_rate_std": statistics.stdev(rates) if len(rates) > 1 else None,
            "complete": len(per) == manifest.get("batches") and all(p["complete"] for p in per),
            "written_at": now(),
        }
    )


def render_batches(pooled: dict[str, Any]) -> str:
    """The seed's "pass rate stability" lines under the pooled TASK ANALYSIS."""
    lines = ["Pass rate stability across batches:"]
    for p in pooled["batches"]:
        rate = "n/a" if p["pass_rate"] is None else f"{100 * p['pass_rate']:.1f}%"
        lines.append(f"  batch {p['batch']} (seed {p['seed']}): {rate} ({p['passed']}/{p['runs']})")
    mean, std = pooled["batch_pass_rate_mean"], pooled["batch_pass_rate_std"]
    if std is not None:
        lines.append(f"  mean {100 * mean:.1f}%, between-batch std dev {100 * std:.1f} points")
    return "\n".join(lines)
