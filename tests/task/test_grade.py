"""``Grade.passing``, the grader's fast constructor, makes the very Grade the dataclass
constructor makes: equal, frozen, copyable, serialisable."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from attnrl.task.grade import Grade


def test_passing_is_the_constructors_grade() -> None:
    errors: dict[str, float | None] = {"final_output": 0.001, "head1_output": None}
    fast = Grade.passing("partial_success", "SUCCESS: x", errors, 0.5)
    slow = Grade(True, "partial_success", "SUCCESS: x", None, errors, 0.5)
    assert fast == slow and repr(fast) == repr(slow)
    assert fast.to_dict() == slow.to_dict()
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert dataclasses.replace(fast, reward=0.25) == dataclasses.replace(slow, reward=0.25)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.reward = 1.0  # type: ignore[misc]
    assert fast.errors is errors  # kept, not copied: the grader hands it a fresh dict
