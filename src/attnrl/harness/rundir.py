"""The run directory: manifest, records, lock, resume, atomic writes, disk errors.

A run directory holds ``run.json`` (what the runs were made with), ``results.jsonl`` (one
record per finished run, appended and flushed as each run ends, so a crash, a Ctrl-C or a
SIGKILL loses at most the runs in flight), ``summary.json`` and a timestamped log. One
writer at a time: ``.attnrl.lock`` is held (``flock``) for the whole batch and names its pid.
Resuming keeps what is there. Every reader (resume, ``report``, the summary) counts only the
runs of the batch (:func:`record_problem`: every field of its kind, a run id in 1..``runs``,
the manifest's model and instance) and one record per run: the first, except that a record
of an infrastructure failure gives way to the later record of its re-run. Any other line (a
torn last line, a corrupt or hand-edited one, a record of another batch, a repeat) is never
deleted but set aside in ``results.corrupt.jsonl`` with a warning, and its run is run again.
Every I/O failure (a file where a directory should be, a read-only disk, ENOSPC) becomes a
:class:`RunDirError` naming the path and the fix, and never costs what is already written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from attnrl.stats.analysis import summarize
from attnrl.task.family import instance_seed

__all__ = [
    "BatchDir",
    "CORRUPT_FILE",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "ResultsWriter",
    "RunDirError",
    "RunDirLock",
    "finish_run_dir",
    "json_safe",
    "load_records",
    "manifest_fields",
    "manifest_problem",
    "lock_run_dir",
    "now",
    "open_batch_dir",
    "prepare_run_dir",
    "read_manifest",
    "read_records",
    "record_problem",
    "run_log",
    "atomic_output",
    "set_aside_corrupt",
    "summarize_run_dir",
    "write_atomic",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "run.json"
LOCK_FILE = ".attnrl.lock"
CORRUPT_FILE = "results.corrupt.jsonl"

RESUME_MUST_MATCH = ("model", "task_hash", "max_steps", "seed")
"""Manifest keys a resumed batch must share with the directory's runs."""


class RunDirError(Exception):
    """The output directory cannot be used as asked (message says why and what to do)."""


def now() -> str:
    """The current UTC time as recorded in run directories."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _write_fix(path: Path, exc: OSError) -> RunDirError:
    """The one-line error of a failed write: the path, the reason, what to do."""
    return RunDirError(
        f"cannot write {path}: {_why(exc)}; free space or fix permissions and continue with "
        "--resume, or choose another --out (runs already recorded are kept)"
    )


# ---------------------------------------------------------------------------------------------
# What the files hold: run.json's fields and a record's, checked by every reader


def _is_int(value: Any, least: int | None = None) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and (least is None or value >= least)
    )


def _is_number(value: Any, least: float | None = None) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (least is None or value >= least)
    )


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _or_null(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _is_band(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_number(v) for v in value)
        and 0 <= value[0] < value[1] <= 1
    )


def _shown(value: Any) -> str:
    """A bad value as a message quotes it: JSON, cut short."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


Check = tuple[Callable[[Any], bool], str]
"""How to check a field, and what it should be (for the message when it is not)."""

MANIFEST_FIELDS: dict[str, Check] = {
    "model": (lambda v: isinstance(v, str) and bool(v), "a model name (a string)"),
    "simulated": (lambda v: isinstance(v, bool), "true or false"),
    "task": (_is_str, "a task name (a string)"),
    "title": (_or_null(_is_str), "a string"),
    "preset": (_or_null(_is_str), "a preset name (a string)"),
    "seed": (_or_null(_is_int), "an integer or null"),
    "task_hash": (_is_str, "a content hash (a string)"),
    "instances": (lambda v: v in ("fixed", "per run"), '"fixed" or "per run"'),
    "max_steps": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "runs": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "batches": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "band": (_is_band, "[low, high] with 0 <= low < high <= 1 (fractions)"),
    "knobs": (_is_object, "an object of knob settings ({...})"),
    "options": (_is_object, "an object of provider options ({...})"),
    "spec": (_is_object, "an object (the task spec)"),
    "context": (_is_object, "an object (the context check)"),
    "updated": (_is_str, "a time (a string)"),
}
"""The ``run.json`` keys attnrl reads back. Each is optional (older directories lack some),
but one that is there must be what attnrl wrote."""

