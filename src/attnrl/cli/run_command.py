"""``run`` (the main job: many attempts, graded, analysed) and ``report`` (re-analyse a DIR).

Exit codes of ``run``: 0 the batch completed and every run was graded (a failed run is a
result, not an error); 3 some run ended as infrastructure (re-run it with ``--resume``); 2 a
usage or I/O error; 128 + signal when stopped (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnrl.cli.common import (
    UsageError,
    add_task_arguments,
    at_least,
    check_sandbox,
    out_path,
    percent_band,
    plugin_from_args,
    seconds,
    task_maker,
)
from attnrl.cli.model_flags import add_model_arguments, model_options
from attnrl.cli.run_batches import (
    batch_dir,
    render_batches,
    summarize_batches,
    write_batches_manifest,
)
from attnrl.cli.run_control import (
    EXIT_INFRASTRUCTURE,
    Interrupted,
    retry_tally,
    run_stoppable,
    stop_signals,
)
from attnrl.cli.run_options import (
    add_budget_arguments,
    apply_card,
    check_cost_limit,
    load_prices,
    print_estimate,
)
from attnrl.cli.run_settings import knobs_json, options_json, restore_settings
from attnrl.harness.rundir import (
    MANIFEST_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    RunDirError,
    lock_run_dir,
    read_manifest,
    summarize_run_dir,
    write_json_atomic,
)
from attnrl.models.base import SIMULATED_NAME, ModelConfigError, ModelSource
from attnrl.models.deprecation import DEFAULT_MODEL
from attnrl.stats.analysis import render_analysis

if TYPE_CHECKING:  # the runner (rich, the sandbox) and the task (numpy): only when used
    from attnrl.harness.runner import RunConfig
    from attnrl.task import Task
    from attnrl.task.family import TaskFamily

__all__ = ["register"]

EXIT_OK = 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run", help="the main job: N attempts by a model, graded, with the TASK ANALYSIS"
    )
    add_task_arguments(run)
    run.add_argument(
        "--model",
        default=None,
        help=f"anthropic/<model>, openai/<model> or {SIMULATED_NAME} (default {DEFAULT_MODEL}; "
        f"{SIMULATED_NAME} when no API key is set)",
    )
    run.add_argument("--runs", type=at_least(1), default=15, help="attempts per batch (default 15)")
    run.add_argument(
        "--concurrency", type=at_least(1), default=15, help="runs in flight (default 15)"
    )
    run.add_argument(
        "--max-steps", type=at_least(1), default=15, help="model turns per run (default 15)"
    )
    run.add_argument(
        "--out", type=out_path, default=None, help="run directory (default runs/<time>)"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue --out DIR with the settings it was made with: keep finished runs, run "
        "the rest (a larger --runs extends the batch)",
    )
    run.add_argument("--verbose", action="store_true", help="print each run's transcript live")
    run.add_argument(
        "--batches",
        type=at_least(1),
        default=1,
        help="run B batches (seeds S, S+1, ...; drawn at random without --seed) and pool them",
    )
    run.add_argument(
        "--target-band",
        type=percent_band,
        default=(0.10, 0.40),
        help="percent, e.g. 10,40 (default)",
    )
    add_model_arguments(run)
    run.add_argument(
        "--simulated-delay",
        type=seconds,
        default=0.0,
        help="seconds per simulated model turn (to watch progress or test interrupts)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress display")
    add_budget_arguments(run)
    _add_html_argument(run, "also write the HTML report of the batch (default OUT/report.html)")
    run.set_defaults(handler=cmd_run)

    report = subparsers.add_parser("report", help="print the TASK ANALYSIS of a run directory")
    report.add_argument("dir", type=Path, metavar="DIR")
    report.add_argument(
        "compare", type=Path, nargs="?", metavar="DIR2", help="compare with DIR2 (with --html)"
    )
    report.add_argument(
        "--target-band",
        type=percent_band,
        default=None,
        help="percent, e.g. 10,40 (default: the band the runs were made with)",
    )
    report.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_html_argument(report, "write the HTML report instead (default DIR/report.html)")
    report.set_defaults(handler=cmd_report)


def _add_html_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--html", nargs="?", const="", default=None, metavar="FILE", help=help_text)


def _write_html(dirs: list[Path], html: str) -> None:
    """The HTML report of ``dirs`` (:mod:`attnrl.report`), its path printed."""
    from attnrl.report import ReportError, write_report  # matplotlib: import only when asked

    try:
        path = write_report(dirs, Path(html) if html else None)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    print(f"Report: {path}")


def _check_retirement(model_name: str, base_url: str | None) -> None:
    """Before any API call: warn about a deprecated Anthropic model, refuse a retired one."""
    from attnrl.models.deprecation import retirement_notice

    provider, _, model_id = model_name.partition("/")
    if provider != "anthropic":
        return
    custom = bool(base_url or os.environ.get("ANTHROPIC_BASE_URL"))
    try:
        notice = retirement_notice(model_id, custom_base_url=custom)
    except ModelConfigError as exc:
        raise UsageError(str(exc)) from None
    if notice:
        print(f"attnrl: warning: {notice}", file=sys.stderr)


def _open_models(
    name: str, family: TaskFamily, args: argparse.Namespace, seed: int | None
) -> ModelSource:
    """The batch's models as the flags ask (providers: one shared client; simulated: one
    scripted agent per run seeded by ``seed``)."""
    from attnrl.models.registry import model_source

    if name == SIMULATED_NAME and getattr(args, "card_knobs", None) is not None:
        # a card's difficulty: the offline agents follow the skill model it was made with
        from attnrl.cli.model_choice import simulated_skill_plans
        from attnrl.models.simulated import SkillModel

        skill = args.card_skill if args.card_skill is not None else SkillModel.skill
        return simulated_skill_plans(family, args.card_knobs, args.runs, seed, skill)

    try:
        options = model_options(args, cache_prompt=not args.no_cache_prompt)
        return model_source(
            name,
            family.base,
            runs=args.runs,
            seed=seed,
            simulated_delay_s=args.simulated_delay,
            options=options,
            task_for_run=family.task if family.per_run else None,
        )
    except (ValueError, ModelConfigError) as exc:
        raise UsageError(str(exc)) from None


def _family(args: argparse.Namespace, seed: int | None) -> TaskFamily:
    """--seed draws the instances of a seeded preset (one per run unless --fixed-instance);
    for every preset it also seeds the simulated agents' mix."""
    from attnrl.task.family import TaskFamily

    return TaskFamily(
        task_maker(args),
        seed,
        seeded=args.preset in plugin_from_args(args).seeded_presets,
        fixed=args.fixed_instance,
    )


