"""The run directory: manifest, records, resume, atomic writes.

A run directory holds ``run.json`` (what the runs were made with), ``results.jsonl`` (one
record per finished run, appended and flushed as each run ends, so a crash, a Ctrl-C or a
SIGKILL loses at most the runs in flight), ``summary.json`` and a timestamped log. Resuming
keeps what is there: the last record per run id wins and a torn last line is cut.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attnrl.stats.analysis import summarize

__all__ = [
    "MANIFEST_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "ResultsWriter",
    "RunDirError",
    "json_safe",
    "load_records",
    "now",
    "prepare_run_dir",
    "run_log",
    "summarize_run_dir",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "run.json"

RESUME_MUST_MATCH = ("model", "task_hash", "max_steps", "seed")
"""Manifest keys a resumed batch must share with the directory's runs."""


class RunDirError(Exception):
    """The output directory cannot be used as asked (message says why and what to do)."""


def now() -> str:
    """The current UTC time as recorded in run directories."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_records(path: Path) -> list[dict[str, Any]]:
    """Records of ``results.jsonl``, the last one per run id; a torn last line is dropped."""
    if not path.exists():
        return []
    latest: dict[int, dict[str, Any]] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            run_id = int(record["run_id"])
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines):  # the write a kill interrupted
                logger.warning("dropping torn last line of %s", path)
                continue
            raise RunDirError(f"{path}:{number} is not a run record ({exc})") from None
        latest[run_id] = record
    return [latest[k] for k in sorted(latest)]


def _repair_tail(path: Path) -> None:
    """Cut a partial last line so the next append starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


class ResultsWriter:
    """Appends one JSON line per run.

    Each line is flushed to the OS at once, so a crash or SIGKILL of attnrl loses nothing
    written; ``fsync`` (surviving power loss) is grouped, at most every ``sync_every_s``
    and at close, because a per-run fsync blocked the event loop for ~5 ms a run.
    """

    def __init__(self, path: Path, sync_every_s: float = 1.0) -> None:
        _repair_tail(path)
        self._fh = path.open("a", encoding="utf-8")
        self._sync_every_s = sync_every_s
        self._last_sync = time.monotonic()

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
        self._fh.flush()
        if time.monotonic() - self._last_sync >= self._sync_every_s:
            os.fsync(self._fh.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats spelled as strings (``"NaN"``, ``"Infinity"``), since
    JSON has no such numbers and a model may well submit them."""
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else repr(value).replace("inf", "Infinity").replace("nan", "NaN")
        )
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON through a temporary file, so readers never see half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare_run_dir(out: Path, manifest: dict[str, Any], resume: bool) -> None:
    """Check that ``out`` can take a batch described by ``manifest`` and write the manifest.

    A directory with runs needs ``resume``; a resumed one must share the manifest's
    :data:`RESUME_MUST_MATCH` keys.
    """
    results = out / RESULTS_FILE
    manifest_path = out / MANIFEST_FILE
    if results.exists() and results.stat().st_size and not resume:
        raise RunDirError(
            f"{out} already holds runs; pass --resume to continue them, or choose another --out"
        )
    if resume and manifest_path.exists():
        have = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key in RESUME_MUST_MATCH:
            if have.get(key) != manifest[key]:
                raise RunDirError(
                    f"cannot resume {out}: its runs used {key}={have.get(key)!r}, this run asks "
                    f"for {manifest[key]!r}; choose another --out to start afresh"
                )
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(manifest_path, manifest | {"updated": now()})


def summarize_run_dir(
    out: Path, band: tuple[float, float] = (0.10, 0.40), isolation: str | None = None
) -> dict[str, Any]:
    """``summary.json`` of a run directory, from its records and manifest: the one place a
    summary is made, for ``attnrl run`` as it ends and for ``attnrl report`` later."""
    records = load_records(out / RESULTS_FILE)
    manifest_path = out / MANIFEST_FILE
    manifest = (
        json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    )
    wanted = manifest.get("runs")
    return summarize(records, band) | {
        "model": manifest.get("model"),
        "simulated": manifest.get("simulated"),
        "preset": manifest.get("preset"),
        "task_hash": manifest.get("task_hash"),
        "isolation": isolation or (records[-1].get("sandbox") if records else None),
        "complete": wanted is not None
        and len(records) >= wanted
        and all(r.get("category") != "infrastructure" for r in records),
        "written_at": now(),
    }


@contextlib.contextmanager
def run_log(out: Path) -> Iterator[None]:
    """A timestamped log file in the run directory for the duration of the batch."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    handler = logging.FileHandler(out / f"attnrl_run_{stamp}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(name)s - %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("attnrl")
    old_level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
