"""Exact-level designs for the band verdict, for the benchmarks that compare against them.

Two things the Wilson-based fixed n of ``bench_sequential`` does not give:

- :func:`exact_fixed_n`: the fixed n whose one look is the exact binomial test of each band
  edge at alpha/2 (the tests a Clopper-Pearson interval makes), so each end errs at most 2.5%
  exactly; Wilson's ends can err more (:func:`wilson_edge_error` measures it);
- :class:`BudgetBetting`: the betting edge tests of :mod:`attnrl.stats.betting` with their
  thresholds lowered until each errs exactly alpha/2 over a known budget of N runs, computed by
  dynamic programming over the binomial paths at the edge (the worst case: the chance of
  crossing only grows with the rate, so a rate at the edge bounds every rate beyond it).
  Ville's inequality, which the anytime sequence uses, is loose by the overshoot of each bet
  and by the runs past N that a budget never sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from attnrl.stats.analysis import wilson_interval
from attnrl.stats.betting import BET_FRACTIONS

__all__ = ["BudgetBetting", "exact_fixed_n", "smallest_n", "wilson_edge_error"]


def binomial_pmf(n: int, q: float) -> np.ndarray:
    """P(X = k) for k = 0..n, X ~ Binomial(n, q), from log-gamma (no scipy)."""
    k = np.arange(n + 1)
    log_fact = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    return np.exp(
        log_fact[n] - log_fact[k] - log_fact[n - k] + k * math.log(q) + (n - k) * math.log1p(-q)
    )


def _edge_decisions(n: int, band: tuple[float, float], alpha: float) -> np.ndarray:
    """For s = 0..n, whether the exact one-look tests at the edges decide the band."""
    verdict = np.zeros(n + 1, dtype=bool)
    above, below = {}, {}
    for edge in band:
        pmf = binomial_pmf(n, edge)
        upper_tail = pmf[::-1].cumsum()[::-1]  # P(X >= s)
        lower_tail = pmf.cumsum()  # P(X <= s)
        above[edge] = upper_tail <= alpha / 2  # the rate is above the edge
        below[edge] = lower_tail <= alpha / 2  # the rate is below the edge
    verdict |= above[band[0]] & below[band[1]]  # in band
    verdict |= below[band[0]] | above[band[1]]  # out of band
    return verdict


def exact_fixed_n(
    p: float, probability: float, band: tuple[float, float], alpha: float, limit: int = 5_000
) -> int | None:
    """Smallest n (by bisection) at which the exact edge tests decide with ``probability``."""

    def decided(n: int) -> float:
        return float(binomial_pmf(n, p)[_edge_decisions(n, band, alpha)].sum())

    return smallest_n(decided, probability, limit)


def smallest_n(decided: Callable[[int], float], probability: float, limit: int) -> int | None:
    """Smallest n in 1..limit with ``decided(n) >= probability``, by bisection (the chance of
    a verdict is close to monotone in n); None when even ``limit`` falls short."""
    if decided(limit) < probability:
        return None
    low, high = 1, limit
    while low < high:
        mid = (low + high) // 2
        if decided(mid) >= probability:
            high = mid
        else:
            low = mid + 1
    return low


def wilson_edge_error(n: int, band: tuple[float, float]) -> float:
    """The largest chance, at a rate exactly on a band edge, that one end of the Wilson 95%
    interval lies wholly on the wrong side of that edge after ``n`` runs (nominal 2.5%)."""
    worst = 0.0
    ends = [wilson_interval(s, n) for s in range(n + 1)]
    for edge in band:
        pmf = binomial_pmf(n, edge)
        worst = max(worst, float(sum(pmf[s] for s, (lo, _) in enumerate(ends) if lo > edge)))
        worst = max(worst, float(sum(pmf[s] for s, (_, hi) in enumerate(ends) if hi < edge)))
    return worst


def _wealth_row(n: int, m: float, side: int) -> np.ndarray:
    """Log wealth of the betting test for s = 0..n successes after n runs (as ``log_wealth``)."""
    s = np.arange(n + 1)
    wins, losses = (s, n - s) if side > 0 else (n - s, s)
    odds = m if side > 0 else 1.0 - m
    terms = [wins * math.log1p(f * (1 / odds - 1)) + losses * math.log1p(-f) for f in BET_FRACTIONS]
    top = np.maximum.reduce(terms)
    return top + np.log(sum(np.exp(t - top) for t in terms) / len(terms))


class BudgetBetting:
    """The four edge tests with thresholds exact over ``budget`` runs at ``alpha/2`` each."""

    def __init__(self, budget: int, band: tuple[float, float], alpha: float) -> None:
        self.budget, self.band = budget, band
        self.wealth: dict[tuple[float, int], np.ndarray] = {}  # [n, s], -inf where s > n
        for key in ((m, side) for m in band for side in (+1, -1)):
            table = np.full((budget + 1, budget + 1), -np.inf)
            for n in range(budget + 1):
                table[n, : n + 1] = _wealth_row(n, *key)
            self.wealth[key] = table
        self.threshold = {key: self._calibrate(key, alpha / 2) for key in self.wealth}

    def _crossing(self, key: tuple[float, int], threshold: float) -> float:
        """P(the wealth reaches ``threshold`` within the budget) at a rate on the edge."""
        m, _ = key
        paths = np.zeros(self.budget + 1)
        paths[0], crossed = 1.0, 0.0
        for n in range(1, self.budget + 1):
            step = np.zeros(self.budget + 1)
            step[:n] = paths[:n] * (1 - m)
            step[1 : n + 1] += paths[:n] * m
            hit = self.wealth[key][n, : n + 1] >= threshold
            crossed += float(step[: n + 1][hit].sum())
            step[: n + 1][hit] = 0.0
            paths = step
        return crossed

    def _calibrate(self, key: tuple[float, int], level: float) -> float:
        low, high = 0.0, math.log(1 / level)  # Ville's threshold is always valid
        for _ in range(20):
            mid = (low + high) / 2
            if self._crossing(key, mid) > level:
                low = mid
            else:
                high = mid
        return high

    def runs_to_verdict(self, passes: np.ndarray) -> list[tuple[int, str] | None]:
        """First n at which the calibrated tests decide, for each row of 0/1 runs (a row
        undecided within the budget gives None)."""
        runs = np.arange(1, self.budget + 1)
        successes = np.cumsum(passes[:, : self.budget], axis=1)
        fired = {}
        for key, table in self.wealth.items():
            hit = table[runs[None, :], successes] >= self.threshold[key]
            fired[key] = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, self.budget + 1)
        low, high = self.band
        out_at = np.minimum(fired[(high, +1)], fired[(low, -1)])
        in_at = np.maximum(fired[(low, +1)], fired[(high, -1)])
        return [
            None
            if min(o, i) > self.budget
            else (int(min(o, i)), "out of band" if o <= i else "in band")
            for o, i in zip(out_at, in_at, strict=True)
        ]
