"""Preset ``procedural``: seeded, mutation-adequate instances with difficulty knobs.

One fixed instance is not an RL environment (a policy memorises its answer), and on the
seed's data the verifier cannot see several catalogued bugs (head 1 has d_k = 1, so
1/sqrt(d_k) is a no-op; head 2's missing scaling moves weights by 0.044 < 0.15). This
module draws many instances, and keeps one only if it *provably* tells the reference
from every applicable bug of :data:`attnrl.tasks.attention.bugs.CATALOGUE`.

Drawing
    :func:`procedural_spec` is pure and deterministic: candidate ``a`` of seed ``s`` is
    drawn by its own ``random.Random("attnrl/procedural/<s>/<a>")`` using only
    ``random()`` (the one method whose stream Python guarantees across versions), so the
    same (seed, config) gives the same instance, prompt and content hash everywhere. No
    global random state is read or written. The structure is drawn first (heads, d_model,
    tokens, the V partition, the Q/K partition, the value grid), then Q, K, V and pos_emb
    on that grid (one or two decimals by default; Q, K and pos_emb in [-2, 2], V in
    [-6, 6]: values reach only the outputs, so a wide V makes any wrong weight move an
    output visibly while the softmax stays unsaturated). Knobs that do not change the
    structure (tolerances, policy, position encoding, residual, layer norm) do not change
    the draw, so A/B comparisons of a knob see the same numbers unless adequacy forces a
    redraw.

Layout
    The V column ranges partition d_model in head order (so ``final_output`` is
    ``(n, d_model)`` and residual / layer norm always apply); the Q/K ranges are another
    partition of d_model, different from the V one whenever ``d_model > heads``, so every
    multi-head instance has asymmetric heads like the seed's (d_model is drawn above the
    number of heads when the config allows it).

Mutation adequacy
    A candidate is accepted only if every applicable bug misses the tolerances by a clear
    margin (:func:`adequacy_margins`: the bug's max error on some graded component is at
    least ``margin`` times that component's tolerance, default 2), or its answer is
    malformed (wrong shape: always ``invalid``) or non-finite (always a failure). One bug
    can never differ numerically: ``mask_flag_false`` submits the reference's numbers
    with ``causal_mask_applied = false``; every policy rejects a false flag, so it counts
    as rejected by the flag (margin ``inf``). ``no_mask`` also submits a false flag but
    must still differ numerically, so an answer that forgets the mask and claims it is
    caught too. With layer norm on, each row of ``final_output`` must also have a
    standard deviation of at least :data:`MIN_LAYER_NORM_STD`, so LayerNorm does not
    amplify harmless rounding in the solver's ``final_output``. A rejected candidate is
    redrawn from (seed, attempt + 1); after :data:`MAX_ATTEMPTS` a :class:`ProceduralError`
    says which bugs stayed hidden. With ``adequacy="per_head"`` each bug a head can make on
    its own is also checked confined to each head it changes, the other heads right
    (:func:`head_margins`); the default ``whole`` is what every published seed was drawn with.

Cheap answers (uniform, identity or argmax weights, zeros, weights without outputs...) are
entries of the same catalogue (kind ``cheap``), so every accepted instance gives each of them
zero reward too. Margins are measured against the policy's pass rules
(:func:`.grading.pass_rules`): under ``lenient`` an entry must miss every passing
rule, including "one head's weights and output". The grading policy defaults to ``strict``;
``seed-doc`` (partial credit for weights alone) is refused here.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import numpy.typing as npt

from attnrl.tasks.attention.answer_size import (
    ANSWER_TOKEN_BUDGET,
    decimals_for,
    numbers_for,
    size_estimate,
)
from attnrl.tasks.attention.bugs import Bug, applicable_bugs
from attnrl.tasks.attention.grading import pass_rules
from attnrl.tasks.attention.reference import Trace, Variant, confine_to_head, forward
from attnrl.tasks.attention.spec import (
    ADEQUACY_LEVELS,
    Adequacy,
    HeadLayout,
    MaskSpec,
    Matrix,
    Policy,
    TaskSpec,
    Tolerances,
)

__all__ = [
    "ADEQUACY_LEVELS",
    "DEFAULT_CONFIG",
    "MAX_ATTEMPTS",
    "MIN_LAYER_NORM_STD",
    "PRESET_NAME",
    "Draw",
    "ProceduralConfig",
    "ProceduralError",
    "adequacy_margins",
    "draw",
    "head_margins",
    "is_mutation_adequate",
    "procedural_spec",
    "scaled_tolerances",
]

Array = npt.NDArray[np.float64]

PRESET_NAME = "procedural"
MAX_HEADS = 4
TOKEN_LIMITS = (3, 16)
D_MODEL_LIMITS = (2, 16)
DECIMAL_CHOICES = (0, 1, 2, 3)
MAX_ATTEMPTS = 1000
"""Candidates tried per seed before :class:`ProceduralError`."""
MAX_TOLERANCE_SCALE = 1.5
"""Largest ``tolerance_scale``. Beyond it the smallest configs (3-4 tokens, d_model = heads
+ 1, window 2) often have no adequate draw at all: with d_k = 2 a missing 1/sqrt(d_k) moves
a weight by at most ~0.15, so only the outputs can show it, by a 2x margin."""
MIN_LAYER_NORM_STD = 0.1
"""With layer norm on, every row of the reference ``final_output`` has at least this std."""
BASE_TOLERANCES = Tolerances()
"""The seed's tolerances (0.1, 0.15, 0.2), which ``tolerance_scale`` multiplies."""


