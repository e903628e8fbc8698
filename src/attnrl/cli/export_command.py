"""``attnrl export --format harbor``: instances as task directories of another harness."""

from __future__ import annotations

import argparse

from attnrl.cli.common import (
    UsageError,
    add_task_arguments,
    at_least,
    instance_seed,
    out_path,
    task_maker,
)

__all__ = ["register"]

FORMATS = ("harbor",)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "export", help="write N instances as Harbor tasks (instruction, config, grader, oracle)"
    )
    p.add_argument("--format", choices=FORMATS, required=True, help="harbor: Harbor task dirs")
    p.add_argument("--n", type=at_least(1), default=1, help="instances (seeds S..S+N-1; 1)")
    p.add_argument("--out", type=out_path, required=True, help="directory to write the tasks into")
    add_task_arguments(p)
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from attnrl.integrations.harbor import export_harbor

    factory = task_maker(args)
    start = instance_seed(args)
    if start is None and args.n > 1:
        raise UsageError(f"preset {args.preset!r} is one fixed instance: use --n 1")
    seeds = [start] if start is None else list(range(start, start + args.n))
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; export writes a directory: choose a new one")
    if args.out.exists() and any(args.out.iterdir()):
        raise UsageError(f"{args.out} is not empty; export into a new directory")
    try:
        dirs = export_harbor((factory(s) for s in seeds), args.out)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc}") from None
    print(f"wrote {len(dirs)} Harbor task(s) to {args.out}")
    return 0
