"""Runs to a band verdict: the anytime-valid confidence sequence against a fixed n.

For each true pass rate p, simulate batches one run at a time and stop when the running
intersection of the beta-binomial confidence sequences (alpha 0.05, prior Beta(1, 1)) lies
inside the 10-40% band or outside it; print the median and p90 runs to that verdict. The
fixed-sample alternative: the smallest n at which the Wilson 95% interval (the same 5% error,
but only at that one planned n) gives a verdict with probability 50% / 90%, computed exactly
from the binomial distribution. The ratio is sequential / fixed. Simulation only.
Run: python benchmarks/bench_sequential.py [replicates]
"""

from __future__ import annotations

import math
import random
import sys

import numpy as np

from attnrl.stats.analysis import wilson_interval
from attnrl.stats.sequential import ConfidenceSequence, log_mixture
from exact_design import smallest_n

BAND = (0.10, 0.40)
ALPHA = 0.05
RATES = (0.05, 0.15, 0.25, 0.35, 0.60)
CAP = 20_000


def runs_to_verdict(rng: random.Random, p: float) -> tuple[int, str] | None:
    """First n at which the running intersection is decided, from the sequence's edge tests:
    its lower end passes a band edge once that edge is excluded with S/n above it, and so on
    (the same verdict as :class:`ConfidenceSequence`, checked below, without bisection)."""
    threshold = math.log(1 / ALPHA)
    lo_below = hi_above = lo_above = hi_below = False
    s = 0
    for n in range(1, CAP + 1):
        s += rng.random() < p
        rate = s / n
        for edge in BAND:
            if log_mixture(s, n, edge) >= threshold:
                if edge == BAND[0]:
                    lo_below |= rate > edge  # lower end >= 10%
                    lo_above |= rate < edge  # upper end < 10%
                else:
                    hi_above |= rate < edge  # upper end <= 40%
                    hi_below |= rate > edge  # lower end > 40%
        if lo_below and hi_above:
            return n, "in band"
        if lo_above or hi_below:
            return n, "out of band"
    return None


def fixed_n(p: float, probability: float, limit: int = 5_000) -> int | None:
    """Smallest n (by bisection; decided-probability is close to monotone in n) at which
    the fixed-n Wilson interval decides with at least ``probability``."""
    log_fact = np.array([math.lgamma(k + 1) for k in range(limit + 1)])

    def decided(n: int) -> float:
        k = np.arange(n + 1)
        log_pmf = log_fact[n] - log_fact[k] - log_fact[n - k] + k * math.log(p)
        log_pmf += (n - k) * math.log1p(-p)
        pmf = np.exp(log_pmf)
        ok = np.array(
            [
                (BAND[0] <= lo and hi <= BAND[1]) or hi < BAND[0] or lo > BAND[1]
                for lo, hi in (wilson_interval(int(s), n) for s in k)
            ]
        )
        return float(pmf[ok].sum())

    return smallest_n(decided, probability, limit)


def check_against_library(rng_seed: int = 5) -> None:
    for p in (0.05, 0.25, 0.6):
        rng = random.Random(rng_seed)
        fast = runs_to_verdict(rng, p)
        rng = random.Random(rng_seed)
        cs = ConfidenceSequence(alpha=ALPHA)
        while cs.verdict(BAND) == "inconclusive":
            cs.update(rng.random() < p)
        if fast != (cs.n, cs.verdict(BAND)):
            raise SystemExit(f"edge tests disagree with ConfidenceSequence at p={p}: {fast} {cs.n}")


def main() -> None:
    replicates = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    check_against_library()
    print(f"band {100 * BAND[0]:g}-{100 * BAND[1]:g}%, alpha {ALPHA}, {replicates} replicates")
    print(
        f"{'true p':>7} {'median':>7} {'p90':>7} {'fixed@50%':>10} {'fixed@90%':>10} "
        f"{'ratio med':>10} {'ratio p90':>10}  right verdicts"
    )
    for p in RATES:
        rng = random.Random(int(1000 * p))
        results = [runs_to_verdict(rng, p) for _ in range(replicates)]
        done = sorted(r[0] for r in results if r is not None)
        truth = "in band" if BAND[0] <= p <= BAND[1] else "out of band"
        right = sum(1 for r in results if r is not None and r[1] == truth)
        med = float(np.median(done)) if done else math.nan
        p90 = float(np.percentile(done, 90)) if done else math.nan
        f50, f90 = fixed_n(p, 0.5), fixed_n(p, 0.9)
        ratio50 = med / f50 if f50 else math.nan
        ratio90 = p90 / f90 if f90 else math.nan
        print(
            f"{p:>7.2f} {med:>7.0f} {p90:>7.0f} {f50 or '>5000':>10} {f90 or '>5000':>10} "
            f"{ratio50:>10.2f} {ratio90:>10.2f}  {right}/{replicates} "
            f"({len(done)} decided)"
        )


if __name__ == "__main__":
    main()
