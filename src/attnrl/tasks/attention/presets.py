"""Named presets: how a task name (and seed) becomes a :class:`~.spec.TaskSpec`.

``procedural`` (the default) draws seeded, mutation-adequate instances (see
:mod:`attnrl.tasks.attention.procedural`). ``seed-doc`` is the seed document's one instance with the
semantics of its author's reference implementation; ``seed-doc-text`` reproduces the
document's own wording (values from Q_pos, mask ``if i > j``) so the errata stay checkable.
The seed-doc instance is gameable (:data:`GAMEABLE`): it is never a default, only an explicit
choice. The old names ``seed`` and ``seed-text`` still work, with a deprecation note.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

from attnrl.tasks.attention.spec import (
    LEGACY_PRESETS,
    SEED_DOC_POLICY_ONLY,
    SEED_DOC_PRESETS,
    HeadLayout,
    MaskSpec,
    Policy,
    TaskSpec,
)

__all__ = [
    "DEFAULT_PRESET",
    "DEFAULT_SEED",
    "DEPRECATED_POLICIES",
    "DIFFICULTY_KNOBS",
    "GAMEABLE",
    "SEED_DOC",
    "SEED_DOC_PRESETS",
    "PRESETS",
    "SEEDED_PRESETS",
    "build_spec",
    "canonical_policy",
    "canonical_preset",
    "preset_names",
    "spec_factory",
    "with_fixed_knobs",
]

DEFAULT_PRESET = "procedural"
"""The default everywhere (CLI, adapters, datasets, calibration): never the gameable seed-doc."""
DEFAULT_SEED = 0
"""The instance a seeded preset draws when no seed is given."""
SEED_DOC = "seed-doc"
SEEDED_PRESETS = frozenset({"procedural"})
"""Presets that draw their instance from a seed (the others are fixed instances)."""
GAMEABLE: dict[str, str] = {
    SEED_DOC: "uniform causal weights (no QK product, no softmax) earn full success, reward 1, "
    "under every policy",
    "seed-doc-text": "attention on raw Q, K, V, one head for all columns and head-averaged "
    "weights earn full success, reward 1, under every policy",
}
"""The fixed presets' instances pay cheap answers (``attnrl audit --preset NAME`` lists each);
the headline of each, checked by ``tests/tasks/attention/test_cheap_answers.py``."""
DEPRECATED_POLICIES: dict[str, Policy] = {"seed": "lenient"}
"""Old policy names typed by a user: ``seed`` paid partial credit for one head's weights alone
on every preset; ``lenient`` pays partial credit only with the outputs computed. (The seed
document's grader itself is ``seed-doc``, for the seed-doc presets.)"""


def _deprecated(what: str, old: str, new: str) -> str:
    return f"{what} {old!r} is deprecated, use {new!r} (same meaning)"


def canonical_preset(name: str) -> tuple[str, str | None]:
    """``(name, note)``: the current name of a preset, and a one-line deprecation note when
    ``name`` is an old spelling (``seed``, ``seed-text``), else None."""
    if name in LEGACY_PRESETS:
        new = LEGACY_PRESETS[name]
        return new, _deprecated("preset", name, new)
    return name, None


def canonical_policy(name: str) -> tuple[str, str | None]:
    """``(policy, note)`` like :func:`canonical_preset` (``seed`` -> ``lenient``)."""
    if name in DEPRECATED_POLICIES:
        new = DEPRECATED_POLICIES[name]
        return new, (
            f"policy {name!r} is deprecated, use {new!r} (partial credit now needs the outputs; "
            f"the seed document's own grader is policy 'seed-doc', for --preset {SEED_DOC})"
        )
    return name, None


def _warn(note: str | None) -> None:
    if note is not None:
        warnings.warn(note, DeprecationWarning, stacklevel=3)


SEED_Q = ((1.0, 0.5, -0.2), (0.3, -0.1, 0.8), (0.0, 0.4, -0.5), (-0.2, 0.2, 0.1))
SEED_K = ((0.8, 0.2, -0.1), (0.1, -0.3, 0.6), (0.4, 0.7, 0.0), (0.0, 0.0, 0.9))
SEED_V = ((1.5, -0.8, 0.3), (0.2, 1.0, -0.4), (-0.1, 0.6, 1.2), (0.9, 0.0, -0.7))
SEED_POS = ((0.1, 0.0, -0.1), (0.0, 0.1, 0.0), (-0.1, 0.0, 0.1), (0.0, -0.1, 0.0))
SEED_HEADS = (HeadLayout(qk=(0, 1), v=(0, 2)), HeadLayout(qk=(1, 3), v=(2, 3)))


def seed_spec(seed: int | None = None) -> TaskSpec:
    """The seed's data with its reference's semantics (values from V_pos, mask j > i),
    graded by the seed document's own policy."""
    _no_seed(SEED_DOC, seed)
    return TaskSpec(SEED_DOC, SEED_Q, SEED_K, SEED_V, SEED_POS, SEED_HEADS, policy="seed-doc")


def seed_text_spec(seed: int | None = None) -> TaskSpec:
    """The seed document as written: values from Q_pos and scores with i > j masked."""
    _no_seed("seed-doc-text", seed)
    return TaskSpec(
        "seed-doc-text",
        SEED_Q,
        SEED_K,
        SEED_V,
        SEED_POS,
        SEED_HEADS,
        value_source="q_pos",
        mask=MaskSpec("reverse_causal"),
        policy="seed-doc",
    )


def _no_seed(name: str, seed: int | None) -> None:
    if seed is not None:
        raise ValueError(f"preset {name!r} is a fixed instance and takes no seed (got {seed})")


FIXED_PRESETS: dict[str, Callable[[int | None], TaskSpec]] = {
    SEED_DOC: seed_spec,
    "seed-doc-text": seed_text_spec,
}
PROCEDURAL = "procedural"
PRESETS = (PROCEDURAL, *FIXED_PRESETS)

DIFFICULTY_KNOBS = (
    "heads",
    "tokens",
    "d_model",
    "mask",
    "position_encoding",
    "residual",
    "layer_norm",
    "policy",
    "tolerance_scale",
    "adequacy",
)
"""The knobs of the seed's "Modifying Difficulty", and ``adequacy`` (what mutation adequacy
checks, ``procedural`` only): generation settings for ``procedural``
(:class:`~.procedural.ProceduralConfig`, every draw stays mutation-adequate), and
for a fixed preset the ones that keep its data. The CLI flags are these names."""


def preset_names() -> list[str]:
    return list(PRESETS)


def _flag(knob: str) -> str:
    return "--" + knob.replace("_", "-")


def with_fixed_knobs(spec: TaskSpec, knobs: dict[str, Any]) -> TaskSpec:
    """A fixed preset's spec with the difficulty knobs that keep its data; ValueError (naming
    the knob as its flag) for the others."""
    from attnrl.tasks.attention.procedural import scaled_tolerances

    for knob in ("tokens", "d_model", "adequacy"):
        if knob in knobs:
            raise ValueError(
                f"{_flag(knob)} needs --preset {PROCEDURAL}: preset {spec.preset!r} is a fixed "
                f"instance ({spec.n_tokens} tokens, d_model {spec.d_model})"
            )
    changes: dict[str, Any] = {}
    if "heads" in knobs:
        lo, hi = knobs["heads"]
        if (lo, hi) == (1, 1):
            d = spec.d_model
            changes["heads"] = (HeadLayout(qk=(0, d), v=(0, d)),)
        elif lo != hi or lo != len(spec.heads):
            raise ValueError(
                f"preset {spec.preset!r} is a fixed instance with {len(spec.heads)} heads: "
                f"--heads takes 1 (one head over all columns) or {len(spec.heads)}; "
                f"other counts need --preset {PROCEDURAL}"
            )
    for knob in ("mask", "position_encoding", "residual", "layer_norm", "policy"):
        if knob in knobs:
            changes[knob] = knobs[knob]
    if changes.get("policy") == "seed-doc" and spec.preset not in SEED_DOC_PRESETS:
        raise ValueError(SEED_DOC_POLICY_ONLY)
    if "tolerance_scale" in knobs:
        changes["tolerances"] = scaled_tolerances(knobs["tolerance_scale"], spec.tolerances)
    try:
        return spec.with_knobs(**changes) if changes else spec
    except ValueError as exc:
        raise ValueError(f"preset {spec.preset!r} with these knobs: {exc}") from None


def spec_factory(name: str, **knobs: Any) -> Callable[[int | None], TaskSpec]:
    """Seed -> spec of preset ``name`` with difficulty ``knobs``, checked once up front.

    Other keyword arguments are :class:`TaskSpec` fields set after the draw (e.g.
    ``tolerances=Tolerances(...)``); on ``procedural`` they bypass the adequacy check.
    ``heads``, ``tokens`` and ``d_model`` take an int or a ``(min, max)`` pair.
    """
    name, note = canonical_preset(name)
    _warn(note)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    difficulty = {k: knobs.pop(k) for k in DIFFICULTY_KNOBS if k in knobs}
    unknown = sorted(set(knobs) - {f.name for f in dataclasses.fields(TaskSpec)})
    if unknown:  # refused now, not as a TypeError at the first draw
        raise ValueError(
            f"unknown knob(s) {', '.join(unknown)}; attention knobs: "
            f"{', '.join(DIFFICULTY_KNOBS)} (or TaskSpec fields)"
        )
    if isinstance(difficulty.get("policy"), str):
        difficulty["policy"], note = canonical_policy(difficulty["policy"])
        _warn(note)
    for knob in ("heads", "tokens", "d_model"):
        if isinstance(difficulty.get(knob), int):
            difficulty[knob] = (difficulty[knob], difficulty[knob])

    def overridden(spec: TaskSpec) -> TaskSpec:
        return spec.with_knobs(**knobs) if knobs else spec

    if name == PROCEDURAL:
        from attnrl.tasks.attention.procedural import ProceduralConfig, procedural_spec

        config = ProceduralConfig(**difficulty)
        return lambda seed: overridden(procedural_spec(seed, config))

    fixed = FIXED_PRESETS[name]
    overridden(with_fixed_knobs(fixed(None), difficulty))  # a knob it cannot take fails now
    return lambda seed: overridden(with_fixed_knobs(fixed(seed), difficulty))


def build_spec(name: str, seed: int | None = None, **knobs: Any) -> TaskSpec:
    """The spec of preset ``name`` (drawn from ``seed`` if seeded) with ``knobs`` applied;
    a ValueError that names the problem for an unknown preset or a knob it cannot take."""
    return spec_factory(name, **knobs)(seed)
