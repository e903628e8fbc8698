"""Grading: DESIGN.md section 2 exactly: outcomes, boundaries, messages, parsing, rewards."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import numpy as np
import pytest

from attnrl.task import Task, load_task
from attnrl.task.submission import MAX_SUBMISSION_BYTES

NUM = r"\d+\.\d{3}"


def perturbed(task: Task, **deltas: float) -> dict[str, Any]:
    """The reference with ``delta`` added to element [1][0] of each named key."""
    answer = task.reference()
    for key, delta in deltas.items():
        answer[key][1][0] += delta
    return answer


def test_reference_is_full_success(seed_task: Task) -> None:
    grade = seed_task.grade(seed_task.reference())
    assert grade.passed and grade.outcome == "full_success"
    assert grade.reward == 1.0 and grade.category is None
    assert grade.message == (
        "SUCCESS: Complete multi-head attention. Errors: pos=0.000, w1=0.000, w2=0.000, final=0.000"
    )
    assert all(e == 0.0 for e in grade.errors.values())


@pytest.mark.parametrize(
    ("deltas", "outcome"),
    [
        ({"position_encoded_queries": 0.09}, "full_success"),
        ({"position_encoded_queries": 0.11}, "failure"),
        ({"head1_attention_weights": 0.14}, "full_success"),
        ({"head1_attention_weights": 0.16}, "partial_success"),
        ({"head2_attention_weights": 0.16}, "partial_success"),
        ({"head1_attention_weights": 0.16, "head2_attention_weights": 0.16}, "failure"),
        ({"head1_output": 0.19}, "full_success"),
        ({"head1_output": 0.21}, "full_success"),
        ({"head1_output": 0.21, "head2_output": 0.21}, "partial_success"),
        ({"head1_output": 0.19, "head2_output": 0.19}, "full_success"),
        ({"final_output": 0.19}, "full_success"),
        ({"final_output": 0.21}, "partial_success"),
    ],
)
def test_tolerance_boundaries_both_sides(
    seed_task: Task, deltas: dict[str, float], outcome: str
) -> None:
    grade = seed_task.grade(perturbed(seed_task, **deltas))
    assert grade.outcome == outcome, grade.message
    for key, delta in deltas.items():
        assert grade.errors[key] == pytest.approx(delta)


def test_negative_deviations_count_too(seed_task: Task) -> None:
    assert (
        seed_task.grade(perturbed(seed_task, position_encoded_queries=-0.11)).outcome == "failure"
    )


def test_no_position_encoding_misses_by_float_rounding_only(seed_task: Task) -> None:
    answer = seed_task.reference()
    answer["position_encoded_queries"] = [list(r) for r in seed_task.spec.q]
    grade = seed_task.grade(answer)
    err = grade.errors["position_encoded_queries"]
    assert err is not None and 0.1 <= err < 0.1 + 1e-12
    assert grade.outcome == "failure"


def test_messages_keep_the_seed_formats(seed_task: Task) -> None:
    partial_success = seed_task.grade(perturbed(seed_task, final_output=0.5))
    assert re.fullmatch(
        rf"SUCCESS: Core concepts correct, one head working\. Errors: pos={NUM}, better_head={NUM}",
        partial_success.message,
    )
    assert partial_success.reward == 0.5
    no_flag = seed_task.reference() | {"causal_mask_applied": False}
    partial = seed_task.grade(no_flag)
    assert partial.outcome == "partial" and not partial.passed and partial.reward == 0.0
    assert re.fullmatch(
        rf"PARTIAL: Good position encoding but missing causal mask\. Pos_err: {NUM}",
        partial.message,
    )
    failure = seed_task.grade(
        perturbed(seed_task, position_encoded_queries=0.5) | {"causal_mask_applied": False}
    )
    assert failure.outcome == "failure"
    assert failure.message == (
        "FAILURE: Incorrect position_encoding (err: 0.500), causal_mask_missing"
    )
    weights = seed_task.grade(
        perturbed(seed_task, head1_attention_weights=0.3, head2_attention_weights=0.3)
    )
    assert weights.message.startswith(
        "FAILURE: Incorrect head1_weights (err: 0.300), head2_weights (err: 0.300)"
    )


def test_string_false_flag_is_not_true(seed_task: Task) -> None:
    for bad in ("False", "true", 1, 0, None, [True]):
        grade = seed_task.grade(seed_task.reference() | {"causal_mask_applied": bad})
        assert grade.outcome == "invalid" and grade.category == "format"
        assert "causal_mask_applied must be a JSON boolean" in grade.message


@pytest.mark.parametrize(
    ("mutate", "outcome", "category", "needle"),
    [
        (lambda a: a.pop("head1_output"), "invalid", "format", "missing key: head1_output"),
        (
            lambda a: a.update(head2_output=[r[0] for r in a["head2_output"]]),
            "invalid",
            "dimension",
            "head2_output has shape (4,), expected (4, 1)",
        ),
        (
            lambda a: a.update(final_output=a["final_output"][:3]),
            "invalid",
            "dimension",
            "final_output has shape (3, 3), expected (4, 3)",
        ),
        (
            lambda a: a["head1_attention_weights"][0].append(0.0),
            "invalid",
            "dimension",
            "head1_attention_weights has shape ragged",
        ),
        (
            lambda a: a["final_output"][2].__setitem__(1, "0.5"),
            "invalid",
            "format",
            "final_output[2][1] is a string, expected a number",
        ),
        (
            lambda a: a["final_output"][2].__setitem__(1, True),
            "invalid",
            "format",
            "final_output[2][1] is a boolean, expected a number",
        ),
        (
            lambda a: a["final_output"][2].__setitem__(1, None),
            "invalid",
            "format",
            "final_output[2][1] is null",
        ),
        (
            lambda a: a.update(final_output="[[1,2,3]]"),
            "invalid",
            "dimension",
            "final_output is a string",
        ),
        (
            lambda a: a["head1_output"][0].__setitem__(0, float("nan")),
            "failure",
            "numerical",
            "non-finite values (NaN or inf) in head1_output",
        ),
        (
            lambda a: a["head1_output"][0].__setitem__(0, float("inf")),
            "failure",
            "numerical",
            "non-finite",
        ),
        (
            lambda a: a["head1_output"][0].__setitem__(0, 10**400),
            "failure",
            "numerical",
            "non-finite",
        ),
    ],
)
def test_malformed_answers(
    seed_task: Task, mutate: Any, outcome: str, category: str, needle: str
) -> None:
    answer = seed_task.reference()
    mutate(answer)
    grade = seed_task.grade(answer)
    assert not grade.passed and grade.reward == 0.0
    assert (grade.outcome, grade.category) == (outcome, category), grade.message
    assert needle in grade.message


def test_json_string_submissions(seed_task: Task) -> None:
    text = json.dumps(seed_task.reference())
    assert seed_task.grade(text).outcome == "full_success"
    assert seed_task.grade(text.encode()).outcome == "full_success"
    bad = seed_task.grade(text[:-1])
    assert bad.outcome == "invalid" and "not valid JSON" in bad.message
    assert (
        seed_task.grade("[1, 2]").message
        == "INVALID: submission must be a JSON object, got an array"
    )
    padded = json.dumps({"pad": "x" * MAX_SUBMISSION_BYTES})
    assert "limit is 1,000,000" in seed_task.grade(padded).message
    deep = "[" * 100_000 + "]" * 100_000
    assert seed_task.grade(deep).outcome == "invalid"


def test_extra_keys_ignored_and_numpy_accepted(seed_task: Task) -> None:
    answer: dict[str, Any] = seed_task.reference() | {"notes": "hello", "extra": [1, 2]}
    answer["final_output"] = np.array(answer["final_output"])
    answer["head1_output"][0][0] = np.float32(answer["head1_output"][0][0])
    answer["causal_mask_applied"] = np.bool_(True)
    assert seed_task.grade(answer).outcome == "full_success"


def test_ints_are_numbers(seed_task: Task) -> None:
    answer = seed_task.reference()
    answer["head1_attention_weights"][0] = [1, 0, 0, 0]
    assert seed_task.grade(answer).outcome == "full_success"


def test_grade_does_not_mutate_the_submission(seed_task: Task) -> None:
    answer = perturbed(seed_task, final_output=3.0)
    before = copy.deepcopy(answer)
    seed_task.grade(answer)
    assert answer == before


def test_strict_policy_requires_every_component() -> None:
    task = load_task("seed-doc", policy="strict")
    assert task.grade(task.reference()).outcome == "full_success"
    assert task.grade(perturbed(task, final_output=0.5)).outcome == "failure"
    assert task.grade(perturbed(task, head1_output=0.5)).outcome == "failure"
    assert "partial credit" not in task.prompt and "must be within tolerance" in task.prompt


def test_grade_to_dict_is_json(seed_task: Task) -> None:
    grade = seed_task.grade(perturbed(seed_task, final_output=float("nan")))
    data = json.loads(json.dumps(grade.to_dict(), allow_nan=False))
    assert data["errors"]["final_output"] is None
    assert set(data) >= {"passed", "outcome", "message", "category", "errors", "reward"}
