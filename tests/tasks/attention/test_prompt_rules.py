"""The prompt states the grading rules exactly as ``grade()`` applies them.

For every preset and policy (and knobs that change the components), each stated rule is
checked from both sides: a submission meeting exactly its requirements (every other component
off by 1.0) reaches its outcome, and breaking any one requirement falls below it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from attnrl.task import Task, load_task
from attnrl.tasks.attention.grading import PassRule, pass_rules
from attnrl.tasks.attention.prompt import grading_rules
from attnrl.tasks.attention.spec import ANSWER_MASK_FLAG, MaskSpec

RANK = {"full_success": 2, "partial_success": 1}

TASKS: dict[str, Any] = {
    f"{preset}-{policy}{tag}": (preset, policy, knobs)
    for preset in ("seed-doc", "seed-doc-text", "procedural")
    for policy in ("seed-doc", "lenient", "strict")
    if policy != "seed-doc" or preset != "procedural"  # seed-doc grades its own presets only
    for tag, knobs in (
        ("", {}),
        ("-one-head", {"heads": 1}),
        (
            "-nomask-nopos-ln",
            {"mask": MaskSpec("none"), "position_encoding": False, "layer_norm": True},
        ),
    )
}


def _task(name: str) -> Task:
    preset, policy, knobs = TASKS[name]
    seed = 0 if preset == "procedural" else None
    return load_task(preset, seed=seed, policy=policy, **knobs)


def _off(matrix: list[list[float]]) -> list[list[float]]:
    return [[x + 1.0 for x in row] for row in matrix]


def _meeting(task: Task, rule: PassRule, keep_any: int = 0) -> dict[str, Any]:
    """The reference with every component the rule does not require off by 1.0."""
    answer = copy.deepcopy(task.reference())
    kept = set(rule.all_of) | (set(rule.any_of[keep_any]) if rule.any_of else set())
    for c in task.spec.components():
        if c.key not in kept:
            answer[c.key] = _off(answer[c.key])
    if task.spec.masked:
        answer[ANSWER_MASK_FLAG] = True
    return answer


def _rank(task: Task, answer: dict[str, Any]) -> int:
    return RANK.get(task.grade(answer).outcome, 0)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_prompt_states_each_rule_and_grade_applies_it(name: str) -> None:
    task = _task(name)
    rules = pass_rules(task.spec)
    for line in grading_rules(task.spec):
        assert line in task.prompt
    for rule in rules:
        for keep in range(max(1, len(rule.any_of))):  # any one of the alternatives suffices
            answer = _meeting(task, rule, keep)
            grade = task.grade(answer)
            assert grade.outcome == rule.outcome, (rule, grade.message)
            assert grade.reward == rule.reward
        target = RANK[rule.outcome]
        for key in rule.all_of:  # each required component, broken alone
            broken = _meeting(task, rule)
            broken[key] = _off(task.reference()[key])
            assert _rank(task, broken) < target, (rule, key)
        if rule.any_of:  # no alternative complete: one component of each group broken
            for position in range(max(len(g) for g in rule.any_of)):
                broken = _meeting(task, rule)
                for group in rule.any_of:
                    key = group[min(position, len(group) - 1)]
                    broken[key] = _off(task.reference()[key])
                assert _rank(task, broken) < target, (rule, "any_of", position)
        if rule.mask_flag:
            broken = _meeting(task, rule)
            broken[ANSWER_MASK_FLAG] = False
            assert _rank(task, broken) < target, (rule, ANSWER_MASK_FLAG)


def test_the_seed_prompt_says_one_head_output_suffices() -> None:
    prompt = load_task("seed-doc").prompt
    assert "Full success needs every component within tolerance" not in prompt
    assert "at least one of head1_output or head2_output within tolerance" in prompt
