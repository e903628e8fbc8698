"""The RoPE catalogue: honest bugs (each a :class:`Variant` of the reference) and cheap answers.

Every entry's answer is computed by :func:`~.reference.forward` (or filled in, for a cheap
answer), so it follows every knob; a procedural instance is kept only if the grading gives
every applicable entry zero reward (:mod:`.procedural`). Note that the scores depend only on
relative positions, so a position offset bug leaves them right: the intermediates catch it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnrl.task.grade import Category, Kind
from attnrl.tasks.rope.reference import Variant, answer
from attnrl.tasks.rope.spec import RopeSpec, shapes

__all__ = ["CATALOGUE", "RopeBug", "applicable", "entry_by_name"]


def _always(_: RopeSpec) -> bool:
    return True


@dataclass(frozen=True)
class RopeBug:
    """One known wrong answer."""

    name: str
    category: Category
    description: str
    variant: Variant = field(default_factory=Variant)
    applies: Callable[[RopeSpec], bool] = _always
    fill: Callable[[RopeSpec], dict[str, Any]] | None = None
    """A cheap answer's filled-in matrices (instead of a computation)."""
    kind: Kind = "bug"

    def submission(self, spec: RopeSpec) -> dict[str, Any]:
        return self.fill(spec) if self.fill else answer(spec, self.variant)


def _filled(value: float) -> Callable[[RopeSpec], dict[str, Any]]:
    def fill(spec: RopeSpec) -> dict[str, Any]:
        return {k: np.full(s, value).tolist() for k, s in shapes(spec).items()}

    return fill


def _no_rotation(spec: RopeSpec) -> dict[str, Any]:
    """The inputs passed through: zero angles, q and k unrotated, plain scaled scores."""
    ref = answer(spec)
    q, k = np.asarray(spec.q), np.asarray(spec.k)
    return ref | {
        "angles": np.zeros(shapes(spec)["angles"]).tolist(),
        "q_rotated": q.tolist(),
        "k_rotated": k.tolist(),
        "scores": (q @ k.T / np.sqrt(spec.d)).tolist(),
    }


CATALOGUE: tuple[RopeBug, ...] = (
    RopeBug(
        "other_pairing",
        "dimension",
        "pairs the other convention's dimensions (interleaved vs halves)",
        Variant(other_pairing=True),
    ),
    RopeBug("inverse_rotation", "logic", "rotates by -angle (sin sign flipped)", Variant(sign=-1)),
    RopeBug(
        "exponent_i_over_d",
        "numerical",
        "inv_freq = base ** (-i / d): the 2 of 2i/d dropped",
        Variant(exponent="i/d"),
    ),
    RopeBug(
        "positions_from_zero",
        "logic",
        "uses 0..n-1 instead of the given positions (the KV-cache offset ignored)",
        Variant(positions="from_zero"),
        applies=lambda s: s.positions != tuple(range(s.n)),
    ),
    RopeBug(
        "positions_off_by_one",
        "logic",
        "counts positions from 1 (every position + 1)",
        Variant(positions="plus_one"),
    ),
    RopeBug(
        "default_base",
        "numerical",
        "hard-codes base 10000 instead of the given base",
        Variant(base=10000.0),
        applies=lambda s: s.base != 10000.0,
    ),
    RopeBug(
        "unscaled_scores",
        "numerical",
        "scores without the 1/sqrt(d) scale",
        Variant(scale=False),
    ),
    RopeBug(
        "query_not_rotated",
        "logic",
        "rotates the keys only",
        Variant(rotate_q=False),
    ),
    RopeBug(
        "sin_cos_swapped",
        "logic",
        "swaps cos and sin in the rotation",
        Variant(sin_cos_swapped=True),
    ),
    RopeBug(
        "reversed_frequencies",
        "dimension",
        "assigns the frequencies to the pairs in reverse order",
        Variant(freq_reversed=True),
    ),
    RopeBug("zeros", "format", "every number 0", fill=_filled(0.0), kind="cheap"),
    RopeBug("ones", "format", "every number 1", fill=_filled(1.0), kind="cheap"),
    RopeBug(
        "no_rotation",
        "logic",
        "q and k passed through unrotated (zero angles), plain scores",
        fill=_no_rotation,
        kind="cheap",
    ),
)


def applicable(spec: RopeSpec) -> tuple[RopeBug, ...]:
    return tuple(b for b in CATALOGUE if b.applies(spec))


def entry_by_name(name: str) -> RopeBug:
    for bug in CATALOGUE:
        if bug.name == name:
            return bug
    raise ValueError(f"unknown RoPE catalogue entry {name!r}")
