"""The rotary position embedding (RoPE) task's spec: the instance, its knobs, its tolerances.

Pure data (no numpy), hashed canonically like the attention spec, so a dataset row or a
manifest rebuilds the exact instance (:meth:`RopeSpec.from_dict`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "COMPONENTS",
    "PAIRINGS",
    "Matrix",
    "Pairing",
    "RopeSpec",
    "shapes",
]

Pairing = Literal["half", "interleaved"]
PAIRINGS: tuple[Pairing, ...] = ("half", "interleaved")
Matrix = tuple[tuple[float, ...], ...]

COMPONENTS = ("inv_freq", "angles", "q_rotated", "k_rotated", "scores")
"""The graded answer keys, in prompt order."""


def _matrix(value: Any, what: str) -> Matrix:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{what} must be a non-empty list of rows")
    rows = tuple(tuple(float(x) for x in row) for row in value)
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{what} rows must all have the same length")
    return rows


@dataclass(frozen=True)
class RopeSpec:
    """One RoPE instance: queries and keys at given positions, rotated pairwise."""

    preset: str
    seed: int | None
    q: Matrix
    """Queries, shape ``(n, d)``; row t is the token at ``positions[t]``."""
    k: Matrix
    """Keys, shape ``(n, d)``."""
    positions: tuple[int, ...]
    """The absolute position of each row (a chunk decoded after a prefix: not 0..n-1)."""
    base: float
    """The frequency base: ``inv_freq[i] = base ** (-2 i / d)``."""
    pairing: Pairing = "half"
    """``half``: dimension i pairs with i + d/2 (GPT-NeoX, Llama); ``interleaved``: 2i pairs
    with 2i + 1 (GPT-J, the RoFormer paper)."""
    tolerance: float = 0.002
    """Max absolute error allowed on every number, strictly less than."""
    knobs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The difficulty knobs it was drawn with (recorded, not graded)."""

    def __post_init__(self) -> None:
        n, d = len(self.q), len(self.q[0]) if self.q else 0
        if n < 1 or d < 2 or d % 2:
            raise ValueError(f"q must be (n, d) with n >= 1 and an even d >= 2, got ({n}, {d})")
        if len(self.k) != n or any(len(r) != d for r in (*self.q, *self.k)):
            raise ValueError("q and k must both have shape (n, d)")
        if len(self.positions) != n or any(p < 0 for p in self.positions):
            raise ValueError(f"positions must be {n} non-negative integers")
        if not self.base > 1.0:
            raise ValueError(f"base must be > 1, got {self.base}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        if not 0.0 < self.tolerance < 1.0:
            raise ValueError(f"tolerance must be in (0, 1), got {self.tolerance}")

    @property
    def n(self) -> int:
        return len(self.q)

    @property
    def d(self) -> int:
        return len(self.q[0])

    def answer_keys(self) -> tuple[str, ...]:
        return COMPONENTS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["q"] = [list(r) for r in self.q]
        data["k"] = [list(r) for r in self.k]
        data["positions"] = list(self.positions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RopeSpec:
        if not isinstance(data, dict):
            raise ValueError("a RoPE spec must be a JSON object")
        return cls(
            preset=str(data["preset"]),
            seed=None if data.get("seed") is None else int(data["seed"]),
            q=_matrix(data["q"], "q"),
            k=_matrix(data["k"], "k"),
            positions=tuple(int(p) for p in data["positions"]),
            base=float(data["base"]),
            pairing=data.get("pairing", "half"),
            tolerance=float(data.get("tolerance", 0.002)),
            knobs=dict(data.get("knobs") or {}),
        )

    def content_hash(self) -> str:
        payload = self.to_dict()
        payload.pop("knobs")
        text = json.dumps({"task": "rope", **payload}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def shapes(spec: RopeSpec) -> dict[str, tuple[int, int]]:
    """The shape of each component: vectors are one-row matrices."""
    n, d = spec.n, spec.d
    return {
        "inv_freq": (1, d // 2),
        "angles": (n, d // 2),
        "q_rotated": (n, d),
        "k_rotated": (n, d),
        "scores": (n, n),
    }
