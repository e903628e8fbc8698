"""``attnrl tasks`` (the registered tasks) and ``attnrl check-task NAME`` (the plug-in
contract, checked on a task: :mod:`attnrl.task.check`)."""

from __future__ import annotations

import argparse

from attnrl.cli.common import UsageError, at_least, dump_json
from attnrl.task.registry import UnknownTask, get_plugin, task_names

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("tasks", help="list the registered tasks (the attnrl.tasks plug-ins)")
    p.add_argument("--json", action="store_true", help="one JSON object per task")
    p.set_defaults(handler=cmd_tasks)
    p = subparsers.add_parser(
        "check-task",
        help="check a registered task against the plug-in contract (exit 0 all pass, 1 not)",
    )
    p.add_argument("name", metavar="NAME", help="a registered task (attnrl tasks lists them)")
    p.add_argument(
        "--seeds", type=at_least(1), default=20, help="instances of each seeded preset (20)"
    )
    p.add_argument("--json", action="store_true", help="the results as JSON")
    p.set_defaults(handler=cmd_check_task)


def _plugin_or_usage(name: str) -> None:
    try:
        get_plugin(name)
    except (UnknownTask, TypeError) as exc:
        raise UsageError(str(exc)) from None


def cmd_tasks(args: argparse.Namespace) -> int:
    for name in task_names():
        try:
            plugin = get_plugin(name)
        except (ImportError, TypeError, AttributeError) as exc:
            print(f"{name:12} cannot be loaded: {exc}")
            continue
        if args.json:
            print(
                dump_json(
                    {
                        "name": plugin.name,
                        "description": plugin.description,
                        "presets": list(plugin.presets),
                        "knobs": list(plugin.knobs),
                        "rungs": len(plugin.rungs()),
                    },
                    compact=True,
                )
            )
        else:
            print(f"{plugin.name:12} {plugin.description}")
    return 0


def cmd_check_task(args: argparse.Namespace) -> int:
    from attnrl.task.check import check_task

    _plugin_or_usage(args.name)
    results = check_task(args.name, seeds=args.seeds)
    if args.json:
        print(dump_json([r.__dict__ for r in results], compact=True))
    else:
        for r in results:
            print(r.line())
        failed = sum(not r.passed for r in results)
        print(f"{args.name}: " + (f"{failed} check(s) FAILED" if failed else "every check passed"))
    return 0 if all(r.passed for r in results) else 1
