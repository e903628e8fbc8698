"""``dataset``: many task instances as rows for trainers and eval frameworks.

``attnrl dataset --preset procedural --n N --seed S --out FILE [--format jsonl|hf]`` writes
one row per instance with :func:`attnrl.task.dataset.dataset_row` (``prompt``, ``answer``,
``info``); row i is the instance of seed ``S + i`` (S defaults to 0). The knob flags apply
to every row. A fixed preset (``seed-doc``, ``seed-doc-text``) is one instance: it takes ``--n 1``
only, since N identical rows would only teach a policy one answer (let the trainer sample
repeated rollouts instead).

Writes are atomic: rows go to a temporary file (or directory) next to ``--out`` that is
renamed over it only once complete, so a failure leaves what was there untouched.
``--format hf`` writes a Hugging Face ``datasets`` directory (``save_to_disk``); it
replaces an existing directory only if that directory is empty or itself a saved dataset.

``--stats`` writes nothing: it prints the rows' prompt and answer lengths in characters and,
with ``--tokenizer PATH`` (a ``tokenizer.json`` or a local model directory), in tokens, so a
trainer's length limits can be set to fit (see :mod:`attnrl.task.lengths`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from attnrl.cli.common import (
    PRESET_NAME,
    UsageError,
    add_task_arguments,
    dump_json,
    out_path,
    task_maker,
)
from attnrl.cli.run_options import add_card_argument, apply_card
from attnrl.harness.rundir import atomic_output
from attnrl.task.base import Task
from attnrl.task.lengths import LengthSummary, count_tokens_with, length_stats, load_tokenizer

__all__ = ["MAX_ROWS", "register"]

MAX_ROWS = 1_000_000
_HF_MARKERS = ("state.json", "dataset_info.json")


def _rows_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= n <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"expected 1 <= N <= {MAX_ROWS:,}, got {n}")
    return n


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dataset",
        help="write N instances as dataset rows (prompt, answer, info): JSONL or Hugging Face",
        description=(
            "Write one dataset row (prompt, answer, info) per instance. Row i is the instance "
            f"of seed S + i (--seed S, default 0) for --preset {PRESET_NAME}; a fixed preset "
            "is one instance and takes --n 1 only. The knob flags apply to every row. The "
            "output is replaced atomically: a failure leaves what was there untouched."
        ),
    )
    add_task_arguments(parser)
    add_card_argument(parser)
    parser.add_argument(
        "--n", type=_rows_count, required=True, metavar="N", help="number of rows (instances)"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=out_path, metavar="PATH", help="output path")
    parser.add_argument(
        "--format",
        choices=("jsonl", "hf"),
        default="jsonl",
        help="jsonl: one JSON row per line (default); hf: a datasets.save_to_disk directory",
    )
    target.add_argument(
        "--stats",
        action="store_true",
        help="write nothing; print prompt and answer lengths (characters, and tokens with "
        "--tokenizer) to set a trainer's length limits",
    )
    parser.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="with --stats: count tokens with this tokenizer.json or local model directory",
    )
    parser.add_argument("--json", action="store_true", help="with --stats: print JSON")
    parser.set_defaults(handler=cmd_dataset)


def _seeds(args: argparse.Namespace) -> list[int | None]:
    n: int = args.n
    if args.preset != PRESET_NAME:
        if n > 1:
            raise UsageError(
                f"preset {args.preset!r} is a single fixed instance: --n {n} would write {n} "
                f"identical rows. Use --n 1 (and let the trainer repeat it), or "
                f"--preset {PRESET_NAME} for {n} different instances"
            )
        return [args.seed]
    start = 0 if args.seed is None else args.seed
    if start < 0:
        raise UsageError(f"--seed must be >= 0, got {start}")
    return list(range(start, start + n))


def _rows(
    factory: Callable[[int | None], Task], seeds: list[int | None]
) -> Iterator[dict[str, Any]]:
    from attnrl.task.dataset import dataset_row

    for seed in seeds:
        yield dataset_row(factory(seed))


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise UsageError(
            "--format hf needs the Hugging Face datasets package: pip install 'attnrl[hf]'"
        ) from None
    return datasets


def _check_out(out: Path, fmt: str) -> None:
    """Refuse up front what the final rename could not do safely."""
    if fmt == "jsonl":
        if out.is_dir():
            raise UsageError(f"--out {out} is a directory; --format jsonl writes a file")
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; --format hf writes a directory")
    if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in _HF_MARKERS):
        raise UsageError(
            f"--out {out} is a non-empty directory that is not a saved dataset; "
            "refusing to replace it"
        )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_jsonl(rows: Iterator[dict[str, Any]], out: Path) -> int:
    count = 0
    with atomic_output(out, fsync=True) as handle:  # a symlink or /dev/stdout: written through
        for row in rows:
            handle.write((json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8"))
            count += 1
    return count


def _write_hf(rows: Iterator[dict[str, Any]], out: Path) -> int:
    datasets = _import_datasets()
    data = list(rows)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    backup: Path | None = None
    try:
        with _quiet_progress(datasets):
            datasets.Dataset.from_list(data).save_to_disk(str(tmp))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would outlive the rename
        if out.exists():
            backup = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(backup)
        try:
            tmp.rename(out)
        except BaseException:
            if backup is not None:
                backup.rename(out)
                backup = None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return len(data)


@contextlib.contextmanager
def _quiet_progress(datasets: Any) -> Iterator[None]:
    """No tqdm bars on stderr while saving; restores the caller's setting."""
    were_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not were_disabled:
            datasets.enable_progress_bars()


def cmd_stats(args: argparse.Namespace) -> int:
    """``--stats``: the lengths of the rows that the same flags would write."""
    counter = None
    if args.tokenizer is not None:
        try:
            counter = count_tokens_with(load_tokenizer(args.tokenizer))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    factory = task_maker(args)
    stats = length_stats(_rows(factory, _seeds(args)), counter)
    if args.json:
        print(dump_json({"rows": args.n, "lengths": [s.to_dict() for s in stats]}, False))
    else:
        print(_stats_table(stats, args))
    return 0


def _stats_table(stats: list[LengthSummary], args: argparse.Namespace) -> str:
    lines = [
        f"{args.n} rows of {args.preset}",
        f"{'field':<12}{'unit':<8}{'min':>7}{'median':>9}{'p95':>7}{'max':>7}",
    ]
    for s in stats:
        lines.append(f"{s.field:<12}{s.unit:<8}{s.min:>7}{s.median:>9g}{s.p95:>7}{s.max:>7}")
    if not any(s.unit == "tokens" for s in stats):
        lines.append("(characters bound tokens from above; --tokenizer PATH counts them exactly)")
    return "\n".join(lines)


def cmd_dataset(args: argparse.Namespace) -> int:
    apply_card(args)  # --card sets the preset and knobs, for rows and for --stats
    if args.stats:
        return cmd_stats(args)
    if args.tokenizer is not None or args.json:
        raise UsageError("--tokenizer and --json go with --stats")
    out: Path = args.out
    _check_out(out, args.format)
    if args.format == "hf":
        _import_datasets()  # fail before generating anything
    factory = task_maker(args)  # knobs validated before anything is written
    seeds = _seeds(args)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        rows = _rows(factory, seeds)
        count = _write_jsonl(rows, out) if args.format == "jsonl" else _write_hf(rows, out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc}") from None
    which = f"seeds {seeds[0]}..{seeds[-1]}" if args.preset == PRESET_NAME else "the fixed instance"
    print(f"wrote {count} row{'s' if count != 1 else ''} ({args.preset}, {which}) to {out}")
    return 0
