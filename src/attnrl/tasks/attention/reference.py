"""The forward pass, computed from a spec (numpy, float64).

:func:`forward` is the reference. Every catalogued bug, and every cheap answer that skips
part of the computation (uniform or hard weights, one head for all...), is the same function
with one :class:`Variant` flag flipped, so they and the reference can never drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from attnrl.tasks.attention.spec import ANSWER_MASK_FLAG, HeadLayout, TaskSpec

__all__ = [
    "LAYER_NORM_EPS",
    "Trace",
    "Variant",
    "confine_to_head",
    "forward",
    "layer_norm",
    "softmax",
    "submission",
]

LAYER_NORM_EPS = 1e-8
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Variant:
    """Deviations from the reference; the default is the reference itself."""

    pos_on_q: bool = True
    pos_on_k: bool = True
    pos_on_v: bool = True
    value_source: Literal["spec", "v_pos", "q_pos"] = "spec"
    mask: Literal[
        "spec", "none", "reversed", "zero_fill", "after_softmax", "causal", "multiply_inf"
    ] = "spec"
    """``causal`` ignores a sliding window; ``reversed`` swaps j > i for j < i;
    ``multiply_inf`` masks as ``scores * keep + (-inf) * (1 - keep)``, which makes NaN."""
    scale: Literal["d_k", "none", "d_model"] = "d_k"
    softmax_axis: Literal["keys", "queries"] = "keys"
    normalize: bool = True
    """False: exponentials never divided by their row sum."""
    weights: Literal["softmax", "uniform", "identity", "argmax", "head_mean", "running_mean"] = (
        "softmax"
    )
    """How the weights are made: the softmax of the scores, or a cheap stand-in: ``uniform``
    over the visible keys, ``identity``, a hard ``argmax`` of the masked scores, the softmax
    weights averaged over heads (``head_mean``), or a ``running_mean`` (uniform over j <= i
    whatever the mask)."""
    raw_inputs: bool = False
    """Attend over raw Q, K, V (Q_pos is still reported correctly)."""
    one_head: bool = False
    """One attention over every column, its weights reported for every head."""
    symmetric_heads: bool = False
    """Use each head's V columns for Q/K too (Q/K width = V width)."""
    concat_reversed: bool = False
    residual: Literal["spec", "skip"] = "spec"
    layer_norm: Literal["spec", "skip", "unbiased"] = "spec"
    """``unbiased``: variance divided by n - 1 instead of n (the prompt says population)."""


@dataclass(frozen=True)
class Trace:
    """Every intermediate of one forward pass."""

    q_pos: Array
    """``(n, d_model)``"""
    weights: tuple[Array, ...]
    """per head ``(n, n)``, rows over keys"""
    outputs: tuple[Array, ...]
    """per head ``(n, d_v)``"""
    final: Array
    """``(n, sum d_v)``"""
    layer_normed: Array | None
    """``(n, sum d_v)`` when the spec asks for layer norm"""


def softmax(scores: Array, axis: int = -1) -> Array:
    """Numerically stable softmax; ``-inf`` entries get weight exactly 0."""
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    e = np.exp(shifted)
    out: Array = e / np.sum(e, axis=axis, keepdims=True)
    return out


