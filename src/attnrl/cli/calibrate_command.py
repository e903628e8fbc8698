"""``attnrl calibrate``: find the difficulty at which a model's pass rate is in band, and
write the preset card that certifies it.

Exit codes: 0 a card was written (in band, or the rung closest to the band); 4 the model is
below the band even at the easiest rung tried, or above it even at the hardest (the card is
written and says so); 2 a usage or I/O error."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attnrl.cli.common import (
    UsageError,
    add_knob_flag,
    add_task_flag,
    at_least,
    check_sandbox,
    ladder_with_knobs,
    out_path,
    percent_band,
    positive_number,
)
from attnrl.cli.model_choice import choose_model, simulated_skill_plans
from attnrl.cli.model_flags import add_model_arguments, model_options
from attnrl.cli.run_options import check_cost_limit, load_prices
from attnrl.harness.rundir import RunDirError, write_json_atomic
from attnrl.models.base import SIMULATED_NAME, ModelConfigError, ModelSource
from attnrl.models.simulated import SkillModel
from attnrl.stats.calibration_result import EXIT_OUT_OF_REACH
from attnrl.task.family import TaskFamily

__all__ = ["register"]

CARD_FILE = "card.json"


SKILL_RANGE = (-50.0, 50.0)
"""``--simulated-skill`` bounds: a run passes with probability 1 / (1 + exp(d - skill)) for
rung difficulties d of about -2..10, so the rates have long saturated at either end."""


def _skill(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    lo, hi = SKILL_RANGE
    if not lo <= value <= hi:  # nan and inf too: the card must be JSON
        raise argparse.ArgumentTypeError(f"expected a number in {lo:g}..{hi:g}, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="find the rung of the difficulty ladder in band for a model; write a preset card",
    )
    p.add_argument("--model", required=True, help=f"anthropic/<m>, openai/<m> or {SIMULATED_NAME}")
    p.add_argument("--band", type=percent_band, default=(0.10, 0.40), help="percent, e.g. 10,40")
    p.add_argument("--max-runs", type=at_least(1), default=1000, help="runs in all (default 1000)")
    p.add_argument("--rung-runs", type=at_least(1), default=300, help="runs at most per rung (300)")
    p.add_argument(
        "--max-cost",
        type=positive_number("an amount in USD", "a positive amount in USD"),
        default=None,
        metavar="USD",
        help="budget in USD",
    )
    p.add_argument("--pricing", type=Path, default=None, metavar="FILE", help="extra prices")
    p.add_argument("--seed", type=at_least(0), default=0, help="seeds the instances (default 0)")
    p.add_argument("--concurrency", type=at_least(1), default=16, help="runs in flight (16)")
    p.add_argument("--max-steps", type=at_least(1), default=15, help="model turns per run (15)")
    add_model_arguments(p)
    p.add_argument(
        "--simulated-skill",
        type=_skill,
        default=SkillModel.skill,
        help=f"{SIMULATED_NAME}: the skill of the offline agents, a number in "
        f"{SKILL_RANGE[0]:g}..{SKILL_RANGE[1]:g} (default {SkillModel.skill:g})",
    )
    p.add_argument(
        "--out", type=out_path, default=None, help="directory (default runs/calibrate_<t>)"
    )
    add_task_flag(p)
    add_knob_flag(
        p,
        "a knob of --task set on every rung, the value as JSON (e.g. --knob adequacy=per_head); "
        "only knobs no rung sets; repeatable",
    )
    p.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from attnrl.cli.context_check import context_check
    from attnrl.harness.calibrate import CalibrationConfig, calibrate  # the runner: only here
    from attnrl.models.registry import model_source

    model = choose_model(args)
    check_sandbox()  # ATTNRL_SANDBOX: before any rung
    prices = load_prices(args)
    check_cost_limit(model, prices, args.max_cost)
    out: Path = args.out or Path("runs") / datetime.now(UTC).strftime("calibrate_%Y%m%d_%H%M%S")
    _check_out(out)
    ladder = ladder_with_knobs(args.task, args.knob)
    try:
        config = CalibrationConfig(
            model=model,
            out=out,
            band=args.band,
            max_runs=args.max_runs,
            rung_runs=args.rung_runs,
            max_cost=args.max_cost,
            seed=args.seed,
            concurrency=args.concurrency,
            max_steps=args.max_steps,
            prices=prices,
            task=args.task,
            ladder=ladder,
            extra={"simulated_skill": args.simulated_skill} if model == SIMULATED_NAME else {},
        )
        options = model_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def models_for(family: TaskFamily, knobs: dict[str, Any], runs: int, seed: int) -> ModelSource:
        if model == SIMULATED_NAME:
            return simulated_skill_plans(family, knobs, runs, seed, args.simulated_skill)
        rung = ", ".join(f"{k}={v}" for k, v in knobs.items())
        context_check(args, model, family, runs, prefix=f"rung ({rung}): ")
        return model_source(model, family.base, runs=runs, options=options)

    try:
        card = asyncio.run(calibrate(config, models_for))
    except RunDirError as exc:
        raise UsageError(f"{exc} (calibrate writes one directory per rung under --out)") from None
    except ModelConfigError as exc:
        raise UsageError(f"model configuration error: {exc}") from None
    write_json_atomic(out / CARD_FILE, card)
    _print(card, out / CARD_FILE, len(config.ladder))
    return EXIT_OUT_OF_REACH if card["result"] in ("below band", "above band") else 0


def _check_out(out: Path) -> None:
    """``--out`` before any rung: not a file, and not an earlier calibration (calibrate has no
    resume: each calibration starts afresh in a directory of its own)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory; choose another --out")
    held = sorted(p.name for p in out.glob("rung_*")) if out.is_dir() else []
    if (out / CARD_FILE).exists():
        held.insert(0, CARD_FILE)
    if held:
        raise UsageError(
            f"--out {out} already holds a calibration ({', '.join(held[:3])}"
            f"{', ...' if len(held) > 3 else ''}); calibrate starts afresh: choose another --out"
        )


def _print(card: dict[str, Any], path: Path, rungs: int) -> None:
    pct = "{:.1f}%".format
    print(
        f"Calibration of {card['model']} on {rungs} rungs (band "
        f"{100 * card['target_band'][0]:g}-{100 * card['target_band'][1]:g}%):"
    )
    for r in card["calibration"]["rungs_visited"]:
        lo, hi = r["pass_rate_cs95"]
        rate = "n/a" if r["pass_rate"] is None else pct(100 * r["pass_rate"])
        print(
            f"  rung {r['rung']}: {r['passed']}/{r['runs']} = {rate}, sequence "
            f"{pct(100 * lo)}-{pct(100 * hi)}: {r['verdict']}"
        )
    cost = card["calibration"]["cost_usd"]
    print(f"Result: {card['result_text']}")
    print(
        f"Chosen: rung {card['rung']} ({card['verdict']}), knobs {json.dumps(card['knobs'])}; "
        f"{card['calibration']['runs']} runs, cost "
        + ("unknown" if cost is None else f"${cost:.4f}")
    )
    share = ", ".join(f"G={g}: {pct(100 * s)}" for g, s in card["grpo_informative_share"].items())
    print(f"GRPO groups with a reward spread: {share}")
    print(f"Card: {path}")
