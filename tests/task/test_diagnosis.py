"""Diagnosis: the closest bug per component, and a submission's disagreements with itself."""

from __future__ import annotations

from attnrl.task import Task
from attnrl.task.bugs import bug_by_name


def test_combined_bugs_are_named_per_component(seed_task: Task) -> None:
    answer = bug_by_name("reversed_mask").submission(seed_task.spec)
    answer["position_encoded_queries"] = [list(r) for r in seed_task.spec.q]
    grade = seed_task.grade(answer)
    assert grade.diagnosis is not None
    assert grade.diagnosis.closest_bug is None
    assert grade.diagnosis.component_bugs["head1_attention_weights"] == "reversed_mask"
    assert grade.diagnosis.component_bugs["position_encoded_queries"] == "no_position_encoding"


def test_consistency_checks_are_reported(seed_task: Task) -> None:
    answer = seed_task.reference()
    answer["final_output"] = [[0.0, 0.0, 0.0]] * 4
    answer["head1_attention_weights"][2] = [0.5, 0.5, 0.5, 0.0]
    answer["head2_attention_weights"][2] = [0.5, 0.5, 0.5, 0.0]
    grade = seed_task.grade(answer)
    assert grade.outcome == "failure"
    assert grade.diagnosis is not None
    notes = " | ".join(grade.diagnosis.inconsistencies)
    assert "row 2 sums to 1.500" in notes
    assert "final_output differs from the submitted head outputs' concatenation" in notes
    answer = seed_task.reference()
    answer["head2_attention_weights"][0] = [0.5, 0.5, 0.0, 0.0]
    grade = seed_task.grade(answer | {"causal_mask_applied": False})
    assert grade.diagnosis is not None
    assert any("puts weight where j > i" in n for n in grade.diagnosis.inconsistencies)
