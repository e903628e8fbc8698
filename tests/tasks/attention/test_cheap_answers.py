"""The reward measures attention: no catalogued bug and no cheap answer earns reward on any
ladder rung or preset, except the seed-doc instances, whose gameability is stated and pinned.

A property over many seeds per rung and preset: every catalogue entry applicable to an
instance gets reward 0 (the issue's rates, e.g. uniform weights 7% or argmax 10% on the small
rungs, and unbiased layer norm on 177 of 200 instances, are now 0).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from attnrl.task import load_task
from attnrl.task.audit import audit_rates
from attnrl.tasks.attention.bugs import CATALOGUE, bug_by_name
from attnrl.tasks.attention.ladder import LADDER
from attnrl.tasks.attention.presets import GAMEABLE, build_spec, spec_factory
from attnrl.tasks.attention.spec import MaskSpec
from attnrl.tasks.attention.task import AttentionTask

SEEDS_PER_RUNG = 40
"""Instances per rung or knob setting (x ~30 entries each: over 1,000 pairs per setting)."""

SETTINGS: dict[str, dict[str, Any]] = {
    **{f"rung{i}": dict(knobs) for i, knobs in enumerate(LADDER)},
    "procedural-lenient": {"policy": "lenient"},
    "layer-norm-default-tolerance": {"layer_norm": True},
    "no-mask": {"mask": MaskSpec("none")},
    "reverse-causal": {"mask": MaskSpec("reverse_causal")},
    "window-2": {"mask": MaskSpec("sliding_window", 2)},
    "no-position-encoding": {"position_encoding": False},
    "single-head-lenient": {"heads": (1, 1), "policy": "lenient"},
    "loose": {"tolerance_scale": 1.5, "policy": "lenient", "tokens": (3, 5)},
}


def test_the_catalogue_holds_the_cheap_answers_beside_the_bugs() -> None:
    cheap = {b.name for b in CATALOGUE if b.kind == "cheap"}
    assert {
        "uniform_weights",
        "all_ones",
        "all_zeros",
        "identity_weights",
        "argmax_weights",
        "raw_qkv",
        "one_head_for_all",
        "head_averaged_weights",
        "running_mean",
        "weights_only",
        "intermediates_only",
        "final_is_v_pos",
    } <= cheap
    bugs = {b.name for b in CATALOGUE if b.kind == "bug"}
    assert {"unbiased_layer_norm", "no_pos_on_v", "no_position_encoding"} <= bugs
    assert not bugs & cheap


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_no_entry_earns_reward_on_any_instance(name: str) -> None:
    factory = spec_factory("procedural", **SETTINGS[name])
    rates = audit_rates(lambda seed: AttentionTask(factory(seed)), range(SEEDS_PER_RUNG))
    assert {r.kind for r in rates} == {"bug", "cheap"}
    assert sum(r.instances for r in rates) >= 20 * SEEDS_PER_RUNG
    paid = {r.name: f"{r.paid}/{r.instances}" for r in rates if r.paid}
    assert not paid, f"{name}: entries that earn reward: {paid}"


def test_unbiased_layer_norm_is_caught_at_the_default_tolerance() -> None:
    """The issue's case: --layer-norm at the default tolerance passed it on 177 of 200."""
    (rate,) = [
        r
        for r in audit_rates(
            lambda seed: AttentionTask(spec_factory("procedural", layer_norm=True)(seed)),
            range(200),
        )
        if r.name == "unbiased_layer_norm"
    ]
    assert rate.instances == 200 and rate.paid == 0
    task = load_task("procedural", 3, layer_norm=True)
    assert "var the population variance" in task.prompt
    grade = task.grade(bug_by_name("unbiased_layer_norm").submission(task.spec))
    assert grade.reward == 0.0 and grade.diagnosis is not None
    assert grade.diagnosis.closest_bug == "unbiased_layer_norm"


@pytest.mark.parametrize("name", ["uniform_weights", "weights_only", "intermediates_only"])
def test_cheap_answers_fail_with_a_diagnosis_that_names_them(name: str) -> None:
    task = load_task("procedural", 11)
    grade = task.grade(bug_by_name(name).submission(task.spec))
    assert grade.reward == 0.0 and grade.diagnosis is not None
    assert grade.diagnosis.closest_bug == name


