"""The task specification: the single source of truth.

A :class:`TaskSpec` holds the instance data and every semantic knob. The prompt, the
tool descriptions, the reference, the grader and the bug catalogue are all derived from
it, so they cannot disagree. Specs are frozen and validated; :meth:`TaskSpec.content_hash`
identifies one exactly across machines.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # numpy is imported where arrays are made: `attnrl --help` needs a spec's
    import numpy as np  # names, not numpy
    import numpy.typing as npt

__all__ = [
    "ANSWER_MASK_FLAG",
    "LEGACY_POLICIES",
    "LEGACY_PRESETS",
    "POLICIES",
    "Component",
    "HeadLayout",
    "MaskSpec",
    "Matrix",
    "RewardWeights",
    "TaskSpec",
    "Tolerances",
]

Matrix = tuple[tuple[float, ...], ...]
"""A row-major matrix as nested tuples (hashable, so specs stay frozen)."""

ValueSource = Literal["v_pos", "q_pos"]
MaskKind = Literal["causal", "reverse_causal", "none", "sliding_window"]
Policy = Literal["seed-doc", "lenient", "strict"]
POLICIES: tuple[Policy, ...] = ("strict", "lenient", "seed-doc")
"""``strict``: every component. ``lenient``: partial credit needs the outputs computed (the
final output and one head's weights and output). ``seed-doc``: the seed document's own grader,
which pays partial credit for one head's weights with no output computed (for the seed-doc
presets only: elsewhere it would reward stopping before the outputs)."""
SEED_DOC_PRESETS = frozenset({"seed-doc", "seed-doc-text"})
"""The seed document's fixed instances (the only presets the ``seed-doc`` policy may grade)."""
SEED_DOC_POLICY_ONLY = (
    "policy 'seed-doc' (the seed document's grader) pays partial credit for one head's weights "
    f"with no output computed, so it grades only the seed-doc presets "
    f"({', '.join(sorted(SEED_DOC_PRESETS))}); use policy lenient or strict"
)
Adequacy = Literal["whole", "per_head"]
ADEQUACY_LEVELS: tuple[Adequacy, ...] = ("whole", "per_head")
"""What mutation adequacy checks when ``procedural`` draws an instance
(``ProceduralConfig.adequacy``): each catalogued mistake in the whole answer, or also in one
head alone."""
LEGACY_PRESETS: dict[str, str] = {"seed": "seed-doc", "seed-text": "seed-doc-text"}
"""Preset names before the rename (``seed`` also named ``--seed``, a policy and a mix)."""
LEGACY_POLICIES: dict[str, Policy] = {"seed": "seed-doc"}
"""Policy names of saved specs (``run.json``, dataset rows) before the rename: same semantics."""
ComponentKind = Literal["position", "weights", "output"]

ANSWER_MASK_FLAG = "causal_mask_applied"
"""The boolean key of the answer format (the seed's name, kept for every masked preset)."""


def _as_matrix(rows: Any, name: str) -> Matrix:
    """Validate a rectangular matrix of finite numbers and freeze it as tuples."""
    try:
        out = tuple(tuple(float(x) for x in row) for row in rows)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a matrix of numbers: {exc}") from exc
    if not out or not out[0]:
        raise ValueError(f"{name} must be a non-empty matrix")
    width = len(out[0])
    for i, row in enumerate(out):
        if len(row) != width:
            raise ValueError(f"{name} row {i} has {len(row)} columns, expected {width}")
        if not all(math.isfinite(x) for x in row):
            raise ValueError(f"{name} row {i} has a non-finite value")
    return out


@dataclass(frozen=True)
class HeadLayout:
    """Which columns one head reads: ``[start, stop)`` ranges, 0-based."""

    qk: tuple[int, int]
    """Columns of Q_pos and K_pos; their count is the head's d_k."""
    v: tuple[int, int]
    """Columns of the value source; their count is the head's d_v."""

    def __post_init__(self) -> None:
        for label, (start, stop) in (("qk", self.qk), ("v", self.v)):
            if not 0 <= start < stop:
                raise ValueError(
                    f"HeadLayout.{label} must satisfy 0 <= start < stop, got {start, stop}"
                )

    @property
    def d_k(self) -> int:
        return self.qk[1] - self.qk[0]

    @property
    def d_v(self) -> int:
        return self.v[1] - self.v[0]