OPTION_FIELDS: dict[str, Check] = {
    "base_url": (_or_null(_is_str), "a URL (a string) or null"),
    "max_tokens": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "temperature": (_or_null(lambda v: _is_number(v, 0)), "a number >= 0 or null"),
    "retries": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "retry_delay": (lambda v: _is_number(v, 0), "a number of seconds >= 0"),
    "no_cache_prompt": (lambda v: isinstance(v, bool), "true or false"),
    "fixed_instance": (lambda v: isinstance(v, bool), "true or false"),
    "stop_when_decided": (lambda v: isinstance(v, bool), "true or false"),
    "max_cost": (_or_null(lambda v: _is_number(v) and v > 0), "a number > 0 (USD) or null"),
}
"""The provider options ``run.json`` records under ``options`` (``--resume`` restores them)."""


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with a ``run.json`` (the field, what it holds and what it should be), or
    None when every field attnrl reads back is of its kind."""
    for key, (check, what) in MANIFEST_FIELDS.items():
        if key in manifest and not check(manifest[key]):
            return f'"{key}" should be {what}, not {_shown(manifest[key])}'
    options = manifest.get("options") or {}
    for key, (check, what) in OPTION_FIELDS.items():
        if key in options and not check(options[key]):
            return f'"options.{key}" should be {what}, not {_shown(options[key])}'
    return None


# ---------------------------------------------------------------------------------------------
# Reading records


def _is_count(value: Any) -> bool:
    return _is_int(value, 0)


def _is_error(value: Any) -> bool:
    """A component's error as recorded: a number, null (not graded) or a non-finite one
    spelled as :func:`json_safe` spells it."""
    return value is None or _is_number(value) or value in ("NaN", "Infinity", "-Infinity")


def _is_turn(value: Any) -> bool:
    """A transcript message's ``turn`` (:mod:`attnrl.harness.turns`), when it has one."""
    return value is None or (
        isinstance(value, dict)
        and _or_null(lambda v: _is_number(v, 0))(value.get("latency_s"))
        and all(
            _is_count(value[k]) for k in ("input_tokens", "output_tokens", "retries") if k in value
        )
    )


RECORD_FIELDS: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "run_id": (True, _is_int, "an integer"),
    "passed": (True, lambda v: isinstance(v, bool), "true or false"),
    "outcome": (True, _is_str, "an outcome (a string)"),
    "category": (True, _or_null(_is_str), "a category (a string) or null"),
    "steps": (True, _is_count, "an integer >= 0"),
    "duration_s": (True, lambda v: _is_number(v, 0), "a number of seconds >= 0"),
    "model": (False, _is_str, "a model name (a string)"),
    "task_hash": (False, _or_null(_is_str), "a content hash (a string)"),
    "instance_seed": (False, _or_null(_is_int), "an integer or null"),
    "instance": (False, _or_null(_is_object), "an object or null"),
    "usage": (
        False,
        lambda v: isinstance(v, dict) and all(_or_null(_is_count)(n) for n in v.values()),
        "an object of token counts (integers >= 0 or null)",
    ),
    "cost_usd": (False, _or_null(lambda v: _is_number(v, 0)), "a number >= 0 (USD) or null"),
    "errors": (
        False,
        lambda v: isinstance(v, dict) and all(_is_error(e) for e in v.values()),
        "an object of component errors (numbers or null)",
    ),
    "reward": (False, _or_null(_is_number), "a number"),
    "diagnosis": (
        False,
        _or_null(lambda v: isinstance(v, dict) and _or_null(_is_str)(v.get("closest_bug"))),
        "an object (closest_bug a string or null) or null",
    ),
    "transcript": (
        False,
        lambda v: (
            isinstance(v, list) and all(isinstance(m, dict) and _is_turn(m.get("turn")) for m in v)
        ),
        "a list of messages (objects; a turn's latency and token counts numbers)",
    ),
    "repeats": (False, _or_null(_is_count), "an integer >= 0"),
    "tool_errors": (False, _or_null(_is_count), "an integer >= 0"),
    **{
        key: (False, _or_null(_is_str), "a string or null")
        for key in (
            "message",
            "stop",
            "sandbox",
            "intended_category",
            "plan",
            "started_at",
            "finished_at",
        )
    },
}
"""What a record must hold (``required``, how to check it, what it should be): every field a
reader uses (the summary, the report, the runner's resume). A field the runner always wrote is
required; one that later versions added is optional, but of its kind when there."""


