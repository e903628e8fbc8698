"""Arguments and helpers shared by subcommands: choosing a task, reading input, failing clearly."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from attnrl.presets import DEFAULT_PRESET, preset_names
from attnrl.task import Task, load_task

__all__ = ["UsageError", "add_task_arguments", "dump_json", "fail", "read_input", "task_from_args"]

EXIT_USAGE = 2


class UsageError(Exception):
    """An operator error (bad flag value, unreadable file): message to stderr, exit 2."""


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset`` and ``--seed``: which task instance a command works on."""
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"task preset: {', '.join(preset_names())} (default {DEFAULT_PRESET})",
    )
    parser.add_argument("--seed", type=int, default=None, help="instance seed (seeded presets)")


def task_from_args(args: argparse.Namespace) -> Task:
    try:
        return load_task(args.preset, args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def read_input(path: str) -> str:
    """The text of ``path``, or of stdin for ``-``."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def dump_json(obj: Any, compact: bool) -> str:
    return json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=2)


def fail(message: str) -> int:
    print(f"attnrl: error: {message}", file=sys.stderr)
    return EXIT_USAGE
