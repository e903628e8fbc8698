"""The answer fits the channel: on every rung and preset, the reference rounded to the decimals
the prompt asks for still earns full success, and fits the 10,000-character tool output and a
4,096-token response with margin, counted with real tokenizers (cl100k and o200k, offline)."""

from __future__ import annotations

import json

import pytest

from attnrl.sandbox.limits import SandboxLimits
from attnrl.tasks.attention.answer_size import (
    RESPONSE_SHARE,
    RESPONSE_TOKENS,
    answer_decimals,
    answer_numbers,
    answer_text,
    openai_token_counter,
    size_estimate,
)
from attnrl.tasks.attention.ladder import LADDER
from attnrl.tasks.attention.presets import FIXED_PRESETS, spec_factory
from attnrl.tasks.attention.procedural import ProceduralConfig
from attnrl.tasks.attention.task import AttentionTask

SEEDS = range(40)
TARGETS = {
    **{f"rung{i}": ("procedural", dict(k)) for i, k in enumerate(LADDER)},
    "procedural": ("procedural", {}),
    **{name: (name, {}) for name in FIXED_PRESETS},
}


@pytest.fixture(scope="module")
def count_tokens():  # type: ignore[no-untyped-def]
    counter = openai_token_counter()
    assert counter is not None, "bpe-openai is a dev dependency: ./tools/uv sync"
    assert counter("[[0.12,-1.5]]") > 5  # a real BPE, not a character count
    return counter


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_rounded_answer_passes_and_fits(name: str, count_tokens) -> None:  # type: ignore[no-untyped-def]
    preset, knobs = TARGETS[name]
    factory = spec_factory(preset, **knobs)
    seeds = SEEDS if preset == "procedural" else [None]
    cut = SandboxLimits().max_output_chars
    for seed in seeds:
        task = AttentionTask(factory(seed))
        text = answer_text(task.spec, task.reference())
        d = answer_decimals(task.spec)
        assert f"Round every number to {d} decimals" in task.prompt
        assert task.grade(json.loads(text)).outcome == "full_success", (name, seed)
        tokens = count_tokens(text)
        assert tokens <= RESPONSE_SHARE * RESPONSE_TOKENS, (name, seed, tokens)
        assert len(text) <= RESPONSE_SHARE * cut, (name, seed, len(text))
        estimate = size_estimate(answer_numbers(task.spec), d, len(task.spec.answer_keys()))
        assert tokens <= estimate, (name, seed, tokens, estimate)  # the budget's estimate bounds


def test_a_config_whose_answers_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="over the budget"):
        ProceduralConfig(heads=(4, 4), tokens=(16, 16), d_model=(16, 16))
    ProceduralConfig(heads=(4, 4), tokens=(8, 16), d_model=(8, 16))  # small draws exist


def test_decimals_follow_the_tolerances() -> None:
    assert answer_decimals(spec_factory("procedural")(0)) == 2  # 0.1: 0.005 <= 0.025
    assert answer_decimals(spec_factory("procedural", tolerance_scale=0.1)(0)) == 3
    ln = spec_factory("procedural", layer_norm=True)(0)  # layer norm tolerance 0.02
    assert ln.tolerance(ln.components()[-1]) == pytest.approx(0.02)
    assert answer_decimals(ln) == 2  # 0.005 is a quarter of 0.02
    tight = spec_factory("procedural", layer_norm=True, tolerance_scale=0.5)(0)
    assert answer_decimals(tight) == 3  # 0.01: 0.005 would be half of it
