"""The ``attnrl`` command: one subcommand module per capability, each with ``register``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from attnrl import __version__
from attnrl.cli.common import UsageError, fail

__all__ = ["build_parser", "main"]

COMMAND_MODULES = (
    "task_commands",
    "exec_command",
    "run_command",
    "dataset_command",
    "calibrate_command",
)
"""Modules of :mod:`attnrl.cli` whose ``register(subparsers)`` adds subcommands, in help order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnrl",
        description="The Positional Multi-Head Attention RL task: spec, verifier, harness.",
    )
    parser.add_argument("--version", action="version", version=f"attnrl {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"attnrl.cli.{name}").register(subparsers)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _subparsers(sub)
    return found


def given_flags(argv: Sequence[str] | None) -> frozenset[str]:
    """The destinations of the options the user actually typed (what ``--resume`` must check
    against ``run.json``): ``argv`` parsed again with every default suppressed."""
    parser = build_parser()
    for sub in _subparsers(parser):
        sub._defaults.clear()
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                action.default = argparse.SUPPRESS
    return frozenset(vars(parser.parse_args(argv))) - {"command"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m attnrl``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.given = given_flags(argv)
    level = args.log_level.upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # run logs go to their file at INFO, the console stays quiet
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        return fail(str(exc))
    except BrokenPipeError:  # e.g. `attnrl reference --json | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
