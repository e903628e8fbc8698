"""``verify``, ``reference``, ``instance``, ``prompt``, ``audit``, ``presets``: the task itself,
offline."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from attnrl.cli.common import (
    KNOB_DESTS,
    UsageError,
    add_task_arguments,
    dump_json,
    instance_seed,
    plugin_from_args,
    read_bytes,
    task_from_args,
    task_maker,
)
from attnrl.tasks.attention.ladder import LADDER
from attnrl.tasks.attention.preset_table import DEFAULT_SEEDS as DEFAULT_PRESET_SEEDS
from attnrl.tasks.attention.presets import PROCEDURAL

if TYPE_CHECKING:  # numpy and the grader: imported by the handlers, not by --help
    from attnrl.task import Task

__all__ = ["MAX_SEEDS", "register"]

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
        "audit",
        help="grade every catalogue entry (bugs and cheap answers): which ones earn reward",
    )
    add_task_arguments(audit)
    audit.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help=f"audit the instances of seeds S..S+N-1 (--preset {PROCEDURAL}) and print how often "
        "each entry earns reward",
    )
    audit.add_argument(
        "--rung",
        type=int,
        metavar="R",
        help=f"use the knobs of ladder rung R (0-{len(LADDER) - 1}) of --preset {PROCEDURAL}",
    )
    audit.add_argument(
        "--ladder",
        action="store_true",
        help="every ladder rung and fixed preset, one line each (with --seeds N, default 50)",
    )
    audit.add_argument("--json", action="store_true", help="print JSON")
    audit.set_defaults(handler=cmd_audit)

    presets_parser = subparsers.add_parser(
        "presets",
        help="the presets and ladder rungs: policy, answer size in tokens, what is gameable",
    )
    presets_parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_PRESET_SEEDS,
        metavar="N",
        help=f"instances probed per rung (default {DEFAULT_PRESET_SEEDS}: the shipped table, "
        "printed at once while the sources it was probed with are unchanged)",
    )
    presets_parser.add_argument(
        "--exact",
        action="store_true",
        help="count the answers' tokens with cl100k and o200k (needs bpe-openai; slower) instead "
        "of the estimate, which bounds them (tested)",
    )
    presets_parser.add_argument("--json", action="store_true", help="print JSON")
    presets_parser.set_defaults(handler=cmd_presets)


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


def _apply_rung(args: argparse.Namespace) -> None:
    """``--rung R``: the ladder's knobs, for the knob flags not given."""
    if args.rung is None:
        return
    plugin = plugin_from_args(args)
    ladder = plugin.rungs()
    if not 0 <= args.rung < len(ladder):
        raise UsageError(f"--rung must be 0-{len(ladder) - 1}, got {args.rung}")
    if args.preset != plugin.default_preset:
        raise UsageError(
            f"--rung needs --preset {plugin.default_preset} (the ladder is of its knobs)"
        )
    given = dict(args.knob or ())
    for knob, value in ladder[args.rung].items():
        if knob in KNOB_DESTS and getattr(args, knob, None) is None:
            setattr(args, knob, value)
        elif knob not in KNOB_DESTS and knob not in given:
            given[knob] = value
    args.knob = list(given.items())


MAX_SEEDS = 100_000
"""The most instances ``--seeds`` probes (``audit``, ``presets``): about 40 minutes of
``audit`` on one core; more is a typo (or a job for several commands over seed ranges)."""


def _check_seeds(seeds: int | None) -> None:
    if seeds is not None and not 1 <= seeds <= MAX_SEEDS:
        raise UsageError(
            f"--seeds must be in 1..{MAX_SEEDS:,}, got {seeds:,} (for more, audit seed ranges "
            "in several commands: --seed S --seeds N)"
        )


def cmd_audit(args: argparse.Namespace) -> int:
    _check_seeds(args.seeds)
    if args.ladder:
        _check_ladder(args)
        return _audit_ladder(args)
    _apply_rung(args)
    if args.seeds is not None:
        return _audit_rates(args)
    return _audit_one(args)


def _check_ladder(args: argparse.Namespace) -> None:
    """``--ladder`` audits every rung and fixed preset with their own knobs and seeds: a
    flag it would ignore is an error, not a silent no-op."""
    given: frozenset[str] = getattr(args, "given", frozenset())
    ignored = [
        "--" + dest.replace("_", "-")
        for dest in ("rung", "knob", "preset", "seed", *KNOB_DESTS)
        if getattr(args, dest, None) is not None and (dest in given or dest in ("rung", "knob"))
    ]
    if ignored:
        raise UsageError(
            f"--ladder audits every rung and fixed preset with their own knobs and seeds "
            f"0..N-1: drop {', '.join(ignored)}, or drop --ladder to audit that one setting"
        )


def _audit_seeds(args: argparse.Namespace, count: int) -> list[int | None]:
    if args.preset not in plugin_from_args(args).seeded_presets:
        return [None]  # a fixed preset has one instance
    start = instance_seed(args)
    assert start is not None
    return list(range(start, start + count))


def _audit_rates(args: argparse.Namespace) -> int:
    from attnrl.task.audit import audit_rates

    seeds = _audit_seeds(args, args.seeds)
    rates = audit_rates(task_maker(args), seeds)
    if args.json:
        print(dump_json([r.to_dict() for r in rates], compact=True))
        return 0
    where = f"rung {args.rung}" if args.rung is not None else f"preset {args.preset!r}"
    print(f"Audit of {where} over {len(seeds)} instance(s): how often each entry earns reward")
    print(f"{'entry':24} {'kind':6} {'category':12} {'paid':>12} {'full':>6}")
    for r in rates:
        print(f"{r.name:24} {r.kind:6} {r.category:12} {r.paid:>5}/{r.instances:<6} {r.full:>6}")
    paid = [r.name for r in rates if r.paid]
    print(
        f"\n{len(rates) - len(paid)}/{len(rates)} entries never earn reward."
        + (f" PAID: {', '.join(paid)}" if paid else "")
    )
    return 0


