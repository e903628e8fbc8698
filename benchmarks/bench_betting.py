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
- fixed n: the smallest n at which the Wilson 95% interval decides with probability 50% / 90%,
  chosen knowing p (``bench_sequential.fixed_n``).

Every method has the same guarantee: each interval end errs with probability <= 2.5%.
Printed: median and p90 of runs to the verdict, and the ratios to the fixed n at 50% / 90%.
Run: python benchmarks/bench_betting.py [replicates]
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable

import numpy as np

from attnrl.stats.betting import BettingSequence, log_wealth
from bench_sequential import ALPHA, BAND, CAP, RATES, fixed_n, runs_to_verdict

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


def main() -> None:
    replicates = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    check_against_library()
    print(f"band {100 * BAND[0]:g}-{100 * BAND[1]:g}%, alpha {ALPHA}, {replicates} replicates")
    print(
        f"{'true p':>6} {'fixed n 50%/90%':>16} {'method':>8} {'median':>7} {'p90':>6} "
        f"{'x fixed med':>11} {'x fixed p90':>11}  right"
    )
    for p in RATES:
        f50, f90 = fixed_n(p, 0.5), fixed_n(p, 0.9)
        truth = "in band" if BAND[0] <= p <= BAND[1] else "out of band"
        methods: dict[str, Callable[[random.Random], tuple[int, str] | None]] = {
            "mixture": lambda rng, p=p: runs_to_verdict(rng, p),
            "betting": lambda rng, p=p: betting_runs(rng, p, log_wealth),
            "oracle": lambda rng, p=p: betting_runs(rng, p, oracle(p)),
        }
        for name, method in methods.items():
            rng = random.Random(int(1000 * p))
            results = [method(rng) for _ in range(replicates)]
            done = sorted(r[0] for r in results if r is not None)
            right = sum(1 for r in results if r is not None and r[1] == truth)
            med = float(np.median(done)) if done else math.nan
            p90 = float(np.percentile(done, 90)) if done else math.nan
            print(
                f"{p:>6.2f} {f'{f50}/{f90}':>16} {name:>8} {med:>7.0f} {p90:>6.0f} "
                f"{med / f50 if f50 else math.nan:>11.2f} "
                f"{p90 / f90 if f90 else math.nan:>11.2f}  {right}/{replicates}"
            )


if __name__ == "__main__":
    main()
