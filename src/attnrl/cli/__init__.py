"""The ``attnrl`` command: one subcommand module per capability, each with ``register``.

Start-up is kept instant: ``attnrl --help`` imports no command module (the listing comes from
:data:`COMMANDS`), ``attnrl <command>`` imports only the module of that command, and command
modules import providers, the runner, trainers and plotting only inside the handlers that use
them (``tests/cli/test_cli_startup.py`` checks the import graph of each command).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from attnrl import __version__

__all__ = ["COMMANDS", "COMMAND_MODULES", "build_parser", "main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

COMMANDS: dict[str, tuple[str, str]] = {
    "verify": (
        "task_commands",
        "grade a submission (exit 0 passed, 1 not passed, 2 usage/IO error)",
    ),
    "reference": ("task_commands", "print the expected submission"),
    "instance": ("task_commands", "print the instance: inputs, heads, mask..."),
    "prompt": ("task_commands", "print the exact prompt the model gets"),
    "audit": (
        "task_commands",
        "grade every catalogue entry (bugs and cheap answers): which ones earn reward",
    ),
    "presets": (
        "task_commands",
        "the presets and ladder rungs: policy, answer size in tokens, what is gameable",
    ),
    "tasks": ("check_command", "list the registered tasks (the attnrl.tasks plug-ins)"),
    "check-task": (
        "check_command",
        "check a registered task against the plug-in contract (exit 0 all pass, 1 not)",
    ),
    "exec": ("exec_command", "run code in the python tool sandbox and print the tool result JSON"),
    "serve-sandbox": (
        "serve_command",
        "serve the python sandbox over HTTP (SandboxFusion /run_code, sessions)",
    ),
    "run": ("run_command", "the main job: N attempts by a model, graded, with the TASK ANALYSIS"),
    "report": ("run_command", "print the TASK ANALYSIS of a run directory"),
    "dataset": (
        "dataset_command",
        "write N instances as dataset rows (prompt, answer, info): JSONL or Hugging Face",
    ),
    "export": (
        "export_command",
        "write N instances as Harbor tasks (instruction, config, grader, oracle)",
    ),
    "calibrate": (
        "calibrate_command",
        "find the rung of the difficulty ladder in band for a model; write a preset card",
    ),
}
"""Command -> (module of :mod:`attnrl.cli` that registers it, its one-line help), in help
order: ``attnrl --help`` lists commands from here without importing any module.
``tests/cli/test_cli_startup.py`` checks that it matches what the modules register."""

COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))
"""Modules of :mod:`attnrl.cli` whose ``register(subparsers)`` adds subcommands, in help order."""


class CLIParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line plus a ``hint:`` line (never the usage
    block), with a suggestion for a misspelled flag or command."""

    def error(self, message: str) -> NoReturn:
        hint = _suggestion(self, message) or f"see {self.prog} --help"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nhint: {hint}\n")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Every long flag of ``parser`` and of the subparsers built under it."""
    found = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _options(sub)
    return found


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str | None:
    """``did you mean ...?`` for an unknown flag or command in an argparse ``message``."""
    if message.startswith("unrecognized arguments: "):
        options = _options(parser)
        tokens = message.removeprefix("unrecognized arguments: ").split()
        top = [s for a in parser._actions if not a.nargs == 0 for s in a.option_strings]
        for i, token in enumerate(tokens):
            flag, sep, value = token.partition("=")
            if flag in top:  # a top-level flag typed after the command
                if not sep:
                    value = tokens[i + 1] if i + 1 < len(tokens) else "LEVEL"
                command = getattr(parser, "command", None) or "COMMAND"
                return (
                    f"{flag} is a flag of {parser.prog} itself: it goes before the command, "
                    f"e.g. {parser.prog} {flag} {value} {command} ..."
                )
        for token in tokens:
            flag = token.split("=", 1)[0]
            close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
            if flag.startswith("-") and close:
                return f"did you mean {close[0]}?"
        return None
    if "invalid choice: " in message and message.startswith("argument COMMAND"):
        typed = message.split("invalid choice: ", 1)[1].split(" (", 1)[0].strip("'")
        close = difflib.get_close_matches(typed, list(COMMANDS), n=1, cutoff=0.6)
        if close:
            return f"did you mean {parser.prog} {close[0]}?"
    return None


def _command_in(argv: Sequence[str]) -> str:
    """The subcommand word of ``argv`` (after the top-level flags), or ``""``."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--log-level":
            skip = True
        elif not token.startswith("-"):
            return token
    return ""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``attnrl`` parser. Without ``command`` every module registers (the full parser, e.g.
    for generated documentation); with a key of :data:`COMMANDS` only that command's module is
    imported and registered; with ``""`` (none typed) no module is imported; any other word
    (a typo, or a command a module registers but :data:`COMMANDS` does not list yet) gets the
    full parser. Commands not registered are listed (and recognised) from :data:`COMMANDS`."""
    if command and command not in COMMANDS:
        command = None
    parser = CLIParser(
        prog="attnrl",
        description="The Positional Multi-Head Attention RL task: spec, verifier, harness.",
    )
    parser.command = command  # type: ignore[attr-defined]  # for a hint naming it
    parser.add_argument("--version", action="version", version=f"attnrl {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = COMMANDS[command][0] if command in COMMANDS else None
    for module in COMMAND_MODULES:
        if command is None or module == wanted:
            importlib.import_module(f"attnrl.cli.{module}").register(subparsers)
            continue
        for name, (owner, help_text) in COMMANDS.items():
            if owner == module:  # listed and recognised; its flags are built when it is used
                subparsers.add_parser(name, help=help_text, add_help=False)
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
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(argv))
    for sub in _subparsers(parser):
        sub._defaults.clear()
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                action.default = argparse.SUPPRESS
    return frozenset(vars(parser.parse_args(argv))) - {"command"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m attnrl``; returns the exit code.
    Ctrl-C at any point (start-up included) is one line and exit 130."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        print("attnrl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    args.given = given_flags(argv)
    level = args.log_level.upper()
    if not isinstance(logging.getLevelName(level), int):
        parser.error(f"--log-level {args.log_level!r}: use DEBUG, INFO, WARNING or ERROR")

    from attnrl.cli.common import UsageError, fail  # the task package: after parsing

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
    return code
