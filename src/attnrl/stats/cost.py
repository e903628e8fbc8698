"""What runs cost: a pricing table, ``--pricing FILE`` for other models, usage x price.

Prices are USD per million tokens for base input, output, cache writes and cache reads,
matching :class:`~attnrl.models.base.Usage`. A model without a known price costs ``None``
(unknown, said so), never a guessed number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnrl.models.base import Usage

__all__ = [
    "PRICES",
    "Price",
    "PricingError",
    "load_pricing",
    "estimate_batch",
    "price_for",
    "scripted_run_usage",
    "unknown_price_note",
    "usage_cost",
]

_ANTHROPIC = "https://platform.claude.com/docs/en/about-claude/pricing (read 2026-12-01)"
_OPENAI = "https://openai.com/api/pricing (read 2026-12-01)"
_ASSUMED_SONNET = (
    "ASSUMED: the Sonnet tier's published rate (as anthropic/claude-sonnet-4-6, "
    f"{_ANTHROPIC}); that page gave no price for this id; --pricing FILE overrides"
)
"""The one assumption in the table: the default model (:data:`~attnrl.models.deprecation.
DEFAULT_MODEL`) is priced like the Sonnet models before it, so a default run can be priced
and capped; every estimate and summary prints this source beside the figure."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    """Anthropic: the 5-minute cache write rate (1.25x input); OpenAI: 0 (no write charge)."""
    cache_read: float
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_write", "cache_read"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"price {name} must be a finite number >= 0, got {value!r}")


PRICES: dict[str, Price] = {
    # Anthropic, standard (non-batch) rates, prompts under the long-context threshold.
    "anthropic/claude-opus-4-6": Price(5.0, 25.0, 6.25, 0.50, _ANTHROPIC),
    "anthropic/claude-opus-4-5": Price(5.0, 25.0, 6.25, 0.50, _ANTHROPIC),
    "anthropic/claude-opus-4-1": Price(15.0, 75.0, 18.75, 1.50, _ANTHROPIC),
    "anthropic/claude-sonnet-5-5": Price(3.0, 15.0, 3.75, 0.30, _ASSUMED_SONNET),
    "anthropic/claude-sonnet-4-6": Price(3.0, 15.0, 3.75, 0.30, _ANTHROPIC),
    "anthropic/claude-sonnet-4-5": Price(3.0, 15.0, 3.75, 0.30, _ANTHROPIC),
    "anthropic/claude-sonnet-4-0": Price(3.0, 15.0, 3.75, 0.30, _ANTHROPIC),
    "anthropic/claude-haiku-4-5": Price(1.0, 5.0, 1.25, 0.10, _ANTHROPIC),
    # OpenAI, standard rates; "cached input" is the cache-read rate.
    "openai/gpt-4.1": Price(2.0, 8.0, 0.0, 0.50, _OPENAI),
    "openai/gpt-4.1-mini": Price(0.40, 1.60, 0.0, 0.10, _OPENAI),
    "openai/gpt-4o": Price(2.50, 10.0, 0.0, 1.25, _OPENAI),
    "openai/gpt-4o-mini": Price(0.15, 0.60, 0.0, 0.075, _OPENAI),
    # The offline agents call no API.
    "simulated": Price(0.0, 0.0, 0.0, 0.0, "offline simulated agents: no API, no cost"),
}
"""Published prices (source and date in each entry; the default model's is an assumption,
said so in its source). Models not listed (local servers, newer models) need
``--pricing FILE``."""


class PricingError(ValueError):
    """A ``--pricing`` file that cannot be used (message names the file and the fix)."""


def load_pricing(path: Path) -> dict[str, Price]:
    """A ``--pricing`` JSON file: ``{"<model name>": {"input": 3, "output": 15,
    "cache_write": 3.75, "cache_read": 0.3}}`` (USD per million tokens; the cache rates
    default to the input rate, i.e. no discount)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PricingError(f"cannot read --pricing {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PricingError(f"--pricing {path} must hold a JSON object of model -> prices")
    out: dict[str, Price] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
            raise PricingError(
                f"--pricing {path}: {model!r} needs an object with at least 'input' and "
                "'output' (USD per million tokens)"
            )
        try:
            out[model] = Price(
                input=entry["input"],
                output=entry["output"],
                cache_write=entry["cache_write"] if "cache_write" in entry else entry["input"],
                cache_read=entry["cache_read"] if "cache_read" in entry else entry["input"],
                source=f"--pricing {path}",
            )
        except ValueError as exc:
            raise PricingError(f"--pricing {path}: {model!r}: {exc}") from None
    return out


def price_for(model: str, extra: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` (``--pricing`` entries first), or None when none is known."""
    if extra and model in extra:
        return extra[model]
    return PRICES.get(model)


def unknown_price_note(model: str) -> str:
    return (
        f"cost unknown: no published price for {model} in attnrl's table; "
        "pass --pricing FILE to price it"
    )


def usage_cost(usage: Usage | Mapping[str, Any], price: Price | None) -> float | None:
    """USD for ``usage`` at ``price``; None when the price is unknown. Cache counts a provider
    did not report are already billed as base input (see :class:`Usage`)."""
    if price is None:
        return None
    if not isinstance(usage, Usage):
        usage = Usage(
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            cache_creation_input_tokens=usage.get("cache_creation_input_tokens", 0),
            cache_read_input_tokens=usage.get("cache_read_input_tokens", 0),
        )
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + (usage.cache_creation_input_tokens or 0) * price.cache_write
        + (usage.cache_read_input_tokens or 0) * price.cache_read
    )
    return total / 1e6


CHARS_PER_TOKEN = 4.0
"""A rough tokenizer for estimates only (English prose and JSON average ~4 characters)."""
MIN_CACHEABLE_TOKENS = 1024
"""Anthropic's minimum cacheable prefix for Sonnet and Opus 4.x (shorter prefixes are sent
uncached)."""


def scripted_run_usage(
    turns: int,
    prompt_tokens: int,
    output_per_turn: int,
    result_per_turn: int,
    *,
    cache: bool,
    min_cacheable: int = MIN_CACHEABLE_TOKENS,
) -> Usage:
    """Billed usage of a run of ``turns`` model turns whose first request is
    ``prompt_tokens`` long (prompt + tools) and where each turn adds ``output_per_turn``
    (the assistant turn) and ``result_per_turn`` (the tool result) to the conversation.

    Without caching every turn pays its whole prefix at the input rate. With a breakpoint
    on the last block (:func:`attnrl.models.anthropic.mark_cache_breakpoint`), turn k reads
    the prefix turn k-1 wrote and writes only the blocks added since; a prefix shorter
    than ``min_cacheable`` is not cached at all.
    """
    step = output_per_turn + result_per_turn
    base = write = read = 0
    for k in range(1, turns + 1):
        prefix = prompt_tokens + (k - 1) * step
        if not cache or prefix < min_cacheable:
            base += prefix
            continue
        earlier = prompt_tokens + (k - 2) * step if k > 1 else 0
        if earlier >= min_cacheable:
            read += earlier
            write += prefix - earlier
        else:
            write += prefix
    return Usage(base, turns * output_per_turn, write, read)


def estimate_batch(
    prompt_chars: int,
    runs: int,
    price: Price | None,
    *,
    max_steps: int,
    max_tokens: int,
    cache: bool,
    turns: int = 3,
    output_per_turn: int = 700,
    result_per_turn: int = 300,
) -> dict[str, Any]:
    """Expected and worst-case cost of ``runs`` runs before any is made.

    Expected: ``turns`` turns (write the code, run it, submit) of ``output_per_turn``
    tokens and ``result_per_turn`` of tool output; worst: ``max_steps`` turns of
    ``max_tokens`` each. Tokens from characters / :data:`CHARS_PER_TOKEN`.
    """
    prompt = round(prompt_chars / CHARS_PER_TOKEN)
    expected = scripted_run_usage(
        min(turns, max_steps), prompt, output_per_turn, result_per_turn, cache=cache
    )
    worst = scripted_run_usage(max_steps, prompt, max_tokens, result_per_turn, cache=cache)
    per_run = usage_cost(expected, price)
    worst_run = usage_cost(worst, price)
    return {
        "runs": runs,
        "prompt_tokens_estimate": prompt,
        "expected_usd": None if per_run is None else per_run * runs,
        "expected_per_run_usd": per_run,
        "worst_case_usd": None if worst_run is None else worst_run * runs,
        "assumptions": (
            f"{min(turns, max_steps)} turns of ~{output_per_turn} output tokens, "
            f"~{result_per_turn} tokens of tool output per turn, prompt ~{prompt} tokens "
            f"(characters / {CHARS_PER_TOKEN:g}); worst case {max_steps} turns of "
            f"{max_tokens} output tokens; prompt caching {'on' if cache else 'off'}"
        ),
    }