def _config(
    args: argparse.Namespace,
    model: str,
    out: Path,
    seed: int,
    prices: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> RunConfig:
    from attnrl.harness.runner import RunConfig

    try:
        return RunConfig(
            model=model,
            out=out,
            runs=args.runs,
            concurrency=args.concurrency,
            max_steps=args.max_steps,
            resume=args.resume,
            verbose=args.verbose,
            seed=seed,
            band=args.target_band,
            progress=not args.no_progress,
            extra=options_json(args),
            knobs=knobs_json(args),
            stop_when_decided=args.stop_when_decided,
            max_cost=args.max_cost,
            prices=prices,
            context=context,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume:
        restore_settings(args, getattr(args, "given", frozenset()))
    apply_card(args)
    if args.seed is None:  # recorded either way, so any batch can be made again
        args.seed = 0 if args.batches == 1 else random.randrange(1_000_000)
    family = _family(args, args.seed)
    prices = load_prices(args)
    if args.estimate:  # calls nothing, so needs no key
        return print_estimate(args, family.base, args.model or DEFAULT_MODEL, prices)
    out: Path = args.out or Path("runs") / datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    _config(args, SIMULATED_NAME, out, args.seed, prices)  # every flag checked before notices
    _check_out(out, args.resume)
    check_sandbox()  # ATTNRL_SANDBOX: before any run
    from attnrl.cli.model_choice import choose_model

    model_name = choose_model(args)
    _check_retirement(model_name, args.base_url)
    check_cost_limit(model_name, prices, args.max_cost)
    if model_name != SIMULATED_NAME:  # fail fast on a bad name or a missing key
        run_stoppable(lambda: _open_models(model_name, family, args, args.seed).aclose())
    with stop_signals(), retry_tally() as tally:
        try:
            if args.batches == 1:
                summary = _run_one(args, model_name, out, args.seed, prices)
                print(render_analysis(summary))
                print(f"Results: {out / RESULTS_FILE}")
            else:
                summary = _run_batches(args, family.base, model_name, out, prices)
        except Interrupted as stop:
            how = "interrupted" if stop.signum == signal.SIGINT else f"stopped by {stop}"
            print(
                f"\nattnrl: {how}; finished runs are kept in {out} "
                f"(continue with attnrl run --out {out} --resume)",
                file=sys.stderr,
            )
            return stop.exit_code
        except ModelConfigError as exc:
            print(f"attnrl: model configuration error: {exc}", file=sys.stderr)
            print(f"attnrl: finished runs are kept in {out}", file=sys.stderr)
            return 2
        finally:
            for line in tally.lines():
                print(line, file=sys.stderr)
    if args.html is not None:
        _write_html([out], args.html)
    if summary["infrastructure_errors"]:
        print(
            f"attnrl: {summary['infrastructure_errors']} run(s) could not reach the model or "
            f"the sandbox (infrastructure, not counted); re-run them with attnrl run --out {out} "
            f"--resume (exit {EXIT_INFRASTRUCTURE})",
            file=sys.stderr,
        )
        return EXIT_INFRASTRUCTURE
    return EXIT_OK


def _not_writable(path: Path) -> str:
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return "a read-only file system" if read_only else "permission denied"


def _check_out(out: Path, resume: bool) -> None:
    """``--out`` checked before anything is printed or started: a file, a directory this
    process cannot write, or one that already holds runs without ``--resume`` is a one-line
    error whose advice fits the directory (``--resume`` only when it has a run to continue)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory; choose another --out")
    if not out.exists():
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(
                f"cannot create --out {out}: {parent} is not writable "
                f"({_not_writable(parent)}); choose a writable --out"
            )
        return
    if not os.access(out, os.W_OK | os.X_OK):
        fix = (
            "make it writable and continue with --resume"
            if (out / MANIFEST_FILE).is_file()
            else "make it writable"
        )
        raise UsageError(
            f"cannot write to --out {out} ({_not_writable(out)}); {fix}, or choose another --out"
        )
    results = out / RESULTS_FILE
    if not resume and results.is_file() and results.stat().st_size:
        raise UsageError(
            f"{out} already holds runs; pass --resume to continue them, or choose another --out"
        )


def _run_one(
    args: argparse.Namespace, model_name: str, out: Path, seed: int, prices: dict[str, Any]
) -> dict[str, Any]:
    """One batch in ``out``; its summary. Its instances are drawn from ``seed`` (one per run
    for a seeded preset unless ``--fixed-instance``, which keeps the instance of ``--seed``)."""
    from attnrl.cli.context_check import context_check
    from attnrl.harness.runner import run_with_models

    family = _family(args, args.seed if args.fixed_instance else seed)
    context = context_check(args, model_name, family, args.runs)  # says what will not fit
    config = _config(args, model_name, out, seed, prices, context)
    opener = functools.partial(_open_models, model_name, family, args, seed)
    try:
        return run_stoppable(lambda: run_with_models(config, family, opener))
    except RunDirError as exc:
        raise UsageError(str(exc)) from None


def _run_batches(
    args: argparse.Namespace, task: Task, model_name: str, out: Path, prices: dict[str, Any]
) -> dict[str, Any]:
    """``--batches B``: batch b in ``out/batch_bb`` with seed S + b - 1, then the pooled
    summary of ``out`` (what ``attnrl report out`` reads)."""
    try:
        with lock_run_dir(out):
            config = _config(args, model_name, out, args.seed, prices)
            write_batches_manifest(out, config, task, args.batches)
            for batch in range(1, args.batches + 1):
                seed = args.seed + batch - 1
                summary = _run_one(args, model_name, batch_dir(out, batch), seed, prices)
                rate = summary["pass_rate"]
                shown = "n/a" if rate is None else f"{100 * rate:.1f}%"
                print(
                    f"batch {batch}/{args.batches} (seed {seed}): "
                    f"{summary['passed']}/{summary['runs']} passed ({shown})",
                    flush=True,
                )
            pooled = summarize_batches(out)
            write_json_atomic(out / SUMMARY_FILE, pooled)
    except RunDirError as exc:
        raise UsageError(str(exc)) from None
    print(render_analysis(pooled))
    print(render_batches(pooled))
    print(f"Results: {out}/batch_*/{RESULTS_FILE}; pooled summary: {out / SUMMARY_FILE}")
    return pooled


def cmd_report(args: argparse.Namespace) -> int:
    if args.json and args.html is not None:
        raise UsageError(
            "--json prints the summary and --html writes the HTML report: give one of them"
        )
    if args.html is not None:
        _write_html([args.dir] + ([args.compare] if args.compare else []), args.html)
        return 0
    if args.compare is not None:
        raise UsageError("a second DIR is compared in the HTML report: add --html [FILE]")
    if not args.dir.is_dir():
        what = "is a file, not a directory" if args.dir.exists() else "does not exist"
        raise UsageError(f"{args.dir} {what}; give a directory made by attnrl run (--out DIR)")
    try:
        manifest = read_manifest(args.dir)
        pooled = bool(manifest.get("batches", 1) > 1)
        if pooled:
            summary = summarize_batches(args.dir, args.target_band)
        elif (args.dir / RESULTS_FILE).is_file():
            summary = summarize_run_dir(args.dir, args.target_band)
        else:
            raise UsageError(f"{args.dir} has no {RESULTS_FILE}; is it an attnrl run directory?")
    except RunDirError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render_analysis(summary))
        if pooled:
            print(render_batches(summary))
    return 0