def layer_norm(x: Array, eps: float = LAYER_NORM_EPS, ddof: int = 0) -> Array:
    """Per-row ``(x - mean) / sqrt(var + eps)``, no affine, as the seed's example
    (``ddof=1``: the unbiased variance, a catalogued bug)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True, ddof=ddof)
    out: Array = (x - mean) / np.sqrt(var + eps)
    return out


def _head_weights(spec: TaskSpec, variant: Variant, q_h: Array, k_h: Array) -> Array:
    """Attention weights of one head, ``(n, n)``, from ``q_h``, ``k_h`` of shape ``(n, d_k)``."""
    n, d_k = q_h.shape
    divisor = {"d_k": math.sqrt(d_k), "none": 1.0, "d_model": math.sqrt(spec.d_model)}[
        variant.scale
    ]
    scores = (q_h @ k_h.T) / divisor
    visible = spec.mask.visible(n)
    if variant.mask == "none":
        visible = np.ones((n, n), dtype=bool)
    elif variant.mask == "reversed":
        visible = visible.T
    elif variant.mask == "causal":
        visible = np.tril(np.ones((n, n), dtype=bool))
    axis = -1 if variant.softmax_axis == "keys" else 0
    if variant.mask == "zero_fill":
        return softmax(np.where(visible, scores, 0.0), axis=axis)
    if variant.mask == "after_softmax":
        return np.where(visible, softmax(scores, axis=axis), 0.0)
    if variant.mask == "multiply_inf":
        keep = visible.astype(np.float64)
        with np.errstate(invalid="ignore"):
            return softmax(scores * keep + (-np.inf) * (1.0 - keep), axis=axis)
    masked = np.where(visible, scores, -np.inf)
    if variant.weights not in ("softmax", "head_mean"):
        return _cheap_weights(variant, visible, masked)
    if not variant.normalize:
        out: Array = np.exp(masked - np.max(masked, axis=axis, keepdims=True))
        return out
    return softmax(masked, axis=axis)


def _cheap_weights(variant: Variant, visible: npt.NDArray[np.bool_], masked: Array) -> Array:
    """Weights that skip the QK product or the softmax, ``(n, n)``."""
    n = len(visible)
    if variant.weights == "uniform":
        uniform: Array = visible / visible.sum(axis=1, keepdims=True)
        return uniform
    if variant.weights == "running_mean":
        lower = np.tril(np.ones((n, n)))
        out: Array = lower / lower.sum(axis=1, keepdims=True)
        return out
    if variant.weights == "identity":
        return np.eye(n)
    hard: Array = np.eye(n)[np.argmax(masked, axis=1)]  # argmax (head_mean: see forward)
    return hard


def _inputs(spec: TaskSpec, var: Variant) -> tuple[Array, Array, Array, Array]:
    """``(q_pos, q_in, k_in, values)``: Q with positions (graded), the query and key inputs
    of the scores, and the values the weights multiply."""
    pos = spec.array("pos_emb") if spec.position_encoding else np.zeros_like(spec.array("q"))
    q_pos = spec.array("q") + (pos if var.pos_on_q else 0.0)
    k_pos = spec.array("k") + (pos if var.pos_on_k else 0.0)
    v_pos = spec.array("v") + (pos if var.pos_on_v else 0.0)
    source = spec.value_source if var.value_source == "spec" else var.value_source
    values = v_pos if source == "v_pos" else q_pos
    q_in, k_in = q_pos, k_pos
    if var.raw_inputs:
        q_in, k_in = spec.array("q"), spec.array("k")
        values = spec.array("v") if source == "v_pos" else q_in
    return q_pos, q_in, k_in, values


def forward(spec: TaskSpec, variant: Variant | None = None) -> Trace:
    """The positional multi-head attention forward pass of ``spec`` (or a bug of it)."""
    var = variant or Variant()
    q_pos, q_in, k_in, values = _inputs(spec, var)

    layouts = [HeadLayout(qk=h.v, v=h.v) if var.symmetric_heads else h for h in spec.heads]
    if var.one_head:
        every = HeadLayout(qk=(0, spec.d_model), v=(0, spec.d_model))
        layouts = [HeadLayout(qk=every.qk, v=h.v) for h in spec.heads]
    weights = [
        _head_weights(spec, var, q_in[:, h.qk[0] : h.qk[1]], k_in[:, h.qk[0] : h.qk[1]])
        for h in layouts
    ]
    if var.weights == "head_mean":
        mean = np.mean(weights, axis=0)
        weights = [mean for _ in weights]
    outputs = [w @ values[:, h.v[0] : h.v[1]] for w, h in zip(weights, layouts, strict=True)]

    final, normed = _tail(spec, var, q_pos, outputs)
    return Trace(q_pos, tuple(weights), tuple(outputs), final, normed)


def _tail(
    spec: TaskSpec, var: Variant, q_pos: Array, outputs: list[Array]
) -> tuple[Array, Array | None]:
    """The final output (heads concatenated, plus the residual) and its layer norm."""
    ordered = outputs[::-1] if var.concat_reversed else outputs
    final = np.concatenate(ordered, axis=1)
    if spec.residual and var.residual == "spec":
        final = q_pos + final
    normed = None
    if spec.layer_norm:
        ddof = 1 if var.layer_norm == "unbiased" else 0
        normed = final if var.layer_norm == "skip" else layer_norm(final, ddof=ddof)
    return final, normed


def with_weights(spec: TaskSpec, weights: Sequence[Array]) -> Trace:
    """The answer of a solver who used ``weights`` (one ``(n, n)`` matrix per head) as the
    heads' attention and computed everything else right: how an answer that guesses the
    weights without Q and K would read (``benchmarks/bench_templates.py``)."""
    q_pos, _, _, values = _inputs(spec, Variant())
    outputs = [w @ values[:, h.v[0] : h.v[1]] for w, h in zip(weights, spec.heads, strict=True)]
    final, normed = _tail(spec, Variant(), q_pos, outputs)
    return Trace(q_pos, tuple(weights), tuple(outputs), final, normed)


def confine_to_head(spec: TaskSpec, reference: Trace, wrong: Trace, head: int) -> Trace:
    """The reference with head ``head`` (0-based) taken from ``wrong``: the weights and
    output of a solver who made ``wrong``'s mistake in that head alone, and the final output
    that follows from them (the other heads, Q_pos, the residual and layer norm right)."""
    weights, outputs = list(reference.weights), list(reference.outputs)
    weights[head], outputs[head] = wrong.weights[head], wrong.outputs[head]
    final, normed = _tail(spec, Variant(), reference.q_pos, outputs)
    return Trace(reference.q_pos, tuple(weights), tuple(outputs), final, normed)


def submission(spec: TaskSpec, trace: Trace, mask_flag: bool = True) -> dict[str, Any]:
    """The answer dict (plain lists) that a solver computing ``trace`` would submit."""
    out: dict[str, Any] = {}
    if spec.position_encoding:
        out["position_encoded_queries"] = trace.q_pos.tolist()
    for h, w in enumerate(trace.weights, start=1):
        out[f"head{h}_attention_weights"] = w.tolist()
    for h, o in enumerate(trace.outputs, start=1):
        out[f"head{h}_output"] = o.tolist()
    out["final_output"] = trace.final.tolist()
    if spec.layer_norm:
        assert trace.layer_normed is not None
        out["layer_normalized_output"] = trace.layer_normed.tolist()
    if spec.masked:
        out[ANSWER_MASK_FLAG] = mask_flag
    return out