@dataclass(frozen=True)
class MaskSpec:
    """Which keys each query may attend to.

    ``causal``: j <= i. ``reverse_causal``: j >= i (the seed text's ``if i > j: -inf``).
    ``none``: every key. ``sliding_window``: i - window < j <= i.
    """

    kind: MaskKind = "causal"
    window: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("causal", "reverse_causal", "none", "sliding_window"):
            raise ValueError(
                f"MaskSpec.kind must be causal, reverse_causal, none or sliding_window, "
                f"got {self.kind!r}"
            )
        if self.kind == "sliding_window":
            if self.window is None or self.window < 1:
                raise ValueError(f"sliding_window needs window >= 1, got {self.window!r}")
        elif self.window is not None:
            raise ValueError(f"window is only meaningful for sliding_window, not {self.kind!r}")

    def visible(self, n: int) -> npt.NDArray[np.bool_]:
        """``(n, n)`` boolean matrix: True where query i may attend to key j."""
        import numpy as np

        i = np.arange(n)[:, None]
        j = np.arange(n)[None, :]
        if self.kind == "causal":
            return j <= i
        if self.kind == "reverse_causal":
            return j >= i
        if self.kind == "sliding_window":
            assert self.window is not None  # validated in __post_init__
            return (j <= i) & (j > i - self.window)
        return np.ones((n, n), dtype=bool)

    @property
    def masked_condition(self) -> str:
        """The condition under which a score is set to -inf, as the prompt states it."""
        return {
            "causal": "j > i",
            "reverse_causal": "j < i",
            "sliding_window": f"j > i or j <= i - {self.window}",
            "none": "never",
        }[self.kind]


@dataclass(frozen=True)
class Tolerances:
    """Absolute tolerances, compared with strict ``<`` on the max element error."""

    position: float = 0.1
    weights: float = 0.15
    outputs: float = 0.2

    def __post_init__(self) -> None:
        for name in ("position", "weights", "outputs"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"Tolerances.{name} must be a positive finite number, got {value!r}"
                )

    @property
    def layer_norm(self) -> float:
        """Tolerance of ``layer_normalized_output``: a tenth of ``outputs``. Its values are
        O(1) whatever the data, and at the outputs' tolerance the unbiased variance (n - 1, a
        catalogued bug) would pass: it moves a value by about ``|x| / 2n``."""
        return float(f"{self.outputs / 10:.6g}")

    def scaled(self, factor: float) -> Tolerances:
        """All three multiplied by ``factor`` (the difficulty knob)."""
        return Tolerances(self.position * factor, self.weights * factor, self.outputs * factor)


@dataclass(frozen=True)
class RewardWeights:
    """Reward per outcome; every other outcome earns 0."""

    full_success: float = 1.0
    partial_success: float = 0.5

    def __post_init__(self) -> None:
        for name in ("full_success", "partial_success"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"RewardWeights.{name} must be in [0, 1], got {value!r}")


@dataclass(frozen=True)
class Component:
    """One graded matrix of the answer format."""

    key: str
    shape: tuple[int, int]
    kind: ComponentKind
    head: int | None = None
    """1-based head index for per-head components."""


