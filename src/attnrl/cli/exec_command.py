"""``exec``: run code exactly as the model's ``python_expression`` tool does.

``attnrl exec FILE|-`` reads the code from FILE (or stdin for ``-``), runs it once through
the default local sandbox, and prints the tool result JSON the model would get. Exit 0 if
the code ran (even if it raised: the error is in the JSON), 2 for a usage or I/O error,
1 if the sandbox itself could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from attnrl.cli.common import UsageError, check_sandbox, fail, read_input
from attnrl.sandbox import ExecResult, SandboxError, open_sandbox
from attnrl.sandbox.limits import RANGES, SandboxLimits, check_limit

__all__ = ["cmd_exec", "register"]

EXIT_RAN, EXIT_SANDBOX_FAILED = 0, 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "exec",
        help="run code in the python tool sandbox and print the tool result JSON",
        description=(
            "Run code exactly as the model's python_expression tool does (fresh sandboxed "
            "process, numpy as np) and print the tool result JSON. Exit 0 if it ran, even "
            "if it raised; 2 for a usage/IO error; 1 if the sandbox could not start."
        ),
    )
    parser.add_argument("file", metavar="FILE|-", help="file with the code, or - for stdin")
    lo, hi = RANGES["timeout_s"]
    parser.add_argument(
        "--timeout",
        default=None,
        metavar="SECONDS",
        help=f"wall-clock limit, in ({lo:g}, {hi:g}] (default {SandboxLimits().timeout_s:g})",
    )
    parser.add_argument(
        "--isolation", action="store_true", help="also print the isolation in force on stderr"
    )
    parser.set_defaults(handler=cmd_exec)


def cmd_exec(args: argparse.Namespace) -> int:
    try:
        check_sandbox()
        code = read_input(args.file)
        limits = SandboxLimits()
        if args.timeout is not None:
            limits = SandboxLimits(timeout_s=_timeout(args.timeout))
    except UsageError as exc:
        return fail(str(exc))
    try:
        result, isolation = asyncio.run(_run(code, limits))
    except SandboxError as exc:
        print(f"attnrl: sandbox error: {exc}", file=sys.stderr)
        return EXIT_SANDBOX_FAILED
    if args.isolation:
        print(f"isolation: {isolation}", file=sys.stderr)
    print(json.dumps(result.to_tool_json()))
    return EXIT_RAN


def _timeout(text: str) -> float:
    """``--timeout``, checked against :data:`RANGES` where it enters (inf, nan, 1e9 and
    non-numbers are usage errors naming the flag and its range)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    problem = check_limit("timeout_s", value if value is not None else text)
    if problem:
        raise UsageError(f"--timeout (limit timeout_s) {problem}")
    assert value is not None
    return value


async def _run(code: str, limits: SandboxLimits) -> tuple[ExecResult, str]:
    async with open_sandbox(limits, max_concurrency=1) as sandbox:
        return await sandbox.run(code), sandbox.isolation
