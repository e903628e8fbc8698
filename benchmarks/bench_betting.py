"""Runs to a band verdict, side by side: the mixture sequence, the betting sequence, the best
fixed n, and the oracle that knows the true rate.

For each true pass rate p, simulate batches one run at a time (the same seeds for every
method) and stop when a method's running interval lies inside the 10-40% band or outside it:

- mixture: the two-sided beta-binomial confidence sequence of ``attnrl.stats.sequential``
  (alpha 0.05), the verdict ``attnrl run --stop-when-decided`` uses;
- betting: ``attnrl.stats.betting`` (two one-sided bets, alpha/2 each);
- oracle: Wald's sequential probability ratio test of each band edge against the true p,
  alpha/2 per side: no anytime-valid rule that does not know p can need fewer runs on
  average, so it bounds what any such rule can reach;
- budget: the betting edge tests with thresholds made exact over a budget of runs known in
  advance (1.5x the fixed n at 90%; ``exact_design.BudgetBetting``), the most a known run
  budget buys; it may end undecided at the budget;
- fixed n: the smallest n at which the exact binomial test of each edge (one planned look)
  decides with probability 50% / 90%, chosen knowing p (``exact_design.exact_fixed_n``). The
  Wilson interval's fixed n (``bench_sequential``) is a little smaller, but its ends err more
  than 2.5% at an edge; the header prints by how much.

Every method has the same guarantee: each interval end errs with probability <= 2.5%.
Printed: median and p90 of runs to the verdict (a batch undecided at its cap counts as never
deciding, so a p90 past the budget prints "never" and its ratio "inf"), the ratios to the fixed n
at 50% / 90%, right verdicts, and for the budget how many decided within it.
Run: python benchmarks/bench_betting.py [replicates]
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable

import numpy as np

from attnrl.stats.betting import BettingSequence, log_wealth
from bench_sequential import ALPHA, BAND, CAP, RATES, runs_to_verdict
from exact_design import BudgetBetting, exact_fixed_n, wilson_edge_error

BUDGET = 1.5
"""The budget method's run budget, as a multiple of the fixed n at 90%."""

EdgeTest = Callable[[int, int, float, int], float]
"""(successes, n, edge, side) -> log wealth against the edge from that side."""


def betting_runs(rng: random.Random, p: float, wealth: EdgeTest) -> tuple[int, str] | None:
    """First n at which the one-sided tests at the band edges decide (the same verdict as the
    running intersection of the interval, whose ends move monotonically with the wealth)."""
    threshold = math.log(2 / ALPHA)
    above_low = below_high = below_low = above_high = False
    s = 0
    for n in range(1, CAP + 1):
        s += rng.random() < p
        above_low |= wealth(s, n, BAND[0], +1) >= threshold  # lower end >= 10%
        above_high |= wealth(s, n, BAND[1], +1) >= threshold  # lower end > 40%
        below_low |= wealth(s, n, BAND[0], -1) >= threshold  # upper end < 10%
        below_high |= wealth(s, n, BAND[1], -1) >= threshold  # upper end <= 40%
        if above_high or below_low:
            return n, "out of band"
        if above_low and below_high:
            return n, "in band"
    return None


def oracle(p: float) -> EdgeTest:
    """The likelihood ratio of the true p against the edge, on the side p lies."""

    def wealth(s: int, n: int, edge: float, side: int) -> float:
        if (p - edge) * side <= 0:
            return -math.inf
        return s * math.log(p / edge) + (n - s) * math.log((1 - p) / (1 - edge))

    return wealth


def check_against_library(seed: int = 5) -> None:
    for p in (0.05, 0.25, 0.6):
        fast = betting_runs(random.Random(seed), p, log_wealth)
        rng = random.Random(seed)
        seq = BettingSequence(alpha=ALPHA)
        while seq.verdict(BAND) == "inconclusive":
            seq.update(rng.random() < p)
        if fast != (seq.n, seq.verdict(BAND)):
            raise SystemExit(f"edge tests disagree with BettingSequence at p={p}: {fast} {seq.n}")


def _runs(quantile: float) -> str:
    return "never" if quantile == math.inf else f"{quantile:.0f}"


def main() -> None:
    replicates = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    check_against_library()
    wilson = max(wilson_edge_error(n, BAND) for n in (50, 100, 200, 400))
    print(f"band {100 * BAND[0]:g}-{100 * BAND[1]:g}%, alpha {ALPHA}, {replicates} replicates")
    print(f"fixed n: exact edge tests (Wilson's ends err up to {100 * wilson:.1f}% at n = 50-400)")
    print(
        f"{'true p':>6} {'fixed n 50%/90%':>16} {'method':>8} {'median':>7} {'p90':>6} "
        f"{'x fixed med':>11} {'x fixed p90':>11}  right"
    )
    for p in RATES:
        f50, f90 = exact_fixed_n(p, 0.5, BAND, ALPHA), exact_fixed_n(p, 0.9, BAND, ALPHA)
        assert f50 is not None and f90 is not None
        budget = BudgetBetting(math.ceil(BUDGET * f90), BAND, ALPHA)
        truth = "in band" if BAND[0] <= p <= BAND[1] else "out of band"
        methods: dict[str, Callable[[random.Random], list[tuple[int, str] | None]]] = {
            "mixture": lambda rng, p=p: [runs_to_verdict(rng, p) for _ in range(replicates)],
            "betting": lambda rng, p=p: [
                betting_runs(rng, p, log_wealth) for _ in range(replicates)
            ],
            "oracle": lambda rng, p=p: [betting_runs(rng, p, oracle(p)) for _ in range(replicates)],
            "budget": lambda rng, p=p, b=budget: b.runs_to_verdict(
                np.array([[rng.random() < p for _ in range(b.budget)] for _ in range(replicates)])
            ),
        }
        for name, method in methods.items():
            results = method(random.Random(int(1000 * p)))
            runs = [math.inf if r is None else r[0] for r in results]  # undecided: never
            right = sum(1 for r in results if r is not None and r[1] == truth)
            med, p90 = (float(np.quantile(runs, q, method="inverted_cdf")) for q in (0.5, 0.9))
            decided = sum(r is not None for r in results)
            within = f" ({decided} decided within {budget.budget})" if name == "budget" else ""
            print(
                f"{p:>6.2f} {f'{f50}/{f90}':>16} {name:>8} {_runs(med):>7} {_runs(p90):>6} "
                f"{med / f50:>11.2f} {p90 / f90:>11.2f}  {right}/{replicates}{within}"
            )


if __name__ == "__main__":
    main()
