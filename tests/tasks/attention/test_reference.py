"""The reference forward pass against an independent loop-by-loop implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnrl.tasks.attention.presets import build_spec
from attnrl.tasks.attention.reference import forward, layer_norm, softmax, submission
from attnrl.tasks.attention.spec import HeadLayout, MaskSpec, TaskSpec


def loop_attention(spec: TaskSpec) -> dict[str, list[list[float]]]:
    """Plain-Python attention, written from the seed document, sharing no code with forward()."""
    n, d = spec.n_tokens, spec.d_model

    def add(
        a: tuple[tuple[float, ...], ...], b: tuple[tuple[float, ...], ...]
    ) -> list[list[float]]:
        if not spec.position_encoding:
            return [list(r) for r in a]
        return [[a[i][c] + b[i][c] for c in range(d)] for i in range(n)]

    q_pos, k_pos, v_pos = (
        add(spec.q, spec.pos_emb),
        add(spec.k, spec.pos_emb),
        add(spec.v, spec.pos_emb),
    )
    values = v_pos if spec.value_source == "v_pos" else q_pos
    out: dict[str, list[list[float]]] = {"position_encoded_queries": q_pos}
    final = [[] for _ in range(n)]  # type: list[list[float]]
    for h, head in enumerate(spec.heads, start=1):
        d_k = head.qk[1] - head.qk[0]
        weights = []
        for i in range(n):
            scores = []
            for j in range(n):
                if spec.mask.kind == "causal" and j > i:
                    scores.append(-math.inf)
                elif spec.mask.kind == "reverse_causal" and i > j:
                    scores.append(-math.inf)
                else:
                    dot = sum(q_pos[i][c] * k_pos[j][c] for c in range(head.qk[0], head.qk[1]))
                    scores.append(dot / math.sqrt(d_k))
            top = max(scores)
            exps = [math.exp(s - top) if s != -math.inf else 0.0 for s in scores]
            total = sum(exps)
            weights.append([e / total for e in exps])
        o = [
            [
                sum(weights[i][j] * values[j][c] for j in range(n))
                for c in range(head.v[0], head.v[1])
            ]
            for i in range(n)
        ]
        out[f"head{h}_attention_weights"] = weights
        out[f"head{h}_output"] = o
        for i in range(n):
            final[i].extend(o[i])
    out["final_output"] = final
    return out


@pytest.mark.parametrize("preset", ["seed-doc", "seed-doc-text"])
def test_reference_matches_loop_implementation(preset: str) -> None:
    spec = build_spec(preset)
    ref = submission(spec, forward(spec))
    loops = loop_attention(spec)
    for key, expected in loops.items():
        np.testing.assert_allclose(ref[key], expected, rtol=0, atol=1e-12, err_msg=key)


def test_reference_matches_loops_on_other_layouts() -> None:
    rng = np.random.default_rng(7)
    spec = TaskSpec(
        "test",
        rng.normal(size=(6, 5)).round(2),
        rng.normal(size=(6, 5)).round(2),
        rng.normal(size=(6, 5)).round(2),
        rng.normal(size=(6, 5)).round(2) / 10,
        (HeadLayout((0, 3), (0, 1)), HeadLayout((3, 5), (1, 4)), HeadLayout((1, 2), (4, 5))),
    )
    ref = submission(spec, forward(spec))
    for key, expected in loop_attention(spec).items():
        np.testing.assert_allclose(ref[key], expected, rtol=0, atol=1e-12, err_msg=key)


def test_seed_reference_known_values() -> None:
    ref = submission(build_spec("seed-doc"), forward(build_spec("seed-doc")))
    assert ref["head1_attention_weights"][0] == [1.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(ref["final_output"][0], [1.6, -0.8, 0.2], atol=1e-12)
    np.testing.assert_allclose(ref["head1_attention_weights"][1], [0.5597, 0.4403, 0, 0], atol=1e-4)
    assert ref["causal_mask_applied"] is True
    for h in (1, 2):
        w = np.array(ref[f"head{h}_attention_weights"])
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
        assert np.all(np.triu(w, k=1) == 0.0)


def test_softmax_is_stable_for_large_scores() -> None:
    out = softmax(np.array([[1000.0, 1001.0, -np.inf]]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(), 1.0)
    assert out[0, 2] == 0.0


def test_layer_norm_rows_have_zero_mean_unit_variance() -> None:
    x = np.array([[1.0, 2.0, 4.0], [-3.0, 0.0, 3.0]])
    y = layer_norm(x)
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1.0, atol=1e-6)


def test_sliding_window_and_residual_knobs() -> None:
    spec = build_spec("seed-doc").with_knobs(
        mask=MaskSpec("sliding_window", 2), residual=True, layer_norm=True
    )
    trace = forward(spec)
    w = trace.weights[0]
    assert w[3, 0] == 0.0 and w[3, 1] == 0.0 and w[3, 2] > 0
    concat = np.concatenate(trace.outputs, axis=1)
    np.testing.assert_allclose(trace.final, trace.q_pos + concat)
    assert trace.layer_normed is not None
    np.testing.assert_allclose(trace.layer_normed, layer_norm(trace.final))


@pytest.mark.parametrize("rung", [0, 4, 6, 8, 9])
def test_with_weights_of_the_reference_is_the_reference(rung: int) -> None:
    """The answer built from given weights, the rest computed right, is the forward pass
    itself when the weights are the reference's (residual, window mask and layer norm too)."""
    from attnrl.tasks.attention.ladder import LADDER
    from attnrl.tasks.attention.procedural import ProceduralConfig, procedural_spec
    from attnrl.tasks.attention.reference import forward, with_weights

    for seed in range(3):
        spec = procedural_spec(seed, ProceduralConfig(**LADDER[rung]))
        reference = forward(spec)
        rebuilt = with_weights(spec, reference.weights)
        assert np.array_equal(rebuilt.final, reference.final)
        for got, want in zip(rebuilt.outputs, reference.outputs, strict=True):
            assert np.array_equal(got, want)
        if spec.layer_norm:
            assert rebuilt.layer_normed is not None and reference.layer_normed is not None
            assert np.array_equal(rebuilt.layer_normed, reference.layer_normed)
        uniform = [np.full_like(w, 1.0 / len(w)) for w in reference.weights]
        assert not np.array_equal(with_weights(spec, uniform).final, reference.final)
