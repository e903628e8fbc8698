"""Is one batch's pass rate different from another's? Fisher's exact test and Newcombe's
interval for the difference: exact at the small n of a batch (15 runs), where a z-test is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnrl.stats.analysis import wilson_interval

__all__ = ["Difference", "compare_pass_rates", "fisher_exact_two_sided"]


@dataclass(frozen=True)
class Difference:
    """Batch A's pass rate minus batch B's, with a 95% interval and a two-sided p-value."""

    a_passed: int
    a_runs: int
    b_passed: int
    b_runs: int
    difference: float | None
    ci95: tuple[float, float]
    """Newcombe's hybrid score interval (method 10), from the two Wilson intervals."""
    p_value: float
    """Fisher's exact test, two-sided (tables no more likely than the one observed)."""

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_two_sided(a: int, n_a: int, b: int, n_b: int) -> float:
    """p-value of Fisher's exact test on the 2x2 table [[a, n_a - a], [b, n_b - b]]."""
    if not (0 <= a <= n_a and 0 <= b <= n_b):
        raise ValueError(f"need 0 <= passed <= runs, got {a}/{n_a} and {b}/{n_b}")
    successes, total = a + b, n_a + n_b
    if total == 0:
        return 1.0
    lo, hi = max(0, successes - n_b), min(successes, n_a)
    denom = _log_comb(total, successes)

    def prob(x: int) -> float:
        return math.exp(_log_comb(n_a, x) + _log_comb(n_b, successes - x) - denom)

    observed = prob(a)
    p = sum(q for x in range(lo, hi + 1) if (q := prob(x)) <= observed * (1 + 1e-7))
    return min(1.0, p)


def compare_pass_rates(a_passed: int, a_runs: int, b_passed: int, b_runs: int) -> Difference:
    """The difference of two pass rates; None (and the widest interval) when a batch has no
    graded run."""
    p_value = fisher_exact_two_sided(a_passed, a_runs, b_passed, b_runs)
    if not a_runs or not b_runs:
        return Difference(a_passed, a_runs, b_passed, b_runs, None, (-1.0, 1.0), p_value)
    p1, p2 = a_passed / a_runs, b_passed / b_runs
    l1, u1 = wilson_interval(a_passed, a_runs)
    l2, u2 = wilson_interval(b_passed, b_runs)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(
        a_passed, a_runs, b_passed, b_runs, d, (max(-1.0, lower), min(1.0, upper)), p_value
    )
