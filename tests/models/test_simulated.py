"""The simulated agents: their code computes exactly the answer of their plan, and the mix."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
import pytest

from attnrl.models.simulated import DOC_MIX, assign_plans, solution_code
from attnrl.task import Task, load_task
from attnrl.tasks.attention.spec import MaskSpec

SPECS = {
    "seed": load_task("seed-doc"),
    "seed-text": load_task("seed-doc-text"),
    "window-residual-ln": load_task(
        "seed-doc", mask=MaskSpec("sliding_window", 2), residual=True, layer_norm=True
    ),
    "no-mask-no-pos": load_task("seed-doc", mask=MaskSpec("none"), position_encoding=False),
}


def run_code(code: str) -> dict[str, object]:
    """Execute agent code the way the sandbox does (numpy as np), in-process for speed."""
    out = StringIO()
    with redirect_stdout(out), np.errstate(all="ignore"):
        exec(code, {"np": np})
    return json.loads(out.getvalue())


def same(a: object, b: object) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) or bool(
        np.allclose(np.array(a, dtype=float), np.array(b, dtype=float), atol=1e-12, equal_nan=True)
    )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_reference_code_prints_the_reference(name: str) -> None:
    task = SPECS[name]
    answer = run_code(solution_code(task.spec))
    assert task.grade(answer).outcome == "full_success"
    for key, value in task.reference().items():
        assert same(answer[key], value), key


@pytest.mark.parametrize("name", sorted(SPECS))
def test_bug_code_prints_the_bug_answer(name: str) -> None:
    task = SPECS[name]
    for bug in task.bugs():
        if bug.kind == "cheap":  # simulated agents make honest mistakes, never cheap answers
            continue
        answer = run_code(solution_code(task.spec, bug))
        expected = bug.submission(task.spec)
        assert set(answer) == set(expected), bug.name
        for key in expected:
            if (
                isinstance(expected[key], list)
                and expected[key]
                and not isinstance(expected[key][0], list)
            ):
                assert np.allclose(answer[key], expected[key]), (bug.name, key)
            else:
                assert same(answer[key], expected[key]), (bug.name, key)
        assert task.grade(answer).outcome == task.grade(expected).outcome, bug.name


def test_plans_follow_the_seed_mix_and_are_reproducible(seed_task: Task) -> None:
    plans = assign_plans(seed_task, 15, seed=1)
    assert plans == assign_plans(seed_task, 15, seed=1)
    assert plans != assign_plans(seed_task, 15, seed=2)
    intended = Counter(p.intended_category for p in plans)
    assert intended == {
        None: 4,
        "dimension": 5,
        "causal_mask": 3,
        "numerical": 2,
        "no_submission": 1,
    }
    assert pytest.approx(sum(DOC_MIX.values())) == 1.0
    audit = {e.name: e for e in seed_task.audit()}
    for plan in plans:
        if plan.kind == "bug":
            assert plan.bug is not None and audit[plan.bug].detected
            assert audit[plan.bug].kind == "bug"  # an honest mistake, never a cheap answer


def test_plan_counts_scale_with_runs(seed_task: Task) -> None:
    plans = assign_plans(seed_task, 120, seed=0)
    counts = Counter(p.intended_category for p in plans)
    assert sum(counts.values()) == 120
    assert counts[None] == 32 and counts["dimension"] == 40
