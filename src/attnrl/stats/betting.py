"""A betting confidence sequence for a pass rate: two one-sided tests by wealth.

To test "the pass rate is at most m", bet a fraction f of the wealth on each run passing, at
the odds a rate of m would make fair: a pass multiplies the wealth by 1 - f + f/m, a failure by
1 - f. While every run's chance of passing is at most m the wealth is a nonnegative
supermartingale, so by Ville's inequality it reaches 1/alpha with probability at most alpha,
ever (Waudby-Smith and Ramdas 2023, "Estimating means of bounded random variables by
betting"). Averaging the wealth of a few constant fractions (``BET_FRACTIONS``) bets well
against near and far alternatives at once; each constant bet is the likelihood ratio of one
alternative, so the average is a discrete mixture tilted to one side of m, unlike the
two-sided beta-binomial mixture of :mod:`attnrl.stats.sequential`.

The lower end of the sequence is the smallest m whose "at most m" wealth stays below 2/alpha
(the wealth falls as m grows, so it is found by bisection); the upper end mirrors it with bets
on failures. Each end errs with probability at most alpha/2, so the interval covers at every n
at once with probability 1 - alpha, the same guarantee as the mixture sequence. The benchmark
``benchmarks/bench_betting.py`` compares the runs each needs to a band verdict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from attnrl.stats.band import NarrowingInterval

__all__ = ["BET_FRACTIONS", "BettingSequence", "betting_interval", "log_wealth"]

BET_FRACTIONS: tuple[float, ...] = (1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32)
"""The constant fractions averaged (equal weights): fraction f is the best bet against the
alternative m + f (1 - m), so the grid reaches effects down to about 3% of the room above m.
Chosen with ``benchmarks/bench_betting.py`` among grids of 5 to 12 fractions."""

_BISECTIONS = 50


def _log_mean_exp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def log_wealth(
    successes: int, n: int, m: float, side: int, fractions: tuple[float, ...] = BET_FRACTIONS
) -> float:
    """Log wealth against "rate <= m" (``side`` +1, betting on passes) or "rate >= m"
    (``side`` -1, betting on failures) after ``successes`` passes in ``n`` runs."""
    wins, losses = (successes, n - successes) if side > 0 else (n - successes, successes)
    odds = m if side > 0 else 1.0 - m  # the chance the null gives the outcome bet on
    if odds <= 0.0:
        return math.inf if wins else 0.0
    terms = [wins * math.log1p(f * (1.0 / odds - 1.0)) + losses * math.log1p(-f) for f in fractions]
    return _log_mean_exp(terms)


def betting_interval(
    successes: int, n: int, alpha: float, fractions: tuple[float, ...] = BET_FRACTIONS
) -> tuple[float, float]:
    """The rates neither one-sided test rejects at level alpha/2, as ``(lo, hi)``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    threshold = math.log(2.0 / alpha)

    def edge(side: int) -> float:
        # rejected(m) is monotone: for side +1 it holds for every m below the lower end
        inside, out = (1.0, 0.0) if side > 0 else (0.0, 1.0)
        if log_wealth(successes, n, out, side, fractions) < threshold:
            return out
        for _ in range(_BISECTIONS):
            mid = (inside + out) / 2
            if log_wealth(successes, n, mid, side, fractions) >= threshold:
                out = mid
            else:
                inside = mid
        return out

    return edge(+1), edge(-1)


@dataclass
class BettingSequence(NarrowingInterval):
    """The running intersection of the betting intervals, fed one outcome at a time (the same
    interface as :class:`attnrl.stats.sequential.ConfidenceSequence`)."""

    alpha: float = 0.05
    fractions: tuple[float, ...] = BET_FRACTIONS
    n: int = 0
    successes: int = 0
    lower: float = 0.0
    upper: float = 1.0
    history: list[tuple[float, float]] = field(default_factory=list)
    """(lower, upper) of the running intersection after each outcome."""
    latest: tuple[float, float] = (0.0, 1.0)
    """The interval of the latest look alone, not intersected: valid at that look too, and it
    lets go of old evidence (what a controller of a learning policy wants)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not self.fractions or not all(0.0 < f < 1.0 for f in self.fractions):
            raise ValueError(f"bet fractions must lie in (0, 1), got {self.fractions}")

    @classmethod
    def of(cls, outcomes: Iterable[bool], alpha: float = 0.05) -> BettingSequence:
        seq = cls(alpha=alpha)
        for passed in outcomes:
            seq.update(passed)
        return seq

    def update(self, passed: bool) -> None:
        self.extend(int(bool(passed)), 1)

    def extend(self, successes: int, n: int) -> None:
        """Add ``successes`` passes in ``n`` runs and intersect once: looking at fewer times
        keeps the guarantee (the controller looks once per training step)."""
        if n < 0 or not 0 <= successes <= n:
            raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
        if n == 0:
            return
        self.n += n
        self.successes += successes
        lo, hi = self.latest = betting_interval(self.successes, self.n, self.alpha, self.fractions)
        self._narrow(lo, hi)

    def state_dict(self) -> dict[str, Any]:
        """Counts and the running intersection (the history is not kept)."""
        return {
            "n": self.n,
            "successes": self.successes,
            "lower": self.lower,
            "upper": self.upper,
            "latest": list(self.latest),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n, self.successes = int(state["n"]), int(state["successes"])
        self.lower, self.upper = float(state["lower"]), float(state["upper"])
        lo, hi = state["latest"]
        self.latest = (float(lo), float(hi))
        self.history = []
