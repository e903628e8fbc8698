"""The spec: validation, presets, hashing and the dict round trip."""

from __future__ import annotations

import pytest

from attnrl.task import load_task
from attnrl.tasks.attention.presets import build_spec
from attnrl.tasks.attention.spec import HeadLayout, MaskSpec, RewardWeights, TaskSpec, Tolerances

Q = ((1.0, 0.0), (0.0, 1.0))


def small_spec(**changes: object) -> TaskSpec:
    fields: dict[str, object] = dict(
        preset="test", q=Q, k=Q, v=Q, pos_emb=Q, heads=(HeadLayout((0, 1), (0, 2)),)
    )
    fields.update(changes)
    return TaskSpec(**fields)  # type: ignore[arg-type]


def test_seed_preset_is_the_seed_document_data() -> None:
    spec = build_spec("seed-doc")
    assert spec.q[0] == (1.0, 0.5, -0.2)
    assert spec.pos_emb[3] == (0.0, -0.1, 0.0)
    assert spec.heads == (HeadLayout((0, 1), (0, 2)), HeadLayout((1, 3), (2, 3)))
    assert spec.value_source == "v_pos" and spec.mask.kind == "causal"
    assert spec.answer_keys() == (
        "position_encoded_queries",
        "head1_attention_weights",
        "head2_attention_weights",
        "head1_output",
        "head2_output",
        "final_output",
        "causal_mask_applied",
    )


def test_seed_text_preset_reproduces_the_errata() -> None:
    spec = build_spec("seed-doc-text")
    assert spec.value_source == "q_pos"
    assert spec.mask.kind == "reverse_causal"
    assert spec.mask.masked_condition == "j < i"


def test_hash_is_stable_and_sensitive() -> None:
    a, b = build_spec("seed-doc"), build_spec("seed-doc")
    assert a.content_hash() == b.content_hash()
    assert len(a.content_hash()) == 64
    assert a.content_hash() != build_spec("seed-doc-text").content_hash()
    assert a.content_hash() != a.with_knobs(policy="strict").content_hash()


def test_dict_round_trip_is_exact() -> None:
    for name in ("seed-doc", "seed-doc-text"):
        spec = build_spec(name)
        again = TaskSpec.from_dict(spec.to_dict())
        assert again == spec
        assert again.content_hash() == spec.content_hash()


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"k": ((1.0,), (2.0,))}, "k has shape"),
        ({"q": ((1.0, float("nan")), (0.0, 1.0))}, "non-finite"),
        ({"q": ((1.0, 2.0), (3.0,))}, "row 1 has 1 columns"),
        ({"q": (("a", 1.0), (0.0, 1.0))}, "matrix of numbers"),
        ({"heads": ()}, "at least one head"),
        ({"heads": (HeadLayout((0, 3), (0, 1)),)}, "beyond d_model"),
        ({"value_source": "k_pos"}, "value_source"),
        ({"policy": "generous"}, "policy must be one of strict, lenient, seed-doc"),
        ({"residual": True}, "sum to d_model"),
    ],
)
def test_invalid_specs_name_the_problem(changes: dict[str, object], needle: str) -> None:
    if changes.get("residual"):
        changes = {**changes, "heads": (HeadLayout((0, 1), (0, 1)),)}
    with pytest.raises(ValueError, match=needle):
        small_spec(**changes)


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: HeadLayout((2, 1), (0, 1)), "start < stop"),
        (lambda: MaskSpec("diagonal"), "MaskSpec.kind"),
        (lambda: MaskSpec("sliding_window"), "window >= 1"),
        (lambda: MaskSpec("causal", window=2), "only meaningful"),
        (lambda: Tolerances(position=0.0), "Tolerances.position"),
        (lambda: Tolerances(weights=float("inf")), "Tolerances.weights"),
        (lambda: RewardWeights(partial_success=1.5), "partial_success"),
    ],
)
def test_component_validation(build: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        build()  # type: ignore[operator]


def test_mask_visibility() -> None:
    assert MaskSpec("causal").visible(3).tolist() == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]
    assert MaskSpec("reverse_causal").visible(2).tolist() == [[True, True], [False, True]]
    assert MaskSpec("sliding_window", 2).visible(3).tolist() == [
        [True, False, False],
        [True, True, False],
        [False, True, True],
    ]
    assert MaskSpec("none").visible(2).all()


def test_unknown_preset_and_seed_on_fixed_preset_are_clear_errors() -> None:
    with pytest.raises(
        ValueError,
        match="unknown preset 'nope'; choose one of: procedural, seed-doc, seed-doc-text",
    ):
        load_task("nope")
    with pytest.raises(ValueError, match="takes no seed"):
        load_task("seed-doc", seed=3)


def test_knobs_override_and_revalidate() -> None:
    task = load_task("seed-doc", policy="strict")
    assert task.spec.policy == "strict"
    with pytest.raises(ValueError, match="policy"):
        load_task("seed-doc", policy="bogus")


def test_knobs_mean_the_same_in_python_and_on_the_cli() -> None:
    """load_task's difficulty knobs go through the same path as the CLI flags: for
    procedural they are generation settings, so the instance stays mutation-adequate."""
    from attnrl.cli import build_parser
    from attnrl.cli.common import task_from_args

    python = load_task("procedural", 3, mask=MaskSpec("none"), heads=3)
    args = build_parser().parse_args(
        ["instance", "--preset", "procedural", "--seed", "3", "--mask", "none", "--heads", "3"]
    )
    assert python.content_hash == task_from_args(args).content_hash
    assert len(python.spec.heads) == 3 and not python.spec.masked
    assert all(e.detected for e in python.audit())
    with pytest.raises(ValueError, match="--tokens needs --preset procedural"):
        load_task("seed-doc", tokens=5)
