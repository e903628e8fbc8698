"""The RoPE reference (numpy float64) and its :class:`Variant` knobs, from which every
catalogued bug's answer is computed by the same code as the reference.

For ``x`` of shape ``(n, d)`` at positions ``p`` (``(n,)``): ``inv_freq = base ** (-2 i / d)``
(``(d/2,)``), ``angles = p[:, None] * inv_freq`` (``(n, d/2)``), each pair ``(a, b)`` of a
row rotated by its angle, ``(a cos - b sin, a sin + b cos)``, and
``scores = rot(q) @ rot(k).T / sqrt(d)`` (``(n, n)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from attnrl.tasks.rope.spec import RopeSpec

__all__ = ["Variant", "answer", "forward", "rotate"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Variant:
    """A way to compute RoPE; the default is the reference."""

    other_pairing: bool = False
    sign: Literal[1, -1] = 1
    exponent: Literal["2i/d", "i/d"] = "2i/d"
    positions: Literal["given", "from_zero", "plus_one"] = "given"
    base: float | None = None
    """Use this base instead of the spec's (a hard-coded 10000)."""
    scale: bool = True
    rotate_q: bool = True
    sin_cos_swapped: bool = False
    freq_reversed: bool = False


def _inv_freq(spec: RopeSpec, v: Variant) -> Array:
    half = spec.d // 2
    base = v.base if v.base is not None else spec.base
    i = np.arange(half, dtype=np.float64)
    exponent = 2.0 * i / spec.d if v.exponent == "2i/d" else i / spec.d
    freq: Array = base**-exponent
    return freq[::-1].copy() if v.freq_reversed else freq


def _positions(spec: RopeSpec, v: Variant) -> Array:
    p = np.asarray(spec.positions, dtype=np.float64)
    if v.positions == "from_zero":
        return np.arange(spec.n, dtype=np.float64)
    return p + 1.0 if v.positions == "plus_one" else p


def rotate(x: Array, angles: Array, pairing: str, v: Variant = Variant()) -> Array:
    """``x`` ``(n, d)`` with each pair rotated by ``angles`` ``(n, d/2)``."""
    cos, sin = np.cos(angles), v.sign * np.sin(angles)
    if v.sin_cos_swapped:
        cos, sin = sin, cos
    half = x.shape[1] // 2
    if pairing == "half":
        a, b = x[:, :half], x[:, half:]
    else:
        a, b = x[:, 0::2], x[:, 1::2]
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = np.empty_like(x)
    if pairing == "half":
        out[:, :half], out[:, half:] = ra, rb
    else:
        out[:, 0::2], out[:, 1::2] = ra, rb
    return out


def forward(spec: RopeSpec, v: Variant = Variant()) -> dict[str, Array]:
    """Every component, float64, computed with variant ``v``."""
    pairing = spec.pairing
    if v.other_pairing:
        pairing = "interleaved" if pairing == "half" else "half"
    inv_freq = _inv_freq(spec, v)
    angles = _positions(spec, v)[:, None] * inv_freq[None, :]
    q, k = np.asarray(spec.q, dtype=np.float64), np.asarray(spec.k, dtype=np.float64)
    q_rot = rotate(q, angles, pairing, v) if v.rotate_q else q
    k_rot = rotate(k, angles, pairing, v)
    scores = q_rot @ k_rot.T / (math.sqrt(spec.d) if v.scale else 1.0)
    return {
        "inv_freq": inv_freq[None, :],
        "angles": angles,
        "q_rotated": q_rot,
        "k_rotated": k_rot,
        "scores": scores,
    }


def answer(spec: RopeSpec, v: Variant = Variant()) -> dict[str, Any]:
    """The submission of variant ``v``: plain nested lists."""
    return {key: value.tolist() for key, value in forward(spec, v).items()}