@pytest.mark.parametrize("policy", ["seed-doc", "lenient", "strict"])
def test_the_seed_doc_instance_is_gameable_as_stated(policy: str) -> None:
    """What `attnrl presets` and the docs say, measured: uniform causal weights (no QK product,
    no softmax) earn full success on the seed instance under every policy."""
    assert "uniform causal weights" in GAMEABLE["seed-doc"]
    seed_doc = load_task("seed-doc", policy=policy)
    assert seed_doc.grade(bug_by_name("uniform_weights").submission(seed_doc.spec)).reward == 1.0
    text = load_task("seed-doc-text", policy=policy)
    stated = {
        "raw_qkv": "attention on raw Q, K, V",
        "one_head_for_all": "one head for all columns",
        "head_averaged_weights": "head-averaged weights",
    }
    for name, phrase in stated.items():
        assert phrase in GAMEABLE["seed-doc-text"]
        assert text.grade(bug_by_name(name).submission(text.spec)).reward == 1.0


def test_the_seed_doc_policy_pays_weights_alone_and_only_on_its_presets() -> None:
    task = load_task("seed-doc")
    assert task.spec.policy == "seed-doc"
    grade = task.grade(bug_by_name("weights_only").submission(task.spec))
    assert grade.outcome == "partial_success" and grade.reward == 0.5  # labelled for this
    assert "head1_attention_weights or head2_attention_weights" in task.prompt
    with pytest.raises(ValueError, match="seed-doc presets"):
        load_task("procedural", 0, policy="seed-doc")
    lenient = load_task("seed-doc", policy="lenient")  # the seed data, partial needs outputs
    assert lenient.grade(bug_by_name("weights_only").submission(lenient.spec)).reward == 0.0


def test_old_names_keep_working_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="preset 'seed' is deprecated, use 'seed-doc'"):
        old = build_spec("seed")
    assert old == build_spec("seed-doc")
    with pytest.warns(DeprecationWarning, match="'seed-text' is deprecated"):
        assert build_spec("seed-text") == build_spec("seed-doc-text")
    with pytest.warns(DeprecationWarning, match="policy 'seed' is deprecated, use 'lenient'"):
        spec = build_spec("procedural", 0, policy="seed")
    assert spec.policy == "lenient"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_spec("seed-doc")  # the current names warn nothing
    # a spec saved before the rename (policy "seed") loads with its meaning: the seed grader
    saved = build_spec("seed-doc").to_dict() | {"policy": "seed"}
    assert AttentionTask(type(old).from_dict(saved)).spec.policy == "seed-doc"


def test_no_default_is_the_gameable_seed_doc() -> None:
    """The CLI, the library, the calibration ladder and every adapter that takes a preset
    default to procedural; seed-doc is only ever an explicit choice."""
    import importlib
    import inspect

    from attnrl.cli import build_parser
    from attnrl.harness.calibrate import CalibrationConfig
    from attnrl.tasks.attention.presets import DEFAULT_PRESET, SEED_DOC_PRESETS

    calibration = CalibrationConfig(model="simulated", out=Path("x"))
    assert DEFAULT_PRESET == "procedural" == calibration.plugin.default_preset
    assert load_task().spec.preset == "procedural"
    parser = build_parser()
    for argv in (
        ["run"],
        ["dataset", "--n", "1", "--out", "x"],
        ["verify", "-"],
        ["audit"],
        ["prompt"],
    ):
        assert parser.parse_args(argv).preset == "procedural", argv
    checked = 0
    for name in ("trl", "verl", "openrlhf", "inspect", "verifiers", "_common"):
        module = importlib.import_module(f"attnrl.integrations.{name}")
        for function in vars(module).values():
            if inspect.isfunction(function) and function.__module__ == module.__name__:
                preset = inspect.signature(function).parameters.get("preset")
                if preset is not None:
                    assert preset.default not in SEED_DOC_PRESETS, function
                    checked += 1
    assert checked >= 8
