"""The catalogue: known bugs and cheap answers, each a variant of the reference.

An entry names the mistake, its failure category (DESIGN.md section 3) and when it is
meaningful for a spec; its submission is computed by the same :func:`forward` as the
reference, so the catalogue follows every knob of the spec. Entries of kind ``bug`` are
honest mistakes; entries of kind ``cheap`` are answers that skip the work (uniform or hard
weights, zeros, the intermediates without the outputs...), what a reward hacker tries first.
Both go through the same mutation adequacy, audit, diagnosis and report: an instance is kept
only if it gives every entry zero reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnrl.task.grade import Category, Kind
from attnrl.tasks.attention.reference import Variant, forward, layer_norm, submission
from attnrl.tasks.attention.spec import TaskSpec

__all__ = ["CATALOGUE", "Bug", "Category", "Kind", "applicable_bugs", "bug_by_name"]


def _always(_: TaskSpec) -> bool:
    return True


@dataclass(frozen=True)
class Bug:
    """One known way to get the task wrong."""

    name: str
    category: Category
    description: str
    variant: Variant = field(default_factory=Variant)
    mask_flag: bool = True
    """The ``causal_mask_applied`` value a solver with this bug submits."""
    applies: Callable[[TaskSpec], bool] = _always
    """False where the spec makes the bug meaningless (no "reversed mask" without a mask)."""
    reshape: Callable[[TaskSpec, dict[str, Any]], dict[str, Any]] | None = None
    """A change to the answer itself rather than to the computation: a layout mistake
    (flattened, padded) or a cheap answer's filled-in matrices (zeros, ones...)."""
    kind: Kind = "bug"

    @property
    def per_head(self) -> bool:
        """Whether the mistake can be made in one head alone: a change to how a head computes
        its own weights or values (not the answer's layout, nor what joins the heads)."""
        v = self.variant
        return (
            self.reshape is None
            and v != Variant()
            and not v.one_head
            and v.weights != "head_mean"
            and not v.concat_reversed
            and v.residual == "spec"
            and v.layer_norm == "spec"
        )

    def submission(self, spec: TaskSpec) -> dict[str, Any]:
        """What a solver making exactly this mistake submits for ``spec``."""
        answer = submission(spec, forward(spec, self.variant), mask_flag=self.mask_flag)
        return self.reshape(spec, answer) if self.reshape else answer


def _masked(spec: TaskSpec) -> bool:
    return spec.masked


def _windowed(spec: TaskSpec) -> bool:
    return spec.mask.kind == "sliding_window"


def _scaled_heads(spec: TaskSpec) -> bool:
    return any(h.d_k > 1 for h in spec.heads)


def _dk_differs(spec: TaskSpec) -> bool:
    return any(h.d_k != spec.d_model for h in spec.heads)


def _asymmetric(spec: TaskSpec) -> bool:
    return any(h.qk != h.v for h in spec.heads)


def _multi_head(spec: TaskSpec) -> bool:
    return len(spec.heads) > 1


def _positional(spec: TaskSpec) -> bool:
    return spec.position_encoding


def _value_source_is_v(spec: TaskSpec) -> bool:
    return spec.value_source == "v_pos"


def _has_single_column_head(spec: TaskSpec) -> bool:
    return any(h.d_v == 1 for h in spec.heads)


def _has_narrow_head(spec: TaskSpec) -> bool:
    return any(h.d_v < max(x.d_v for x in spec.heads) for h in spec.heads)


def _flatten_single_columns(spec: TaskSpec, answer: dict[str, Any]) -> dict[str, Any]:
    """(n, 1) head outputs submitted as flat (n,) vectors."""
    for h, head in enumerate(spec.heads, start=1):
        if head.d_v == 1:
            answer[f"head{h}_output"] = [row[0] for row in answer[f"head{h}_output"]]
    return answer


def _pad_narrow_heads(spec: TaskSpec, answer: dict[str, Any]) -> dict[str, Any]:
    """Narrow head outputs zero-padded to the widest head, and the padding concatenated."""
    width = max(h.d_v for h in spec.heads)
    rows: list[list[float]] = [[] for _ in range(spec.n_tokens)]
    for h, head in enumerate(spec.heads, start=1):
        padded = [row + [0.0] * (width - head.d_v) for row in answer[f"head{h}_output"]]
        answer[f"head{h}_output"] = padded
        for i, row in enumerate(padded):
            rows[i].extend(row)
    answer["final_output"] = rows
    return answer