@dataclass(frozen=True)
class TaskSpec:
    """Everything that defines one task instance. Frozen; validated on construction."""

    preset: str
    """Name of the preset that built it (``seed-doc``, ``seed-doc-text``, ``procedural``...)."""
    q: Matrix
    k: Matrix
    v: Matrix
    pos_emb: Matrix
    heads: tuple[HeadLayout, ...]
    seed: int | None = None
    """The generation seed, for seeded presets."""
    value_source: ValueSource = "v_pos"
    """Where each head's values come from: ``v_pos`` (seed reference) or ``q_pos`` (seed text)."""
    mask: MaskSpec = field(default_factory=MaskSpec)
    position_encoding: bool = True
    """Add ``pos_emb`` to Q, K and V; off is the seed's "remove position encoding" knob."""
    residual: bool = False
    """final = Q_pos + concat(heads), the seed's "Residual Connections" example."""
    layer_norm: bool = False
    """Also grade ``layer_normalized_output`` = LayerNorm(final) with eps 1e-8, no affine."""
    tolerances: Tolerances = field(default_factory=Tolerances)
    policy: Policy = "strict"
    """Which outcomes pass (:data:`POLICIES`); see :func:`.grading.pass_rules`."""
    rewards: RewardWeights = field(default_factory=RewardWeights)

    def __post_init__(self) -> None:
        for name in ("q", "k", "v", "pos_emb"):
            object.__setattr__(self, name, _as_matrix(getattr(self, name), name))
        n, d = self.n_tokens, self.d_model
        for name in ("k", "v", "pos_emb"):
            m = getattr(self, name)
            if (len(m), len(m[0])) != (n, d):
                raise ValueError(
                    f"{name} has shape {(len(m), len(m[0]))}, expected {(n, d)} like q"
                )
        if not self.heads:
            raise ValueError("a task needs at least one head")
        for h, head in enumerate(self.heads, start=1):
            if head.qk[1] > d or head.v[1] > d:
                raise ValueError(f"head {h} reads columns beyond d_model={d}: {head}")
        if self.value_source not in ("v_pos", "q_pos"):
            raise ValueError(f"value_source must be v_pos or q_pos, got {self.value_source!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.policy == "seed-doc" and self.preset not in SEED_DOC_PRESETS:
            # Here, not only where presets and knobs are applied: a spec from a dataset row,
            # a saved run or a card never reaches those.
            raise ValueError(f"{SEED_DOC_POLICY_ONLY} (this spec's preset is {self.preset!r})")
        if (self.residual or self.layer_norm) and self.concat_width != d:
            raise ValueError(
                f"residual/layer_norm need the heads' value widths to sum to d_model={d}, "
                f"got {self.concat_width}"
            )

    # -- derived facts ---------------------------------------------------------------
    @property
    def n_tokens(self) -> int:
        return len(self.q)

    @property
    def d_model(self) -> int:
        return len(self.q[0])

    @property
    def concat_width(self) -> int:
        return sum(h.d_v for h in self.heads)

    @property
    def masked(self) -> bool:
        """Whether the answer carries the mask flag (every mask kind but ``none``)."""
        return self.mask.kind != "none"

    def array(self, name: Literal["q", "k", "v", "pos_emb"]) -> npt.NDArray[np.float64]:
        """A fresh float64 copy of one input matrix, shape ``(n, d_model)``."""
        import numpy as np

        return np.array(getattr(self, name), dtype=np.float64)

    def components(self) -> tuple[Component, ...]:
        """The graded matrices of the answer, in answer-format order."""
        n, d = self.n_tokens, self.d_model
        out: list[Component] = []
        if self.position_encoding:
            out.append(Component("position_encoded_queries", (n, d), "position"))
        for h, _ in enumerate(self.heads, start=1):
            out.append(Component(f"head{h}_attention_weights", (n, n), "weights", h))
        for h, head in enumerate(self.heads, start=1):
            out.append(Component(f"head{h}_output", (n, head.d_v), "output", h))
        out.append(Component("final_output", (n, self.concat_width), "output"))
        if self.layer_norm:
            out.append(Component("layer_normalized_output", (n, self.concat_width), "output"))
        return tuple(out)

    def answer_keys(self) -> tuple[str, ...]:
        """Every key the answer must carry, in order."""
        keys = tuple(c.key for c in self.components())
        return keys + ((ANSWER_MASK_FLAG,) if self.masked else ())

    def tolerance(self, component: Component) -> float:
        if component.key == "layer_normalized_output":
            return self.tolerances.layer_norm
        return {
            "position": self.tolerances.position,
            "weights": self.tolerances.weights,
            "output": self.tolerances.outputs,
        }[component.kind]

    # -- identity --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; :meth:`from_dict` inverts it exactly."""
        data = asdict(self)
        data["heads"] = [{"qk": list(h.qk), "v": list(h.v)} for h in self.heads]
        for name in ("q", "k", "v", "pos_emb"):
            data[name] = [list(row) for row in getattr(self, name)]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """Rebuild a spec from :meth:`to_dict` output (for dataset rows and saved runs)."""
        fields = dict(data)
        fields["heads"] = tuple(
            HeadLayout(qk=(int(h["qk"][0]), int(h["qk"][1])), v=(int(h["v"][0]), int(h["v"][1])))
            for h in fields["heads"]
        )
        fields["mask"] = MaskSpec(**fields.get("mask", {}))
        fields["tolerances"] = Tolerances(**fields.get("tolerances", {}))
        fields["rewards"] = RewardWeights(**fields.get("rewards", {}))
        policy = fields.get("policy")
        if isinstance(policy, str) and policy in LEGACY_POLICIES:
            fields["policy"] = LEGACY_POLICIES[policy]
        return cls(**fields)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of everything that defines the task."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_knobs(self, **changes: Any) -> TaskSpec:
        """A copy with some fields changed, validated again."""
        return replace(self, **changes)