def record_problem(
    record: Any, manifest: dict[str, Any], instance_hash: Callable[[int], str] | None = None
) -> str | None:
    """Why ``record`` is not a run of the batch ``manifest`` (its ``run.json``) describes, or
    None when it is one: every field of its kind (:data:`RECORD_FIELDS`), a run id in
    1..``runs``, the batch's model, and the batch's instance: ``task_hash`` for a fixed one;
    for a family of instances the run's instance seed (drawn from the batch seed) and, when
    the caller can make the family (the runner, on resume), ``instance_hash(run_id)``.
    The one check of every reader: resume, ``report``, the summary."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, (required, check, what) in RECORD_FIELDS.items():
        if key not in record:
            if required:
                return f'no "{key}"'
        elif not check(record[key]):
            return f'"{key}" should be {what}, not {_shown(record[key])}'
    run_id: int = record["run_id"]
    runs = manifest.get("runs")
    if run_id < 1 or (runs is not None and run_id > runs):
        return f"run_id {run_id} is not one of the batch's (1..{runs if runs else 'runs'})"
    if "model" in manifest and record.get("model") != manifest["model"]:
        return f"model {_shown(record.get('model'))} is not the batch's ({manifest['model']})"
    if "task_hash" not in manifest:
        return None
    if manifest.get("instances") == "per run":
        seed = instance_seed(manifest.get("seed") or 0, run_id)
        if "instance_seed" in record and record["instance_seed"] != seed:
            return f"instance_seed {_shown(record['instance_seed'])} is not run {run_id}'s ({seed})"
        if instance_hash is None:
            return None
        want = instance_hash(run_id)
    else:
        want = manifest["task_hash"]
    if record.get("task_hash") != want:
        return f"task_hash {_shown(record.get('task_hash'))} is not run {run_id}'s ({want[:16]}...)"
    return None


def _scan(
    data: bytes, manifest: dict[str, Any], instance_hash: Callable[[int], str] | None
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """The runs of ``data`` (run id -> record) and its lines that are not (number -> why).

    One record counts per run: a record of an infrastructure failure gives way to a later
    record of its run (resume ran it again), any other repeat of a run id is set aside (the
    runner never records a graded run twice; the first record of a run stands, so a line
    appended later cannot rewrite a result)."""
    runs: dict[int, dict[str, Any]] = {}
    where: dict[int, int] = {}
    bad: dict[int, str] = {}
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            bad[number] = "not a JSON line (cut or damaged)"
            continue
        problem = record_problem(record, manifest, instance_hash)
        if problem is None:
            earlier = runs.get(record["run_id"])
            if earlier is not None and earlier.get("category") != "infrastructure":
                problem = (
                    f"run {record['run_id']} is already recorded (line {where[record['run_id']]})"
                )
        if problem is not None:
            bad[number] = problem
            continue
        runs[record["run_id"]] = record
        where[record["run_id"]] = number
    return runs, bad


def _read_results(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {_why(exc)}") from None


def _check_records(
    path: Path,
    manifest: dict[str, Any] | None = None,
    instance_hash: Callable[[int], str] | None = None,
) -> tuple[bytes, dict[int, dict[str, Any]], dict[int, str]]:
    data = _read_results(path)
    if manifest is None:
        manifest = read_manifest(path.parent)
    runs, bad = _scan(data, manifest, instance_hash)
    return data, runs, bad


def read_records(
    path: Path,
    manifest: dict[str, Any] | None = None,
    instance_hash: Callable[[int], str] | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """The runs of ``results.jsonl`` (by run id) and the numbers of its lines that are not
    runs of the batch: binary garbage, cut or hand-edited lines, and records that fail
    :func:`record_problem` against ``manifest`` (default: ``run.json`` beside the file) or
    repeat a run already recorded."""
    _, runs, bad = _check_records(path, manifest, instance_hash)
    return [runs[k] for k in sorted(runs)], sorted(bad)


def _lines_why(bad: dict[int, str], most: int = 3) -> str:
    """``line 7: run_id 100 is not ...; line 9: ...`` for a message (the first few)."""
    shown = "; ".join(f"line {n}: {bad[n]}" for n in sorted(bad)[:most])
    return shown + (f"; and {len(bad) - most} more" if len(bad) > most else "")


def load_records(
    path: Path,
    manifest: dict[str, Any] | None = None,
    instance_hash: Callable[[int], str] | None = None,
) -> list[dict[str, Any]]:
    """The runs of ``results.jsonl`` (:func:`read_records`); lines that are not runs of the
    batch are skipped, loudly (``attnrl run --resume`` sets them aside and re-runs their runs)."""
    _, runs, bad = _check_records(path, manifest, instance_hash)
    if bad:
        logger.warning(
            "%s: skipped %d corrupt line%s (not runs of this batch: %s); `attnrl run --out %s "
            "--resume` moves them to %s and runs their runs again",
            path,
            len(bad),
            "s" if len(bad) != 1 else "",
            _lines_why(bad),
            path.parent,
            CORRUPT_FILE,
        )
    return [runs[k] for k in sorted(runs)]


def set_aside_corrupt(
    out: Path,
    manifest: dict[str, Any] | None = None,
    instance_hash: Callable[[int], str] | None = None,
) -> int:
    """Move the lines of ``results.jsonl`` that are not runs of the batch (:func:`read_records`;
    a torn last line too) to ``results.corrupt.jsonl``, so that resuming re-runs their runs and
    loses no byte.

    Returns how many lines were set aside; the results file is rewritten atomically.
    """
    path = out / RESULTS_FILE
    data, _, found = _check_records(path, manifest, instance_hash)
    if not data:
        return 0
    lines = data.split(b"\n")
    bad = set(found)
    if not bad:
        if lines[-1].strip():  # a whole record whose newline was cut: give it one
            try:
                with path.open("ab") as fh:
                    fh.write(b"\n")
            except OSError as exc:
                raise _write_fix(path, exc) from None
        return 0
    kept = [line for i, line in enumerate(lines, start=1) if i not in bad and line.strip()]
    aside = [lines[i - 1] for i in sorted(bad)]
    side = out / CORRUPT_FILE
    try:
        with side.open("ab") as fh:  # the side file first: nothing is ever only in memory
            fh.write(b"".join(line + b"\n" for line in aside))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _write_fix(side, exc) from None
    try:
        write_atomic(path, b"".join(line + b"\n" for line in kept), fsync=True)
    except OSError as exc:
        raise _write_fix(path, exc) from None
    logger.warning(
        "%s: set aside %d corrupt line%s (not runs of this batch: %s) in %s; %s again",
        path,
        len(bad),
        "s" if len(bad) != 1 else "",
        _lines_why(found),
        side,
        "their runs are run" if len(bad) != 1 else "its run is run",
    )
    return len(bad)


# ---------------------------------------------------------------------------------------------
# Writing


class ResultsWriter:
    """Appends one JSON line per run.

    Each line is flushed to the OS at once, so a crash or SIGKILL of attnrl loses nothing
    written; ``fsync`` (surviving power loss) is grouped, at most every ``sync_every_s``
    and at close, because a per-run fsync blocked the event loop for ~5 ms a run. A failed
    write (ENOSPC, EIO) is a :class:`RunDirError`: the batch stops instead of losing runs.
    """

    def __init__(self, path: Path, sync_every_s: float = 1.0) -> None:
        self._path = path
        try:
            self._fh = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise _write_fix(path, exc) from None
        self._sync_every_s = sync_every_s
        self._last_sync = time.monotonic()

    def append(self, record: dict[str, Any]) -> None:
        try:
            self._fh.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
            self._fh.flush()
            if time.monotonic() - self._last_sync >= self._sync_every_s:
                os.fsync(self._fh.fileno())
                self._last_sync = time.monotonic()
        except OSError as exc:
            raise _write_fix(self._path, exc) from None

    def close(self) -> None:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise _write_fix(self._path, exc) from None
        finally:
            with contextlib.suppress(OSError):
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


@contextlib.contextmanager
def atomic_output(path: Path, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """A binary handle whose content becomes ``path`` at once when the ``with`` block ends
    (readers never see half of it): the one way attnrl writes a whole output file.

    The content goes to a new temporary file beside the destination, renamed over it at the
    end; on any failure the temporary file is removed and the old file is left as it was. A
    symlink is written through, never replaced: the file it resolves to is the destination
    (created if it does not exist yet). A destination that is not a regular file (a pipe, a
    FIFO, a character device such as ``/dev/stdout`` or ``/dev/null``, ``/proc/self/fd/N``)
    cannot be renamed over: it is opened and written straight. ``fsync``: make the content
    durable before the rename. Raises OSError.
    """
    try:
        mode: int | None = os.stat(path).st_mode  # follows symlinks, /proc's magic ones too
    except FileNotFoundError:
        mode = None  # nothing there yet, or a symlink to a file not created yet
    if mode is not None and not stat.S_ISREG(mode):
        with open(path, "wb") as fh:  # the path as given: /proc/self/fd/1 is opened anew
            yield fh
        return
    target = Path(os.path.realpath(path))  # the file itself: a symlink to it stays a symlink
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        if mode is not None:
            os.fchmod(fd, stat.S_IMODE(mode))  # a replaced file keeps its permissions
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: Path, data: bytes | str, *, fsync: bool = False) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` through :func:`atomic_output`."""
    with atomic_output(path, fsync=fsync) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON through :func:`atomic_output`, so readers never see half of it;
    on failure the old file is left as it was."""
    try:
        write_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        raise _write_fix(path, exc) from None


def read_manifest(out: Path) -> dict[str, Any]:
    """``run.json`` of ``out`` ({} when there is none)."""
    path = out / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {_why(exc)}") from None
    except ValueError:
        raise RunDirError(f"{path} is not valid JSON; restore it or choose another --out") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path} is not a run manifest; restore it or choose another --out")
    problem = manifest_problem(data)
    if problem is not None:
        raise RunDirError(f"{path}: {problem}; correct that field or restore the file")
    return data


# ---------------------------------------------------------------------------------------------
# One writer per directory


class RunDirLock:
    """An exclusive ``flock`` on ``DIR/.attnrl.lock`` holding the writer's pid; released by
    :meth:`release` or when the process dies (the kernel drops it, so no stale locks)."""

    def __init__(self, out: Path) -> None:
        path = out / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _write_fix(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(
                f"{out} is being written by another attnrl run (pid {holder}); wait for it to "
                "finish (or stop it), or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _make_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a directory; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(
            f"cannot create the run directory {out}: {_why(exc)}; choose a writable --out"
        ) from None


def lock_run_dir(out: Path) -> RunDirLock:
    """Create ``out`` if needed and take its lock (:class:`RunDirLock`)."""
    _make_dir(out)
    return RunDirLock(out)


def prepare_run_dir(
    out: Path,
    manifest: dict[str, Any],
    resume: bool,
    instance_hash: Callable[[int], str] | None = None,
) -> RunDirLock:
    """Check that ``out`` can take a batch described by ``manifest``, lock it, set aside
    the lines of a resumed batch that are not its runs (:func:`set_aside_corrupt`, checked
    with ``instance_hash`` when the batch has a family of instances) and write the manifest;
    returns the held lock.

    A directory with runs needs ``resume``; a resumed one must share the manifest's
    :data:`RESUME_MUST_MATCH` keys. ``run.json`` never shrinks: ``runs`` only grows.
    """
    results = out / RESULTS_FILE
    if results.is_file() and results.stat().st_size and not resume:
        raise RunDirError(
            f"{out} already holds runs; pass --resume to continue them, or choose another --out"
        )
    lock = lock_run_dir(out)
    try:
        have = read_manifest(out) if resume else {}
        for key in RESUME_MUST_MATCH:
            if have and have.get(key) != manifest.get(key):
                raise RunDirError(
                    f"cannot resume {out}: its runs used {key}={have.get(key)!r}, this run asks "
                    f"for {manifest.get(key)!r}; choose another --out to start afresh"
                )
        runs = max(int(have.get("runs") or 0), int(manifest.get("runs") or 0))
        merged = have | manifest | {"runs": runs, "updated": now()}
        if resume:
            set_aside_corrupt(out, merged, instance_hash)
        write_json_atomic(out / MANIFEST_FILE, merged)
    except BaseException:
        lock.release()
        raise
    return lock


def manifest_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a summary repeats of ``run.json``: the model and the task it was made with."""
    return {
        "model": manifest.get("model"),
        "simulated": manifest.get("simulated"),
        "task": manifest.get("task", "attention"),
        "title": manifest.get("title"),
        "preset": manifest.get("preset"),
        "seed": manifest.get("seed"),
        "knobs": manifest.get("knobs", {}),
        "task_hash": manifest.get("task_hash"),
    }


