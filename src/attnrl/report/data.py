"""What a report shows, read from run directories: batches, their runs, their tasks.

A report input is a *run directory* (``results.jsonl``, ``run.json``, ``summary.json``) or a
*collection*: a directory whose subdirectories are run directories (``--batches`` output,
calibration rungs, a family of instances), with a card JSON beside them when a calibration
wrote one. Keys that later versions add (``cost_usd``, ``pass_rate_cs95``, a record's
``instance``) are read when present and left out of the page when absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from attnrl.harness.rundir import (
    RESULTS_FILE,
    SUMMARY_FILE,
    RunDirError,
    load_records,
    read_manifest,
    summarize_run_dir,
)
from attnrl.task.base import Task
from attnrl.task.registry import DEFAULT_TASK, get_plugin

__all__ = ["Batch", "Collection", "ReportError", "RunRow", "load_input", "number", "task_for"]


class ReportError(Exception):
    """A directory cannot be reported on (message says why and what to do)."""


@dataclass(frozen=True)
class RunRow:
    """One run as the runs table and the plots see it (the transcript stays in the record)."""

    run_id: int
    outcome: str
    category: str | None
    passed: bool
    bug: str | None
    steps: int
    duration_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    errors: dict[str, float | None]
    """Component -> max abs error (inf for non-finite submissions, None when not graded)."""
    tolerances: dict[str, float]
    size: tuple[int, int, int] | None
    """(tokens, d_model, heads) of the run's instance, when known."""
    task_hash: str | None


@dataclass
class Batch:
    """One run directory: its manifest, summary, records and the tasks they ran."""

    path: Path
    label: str
    manifest: dict[str, Any]
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    tasks: dict[str, Task] = field(default_factory=dict)
    """Task hash -> task, for every hash whose spec could be recovered."""

    @property
    def spec(self) -> dict[str, Any] | None:
        """The batch's task spec as recorded (one instance per batch today)."""
        spec = self.manifest.get("spec")
        if isinstance(spec, dict):
            return spec
        task = self.tasks.get(str(self.summary.get("task_hash")))
        return task.spec.to_dict() if task else None

    @cached_property
    def rows(self) -> list[RunRow]:
        return [_row(r, self) for r in self.records]


@dataclass
class Collection:
    """What one report input holds: one batch, or several (rungs, batches, family members)."""

    path: Path
    batches: list[Batch]
    card: dict[str, Any] | None = None
    """A calibration card found beside the rung directories."""

    @property
    def is_collection(self) -> bool:
        return len(self.batches) > 1 or self.batches[0].path != self.path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path} is not a JSON object")
    return data


def _recover_task(spec_data: Any, want_hash: str | None, task_name: Any = None) -> Task | None:
    """The task of a manifest's or record's spec (``task_name``: the manifest's ``task``, absent
    in directories written before tasks were plug-ins: the attention task)."""
    try:
        plugin = get_plugin(task_name if isinstance(task_name, str) else DEFAULT_TASK)
        task = plugin.from_dict(spec_data)
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return task if want_hash is None or task.content_hash == want_hash else None


def _rebuild_from_preset(manifest: dict[str, Any]) -> Task | None:
    """Directories written before the manifest carried the spec: rebuild the preset's task
    and keep it only if its hash is the one recorded (a knob changed -> no expected answer)."""
    preset, seed = manifest.get("preset"), manifest.get("seed")
    if not isinstance(preset, str):
        return None
    try:
        plugin = get_plugin(str(manifest.get("task", DEFAULT_TASK)))
        task = plugin.load(preset, seed if preset in plugin.seeded_presets else None)
    except (ValueError, TypeError):
        return None
    return task if task.content_hash == manifest.get("task_hash") else None


def _tasks(manifest: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    name = manifest.get("task")
    task = _recover_task(manifest["spec"], None, name) if "spec" in manifest else None
    task = task or _rebuild_from_preset(manifest)
    if task:
        tasks[task.content_hash] = task
    for record in records:  # per-run instances, when records carry their spec
        instance = record.get("instance")
        if isinstance(instance, dict) and isinstance(instance.get("spec"), dict):
            want = record.get("task_hash") or instance.get("hash")
            if want not in tasks and (t := _recover_task(instance["spec"], want, name)):
                tasks[t.content_hash] = t
    return tasks


def task_for(record: dict[str, Any], batch: Batch) -> Task | None:
    """The task a run was graded against, when its spec is known."""
    return batch.tasks.get(str(record.get("task_hash")))


def number(value: Any) -> float | None:
    """A recorded number as a float: None for anything else, inf for a non-finite one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float("inf")  # a non-finite submission is as far from passing as can be
    return None


def _row(record: dict[str, Any], batch: Batch) -> RunRow:
    task = task_for(record, batch)
    tolerances = task.tolerances() if task else {}
    size = task.instance_size() if task else None
    usage = record.get("usage") or {}
    diagnosis = record.get("diagnosis") or {}
    raw_errors = record.get("errors") or {}
    return RunRow(
        run_id=int(record["run_id"]),
        outcome=str(record.get("outcome")),
        category=record.get("category"),
        passed=bool(record.get("passed")),
        bug=diagnosis.get("closest_bug"),
        steps=int(record.get("steps", 0)),
        duration_s=float(record.get("duration_s", 0.0)),
        tokens_in=int(usage.get("input_tokens", 0)),
        tokens_out=int(usage.get("output_tokens", 0)),
        cost_usd=number(record.get("cost_usd")),
        errors={k: number(v) for k, v in raw_errors.items()},
        tolerances=tolerances,
        size=size,
        task_hash=record.get("task_hash"),
    )


def _load_batch(path: Path, label: str, band: tuple[float, float] | None) -> Batch:
    try:
        manifest = read_manifest(path)
        records = load_records(path / RESULTS_FILE, manifest)
        if (path / SUMMARY_FILE).exists() and band is None:
            summary = _read_json(path / SUMMARY_FILE)  # the file of record, as run wrote it
        else:
            summary = summarize_run_dir(path, band or (0.10, 0.40))
    except RunDirError as exc:
        raise ReportError(str(exc)) from None
    return Batch(path, label, manifest, summary, records, _tasks(manifest, records))


def _find_card(path: Path) -> dict[str, Any] | None:
    cards = sorted(path.glob("*card*.json"))
    return _read_json(cards[0]) if cards else None


def load_input(path: Path, band: tuple[float, float] | None = None) -> Collection:
    """A run directory or a directory of run directories; ``band`` (fractions) recomputes
    the summaries with another target band instead of reading ``summary.json``."""
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory; pass an attnrl run directory (--out)")
    path = path.resolve()  # names its batches even when given as "."
    if (path / RESULTS_FILE).exists():
        return Collection(path, [_load_batch(path, path.name, band)])
    members = sorted(p for p in path.iterdir() if (p / RESULTS_FILE).exists())
    if not members:
        raise ReportError(
            f"{path} has no {RESULTS_FILE} and no run directories under it; "
            "is it an attnrl run directory?"
        )
    card = _find_card(path)
    return Collection(path, [_load_batch(p, p.name, band) for p in members], card)
