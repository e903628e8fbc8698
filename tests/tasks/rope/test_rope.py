"""The RoPE task: its reference, its catalogue, its draws, its grader."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnrl.task import load_task
from attnrl.tasks.rope.catalogue import CATALOGUE, entry_by_name
from attnrl.tasks.rope.procedural import LADDER, RopeConfig, draw, spec_factory, workload
from attnrl.tasks.rope.reference import Variant, forward, rotate
from attnrl.tasks.rope.spec import RopeSpec
from attnrl.tasks.rope.task import RopeTask


def _spec(pairing: str = "half") -> RopeSpec:
    return RopeSpec(
        preset="procedural",
        seed=None,
        q=((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)),
        k=((0.5, 0.5, -0.5, 0.5), (1.0, 0.0, 0.0, 1.0)),
        positions=(3, 4),
        base=100.0,
        pairing=pairing,  # type: ignore[arg-type]
    )


def test_reference_by_hand() -> None:
    spec = _spec()
    out = forward(spec)
    assert out["inv_freq"].tolist() == [[1.0, 0.1]]  # 100 ** -(0/4), 100 ** -(2/4)
    assert np.allclose(out["angles"], [[3.0, 0.3], [4.0, 0.4]])
    # half pairing: dimension 0 pairs with 2, rotated by angle 3: (cos 3, 0, sin 3, 0)
    assert np.allclose(out["q_rotated"][0], [math.cos(3), 0.0, math.sin(3), 0.0])
    inter = forward(_spec("interleaved"))  # dimension 0 pairs with 1
    assert np.allclose(inter["q_rotated"][0], [math.cos(3), math.sin(3), 0.0, 0.0])
    assert np.allclose(out["scores"], out["q_rotated"] @ out["k_rotated"].T / 2.0)


def test_rotation_keeps_norms_and_scores_depend_on_relative_positions() -> None:
    spec = load_task(task="rope", seed=4).spec
    out = forward(spec)
    assert np.allclose(np.linalg.norm(out["q_rotated"], axis=1), np.linalg.norm(spec.q, axis=1))
    shifted = forward(spec, Variant(positions="from_zero"))
    assert np.allclose(shifted["scores"], out["scores"])  # why the intermediates are graded
    assert not np.allclose(shifted["q_rotated"], out["q_rotated"])


def test_rotate_inverse_is_the_negative_angle() -> None:
    x = np.arange(8.0).reshape(2, 4)
    angles = np.array([[0.3, 1.1], [2.0, -0.4]])
    back = rotate(rotate(x, angles, "interleaved"), angles, "interleaved", Variant(sign=-1))
    assert np.allclose(back, x)


def test_catalogue_has_at_least_eight_bugs_and_cheap_answers() -> None:
    assert sum(b.kind == "bug" for b in CATALOGUE) >= 8
    assert sum(b.kind == "cheap" for b in CATALOGUE) >= 3
    assert len({b.name for b in CATALOGUE}) == len(CATALOGUE)
    with pytest.raises(ValueError, match="unknown RoPE catalogue entry"):
        entry_by_name("typo")


@pytest.mark.parametrize("rung", range(len(LADDER)))
def test_every_entry_earns_zero_and_is_diagnosed_on_every_rung(rung: int) -> None:
    factory = spec_factory("procedural", **LADDER[rung])
    for seed in range(12):
        task = RopeTask(factory(seed))
        assert task.grade(task.reference()).reward == 1.0
        for bug in task.bugs():
            grade = task.grade(task.entry_answer(bug))
            assert grade.reward == 0.0, (rung, seed, bug.name)
            assert grade.diagnosis is not None and grade.diagnosis.closest_bug is not None
            closest = entry_by_name(grade.diagnosis.closest_bug)
            if closest.name != bug.name:  # two entries agree here (one token at position 0...)
                assert task.grade(task.entry_answer(closest)).errors == grade.errors


def test_draws_are_deterministic_across_processes() -> None:
    code = "from attnrl.task import load_task; print(load_task(task='rope', seed=7).content_hash)"
    for hash_seed in ("1", "99"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
            check=True,
        )
        assert out.stdout.strip() == load_task(task="rope", seed=7).content_hash
    assert draw(7) == draw(7) and draw(7) != draw(8)


def test_config_validation_names_the_knob() -> None:
    with pytest.raises(ValueError, match="dim must be within 4-16"):
        RopeConfig(dim=(2, 2))
    with pytest.raises(ValueError, match="unknown knob"):
        spec_factory("procedural", heads=2)
    with pytest.raises(ValueError, match="pairing must be one of half, interleaved"):
        spec_factory("procedural", pairing="spiral")
    with pytest.raises(ValueError, match="unknown preset"):
        spec_factory("seed-doc")
    spec = load_task(task="rope", seed=1, dim=6, pairing="interleaved").spec
    assert spec.d == 6 and spec.pairing == "interleaved"


def test_spec_round_trip_and_hash() -> None:
    spec = load_task(task="rope", seed=2).spec
    again = RopeSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.content_hash() == spec.content_hash()
    with pytest.raises(ValueError, match="positions must be"):
        RopeSpec.from_dict(spec.to_dict() | {"positions": [1]})


def test_ladder_asks_for_more_along_it() -> None:
    numbers = [workload(spec_factory("procedural", **k)(s) for s in range(8)) for k in LADDER]
    assert [w["numbers"] for w in numbers] == sorted(w["numbers"] for w in numbers)
    tolerances = [RopeConfig.from_knobs(**k).tolerance_scale for k in LADDER]
    assert tolerances == sorted(tolerances, reverse=True)


def test_solution_code_reproduces_the_reference_and_each_bug() -> None:
    task = load_task(task="rope", seed=5, pairing="interleaved")
    for bug in [None, *(b.name for b in task.bugs())]:
        out = subprocess.run(
            [sys.executable, "-c", "import numpy as np\n" + task.solution_code(bug)],
            capture_output=True,
            text=True,
            check=True,
        )
        grade = task.grade(out.stdout)
        if bug is None:
            assert grade.reward == 1.0
        else:
            assert grade.reward == 0.0 and grade.diagnosis and grade.diagnosis.closest_bug == bug


_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=9), children)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(answer=_json)
def test_grader_never_raises_and_never_pays_garbage(answer: object) -> None:
    task = load_task(task="rope", seed=0)
    grade = task.grade(answer)
    assert grade.reward == 0.0 and not grade.passed
    assert task.grade(json.dumps(answer, allow_nan=True)).reward == 0.0


@settings(max_examples=60, deadline=None)
@given(noise=st.floats(-1.0, 1.0), key=st.sampled_from(["angles", "q_rotated", "scores"]))
def test_tolerance_is_strict_on_each_component(noise: float, key: str) -> None:
    task = load_task(task="rope", seed=0)
    answer = task.reference()
    tol = task.spec.tolerance
    answer[key][0][0] += noise * 3 * tol
    passed = task.grade(answer).passed
    assert passed == (abs(noise * 3 * tol) < tol - 1e-12) or abs(abs(noise * 3) - 1) < 1e-9