class ProceduralError(ValueError):
    """No mutation-adequate instance was found for a seed and config."""


def _range(name: str, value: object, limits: tuple[int, int]) -> tuple[int, int]:
    lo_lim, hi_lim = limits
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in value)
    ):
        raise ValueError(
            f"ProceduralConfig.{name} must be a (min, max) pair of ints, got {value!r}"
        )
    lo, hi = int(value[0]), int(value[1])
    if not lo_lim <= lo <= hi <= hi_lim:
        raise ValueError(
            f"ProceduralConfig.{name} must satisfy {lo_lim} <= min <= max <= {hi_lim}, "
            f"got {value!r}"
        )
    return lo, hi


@dataclass(frozen=True)
class ProceduralConfig:
    """Generation parameters of the ``procedural`` preset (each one a difficulty knob).

    Ranges are inclusive ``(min, max)`` pairs (a single value is ``(n, n)``); every
    field is validated on construction with a ValueError naming the bad value. Small
    instances (few tokens, d_model close to the number of heads) and loose tolerances
    make adequacy harder, so they cost more redraws: at worst (3 tokens, d_model =
    heads + 1, window 2, tolerance_scale 1.5) 58 candidates per seed on average were
    measured (227 at most over seeds 0-59), against 1.18 for the defaults (seeds 0-299).
    :class:`ProceduralError` remains the answer for a config that still finds nothing in
    :data:`MAX_ATTEMPTS` candidates.
    """

    heads: tuple[int, int] = (2, 4)
    """Number of heads; ``(1, 1)`` is the seed's "single head" simplification."""
    tokens: tuple[int, int] = (4, 12)
    """Number of tokens n (rows of Q, K, V)."""
    d_model: tuple[int, int] = (3, 12)
    """Model width (columns of Q, K, V); at least the number of heads."""
    mask: MaskSpec = field(default_factory=MaskSpec)
    """``causal`` (default), ``none``, ``reverse_causal`` or ``sliding_window`` (window >= 2;
    the tokens are then drawn above the window, which alone would be the causal mask)."""
    position_encoding: bool = True
    residual: bool = False
    layer_norm: bool = False
    policy: Policy = "strict"
    tolerance_scale: float = 1.0
    """Multiplies the seed's tolerances (0.1, 0.15, 0.2): < 1 is harder, > 1 easier."""
    decimals: tuple[int, ...] = (1, 2)
    """Each instance's values lie on a grid of 10**-decimals, decimals drawn from these."""
    max_abs: float = 2.0
    """Entries of Q, K and pos_emb are drawn uniformly from the grid in [-max_abs, max_abs]."""
    v_max_abs: float = 6.0
    """Entries of V likewise, in [-v_max_abs, v_max_abs]. V is wider because it reaches
    only the outputs: a wrong weight then moves an output visibly, while Q and K stay
    small enough that the softmax does not saturate (scaling bugs stay visible)."""
    margin: float = 2.0
    """Adequacy margin: each bug must miss some tolerance by at least this factor."""
    adequacy: Adequacy = "whole"
    """``whole`` (the default, which every published seed was drawn with): each catalogue
    entry, applied to the whole answer, misses by ``margin``. ``per_head``: also each entry
    that can be made in one head alone (:attr:`.bugs.Bug.per_head`), confined to any one
    head it changes, the other heads right; fewer candidates pass, so a seed's instance may
    differ from its ``whole`` one (the structure is drawn alike)."""

    def __post_init__(self) -> None:
        heads = _range("heads", self.heads, (1, MAX_HEADS))
        tokens = _range("tokens", self.tokens, TOKEN_LIMITS)
        d_model = _range("d_model", self.d_model, D_MODEL_LIMITS)
        for name, value in (("heads", heads), ("tokens", tokens), ("d_model", d_model)):
            object.__setattr__(self, name, value)  # lists become tuples: hashable, comparable
        if d_model[1] < heads[0]:
            raise ValueError(
                f"ProceduralConfig.d_model max {d_model[1]} is below the minimum number of "
                f"heads {heads[0]}: every head needs at least one column"
            )
        if not isinstance(self.mask, MaskSpec):
            raise ValueError(f"ProceduralConfig.mask must be a MaskSpec, got {self.mask!r}")
        if self.mask.kind == "sliding_window":
            window = self.mask.window
            assert window is not None  # MaskSpec validates it
            if window < 2:
                raise ValueError(
                    f"ProceduralConfig.mask window must be >= 2, got {window}: with window 1 "
                    "each query sees only itself, the scores never matter and scaling bugs "
                    "are invisible"
                )
            if tokens[1] <= window:
                raise ValueError(
                    f"ProceduralConfig.tokens max {tokens[1]} must exceed the window {window}: "
                    "a window as wide as the sequence is just the causal mask"
                )
        for name in ("position_encoding", "residual", "layer_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"ProceduralConfig.{name} must be a bool, got {getattr(self, name)!r}"
                )
        if self.policy not in get_args(Policy):
            raise ValueError(
                f"ProceduralConfig.policy must be strict or lenient, got {self.policy!r}"
            )
        if self.policy == "seed-doc":
            raise ValueError(
                "ProceduralConfig.policy seed-doc (the seed document's grader) pays partial "
                "credit for one head's weights with no output computed; it grades only the "
                "seed-doc presets: use strict or lenient"
            )
        scale = self.tolerance_scale
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValueError(f"ProceduralConfig.tolerance_scale must be a number, got {scale!r}")
        if not (math.isfinite(scale) and 0.01 <= scale <= MAX_TOLERANCE_SCALE):
            raise ValueError(
                f"ProceduralConfig.tolerance_scale must be in [0.01, {MAX_TOLERANCE_SCALE:g}], "
                f"got {scale!r}"
            )
        if (
            not isinstance(self.decimals, tuple)
            or not self.decimals
            or any(d not in DECIMAL_CHOICES or isinstance(d, bool) for d in self.decimals)
        ):
            raise ValueError(
                f"ProceduralConfig.decimals must be a non-empty tuple of values in "
                f"{DECIMAL_CHOICES}, got {self.decimals!r}"
            )
        for name in ("max_abs", "v_max_abs"):
            m = getattr(self, name)
            if isinstance(m, bool) or not isinstance(m, int | float) or not (0.5 <= m <= 100):
                raise ValueError(f"ProceduralConfig.{name} must be in [0.5, 100], got {m!r}")
            if 0 in self.decimals and m < 1:
                raise ValueError(
                    f"ProceduralConfig.{name} {m!r} < 1 with decimals 0: the integer grid "
                    "would hold only 0"
                )
        smallest = _answer_estimate(self, _min_tokens(self), max(d_model[0], heads[0]), heads[0])
        if smallest > ANSWER_TOKEN_BUDGET:
            raise ValueError(
                f"ProceduralConfig.tokens {tokens} with d_model {d_model} and heads {heads} "
                f"makes answers of about {smallest:,} tokens at the decimals the tolerances need, "
                f"over the budget of {ANSWER_TOKEN_BUDGET:,} (under 75% of a 4,096-token "
                "response): "
                "fewer tokens, a narrower d_model, fewer heads or looser tolerances"
            )
        g = self.margin
        if isinstance(g, bool) or not isinstance(g, int | float) or not (1.0 <= g <= 10.0):
            raise ValueError(f"ProceduralConfig.margin must be in [1, 10], got {g!r}")
        if self.adequacy not in ADEQUACY_LEVELS:
            raise ValueError(
                f"ProceduralConfig.adequacy must be one of {', '.join(ADEQUACY_LEVELS)}, "
                f"got {self.adequacy!r}"
            )


