"""The flags of ``attnrl run`` for family evaluation, sequential stopping, cost and caching,
and ``--card`` (shared with ``attnrl dataset``); ``run_command`` only registers and passes
them through."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnrl.cli.common import KNOB_DESTS, UsageError, positive_number
from attnrl.stats.card import CardError, read_card
from attnrl.stats.cost import (
    Price,
    PricingError,
    estimate_batch,
    load_pricing,
    price_for,
    unknown_price_note,
)
from attnrl.task.registry import DEFAULT_TASK, UnknownTask, get_plugin

if TYPE_CHECKING:
    from attnrl.task import Task

__all__ = [
    "add_budget_arguments",
    "add_card_argument",
    "apply_card",
    "check_cost_limit",
    "load_prices",
    "print_estimate",
]


_usd = positive_number("an amount in USD", "a positive amount in USD")


def add_card_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--card",
        type=Path,
        default=None,
        metavar="FILE",
        help="use the preset and knobs of a preset card written by `attnrl calibrate`",
    )


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """``run``'s flags for the family, the sequential verdict, cost and prompt caching."""
    add_card_argument(parser)
    parser.add_argument(
        "--fixed-instance",
        action="store_true",
        help="seeded presets: every run on the --seed instance (default: one instance per "
        "run drawn from --seed and the run id, so the pass rate estimates the family)",
    )
    parser.add_argument(
        "--stop-when-decided",
        action="store_true",
        help="stop scheduling runs once the anytime-valid confidence sequence is inside or "
        "outside --target-band (runs in flight finish and count)",
    )
    parser.add_argument(
        "--max-cost",
        type=_usd,
        default=None,
        metavar="USD",
        help="stop scheduling runs once the recorded cost reaches USD",
    )
    parser.add_argument(
        "--pricing",
        type=Path,
        default=None,
        metavar="FILE",
        help='prices for models not in the published table: JSON {"<model>": {"input": .., '
        '"output": .., "cache_write": .., "cache_read": ..}} in USD per million tokens',
    )
    parser.add_argument(
        "--no-cache-prompt",
        action="store_true",
        help="Anthropic: do not mark requests for prompt caching (on by default)",
    )
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="print the expected cost of the batch and exit without calling any model",
    )


def apply_card(args: argparse.Namespace) -> dict[str, Any] | None:
    """With ``--card``: set ``--task``, ``args.preset`` and the knobs from the card (a knob
    flag given too, a ``--task`` other than the card's, an unknown task or a knob the task
    does not have is a usage error); returns the card. The attention task's knobs go to
    their flags (so ``run.json`` records them), another task's to ``--knob``."""
    if getattr(args, "card", None) is None:
        return None
    given = [k for k in KNOB_DESTS if getattr(args, k, None) is not None]
    flags = ["--" + k.replace("_", "-") for k in given]
    flags += ["--knob"] if getattr(args, "knob", None) else []
    if flags:
        raise UsageError(
            f"--card sets the difficulty knobs; drop {', '.join(flags)} or drop --card"
        )
    try:
        preset, knobs, card = read_card(args.card)
    except CardError as exc:
        raise UsageError(str(exc)) from None
    task = card.get("task", DEFAULT_TASK)  # cards before tasks were plug-ins: attention
    try:
        plugin = get_plugin(str(task))
    except UnknownTask as exc:
        raise UsageError(f"card {args.card}: {exc}") from None
    if "task" in getattr(args, "given", ()) and args.task != plugin.name:
        raise UsageError(
            f"card {args.card} is for task {plugin.name!r}, not --task {args.task}: drop --task "
            "(the card sets it), or use a card calibrated on that task"
        )
    args.task, args.preset, args.knob = plugin.name, preset, []
    for key, value in knobs.items():
        if plugin.knobs and key not in plugin.knobs:
            raise UsageError(
                f"card {args.card}: task {plugin.name} has no knob {key!r}; its knobs: "
                f"{', '.join(plugin.knobs)}"
            )
        if plugin.name == DEFAULT_TASK and key in KNOB_DESTS:
            setattr(args, key, value)
        else:
            args.knob.append((key, value))
    args.card_knobs = knobs
    args.card_skill = card.get("calibration", {}).get("simulated_skill")
    return card


def load_prices(args: argparse.Namespace) -> dict[str, Price]:
    if getattr(args, "pricing", None) is None:
        return {}
    try:
        return load_pricing(args.pricing)
    except PricingError as exc:
        raise UsageError(str(exc)) from None


def check_cost_limit(model: str, prices: dict[str, Price], max_cost: float | None) -> None:
    """``--max-cost`` needs a price: refuse before spending anything."""
    if max_cost is not None and price_for(model, prices) is None:
        raise UsageError(f"--max-cost needs a price: {unknown_price_note(model)}")


def print_estimate(
    args: argparse.Namespace, task: Task, model: str, prices: dict[str, Price]
) -> int:
    """``run --estimate``: the expected cost of the batch, before anything is spent."""
    tools = json.dumps(
        [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in task.tools
        ]
    )
    price = price_for(model, prices)
    estimate = estimate_batch(
        len(task.prompt) + len(tools),
        args.runs * args.batches,
        price,
        max_steps=args.max_steps,
        max_tokens=args.max_tokens,
        cache=model.startswith("anthropic/") and not args.no_cache_prompt,
    )
    print(f"Estimate for {estimate['runs']} runs of {model} on preset {task.spec.preset}:")
    if price is None:
        print(f"  {unknown_price_note(model)}")
    else:
        print(
            f"  expected ${estimate['expected_usd']:.4f} "
            f"(${estimate['expected_per_run_usd']:.4f} per run), "
            f"at most ${estimate['worst_case_usd']:.4f}"
        )
        print(f"  prices: {price.source}")
    print(f"  assumptions: {estimate['assumptions']}")
    if args.stop_when_decided:
        print("  --stop-when-decided may stop well before the last run")
    return 0
