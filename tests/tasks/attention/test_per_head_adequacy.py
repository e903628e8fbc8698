"""Mutation adequacy per head (``ProceduralConfig(adequacy="per_head")``): a catalogued
mistake made in one head alone, the other heads right, graded by the real grader."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from attnrl.cli import main
from attnrl.tasks.attention.bugs import CATALOGUE, applicable_bugs
from attnrl.tasks.attention.ladder import LADDER
from attnrl.tasks.attention.procedural import (
    ProceduralConfig,
    draw,
    head_margins,
    is_mutation_adequate,
    procedural_spec,
)
from attnrl.tasks.attention.reference import confine_to_head, forward, layer_norm, submission
from attnrl.tasks.attention.spec import TaskSpec
from attnrl.tasks.attention.task import AttentionTask

PER_HEAD = ProceduralConfig(adequacy="per_head")


def _confined_answers(spec: TaskSpec) -> list[tuple[str, int, dict[str, Any]]]:
    """Every per-head entry made in each head it changes: (name, head, the answer)."""
    reference = forward(spec)
    answers = []
    for bug in applicable_bugs(spec):
        if not bug.per_head or len(spec.heads) < 2:
            continue
        with np.errstate(all="ignore"):
            wrong = forward(spec, bug.variant)
            for h in range(len(spec.heads)):
                same = np.array_equal(wrong.weights[h], reference.weights[h])
                if same and np.array_equal(wrong.outputs[h], reference.outputs[h]):
                    continue
                trace = confine_to_head(spec, reference, wrong, h)
                answers.append((bug.name, h + 1, submission(spec, trace)))
    return answers


def _paid(spec: TaskSpec) -> list[tuple[str, int, float]]:
    task = AttentionTask(spec)
    paid = []
    for name, head, answer in _confined_answers(spec):
        grade = task.grade(answer)
        if grade.reward > 0:
            paid.append((name, head, grade.reward))
    return paid


def test_the_per_head_entries_are_those_of_a_heads_own_computation() -> None:
    cross = {
        "mask_flag_false",  # the reference's numbers
        "flattened_head_output",  # layouts
        "padded_head_output",
        "concat_swapped",  # what joins the heads, and after
        "no_residual",
        "no_layer_norm",
        "unbiased_layer_norm",
        "one_head_for_all",
        "head_averaged_weights",
        "weights_only",  # filled-in answers
        "intermediates_only",
        "final_is_v_pos",
        "all_zeros",
        "all_ones",
    }
    assert {b.name for b in CATALOGUE if not b.per_head} == cross


@pytest.mark.parametrize("knobs", [{}, {"residual": True, "layer_norm": True}])
def test_a_confined_mistake_changes_its_head_and_what_follows_only(knobs: dict[str, Any]) -> None:
    spec = procedural_spec(5, ProceduralConfig(heads=(3, 3), **knobs))
    reference = forward(spec)
    wrong = forward(spec, next(b for b in CATALOGUE if b.name == "no_scaling").variant)
    trace = confine_to_head(spec, reference, wrong, 1)
    for h in (0, 2):
        assert np.array_equal(trace.weights[h], reference.weights[h])
        assert np.array_equal(trace.outputs[h], reference.outputs[h])
    assert np.array_equal(trace.weights[1], wrong.weights[1])
    assert np.array_equal(trace.q_pos, reference.q_pos)
    final = np.concatenate(trace.outputs, axis=1) + (reference.q_pos if spec.residual else 0.0)
    assert np.allclose(trace.final, final)
    if spec.layer_norm:
        assert np.allclose(trace.layer_normed, layer_norm(final))


def test_the_whole_answer_check_leaves_some_mistakes_in_one_head_paid() -> None:
    """Why the level exists: under the default, a mistake in one head alone is sometimes
    within every tolerance, and the grader pays it (the draws are unchanged by this test)."""
    paid = {seed: _paid(procedural_spec(seed)) for seed in range(40)}
    assert any(paid.values()), "no per-head mistake paid on seeds 0-39: the level is untested"


@pytest.mark.parametrize("rung", [None, 1, 2, 3, 7, 8])
def test_per_head_adequacy_pays_no_mistake_made_in_one_head(rung: int | None) -> None:
    config = PER_HEAD if rung is None else ProceduralConfig(**LADDER[rung], adequacy="per_head")
    checked = 0
    for seed in range(40):
        spec = draw(seed, config).spec
        assert _paid(spec) == [], (rung, seed)
        assert is_mutation_adequate(spec, per_head=True)
        checked += len(_confined_answers(spec))
    assert checked > 50  # the check saw mistakes to refuse (rung 1 draws mostly one head)


def test_the_level_redraws_only_the_seeds_it_must() -> None:
    for seed in range(30):
        whole, per_head = draw(seed), draw(seed, PER_HEAD)
        kept = all(
            value >= 2.0 for heads in head_margins(whole.spec).values() for value in heads.values()
        )
        assert (whole.spec == per_head.spec) == kept, seed
        if not kept:
            assert per_head.attempts > whole.attempts


def test_head_margins_name_each_head_a_mistake_changes() -> None:
    spec = procedural_spec(0)
    margins = head_margins(spec)
    assert set(margins) == {b.name for b in applicable_bugs(spec) if b.per_head}
    d_k = [h.d_k for h in spec.heads]
    scaled = {i + 1 for i, d in enumerate(d_k) if d > 1}
    assert set(margins["no_scaling"]) == scaled  # no 1/sqrt(d_k) to forget where d_k = 1


def test_single_head_specs_have_no_separate_per_head_check() -> None:
    spec = procedural_spec(0, ProceduralConfig(heads=(1, 1)))
    assert all(m == {} for m in head_margins(spec).values())
    assert draw(0, ProceduralConfig(heads=(1, 1), adequacy="per_head")).spec == spec


def test_a_bad_level_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="adequacy must be one of whole, per_head, got 'some'"):
        ProceduralConfig(adequacy="some")


def test_the_cli_draws_at_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    seed = next(s for s in range(30) if draw(s).spec != draw(s, PER_HEAD).spec)
    assert main(["instance", "--seed", str(seed), "--adequacy", "per_head"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["content_hash"] == draw(seed, PER_HEAD).spec.content_hash()
    assert main(["instance", "--seed", str(seed), "--knob", "adequacy=per_head"]) == 0
    assert json.loads(capsys.readouterr().out)["content_hash"] == shown["content_hash"]
    assert main(["instance", "--preset", "seed-doc", "--adequacy", "per_head"]) == 2
    assert "--adequacy needs --preset procedural" in capsys.readouterr().err


def test_a_curriculum_draws_every_rung_at_the_level() -> None:
    """The line of docs/curriculum.md: a ladder with the knob set draws per-head adequate
    instances on every rung."""
    from attnrl.curriculum import RungInstances

    instances = RungInstances(tuple({**rung, "adequacy": "per_head"} for rung in LADDER), seed=0)
    for rung in range(len(LADDER)):
        task = instances.task(rung, 0)
        assert isinstance(task, AttentionTask)
        assert is_mutation_adequate(task.spec, per_head=True), rung