def summarize_run_dir(
    out: Path, band: tuple[float, float] | None = None, isolation: str | None = None
) -> dict[str, Any]:
    """``summary.json`` of a run directory, from its records and manifest: the one place a
    summary is made, for ``attnrl run`` as it ends and for ``attnrl report`` later. The band
    is the one the batch was made with unless ``band`` says otherwise."""
    manifest = read_manifest(out)
    records = load_records(out / RESULTS_FILE, manifest)
    stored = manifest.get("band")
    if band is None:
        band = (float(stored[0]), float(stored[1])) if stored else (0.10, 0.40)
    wanted = manifest.get("runs")
    return (
        summarize(records, band)
        | manifest_fields(manifest)
        | {
            "wanted_runs": wanted,
            "isolation": isolation or (records[-1].get("sandbox") if records else None),
            "complete": wanted is not None
            and len(records) >= wanted
            and all(r.get("category") != "infrastructure" for r in records),
            "written_at": now(),
        }
        | ({"context_check": manifest["context"]} if "context" in manifest else {})
    )


def finish_run_dir(
    out: Path,
    writer: ResultsWriter,
    band: tuple[float, float],
    isolation: str | None,
    *,
    failing: bool,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Close the records and write ``summary.json``. When the batch is already ``failing``
    (interrupted, disk full), a second failure here is logged rather than raised, so the
    first error is the one the operator sees; the summary is then None if it could not be
    written. ``extra`` joins the summary (why the runner stopped scheduling early)."""
    try:
        writer.close()
        summary = summarize_run_dir(out, band, isolation) | (extra or {})
        write_json_atomic(out / SUMMARY_FILE, summary)
    except RunDirError as exc:
        if not failing:
            raise
        logger.info("summary not written: %s", exc)
        return None
    return summary


class _RunLogHandler(logging.FileHandler):
    """The run log. A write that fails (a full disk) is dropped silently: logging's default
    prints a traceback to stderr, and the batch's own next write (``results.jsonl``) reports
    the disk in one line."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)


@contextlib.contextmanager
def run_log(out: Path) -> Iterator[None]:
    """A timestamped log file in the run directory for the duration of the batch."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    try:
        handler = _RunLogHandler(out / f"attnrl_run_{stamp}.log", encoding="utf-8")
    except OSError as exc:
        raise _write_fix(out / f"attnrl_run_{stamp}.log", exc) from None
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
        with contextlib.suppress(OSError):
            handler.close()


class BatchDir:
    """One batch's run directory, held for the whole batch: its lock, the runs it already
    records, the results writer and the log. :func:`open_batch_dir` makes it; the runner asks
    it (``previous``, ``append``, ``log``, ``finish``) and never builds a path of its own."""

    def __init__(
        self, out: Path, lock: RunDirLock, previous: list[dict[str, Any]], writer: ResultsWriter
    ) -> None:
        self.out = out
        self.previous = previous
        """The records already there (a resumed batch), corrupt lines set aside."""
        self._lock = lock
        self._writer = writer

    def append(self, record: dict[str, Any]) -> None:
        self._writer.append(record)

    def log(self) -> contextlib.AbstractContextManager[None]:
        """The batch's log file, for the duration of the ``with`` block."""
        return run_log(self.out)

    def finish(
        self,
        band: tuple[float, float],
        isolation: str | None,
        *,
        failing: bool,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """:func:`finish_run_dir`, then release the lock (whatever happens)."""
        try:
            return finish_run_dir(
                self.out, self._writer, band, isolation, failing=failing, extra=extra
            )
        finally:
            self._lock.release()


def open_batch_dir(
    out: Path,
    manifest: dict[str, Any],
    resume: bool,
    instance_hash: Callable[[int], str] | None = None,
) -> BatchDir:
    """:func:`prepare_run_dir`, the records already there and a results writer, in one call;
    the lock is released if any of it fails. ``instance_hash``: run id -> the content hash of
    its instance, for a batch whose runs each get their own (checks the records on resume)."""
    lock = prepare_run_dir(out, manifest, resume, instance_hash)
    try:
        previous = load_records(out / RESULTS_FILE, instance_hash=instance_hash)
        writer = ResultsWriter(out / RESULTS_FILE)
    except BaseException:
        lock.release()
        raise
    return BatchDir(out, lock, previous, writer)
