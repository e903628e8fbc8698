"""Named presets: how a task name (and seed) becomes a :class:`~attnrl.spec.TaskSpec`.

``seed`` is the seed document's data with the semantics of its author's reference
implementation; ``seed-text`` reproduces the document's own wording (values from
Q_pos, mask ``if i > j``) so the errata stay checkable. ``procedural`` draws seeded
instances (see :mod:`attnrl.procedural`).
"""

from __future__ import annotations

from collections.abc import Callable

from attnrl.spec import HeadLayout, MaskSpec, TaskSpec

__all__ = ["DEFAULT_PRESET", "PRESETS", "SEEDED_PRESETS", "build_spec", "preset_names"]

DEFAULT_PRESET = "seed"
SEEDED_PRESETS = frozenset({"procedural"})
"""Presets that draw their instance from a seed (the others are fixed instances)."""

SEED_Q = ((1.0, 0.5, -0.2), (0.3, -0.1, 0.8), (0.0, 0.4, -0.5), (-0.2, 0.2, 0.1))
SEED_K = ((0.8, 0.2, -0.1), (0.1, -0.3, 0.6), (0.4, 0.7, 0.0), (0.0, 0.0, 0.9))
SEED_V = ((1.5, -0.8, 0.3), (0.2, 1.0, -0.4), (-0.1, 0.6, 1.2), (0.9, 0.0, -0.7))
SEED_POS = ((0.1, 0.0, -0.1), (0.0, 0.1, 0.0), (-0.1, 0.0, 0.1), (0.0, -0.1, 0.0))
SEED_HEADS = (HeadLayout(qk=(0, 1), v=(0, 2)), HeadLayout(qk=(1, 3), v=(2, 3)))


def seed_spec(seed: int | None = None) -> TaskSpec:
    """The seed's data with its reference's semantics (values from V_pos, mask j > i)."""
    _no_seed("seed", seed)
    return TaskSpec("seed", SEED_Q, SEED_K, SEED_V, SEED_POS, SEED_HEADS)


def seed_text_spec(seed: int | None = None) -> TaskSpec:
    """The seed document as written: values from Q_pos and scores with i > j masked."""
    _no_seed("seed-text", seed)
    return TaskSpec(
        "seed-text",
        SEED_Q,
        SEED_K,
        SEED_V,
        SEED_POS,
        SEED_HEADS,
        value_source="q_pos",
        mask=MaskSpec("reverse_causal"),
    )


def _procedural(seed: int | None) -> TaskSpec:
    from attnrl.procedural import procedural_spec

    return procedural_spec(seed)


def _no_seed(name: str, seed: int | None) -> None:
    if seed is not None:
        raise ValueError(f"preset {name!r} is a fixed instance and takes no seed (got {seed})")


PRESETS: dict[str, Callable[[int | None], TaskSpec]] = {
    "seed": seed_spec,
    "seed-text": seed_text_spec,
    "procedural": _procedural,
}


def preset_names() -> list[str]:
    return list(PRESETS)


def build_spec(name: str, seed: int | None = None) -> TaskSpec:
    """The spec of preset ``name``; a clear ValueError for an unknown name."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
    return factory(seed)
