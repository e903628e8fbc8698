"""``run`` (the main job: many attempts, graded, analysed) and ``report`` (re-analyse a DIR)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attnrl.cli.common import UsageError, add_task_arguments, spec_factory
from attnrl.cli.run_options import (
    add_budget_arguments,
    apply_card,
    check_cost_limit,
    load_prices,
    print_estimate,
)
from attnrl.harness.rundir import RESULTS_FILE, RunDirError, summarize_run_dir
from attnrl.harness.runner import RunConfig, run_with_models
from attnrl.models.base import ModelConfigError, ModelSource
from attnrl.models.simulated import SIMULATED_NAME
from attnrl.stats.analysis import render_analysis
from attnrl.task import Task
from attnrl.task.family import TaskFamily
from attnrl.task.presets import SEEDED_PRESETS

__all__ = ["register"]

DEFAULT_MODEL = "anthropic/claude-sonnet-4-5"
EXIT_INTERRUPTED = 130


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--target-band takes two percentages like 10,40; got {text!r}"
        ) from None
    if not 0 <= lo < hi <= 100:
        raise argparse.ArgumentTypeError(
            f"--target-band needs 0 <= low < high <= 100; got {text!r}"
        )
    return lo / 100, hi / 100


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
    run.add_argument("--runs", type=int, default=15, help="attempts per batch (default 15)")
    run.add_argument("--concurrency", type=int, default=15, help="runs in flight (default 15)")
    run.add_argument("--max-steps", type=int, default=15, help="model turns per run (default 15)")
    run.add_argument("--out", type=Path, default=None, help="run directory (default runs/<time>)")
    run.add_argument(
        "--resume", action="store_true", help="keep finished runs in --out, run the rest"
    )
    run.add_argument("--verbose", action="store_true", help="print each run's transcript live")
    run.add_argument("--batches", type=int, default=1, help="run B batches; print their spread")
    run.add_argument("--target-band", type=_band, default=(0.10, 0.40), help="percent, e.g. 10,40")
    run.add_argument(
        "--base-url", default=None, help="provider base URL (OpenAI-compatible servers)"
    )
    run.add_argument("--max-tokens", type=int, default=4096, help="max tokens per model turn")
    run.add_argument("--temperature", type=float, default=None, help="sampling temperature")
    run.add_argument(
        "--retries", type=int, default=6, help="attempts per model request (default 6)"
    )
    run.add_argument(
        "--retry-delay", type=float, default=1.0, help="first backoff in seconds (default 1)"
    )
    run.add_argument(
        "--simulated-delay", type=float, default=0.0, help="seconds per simulated model turn"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_budget_arguments(run)
    _add_html_argument(run, "also write the HTML report of the batch (default OUT/report.html)")
    run.set_defaults(handler=cmd_run)

    report = subparsers.add_parser("report", help="print the TASK ANALYSIS of a run directory")
    report.add_argument("dir", type=Path, metavar="DIR")
    report.add_argument(
        "compare", type=Path, nargs="?", metavar="DIR2", help="compare with DIR2 (with --html)"
    )
    report.add_argument(
        "--target-band", type=_band, default=(0.10, 0.40), help="percent, e.g. 10,40"
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


def _choose_model(args: argparse.Namespace) -> str:
    from attnrl.models.registry import api_key_available  # the SDKs take seconds to import

    if args.model is None:
        if api_key_available(DEFAULT_MODEL):
            return DEFAULT_MODEL
        print(
            f"attnrl: no ANTHROPIC_API_KEY set: running the offline {SIMULATED_NAME} agents "
            "(scripted, not a real model). Set the key or pass --model to use a real model.",
            file=sys.stderr,
        )
        return SIMULATED_NAME
    if args.model == SIMULATED_NAME:
        return SIMULATED_NAME
    try:
        available = api_key_available(args.model, base_url=args.base_url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not available:
        raise UsageError(
            f"no credentials for {args.model}: set its API key variable (or --base-url for a "
            f"local OpenAI-compatible server), or use --model {SIMULATED_NAME}"
        )
    return str(args.model)


def _open_models(
    name: str, family: TaskFamily, args: argparse.Namespace, seed: int | None
) -> ModelSource:
    """The batch's models as the flags ask (providers: one shared client; simulated: one
    scripted agent per run seeded by ``seed``)."""
    from attnrl.models.registry import ModelOptions, model_source
    from attnrl.models.retry import RetryPolicy

    if name == SIMULATED_NAME and getattr(args, "card_knobs", None) is not None:
        # a card's difficulty: the offline agents follow the skill model it was made with
        from attnrl.cli.calibrate_command import simulated_skill_plans
        from attnrl.models.simulated import SkillModel

        skill = args.card_skill if args.card_skill is not None else SkillModel.skill
        return simulated_skill_plans(family, args.card_knobs, args.runs, seed, skill)

    try:
        retry = RetryPolicy(
            max_attempts=args.retries,
            initial_delay_s=args.retry_delay,
            max_delay_s=max(30.0, args.retry_delay),
        )
        options = ModelOptions(
            base_url=args.base_url,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            retry=retry,
            cache_prompt=not args.no_cache_prompt,
        )
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
    return TaskFamily(
        spec_factory(args), seed, seeded=args.preset in SEEDED_PRESETS, fixed=args.fixed_instance
    )


def cmd_run(args: argparse.Namespace) -> int:
    apply_card(args)
    task: Task = _family(args, args.seed).base
    prices = load_prices(args)
    if args.estimate:  # calls nothing, so needs no key
        return print_estimate(args, task, args.model or DEFAULT_MODEL, prices)
    model_name = _choose_model(args)
    check_cost_limit(model_name, prices, args.max_cost)
    if args.batches < 1:
        raise UsageError(f"--batches must be >= 1, got {args.batches}")
    out: Path = args.out or Path("runs") / datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    if model_name != SIMULATED_NAME:  # fail fast on a bad name or a missing key
        asyncio.run(_open_models(model_name, _family(args, args.seed), args, args.seed).aclose())
    summaries: list[dict[str, Any]] = []
    for batch in range(1, args.batches + 1):
        batch_out = out if args.batches == 1 else out / f"batch_{batch:02d}"
        try:
            config = RunConfig(
                model=model_name,
                out=batch_out,
                runs=args.runs,
                concurrency=args.concurrency,
                max_steps=args.max_steps,
                resume=args.resume,
                verbose=args.verbose,
                seed=None if args.seed is None else args.seed + batch - 1,
                band=args.target_band,
                progress=not args.no_progress,
                extra={
                    "base_url": args.base_url,
                    "max_tokens": args.max_tokens,
                    "temperature": args.temperature,
                },
                stop_when_decided=args.stop_when_decided,
                max_cost=args.max_cost,
                prices=prices,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        family = _family(args, args.seed if args.fixed_instance else config.seed)
        try:
            opener = functools.partial(_open_models, model_name, family, args, config.seed)
            summary = asyncio.run(run_with_models(config, family, opener))
        except RunDirError as exc:
            raise UsageError(str(exc)) from None
        except ModelConfigError as exc:
            print(f"attnrl: model configuration error: {exc}", file=sys.stderr)
            print(f"attnrl: finished runs are kept in {batch_out}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(
                f"\nattnrl: interrupted; finished runs are kept in {batch_out} "
                "(continue with --resume)",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        summaries.append(summary)
        print(render_analysis(summary))
        print(f"Results: {batch_out / RESULTS_FILE}")
    if len(summaries) > 1:
        _print_batches(summaries)
    if args.html is not None:
        _write_html([out], args.html)
    return 0


def _print_batches(summaries: list[dict[str, Any]]) -> None:
    rates = [s["pass_rate"] for s in summaries if s["pass_rate"] is not None]
    print("Pass rate stability across batches:")
    for i, s in enumerate(summaries, start=1):
        rate = "n/a" if s["pass_rate"] is None else f"{100 * s['pass_rate']:.1f}%"
        print(f"  batch {i}: {rate} ({s['passed']}/{s['runs']})")
    if len(rates) > 1:
        print(
            f"  mean {100 * statistics.fmean(rates):.1f}%, "
            f"std dev {100 * statistics.stdev(rates):.1f} points"
        )


def cmd_report(args: argparse.Namespace) -> int:
    if args.html is not None:
        _write_html([args.dir] + ([args.compare] if args.compare else []), args.html)
        return 0
    if args.compare is not None:
        raise UsageError("a second DIR is compared in the HTML report: add --html [FILE]")
    results = args.dir / RESULTS_FILE
    if not results.exists():
        raise UsageError(f"{args.dir} has no {RESULTS_FILE}; is it an attnrl run directory?")
    try:
        summary = summarize_run_dir(args.dir, args.target_band)
    except RunDirError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render_analysis(summary))
    return 0
