"""Property tests: the grader never raises and never passes garbage or near misses."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnrl.task import load_task

TASK = load_task("seed-doc")
REFERENCE = TASK.reference()
KEYS = list(REFERENCE)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=40,
)
numbers = st.integers(min_value=-(10**400), max_value=10**400) | st.floats()
matrices = st.lists(st.lists(numbers, min_size=0, max_size=5), min_size=0, max_size=5)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(json_values)
def test_arbitrary_json_never_raises_never_passes(value: Any) -> None:
    grade = TASK.grade(value)
    assert not grade.passed
    assert grade.reward == 0.0


@SETTINGS
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_never_raises_never_passes(value: str | bytes) -> None:
    assert not TASK.grade(value).passed


@SETTINGS
@given(st.sampled_from(KEYS), json_values | matrices)
def test_one_corrupted_key_never_crashes(key: str, value: Any) -> None:
    answer = TASK.reference()
    answer[key] = value
    grade = TASK.grade(answer)
    assert grade.outcome in {"full_success", "partial_success", "partial", "failure", "invalid"}
    json.dumps(grade.to_dict(), allow_nan=False)
    if grade.passed:
        # only the true flag, or a position encoding within tolerance, may pass
        if key == "causal_mask_applied":
            assert value is True
        if key == "position_encoded_queries":
            assert grade.errors[key] is not None and grade.errors[key] < 0.1


@SETTINGS
@given(
    st.sampled_from([k for k in KEYS if k != "causal_mask_applied"]),
    st.integers(0, 3),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_near_misses_respect_tolerances(key: str, row: int, value: float) -> None:
    answer = TASK.reference()
    answer[key][row][0] = value
    grade = TASK.grade(answer)
    err = grade.errors[key]
    if err is None:
        assert not grade.passed and grade.category == "numerical"
    elif key == "position_encoded_queries" and err >= 0.1:
        assert not grade.passed
    elif err >= 0.15 and "weights" in key:
        assert grade.outcome != "full_success"


@SETTINGS
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=len(KEYS)))
def test_partial_key_sets_are_invalid(answer: dict[str, Any]) -> None:
    if set(answer) != set(KEYS):
        grade = TASK.grade(answer)
        assert grade.outcome == "invalid" and "missing key" in grade.message


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from([k for k in KEYS if k != "causal_mask_applied"]),
            st.integers(0, 3),
            st.integers(0, 3),
            st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1.0, 1.0),
        ),
        max_size=6,
    )
)
def test_fast_path_grades_as_the_checked_path(edits: list[tuple[str, int, int, float]]) -> None:
    """The fast path (lists of floats) and the checked one (the same numbers as tuples, which
    only it takes) give the same grade: errors, outcome, message, diagnosis."""
    answer = TASK.reference()
    for key, row, col, delta in edits:
        cells = answer[key][row]
        cells[col % len(cells)] += delta
    as_tuples = {k: [tuple(r) for r in v] if isinstance(v, list) else v for k, v in answer.items()}
    assert TASK.grade(answer) == TASK.grade(as_tuples)
