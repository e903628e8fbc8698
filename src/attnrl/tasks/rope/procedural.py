"""Seeded, mutation-adequate RoPE instances, their knobs and the difficulty ladder.

:func:`spec_factory` checks the knobs once and returns seed -> spec. A draw is kept only if
the grading gives every applicable catalogue entry zero reward (so each bug and cheap answer
is caught on every instance, not on average) and the answer fits the tool output; otherwise
the same seeded generator draws again. ``random.Random`` seeded with a string is the same in
every process and under every ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from attnrl.tasks.rope.spec import PAIRINGS, Pairing, RopeSpec

__all__ = [
    "KNOBS",
    "LADDER",
    "PRESETS",
    "RopeConfig",
    "adequate",
    "draw",
    "spec_factory",
    "workload",
]

PRESETS = ("procedural",)
KNOBS = ("dim", "tokens", "pairing", "base", "tolerance_scale")
BASE_TOLERANCE = 0.002
MAX_ANSWER_CHARS = 7000
"""The reference answer at 4 decimals stays under this (the tool output is cut at 10,000)."""
_BASES = (100.0, 500.0, 1000.0, 10000.0)
_ATTEMPTS = 200


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} must be an int or a (min, max) pair, got {value!r}")


@dataclass(frozen=True)
class RopeConfig:
    """The knobs of a draw (unset: these defaults)."""

    dim: tuple[int, int] = (4, 8)
    """Head width d, even, 4-16 (with 2 there is one pair: both pairings coincide)."""
    tokens: tuple[int, int] = (3, 6)
    """Rows n, 1-10."""
    pairing: Pairing = "half"
    base: float | None = None
    """The frequency base; None draws one of 100, 500, 1000, 10000."""
    tolerance_scale: float = 1.0
    """Multiplies the tolerance 0.002; 0.1-5."""

    def __post_init__(self) -> None:
        lo, hi = self.dim
        if not (4 <= lo <= hi <= 16 and any(d % 2 == 0 for d in range(lo, hi + 1))):
            raise ValueError(f"dim must be within 4-16 and include an even width, got {self.dim}")
        if not 1 <= self.tokens[0] <= self.tokens[1] <= 10:
            raise ValueError(f"tokens must be within 1-10, got {self.tokens}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, got {self.pairing!r}")
        if self.base is not None and not 2.0 <= self.base <= 1e6:
            raise ValueError(f"base must be within 2-1e6, got {self.base}")
        if not 0.1 <= self.tolerance_scale <= 5.0:
            raise ValueError(f"tolerance_scale must be within 0.1-5, got {self.tolerance_scale}")

    @classmethod
    def from_knobs(cls, **knobs: Any) -> RopeConfig:
        unknown = sorted(set(knobs) - set(KNOBS))
        if unknown:
            raise ValueError(
                f"unknown knob(s) {', '.join(unknown)}; RoPE knobs: {', '.join(KNOBS)}"
            )
        fields: dict[str, Any] = {}
        for name in ("dim", "tokens"):
            if name in knobs:
                fields[name] = _pair(knobs[name], name)
        if "pairing" in knobs:
            fields["pairing"] = str(knobs["pairing"])
        for name in ("base", "tolerance_scale"):
            if name in knobs:
                try:
                    fields[name] = float(knobs[name])
                except (TypeError, ValueError):
                    raise ValueError(f"{name} must be a number, got {knobs[name]!r}") from None
        return cls(**fields)

    def to_knobs(self) -> dict[str, Any]:
        return {
            "dim": list(self.dim),
            "tokens": list(self.tokens),
            "pairing": self.pairing,
            "base": self.base,
            "tolerance_scale": self.tolerance_scale,
        }


def _candidate(rng: random.Random, seed: int | None, config: RopeConfig) -> RopeSpec:
    d = rng.choice([w for w in range(config.dim[0], config.dim[1] + 1) if w % 2 == 0])
    n = rng.randint(*config.tokens)
    start = rng.randint(1, 48)

    def matrix() -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(round(rng.uniform(-1.0, 1.0), 2) for _ in range(d)) for _ in range(n))

    return RopeSpec(
        preset="procedural",
        seed=seed,
        q=matrix(),
        k=matrix(),
        positions=tuple(range(start, start + n)),
        base=config.base if config.base is not None else rng.choice(_BASES),
        pairing=config.pairing,
        tolerance=BASE_TOLERANCE * config.tolerance_scale,
        knobs=config.to_knobs(),
    )


def adequate(spec: RopeSpec) -> bool:
    """Every applicable catalogue entry earns 0, and the answer fits the tool output."""
    from attnrl.tasks.rope.catalogue import applicable
    from attnrl.tasks.rope.grading import RopeGrader
    from attnrl.tasks.rope.reference import answer

    grader = RopeGrader(spec)
    if any(grader.grade(b.submission(spec)).reward > 0 for b in applicable(spec)):
        return False
    rounded = {k: [[round(x, 4) for x in r] for r in v] for k, v in answer(spec).items()}
    return len(json.dumps(rounded, separators=(",", ":"))) <= MAX_ANSWER_CHARS


def draw(seed: int | None, config: RopeConfig = RopeConfig()) -> RopeSpec:
    """The instance of ``seed``: the first adequate candidate of its generator."""
    rng = random.Random(f"attnrl-rope:{0 if seed is None else seed}")
    for _ in range(_ATTEMPTS):
        spec = _candidate(rng, seed, config)
        if adequate(spec):
            return spec
    raise ValueError(f"no mutation-adequate RoPE instance in {_ATTEMPTS} draws for {config}")


def spec_factory(name: str, **knobs: Any) -> Callable[[int | None], RopeSpec]:
    """Seed -> spec of preset ``name`` with ``knobs`` (checked now)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} for task rope; choose one of: {PRESETS}")
    config = RopeConfig.from_knobs(**knobs)
    return lambda seed: draw(seed, config)


LADDER: tuple[dict[str, Any], ...] = (
    {"dim": (4, 4), "tokens": (1, 3), "tolerance_scale": 2.5},
    {"dim": (4, 6), "tokens": (2, 4), "tolerance_scale": 1.5},
    {},
    {"pairing": "interleaved"},
    {"dim": (8, 12), "tokens": (4, 8), "tolerance_scale": 0.5},
    {"dim": (12, 16), "tokens": (6, 10), "tolerance_scale": 0.25, "pairing": "interleaved"},
)
"""Easy to hard: wider heads, more rows, the less common interleaved pairing, tighter
tolerances (a test checks that the numbers to compute never decrease along it)."""


def workload(specs: Iterable[RopeSpec]) -> dict[str, Any]:
    """What a solver computes on a rung (the calibration card's ``workload``): the numbers in
    the answer and the arithmetic operations (angles n d/2, rotations 6 n d/2 each for Q and K,
    scores n^2 d), max over the instances."""
    specs = list(specs)
    numbers = [s.d // 2 + s.n * s.d // 2 + 2 * s.n * s.d + s.n * s.n for s in specs]
    ops = [s.n * s.d // 2 + 6 * s.n * s.d + s.n * s.n * s.d for s in specs]
    return {"numbers": max(numbers), "operations": max(ops), "instances": len(specs)}
