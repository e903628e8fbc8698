"""The catalogue (bugs and cheap answers) under the seed-doc preset: each entry's outcome and
category. The seed-doc instance pays many of them (it is gameable, which is why it is never a
default); ``test_cheap_answers.py`` holds every other preset and rung to zero reward."""

from __future__ import annotations

import pytest

from attnrl.task import Task, load_task
from attnrl.tasks.attention.bugs import CATALOGUE, applicable_bugs, bug_by_name

# (outcome, category) under the seed-doc preset (its own seed-doc policy): the seed
# tolerances' known weaknesses included.
SEED_EXPECTED = {
    "no_mask": ("partial", "causal_mask"),
    "mask_flag_false": ("partial", "causal_mask"),
    "reversed_mask": ("failure", "causal_mask"),
    "zero_filled_mask": ("failure", "causal_mask"),
    "mask_after_softmax": ("failure", "causal_mask"),
    "no_scaling": ("full_success", None),
    "nan_from_inf_mask": ("failure", "numerical"),
    "unnormalised_softmax": ("failure", "numerical"),
    "wrong_dk_scaling": ("full_success", None),
    "softmax_wrong_axis": ("failure", "logic"),
    "no_position_encoding": ("failure", "logic"),
    "no_pos_on_k": ("full_success", None),
    "no_pos_on_v": ("full_success", None),
    "values_from_q_pos": ("partial_success", None),
    "symmetric_heads": ("full_success", None),
    "flattened_head_output": ("invalid", "dimension"),
    "padded_head_output": ("invalid", "dimension"),
    "concat_swapped": ("partial_success", None),
    # cheap answers: the seed document's instance pays most of them
    "uniform_weights": ("full_success", None),
    "running_mean": ("full_success", None),
    "identity_weights": ("failure", "logic"),
    "argmax_weights": ("failure", "numerical"),
    "raw_qkv": ("full_success", None),
    "one_head_for_all": ("partial_success", None),
    "head_averaged_weights": ("full_success", None),
    "weights_only": ("partial_success", None),
    "intermediates_only": ("partial_success", None),
    "final_is_v_pos": ("partial_success", None),
    "all_zeros": ("failure", "logic"),
    "all_ones": ("failure", "logic"),
}


def test_catalogue_has_the_issue_bugs() -> None:
    names = {b.name for b in CATALOGUE}
    assert len(names) == len(CATALOGUE) >= 12
    assert {
        "no_mask",
        "reversed_mask",
        "zero_filled_mask",
        "mask_after_softmax",
        "no_scaling",
        "wrong_dk_scaling",
        "softmax_wrong_axis",
        "no_position_encoding",
        "no_pos_on_k",
        "no_pos_on_v",
        "values_from_q_pos",
        "symmetric_heads",
        "concat_swapped",
    } <= names


def test_seed_applicable_bugs_are_all_pinned(seed_task: Task) -> None:
    assert {b.name for b in seed_task.bugs()} == set(SEED_EXPECTED)


@pytest.mark.parametrize("name", sorted(SEED_EXPECTED))
def test_each_bug_outcome_and_category_under_seed(seed_task: Task, name: str) -> None:
    bug = bug_by_name(name)
    grade = seed_task.grade(bug.submission(seed_task.spec))
    outcome, category = SEED_EXPECTED[name]
    assert grade.outcome == outcome, grade.message
    assert grade.category == category
    if not grade.passed:
        assert grade.diagnosis is not None
        assert grade.diagnosis.closest_bug == name


def test_audit_shows_the_missing_scaling_pass(seed_task: Task) -> None:
    audit = {e.name: e for e in seed_task.audit()}
    assert audit["no_scaling"].detected is False
    assert audit["no_scaling"].errors["head2_attention_weights"] == pytest.approx(0.0435, abs=1e-3)
    assert audit["no_scaling"].errors["head1_attention_weights"] == 0.0
    assert audit["values_from_q_pos"].outcome == "partial_success"
    assert audit["reversed_mask"].detected is True


def test_bugs_meaningless_for_a_spec_are_dropped() -> None:
    from attnrl.tasks.attention.spec import MaskSpec

    unmasked = load_task("seed-doc", mask=MaskSpec("none"))
    names = {b.name for b in applicable_bugs(unmasked.spec)}
    assert not names & {"no_mask", "reversed_mask", "zero_filled_mask", "mask_flag_false"}
    assert "causal_mask_applied" not in unmasked.reference()
    assert "window_ignored" in {
        b.name
        for b in applicable_bugs(load_task("seed-doc", mask=MaskSpec("sliding_window", 2)).spec)
    }


def test_unknown_bug_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known: no_mask"):
        bug_by_name("typo")
