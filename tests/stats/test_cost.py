"""Pricing: the table, --pricing files, usage x price, and the billing rules of caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnrl.models.base import Usage
from attnrl.stats.cost import (
    PRICES,
    Price,
    PricingError,
    estimate_batch,
    load_pricing,
    price_for,
    scripted_run_usage,
    usage_cost,
)


def test_cost_is_usage_times_price() -> None:
    price = Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
    usage = Usage(1_000_000, 100_000, 200_000, 2_000_000)
    assert usage_cost(usage, price) == pytest.approx(3.0 + 1.5 + 0.75 + 0.6)
    assert usage_cost(usage, None) is None
    as_record = {"input_tokens": 10, "output_tokens": 0, "cache_read_input_tokens": None}
    assert usage_cost(as_record, price) == pytest.approx(30 / 1e6)


def test_table_and_pricing_file(tmp_path: Path) -> None:
    assert price_for("anthropic/claude-sonnet-4-6") == PRICES["anthropic/claude-sonnet-4-6"]
    assert price_for("openai/unpublished-model") is None
    assert price_for("simulated") is not None and price_for("simulated").input == 0  # type: ignore[union-attr]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"openai/local": {"input": 0.2, "output": 0.4, "cache_read": 0}}))
    extra = load_pricing(path)
    local = price_for("openai/local", extra)
    assert local is not None and (local.cache_read, local.cache_write) == (0, 0.2)
    for bad, message in (
        ("[1]", "JSON object"),
        (json.dumps({"m": {"input": 1}}), "at least 'input' and 'output'"),
        (json.dumps({"m": {"input": -1, "output": 1}}), "finite number >= 0"),
    ):
        path.write_text(bad)
        with pytest.raises(PricingError, match=message):
            load_pricing(path)


def test_cached_run_bills_prefix_reads_and_new_block_writes() -> None:
    # 3 turns, prompt 2000, +100 output +50 tool result a turn: prefixes 2000, 2150, 2300.
    plain = scripted_run_usage(3, 2000, 100, 50, cache=False)
    assert plain == Usage(2000 + 2150 + 2300, 300, 0, 0)
    cached = scripted_run_usage(3, 2000, 100, 50, cache=True)
    assert cached == Usage(0, 300, 2000 + 150 + 150, 2000 + 2150)
    assert cached.prompt_tokens == plain.prompt_tokens
    short = scripted_run_usage(2, 500, 100, 50, cache=True)  # under the 1,024 minimum
    assert short == Usage(500 + 650, 200, 0, 0)


def test_estimate_batch() -> None:
    price = PRICES["anthropic/claude-sonnet-4-6"]
    est = estimate_batch(4000, 10, price, max_steps=15, max_tokens=4096, cache=False)
    per_run = usage_cost(scripted_run_usage(3, 1000, 700, 300, cache=False), price)
    assert est["expected_per_run_usd"] == pytest.approx(per_run)
    assert est["expected_usd"] == pytest.approx(10 * per_run)  # type: ignore[operator]
    assert est["worst_case_usd"] > est["expected_usd"]
    unknown = estimate_batch(4000, 10, None, max_steps=15, max_tokens=4096, cache=False)
    assert unknown["expected_usd"] is None and unknown["worst_case_usd"] is None