def _filled(
    value: float, keys: str = "all"
) -> Callable[[TaskSpec, dict[str, Any]], dict[str, Any]]:
    """Replace matrices by a constant: ``all`` of them, the ``outputs`` (head outputs and
    after) or the ``tails`` (final and layer-normalised output)."""

    def edit(spec: TaskSpec, answer: dict[str, Any]) -> dict[str, Any]:
        for c in spec.components():
            chosen = {
                "all": True,
                "outputs": c.kind == "output",
                "tails": c.kind == "output" and c.head is None,
            }[keys]
            if chosen:
                answer[c.key] = np.full(c.shape, value).tolist()
        return answer

    return edit


def _final_is_v_pos(spec: TaskSpec, answer: dict[str, Any]) -> dict[str, Any]:
    """final_output = V + pos_emb (the values themselves), everything before it right."""
    v_pos = spec.array("v") + (spec.array("pos_emb") if spec.position_encoding else 0.0)
    answer["final_output"] = v_pos.tolist()
    if spec.layer_norm:
        answer["layer_normalized_output"] = layer_norm(v_pos).tolist()
    return answer


def _square_final(spec: TaskSpec) -> bool:
    return spec.concat_width == spec.d_model


_CHEAP: tuple[Bug, ...] = (
    Bug(
        "uniform_weights",
        "logic",
        "cheap: no QK product, each weight row uniform over the visible keys",
        Variant(weights="uniform"),
        kind="cheap",
    ),
    Bug(
        "running_mean",
        "logic",
        "cheap: outputs are the running mean of the values (uniform over j <= i)",
        Variant(weights="running_mean"),
        kind="cheap",
    ),
    Bug(
        "identity_weights",
        "logic",
        "cheap: each token attends only to itself (weights = identity)",
        Variant(weights="identity"),
        kind="cheap",
    ),
    Bug(
        "argmax_weights",
        "numerical",
        "cheap: hard attention, weight 1 on the largest visible score",
        Variant(weights="argmax"),
        kind="cheap",
    ),
    Bug(
        "raw_qkv",
        "logic",
        "cheap: Q_pos reported, but attention computed on raw Q, K, V",
        Variant(raw_inputs=True),
        applies=_positional,
        kind="cheap",
    ),
    Bug(
        "one_head_for_all",
        "dimension",
        "cheap: one attention over all columns, its weights given for every head",
        Variant(one_head=True),
        applies=_multi_head,
        kind="cheap",
    ),
    Bug(
        "head_averaged_weights",
        "dimension",
        "cheap: every head given the heads' average weights",
        Variant(weights="head_mean"),
        applies=_multi_head,
        kind="cheap",
    ),
    Bug(
        "weights_only",
        "logic",
        "cheap: position encoding and weights right, every output zero",
        reshape=_filled(0.0, "outputs"),
        kind="cheap",
    ),
    Bug(
        "intermediates_only",
        "logic",
        "cheap: weights and head outputs right, final output zero",
        reshape=_filled(0.0, "tails"),
        kind="cheap",
    ),
    Bug(
        "final_is_v_pos",
        "logic",
        "cheap: heads right, final output = V + pos_emb",
        reshape=_final_is_v_pos,
        applies=_square_final,
        kind="cheap",
    ),
    Bug("all_zeros", "logic", "cheap: every matrix zero", reshape=_filled(0.0), kind="cheap"),
    Bug("all_ones", "logic", "cheap: every matrix one", reshape=_filled(1.0), kind="cheap"),
)
"""Answers that skip the work. ``values from raw V`` is the bug ``no_pos_on_v`` and
``attention without positions`` is ``no_position_encoding``: one entry each, not two."""

