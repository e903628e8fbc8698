"""An anytime-valid confidence sequence for a pass rate, and the band verdict it gives.

A fixed-n interval (Wilson) is valid only at the n chosen in advance: looking after every run
and stopping once it looks decided inflates the error. Robbins' beta-binomial mixture
martingale is valid at every n at once (Ville's inequality; Howard, Ramdas, McAuliffe and
Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences"): with S passes
in n runs and prior Beta(a, b),

    log M_n(p) = lnB(a + S, b + n - S) - lnB(a, b) - S ln p - (n - S) ln(1 - p)
    CS_n = {p : M_n(p) < 1/alpha}

and P(exists n: p_true not in CS_n) <= alpha. The intersection of CS_1..CS_n is then valid
too, so a batch may stop as soon as the running intersection lies inside the band or outside
it. Outcomes enter in run-id order (planned before any outcome is known), never in finishing
order, which would let fast failures come first and break the i.i.d. assumption.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from attnrl.stats.band import NarrowingInterval

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_PRIOR",
    "SEQUENCE_METHODS",
    "ConfidenceSequence",
    "cs_interval",
    "log_mixture",
    "new_sequence",
]

DEFAULT_ALPHA = 0.05
DEFAULT_PRIOR = (1.0, 1.0)
"""Beta(1, 1), the uniform prior: no preference for any pass rate (README, Statistics)."""

_BISECTIONS = 60


def _ln_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def log_mixture(
    successes: int, n: int, p: float, prior: tuple[float, float] = DEFAULT_PRIOR
) -> float:
    """log M_n(p) of the beta-binomial mixture (``inf`` at p = 0 or 1 when the data rule it
    out)."""
    a, b = prior
    failures = n - successes
    value = _ln_beta(a + successes, b + failures) - _ln_beta(a, b)
    for count, q in ((successes, p), (failures, 1.0 - p)):
        if count:
            if q <= 0.0:
                return math.inf
            value -= count * math.log(q)
    return value


def cs_interval(
    successes: int,
    n: int,
    alpha: float = DEFAULT_ALPHA,
    prior: tuple[float, float] = DEFAULT_PRIOR,
) -> tuple[float, float]:
    """CS_n as ``(lo, hi)``: the p with M_n(p) < 1/alpha. It is an interval around S/n
    (log M_n is convex in p with its minimum, below 0, at S/n); (0, 1) for n = 0."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    threshold = math.log(1.0 / alpha)
    centre = successes / n

    def outside(p: float) -> bool:
        return log_mixture(successes, n, p, prior) >= threshold

    def edge(inside: float, out: float) -> float:
        for _ in range(_BISECTIONS):
            mid = (inside + out) / 2
            if outside(mid):
                out = mid
            else:
                inside = mid
        return inside

    lo = 0.0 if not outside(0.0) else edge(centre, 0.0)
    hi = 1.0 if not outside(1.0) else edge(centre, 1.0)
    return lo, hi


@dataclass
class ConfidenceSequence(NarrowingInterval):
    """The running intersection of CS_1..CS_n, fed one outcome at a time in run-id order."""

    alpha: float = DEFAULT_ALPHA
    prior: tuple[float, float] = DEFAULT_PRIOR
    n: int = 0
    successes: int = 0
    lower: float = 0.0
    upper: float = 1.0
    history: list[tuple[float, float]] = field(default_factory=list)
    """(lower, upper) of the running intersection after each outcome."""

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if min(self.prior) <= 0:
            raise ValueError(f"prior Beta(a, b) needs a, b > 0, got {self.prior}")

    @classmethod
    def of(
        cls,
        outcomes: Iterable[bool],
        alpha: float = DEFAULT_ALPHA,
        prior: tuple[float, float] = DEFAULT_PRIOR,
    ) -> ConfidenceSequence:
        cs = cls(alpha=alpha, prior=prior)
        for passed in outcomes:
            cs.update(passed)
        return cs

    def update(self, passed: bool) -> None:
        self.n += 1
        self.successes += bool(passed)
        lo, hi = cs_interval(self.successes, self.n, self.alpha, self.prior)
        self._narrow(lo, hi)


SEQUENCE_METHODS = ("mixture", "betting")
"""``mixture``: this module's sequence (the run verdict's); ``betting``:
:class:`attnrl.stats.betting.BettingSequence` (fewer runs at most rates:
benchmarks/bench_betting.py)."""


def new_sequence(method: str = "mixture", alpha: float = DEFAULT_ALPHA) -> Any:
    """An empty running confidence sequence of ``method`` (same interface either way)."""
    if method == "mixture":
        return ConfidenceSequence(alpha=alpha)
    if method == "betting":
        from attnrl.stats.betting import BettingSequence

        return BettingSequence(alpha=alpha)
    raise ValueError(f"unknown sequence method {method!r}; choose one of {SEQUENCE_METHODS}")
