"""The catalogue of known bugs: each a :class:`~attnrl.task.reference.Variant` of the reference.

A bug names the mistake, its failure category (DESIGN.md section 3) and when it is
meaningful for a spec; its submission is computed by the same :func:`forward` as the
reference, so the catalogue follows every knob of the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from attnrl.task.reference import Variant, forward, submission
from attnrl.task.spec import TaskSpec

__all__ = ["CATALOGUE", "Bug", "Category", "applicable_bugs", "bug_by_name"]

Category = Literal[
    "dimension", "causal_mask", "numerical", "logic", "format", "no_submission", "infrastructure"
]


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
    """A mistake in the answer's layout rather than its numbers (flattened, padded)."""

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


CATALOGUE: tuple[Bug, ...] = (
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
)


def applicable_bugs(spec: TaskSpec) -> tuple[Bug, ...]:
    """The catalogue entries that are meaningful for ``spec``."""
    return tuple(b for b in CATALOGUE if b.applies(spec))


def bug_by_name(name: str) -> Bug:
    for bug in CATALOGUE:
        if bug.name == name:
            return bug
    known = ", ".join(b.name for b in CATALOGUE)
    raise ValueError(f"unknown bug {name!r}; known bugs: {known}")