def _min_tokens(config: ProceduralConfig) -> int:
    window = config.mask.window
    return max(config.tokens[0], window + 1) if window is not None else config.tokens[0]


def scaled_tolerances(factor: float, base: Tolerances = BASE_TOLERANCES) -> Tolerances:
    """``base`` times ``factor``, rounded to 6 significant digits.

    Rounding makes the tolerances exactly the numbers the prompt prints (``:g``), so the
    prompt and the grader agree to the last digit (0.1 * 3 is 0.30000000000000004).
    """
    scaled = base.scaled(factor)
    return Tolerances(
        float(f"{scaled.position:.6g}"),
        float(f"{scaled.weights:.6g}"),
        float(f"{scaled.outputs:.6g}"),
    )


# -- mutation adequacy ------------------------------------------------------------------


def _trace_arrays(spec: TaskSpec, trace: Trace) -> dict[str, Array]:
    """The graded matrices of ``trace`` by answer key (no list conversion)."""
    out: dict[str, Array] = {}
    if spec.position_encoding:
        out["position_encoded_queries"] = trace.q_pos
    for h, w in enumerate(trace.weights, start=1):
        out[f"head{h}_attention_weights"] = w
    for h, o in enumerate(trace.outputs, start=1):
        out[f"head{h}_output"] = o
    out["final_output"] = trace.final
    if spec.layer_norm:
        assert trace.layer_normed is not None
        out["layer_normalized_output"] = trace.layer_normed
    return out