def _ladder_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from attnrl.task.audit import audit_rates

    plugin = plugin_from_args(args)
    count = args.seeds or 50
    rows: list[dict[str, Any]] = []
    targets: list[tuple[str, str, dict[str, Any], list[int | None]]] = [
        (f"rung {i}", plugin.default_preset, dict(knobs), list(range(count)))
        for i, knobs in enumerate(plugin.rungs())
    ]
    fixed = [name for name in plugin.presets if name not in plugin.seeded_presets]
    targets += [(name, name, {}, [None]) for name in fixed]
    for label, preset, knobs, seeds in targets:
        rates = audit_rates(plugin.task_maker(preset, **knobs), seeds)
        pairs = sum(r.instances for r in rates)
        rows.append(
            {
                "target": label,
                "instances": len(seeds),
                "pairs": pairs,
                "paid_pairs": sum(r.paid for r in rates),
                "paid_bugs": sorted(r.name for r in rates if r.paid and r.kind == "bug"),
                "paid_cheap": sorted(r.name for r in rates if r.paid and r.kind == "cheap"),
            }
        )
    return rows


def _audit_ladder(args: argparse.Namespace) -> int:
    rows = _ladder_rows(args)
    if args.json:
        print(dump_json(rows, compact=True))
        return 0
    print("Audit of every ladder rung and fixed preset: entry x instance pairs that earn reward")
    print(f"{'target':14} {'instances':>9} {'paid pairs':>16}  paid entries")
    for r in rows:
        names = ", ".join(r["paid_bugs"] + r["paid_cheap"]) or "none"
        paid = f"{r['paid_pairs']}/{r['pairs']}"
        print(f"{r['target']:14} {r['instances']:>9} {paid:>16}  {names}")
    return 0


def _audit_one(args: argparse.Namespace) -> int:
    task = task_from_args(args)
    entries = task.audit()
    if args.json:
        print(dump_json([e.to_dict() for e in entries], compact=True))
        return 0
    tolerances = task.tolerances()
    keys = list(tolerances)
    short = [
        k.replace("_attention_weights", "_w").replace("position_encoded_queries", "pos")
        for k in keys
    ]
    print(
        f"Audit of task {task.task_name!r}, preset {task.name!r} "
        f"(tolerances: {task.tolerance_summary()})"
    )
    print(
        f"{'entry':24} {'kind':6} {'category':12} {'outcome':16} {'caught':7} "
        + " ".join(f"{s:>9}" for s in short)
    )
    for e in entries:
        caught = "yes" if e.detected else "NO"
        errs = " ".join(f"{_fmt_error(e.errors[k]):>9}" for k in keys)
        print(f"{e.name:24} {e.kind:6} {e.category:12} {e.outcome:16} {caught:7} {errs}")
    missed = [e.name for e in entries if not e.detected]
    bugs = [e for e in entries if e.kind == "bug"]
    print(
        f"\n{sum(e.detected for e in bugs)}/{len(bugs)} catalogued bugs and "
        f"{sum(e.detected for e in entries) - sum(e.detected for e in bugs)}/"
        f"{len(entries) - len(bugs)} cheap answers rejected."
        + (f" PAID DESPITE THE MISTAKE: {', '.join(missed)}" if missed else "")
    )
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from attnrl.tasks.attention import preset_table

    _check_seeds(args.seeds)
    counter = None
    if args.exact:
        from attnrl.tasks.attention.answer_size import openai_token_counter

        counter = openai_token_counter()
        if counter is None:
            raise UsageError("--exact needs the bpe-openai package: pip install bpe-openai")
    rows = preset_table.rows(args.seeds, counter)
    if args.json:
        print(dump_json(rows, compact=True))
        return 0
    unit = rows[0]["answer_unit"]
    print(
        f"Presets and ladder rungs ({args.seeds} instances probed per seeded one). The answer "
        f"is the reference rounded as the prompt asks, compact JSON, in {unit}"
        + (
            " (cl100k/o200k, the larger)"
            if unit == "tokens"
            else " (an estimate that bounds cl100k and o200k counts; --exact counts them)"
        )
        + f"; it must fit a {rows[0]['response_tokens']:,}-token response and the "
        f"{rows[0]['tool_output_chars']:,}-character tool output."
    )
    print(f"{'name':14} {'policy':9} {'dec':>3} {'answer median':>13} {'max':>6} {'ops':>7}  knobs")
    for r in rows:
        knobs = " ".join(f"{k}={v}" for k, v in r["knobs"].items()) or "defaults"
        print(
            f"{r['name']:14} {r['policy']:9} {r['answer_decimals']:>3} "
            f"{r['answer_median']:>13g} {r['answer_max']:>6} "
            f"{r['workload']['operations']:>7g}  {knobs}"
        )
    for r in rows:
        if r["gameable"]:
            print(f"GAMEABLE: preset {r['name']}: {r['gameable']}.")
    print(
        "The seed-doc presets are never a default (training, calibration, datasets, adapters): "
        f"use --preset {PROCEDURAL}. Every entry that earns reward: attnrl audit --ladder."
    )
    return 0
