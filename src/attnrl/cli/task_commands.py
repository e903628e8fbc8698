"""``verify``, ``reference``, ``instance``, ``prompt``, ``audit``: the task itself, offline."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from attnrl.cli.common import add_task_arguments, dump_json, read_bytes, task_from_args

if TYPE_CHECKING:  # numpy and the grader: imported by the handlers, not by --help
    from attnrl.task import Task

__all__ = ["register"]

EXIT_PASSED, EXIT_NOT_PASSED = 0, 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = subparsers.add_parser(
        "verify", help="grade a submission (exit 0 passed, 1 not passed, 2 usage/IO error)"
    )
    add_task_arguments(verify)
    verify.add_argument("file", metavar="FILE|-", help="submission JSON file, or - for stdin")
    verify.add_argument("--json", action="store_true", help="print the grade as one JSON object")
    verify.set_defaults(handler=cmd_verify)

    reference = subparsers.add_parser("reference", help="print the expected submission")
    add_task_arguments(reference)
    reference.add_argument("--json", action="store_true", help="one compact JSON object")
    reference.set_defaults(handler=cmd_reference)

    instance = subparsers.add_parser("instance", help="print the instance: inputs, heads, mask...")
    add_task_arguments(instance)
    instance.add_argument("--json", action="store_true", help="one compact JSON object")
    instance.set_defaults(handler=cmd_instance)

    prompt = subparsers.add_parser("prompt", help="print the exact prompt the model gets")
    add_task_arguments(prompt)
    prompt.add_argument("--tools", action="store_true", help="also print the tool definitions")
    prompt.set_defaults(handler=cmd_prompt)

    audit = subparsers.add_parser(
        "audit", help="grade every catalogued bug: which ones the tolerances let through"
    )
    add_task_arguments(audit)
    audit.add_argument("--json", action="store_true", help="print a JSON list")
    audit.set_defaults(handler=cmd_audit)


def _submission(task: Task, data: bytes) -> Any:
    """What ``verify`` grades: the bytes as given (the grader judges text, encoding and JSON,
    the same from a file or stdin), a UTF-8 byte order mark dropped, and a ``submit_answer``
    argument object (``{"answer": {...}}``) unwrapped as the harness does."""
    from attnrl.harness.tools import answer_from_submit_arguments

    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return data
    if isinstance(parsed, dict) and not any(k in parsed for k in task.spec.answer_keys()):
        answer = answer_from_submit_arguments(parsed, task.spec.answer_keys())
        if isinstance(answer, dict | str):
            return answer
    return data


def cmd_verify(args: argparse.Namespace) -> int:
    task = task_from_args(args)
    grade = task.grade(_submission(task, read_bytes(args.file)))
    if args.json:
        print(dump_json(grade.to_dict(), compact=True))
    else:
        print(grade.message)
        if grade.diagnosis is not None:
            d = grade.diagnosis
            print(f"category: {d.category}")
            if d.closest_bug:
                print(f"closest known bug: {d.closest_bug}")
            for key, bug in d.component_bugs.items():
                print(f"  {key} matches bug {bug}")
            for note in d.inconsistencies:
                print(f"  inconsistency: {note}")
        print(f"reward: {grade.reward:g}")
    return EXIT_PASSED if grade.passed else EXIT_NOT_PASSED


def cmd_reference(args: argparse.Namespace) -> int:
    print(dump_json(task_from_args(args).reference(), compact=args.json))
    return 0


def cmd_instance(args: argparse.Namespace) -> int:
    print(dump_json(task_from_args(args).instance(), compact=args.json))
    return 0


def cmd_prompt(args: argparse.Namespace) -> int:
    task = task_from_args(args)
    print(task.prompt, end="")
    if args.tools:
        tools = [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in task.tools
        ]
        print("\n## Tool definitions\n" + json.dumps(tools, indent=2))
    return 0


def _fmt_error(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def cmd_audit(args: argparse.Namespace) -> int:
    task = task_from_args(args)
    entries = task.audit()
    if args.json:
        print(dump_json([e.to_dict() for e in entries], compact=True))
        return 0
    keys = [c.key for c in task.spec.components()]
    short = [
        k.replace("_attention_weights", "_w").replace("position_encoded_queries", "pos")
        for k in keys
    ]
    tol = task.spec.tolerances
    print(
        f"Audit of preset {task.name!r} (tolerances: position {tol.position:g}, "
        f"weights {tol.weights:g}, outputs {tol.outputs:g})"
    )
    print(
        f"{'bug':24} {'category':12} {'outcome':16} {'caught':7} "
        + " ".join(f"{s:>9}" for s in short)
    )
    for e in entries:
        caught = "yes" if e.detected else "NO"
        errs = " ".join(f"{_fmt_error(e.errors[k]):>9}" for k in keys)
        print(f"{e.name:24} {e.category:12} {e.outcome:16} {caught:7} {errs}")
    missed = [e.name for e in entries if not e.detected]
    print(
        f"\n{len(entries) - len(missed)}/{len(entries)} catalogued bugs rejected."
        + (f" PASSED DESPITE THE BUG: {', '.join(missed)}" if missed else "")
    )
    return 0