def _flag_only(bug: Bug) -> bool:
    """The bug submits the reference's numbers and differs only by a false mask flag."""
    return bug.variant == Variant() and bug.reshape is None and not bug.mask_flag


class _Reference:
    """The reference's graded matrices as one flat vector, with 1/tolerance per element, and
    the spec's pass rules as index groups (so a bug's margin is measured against the policy)."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.components = spec.components()
        self.trace = forward(spec)
        self._wrong: dict[str, Trace] = {}
        arrays = _trace_arrays(spec, self.trace)
        self.flat = self._flatten(arrays)
        self.inv_tol = np.concatenate(
            [np.full(arrays[c.key].size, 1.0 / spec.tolerance(c)) for c in self.components]
        )
        sizes = [arrays[c.key].size for c in self.components]
        self.starts = np.cumsum([0, *sizes[:-1]])
        index = {c.key: i for i, c in enumerate(self.components)}
        self.rules = [
            ([index[k] for k in r.all_of], [[index[k] for k in g] for g in r.any_of])
            for r in pass_rules(spec)
        ]

    def _flatten(self, arrays: dict[str, Array]) -> Array:
        return np.concatenate([np.ravel(arrays[c.key]) for c in self.components])

    def _rule_margin(self, per_component: Array) -> float:
        """How far the worst-placed passing rule is from being met (< 1: it is met)."""
        margins = []
        for all_of, any_of in self.rules:
            need = [float(per_component[i]) for i in all_of]
            if any_of:
                need.append(min(max(float(per_component[i]) for i in g) for g in any_of))
            margins.append(max(need, default=0.0))
        return min(margins)

    def margin(self, bug: Bug) -> float:
        """The bug's margin against the policy's pass rules (under ``strict``:
        ``max_c max|bug_c - ref_c| / tol_c``), or inf (malformed, non-finite, flag only)."""
        if _flag_only(bug):
            return math.inf  # rejected by its false flag under every policy
        spec = self.spec
        if bug.reshape is not None:
            answer = bug.submission(spec)
            if any(np.shape(answer[c.key]) != c.shape for c in self.components):
                return math.inf  # malformed: graded invalid whatever the numbers
            flat = np.concatenate(
                [np.ravel(np.asarray(answer[c.key], dtype=np.float64)) for c in self.components]
            )
        else:
            with np.errstate(all="ignore"):
                flat = self._flatten(_trace_arrays(spec, self._wrong_trace(bug)))
        return self._flat_margin(flat)

    def _wrong_trace(self, bug: Bug) -> Trace:
        """The forward pass with ``bug``'s variant, computed once per bug: the whole-answer
        and the per-head checks share it."""
        if bug.name not in self._wrong:
            with np.errstate(all="ignore"):
                self._wrong[bug.name] = forward(self.spec, bug.variant)
        return self._wrong[bug.name]

    def _flat_margin(self, flat: Array) -> float:
        if not np.isfinite(flat).all():
            return math.inf  # non-finite: always a failure
        errors = np.abs(flat - self.flat) * self.inv_tol
        return self._rule_margin(np.maximum.reduceat(errors, self.starts))

    def head_margins(self, bug: Bug) -> dict[int, float]:
        """The margin of ``bug`` made in one head alone, the other heads right, for each head
        (1-based) whose weights or output it changes; empty if it cannot be made per head
        or the spec has one head (then :meth:`margin` is the same answer)."""
        spec = self.spec
        if not bug.per_head or len(spec.heads) < 2:
            return {}
        wrong = self._wrong_trace(bug)
        margins: dict[int, float] = {}
        for h in range(len(spec.heads)):
            if np.array_equal(wrong.weights[h], self.trace.weights[h]) and np.array_equal(
                wrong.outputs[h], self.trace.outputs[h]
            ):
                continue  # not a mistake in this head (no_scaling where d_k = 1, say)
            with np.errstate(all="ignore"):
                confined = confine_to_head(spec, self.trace, wrong, h)
                flat = self._flatten(_trace_arrays(spec, confined))
            margins[h + 1] = self._flat_margin(flat)
        return margins


def adequacy_margins(spec: TaskSpec) -> dict[str, float]:
    """For each applicable catalogue entry (bug or cheap answer), how far its answer misses
    the tolerances, against the spec's pass rules.

    Under ``strict`` the value is the entry's largest component error in units of that
    component's tolerance (``max_c max|bug_c - ref_c| / tol_c``); under ``lenient`` the
    smallest such value over the passing rules, a rule's value being its required components'
    worst error (for "one head of", that head's best). Below 1 the grader would pay it.
    ``inf`` when the answer is malformed (wrong shape), non-finite, or differs from the
    reference only by a false mask flag (``mask_flag_false``), since every policy rejects
    those outright.
    """
    reference = _Reference(spec)
    return {bug.name: reference.margin(bug) for bug in applicable_bugs(spec)}


def head_margins(spec: TaskSpec) -> dict[str, dict[int, float]]:
    """For each applicable entry that can be made in one head alone, its margin (as in
    :func:`adequacy_margins`) confined to each head it changes, the other heads right."""
    reference = _Reference(spec)
    return {bug.name: reference.head_margins(bug) for bug in applicable_bugs(spec) if bug.per_head}


def is_mutation_adequate(spec: TaskSpec, margin: float = 2.0, per_head: bool = False) -> bool:
    """Whether every applicable bug misses the tolerances by at least ``margin`` (x tol);
    with ``per_head``, also every per-head bug confined to any one head."""
    return _adequacy(_Reference(spec), margin, per_head, set()) is not None


def _adequacy(
    reference: _Reference, margin: float, per_head: bool, hidden: set[str]
) -> dict[str, float] | None:
    """Every applicable bug's margin (catalogue order) if the spec is adequate, else None,
    the first bug found within ``margin`` added to ``hidden``."""
    bugs = applicable_bugs(reference.spec)
    ordered = _hardest_first(bugs)
    margins: dict[str, float] = {}
    for bug in ordered:
        margins[bug.name] = reference.margin(bug)
        if margins[bug.name] < margin:
            hidden.add(bug.name)
            return None
    if per_head:
        for bug in ordered:
            for head, value in reference.head_margins(bug).items():
                if value < margin:
                    hidden.add(f"{bug.name} in head {head} alone")
                    return None
    return {bug.name: margins[bug.name] for bug in bugs}


_USUALLY_HIDDEN = (
    "no_scaling",
    "wrong_dk_scaling",
    "symmetric_heads",
    "zero_filled_mask",
    "uniform_weights",
    "unbiased_layer_norm",
)
"""The bugs that most often sink a candidate, checked first so rejection is cheap."""


def _hardest_first(bugs: tuple[Bug, ...]) -> list[Bug]:
    rank = {name: i for i, name in enumerate(_USUALLY_HIDDEN)}
    return sorted(bugs, key=lambda b: rank.get(b.name, len(rank)))


def _well_conditioned(spec: TaskSpec) -> bool:
    """Layer norm must not blow up harmless rounding: each final row needs some spread."""
    if not spec.layer_norm:
        return True
    final = forward(spec).final
    return bool(np.min(np.std(final, axis=1)) >= MIN_LAYER_NORM_STD)


# -- drawing ----------------------------------------------------------------------------


class _Rng:
    """Integers and choices from ``random.Random.random()`` only (stable across Pythons)."""

    def __init__(self, key: str) -> None:
        self._r = random.Random(key)

    def integer(self, lo: int, hi: int) -> int:
        """Uniform in ``[lo, hi]``."""
        span = hi - lo + 1
        return lo + min(int(self._r.random() * span), span - 1)

    def index(self, n: int) -> int:
        return self.integer(0, n - 1)


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """Every way to write ``total`` as ``parts`` positive widths, in a fixed order."""
    out = []
    for cuts in itertools.combinations(range(1, total), parts - 1):
        bounds = (0, *cuts, total)
        out.append(tuple(b - a for a, b in itertools.pairwise(bounds)))
    return out


def _ranges(widths: tuple[int, ...]) -> list[tuple[int, int]]:
    starts = itertools.accumulate((0, *widths[:-1]))
    return [(s, s + w) for s, w in zip(starts, widths, strict=True)]


def _matrix(rng: _Rng, rows: int, cols: int, decimals: int, max_abs: float) -> Matrix:
    scale = 10**decimals
    top = math.floor(max_abs * scale + 1e-9)  # >= 1: ProceduralConfig validates it
    return tuple(tuple(rng.integer(-top, top) / scale for _ in range(cols)) for _ in range(rows))


def _answer_estimate(config: ProceduralConfig, tokens: int, d_model: int, heads: int) -> int:
    """:func:`~.answer_size.size_estimate` of an instance of this structure."""
    decimals = decimals_for(scaled_tolerances(config.tolerance_scale), config.layer_norm)
    pos, ln = config.position_encoding, config.layer_norm
    numbers = numbers_for(tokens, d_model, heads, position=pos, layer_norm=ln)
    keys = int(pos) + 2 * heads + 1 + int(ln) + 1
    return size_estimate(numbers, decimals, keys)


def _candidate(seed: int, attempt: int, config: ProceduralConfig) -> TaskSpec | None:
    """Candidate ``attempt`` of ``seed``; None when its answer would not fit the budget."""
    rng = _Rng(f"attnrl/procedural/{seed}/{attempt}")
    d_lo, d_hi = config.d_model
    n_heads = rng.integer(config.heads[0], min(config.heads[1], d_hi))
    asymmetric = n_heads >= 2 and d_hi > n_heads
    d_model = rng.integer(max(d_lo, n_heads + 1 if asymmetric else n_heads), d_hi)
    t_lo, t_hi = config.tokens
    if config.mask.window is not None:
        t_lo = max(t_lo, config.mask.window + 1)
    n = rng.integer(t_lo, t_hi)
    if _answer_estimate(config, n, d_model, n_heads) > ANSWER_TOKEN_BUDGET:
        return None
    layouts = _compositions(d_model, n_heads)
    v_widths = layouts[rng.index(len(layouts))]
    others = [w for w in layouts if w != v_widths] or [v_widths]
    qk_widths = others[rng.index(len(others))]
    heads = tuple(
        HeadLayout(qk=qk, v=v) for qk, v in zip(_ranges(qk_widths), _ranges(v_widths), strict=True)
    )
    decimals = config.decimals[rng.index(len(config.decimals))]
    q = _matrix(rng, n, d_model, decimals, config.max_abs)
    k = _matrix(rng, n, d_model, decimals, config.max_abs)
    v = _matrix(rng, n, d_model, decimals, config.v_max_abs)
    pos = _matrix(rng, n, d_model, decimals, config.max_abs)
    if not config.position_encoding:
        pos = tuple(tuple(0.0 for _ in row) for row in pos)
    return TaskSpec(
        PRESET_NAME,
        q,
        k,
        v,
        pos,
        heads,
        seed=seed,
        mask=config.mask,
        position_encoding=config.position_encoding,
        residual=config.residual,
        layer_norm=config.layer_norm,
        tolerances=scaled_tolerances(config.tolerance_scale),
        policy=config.policy,
    )


DEFAULT_CONFIG = ProceduralConfig()


@dataclass(frozen=True)
class Draw:
    """An accepted instance with how it was found."""

    spec: TaskSpec
    attempts: int
    """Candidates drawn, including the accepted one (1 = no redraw)."""
    margins: dict[str, float]
    """:func:`adequacy_margins` of the accepted spec."""


def _check_seed(seed: object) -> int:
    if seed is None:
        raise ValueError(
            f"preset {PRESET_NAME!r} draws its instance from a seed: pass one "
            "(an int >= 0, e.g. --seed 0)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    return seed


def draw(seed: int | None, config: ProceduralConfig = DEFAULT_CONFIG) -> Draw:
    """The first mutation-adequate candidate of ``seed``; :class:`ProceduralError` if none."""
    seed = _check_seed(seed)
    hidden: set[str] = set()
    oversize = 0
    for attempt in range(MAX_ATTEMPTS):
        spec = _candidate(seed, attempt, config)
        if spec is None:
            oversize += 1
            continue
        if not _well_conditioned(spec):
            continue
        margins = _adequacy(_Reference(spec), config.margin, config.adequacy == "per_head", hidden)
        if margins is not None:
            return Draw(spec, attempt + 1, margins)
    raise ProceduralError(
        f"no mutation-adequate instance for seed {seed} in {MAX_ATTEMPTS} candidates with "
        f"{config}; bugs that stayed within {config.margin:g}x the tolerances: "
        f"{', '.join(sorted(hidden)) or 'none'}; {oversize} over the answer budget. Loosen the "
        "config: lower tolerance_scale, raise v_max_abs, more tokens or a wider d_model"
        + (" (or adequacy whole)" if config.adequacy == "per_head" else "")
    )


def procedural_spec(seed: int | None, config: ProceduralConfig = DEFAULT_CONFIG) -> TaskSpec:
    """The ``procedural`` instance of ``seed`` (an int >= 0; None is a ValueError).

    Pure and deterministic: the same ``(seed, config)`` always gives the same spec.
    """
    return draw(seed, config).spec