_BUGS: tuple[Bug, ...] = (
    Bug(
        "no_mask",
        "causal_mask",
        "no causal mask at all (and the flag says so)",
        Variant(mask="none"),
        mask_flag=False,
        applies=_masked,
    ),
    Bug(
        "mask_flag_false",
        "causal_mask",
        "correct numbers but causal_mask_applied is false",
        Variant(),
        mask_flag=False,
        applies=_masked,
    ),
    Bug(
        "reversed_mask",
        "causal_mask",
        "mask in the wrong direction (i > j instead of j > i)",
        Variant(mask="reversed"),
        applies=_masked,
    ),
    Bug(
        "zero_filled_mask",
        "causal_mask",
        "masked scores set to 0 instead of -inf",
        Variant(mask="zero_fill"),
        applies=_masked,
    ),
    Bug(
        "mask_after_softmax",
        "causal_mask",
        "masked weights zeroed after the softmax, not renormalised",
        Variant(mask="after_softmax"),
        applies=_masked,
    ),
    Bug(
        "window_ignored",
        "causal_mask",
        "plain causal mask, sliding window ignored",
        Variant(mask="causal"),
        applies=_windowed,
    ),
    Bug(
        "no_scaling",
        "numerical",
        "scores not divided by sqrt(d_k)",
        Variant(scale="none"),
        applies=_scaled_heads,
    ),
    Bug(
        "nan_from_inf_mask",
        "numerical",
        "mask applied as scores*keep + (-inf)*(1-keep): NaN",
        Variant(mask="multiply_inf"),
        applies=_masked,
    ),
    Bug(
        "unnormalised_softmax",
        "numerical",
        "exponentials not divided by their row sum",
        Variant(normalize=False),
    ),
    Bug(
        "wrong_dk_scaling",
        "numerical",
        "scores divided by sqrt(d_model) instead of sqrt(d_k)",
        Variant(scale="d_model"),
        applies=_dk_differs,
    ),
    Bug(
        "softmax_wrong_axis",
        "logic",
        "softmax over queries (columns) instead of keys (rows)",
        Variant(softmax_axis="queries"),
    ),
    Bug(
        "no_position_encoding",
        "logic",
        "position embeddings never added",
        Variant(pos_on_q=False, pos_on_k=False, pos_on_v=False),
        applies=_positional,
    ),
    Bug(
        "no_pos_on_k",
        "logic",
        "position embeddings not added to K",
        Variant(pos_on_k=False),
        applies=_positional,
    ),
    Bug(
        "no_pos_on_v",
        "logic",
        "position embeddings not added to V",
        Variant(pos_on_v=False),
        applies=lambda s: _positional(s) and _value_source_is_v(s),
    ),
    Bug(
        "values_from_q_pos",
        "logic",
        "values sliced from Q_pos instead of V_pos",
        Variant(value_source="q_pos"),
        applies=_value_source_is_v,
    ),
    Bug(
        "symmetric_heads",
        "dimension",
        "heads split symmetrically (Q/K columns = V columns)",
        Variant(symmetric_heads=True),
        applies=_asymmetric,
    ),
    Bug(
        "flattened_head_output",
        "dimension",
        "a (n, 1) head output submitted with shape (n,)",
        reshape=_flatten_single_columns,
        applies=_has_single_column_head,
    ),
    Bug(
        "padded_head_output",
        "dimension",
        "narrow head outputs zero-padded, padding concatenated",
        reshape=_pad_narrow_heads,
        applies=_has_narrow_head,
    ),
    Bug(
        "concat_swapped",
        "dimension",
        "heads concatenated in reverse order",
        Variant(concat_reversed=True),
        applies=_multi_head,
    ),
    Bug(
        "no_residual",
        "logic",
        "residual connection (Q_pos + heads) left out",
        Variant(residual="skip"),
        applies=lambda s: s.residual,
    ),
    Bug(
        "no_layer_norm",
        "logic",
        "layer norm left out (final output submitted as normalised)",
        Variant(layer_norm="skip"),
        applies=lambda s: s.layer_norm,
    ),
    Bug(
        "unbiased_layer_norm",
        "numerical",
        "layer norm with the unbiased variance (n - 1), not the population variance",
        Variant(layer_norm="unbiased"),
        applies=lambda s: s.layer_norm,
    ),
)

CATALOGUE: tuple[Bug, ...] = _BUGS + _CHEAP
"""Every entry, bugs first, then cheap answers (the order of the audit table)."""


def applicable_bugs(spec: TaskSpec) -> tuple[Bug, ...]:
    """The catalogue entries that are meaningful for ``spec``."""
    return tuple(b for b in CATALOGUE if b.applies(spec))


def bug_by_name(name: str) -> Bug:
    for bug in CATALOGUE:
        if bug.name == name:
            return bug
    known = ", ".join(b.name for b in CATALOGUE)
    raise ValueError(f"unknown catalogue entry {name!r}; known: {known}")
