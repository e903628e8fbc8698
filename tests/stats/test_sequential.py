"""The beta-binomial confidence sequence: its interval against an independent computation,
its time-uniform coverage by simulation, and the verdict it gives."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from attnrl.stats.analysis import wilson_interval
from attnrl.stats.sequential import ConfidenceSequence, cs_interval, log_mixture


def _mixture_by_quadrature(s: int, n: int, p: np.ndarray, a: float, b: float) -> np.ndarray:
    """M_n(p) by integrating the likelihood ratio against the Beta(a, b) density on a grid:
    no beta functions, no closed form."""
    q = np.linspace(1e-7, 1 - 1e-7, 400_001)
    log_prior = (a - 1) * np.log(q) + (b - 1) * np.log1p(-q)
    log_prior -= np.log(np.trapezoid(np.exp(log_prior), q))
    log_like = s * np.log(q) + (n - s) * np.log1p(-q)
    peak = log_like.max()
    log_marginal = peak + np.log(np.trapezoid(np.exp(log_like - peak + log_prior), q))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = log_marginal - np.where(s, s * np.log(p), 0.0)
        log_ratio -= np.where(n - s, (n - s) * np.log1p(-p), 0.0)
    return np.exp(log_ratio)


@pytest.mark.parametrize(
    ("s", "n", "prior"), [(4, 15, (1.0, 1.0)), (0, 20, (1.0, 1.0)), (30, 100, (2.0, 5.0))]
)
def test_interval_matches_quadrature(s: int, n: int, prior: tuple[float, float]) -> None:
    alpha = 0.05
    grid = np.linspace(0, 1, 20_001)
    inside = grid[_mixture_by_quadrature(s, n, grid, *prior) < 1 / alpha]
    lo, hi = cs_interval(s, n, alpha, prior)
    assert lo == pytest.approx(inside.min(), abs=1e-4)
    assert hi == pytest.approx(inside.max(), abs=1e-4)


def test_log_mixture_closed_form() -> None:
    # n = 1, one pass, uniform prior: M_1(p) = (1/2) / p.
    assert log_mixture(1, 1, 0.25) == pytest.approx(math.log(2.0))
    assert log_mixture(1, 1, 0.0) == math.inf
    assert log_mixture(0, 3, 0.0) < 0  # p = 0 is consistent with no passes


def test_sequence_is_wider_than_wilson_at_fixed_n() -> None:
    # The price of validity at every n: at n = 15 the sequence is wider than Wilson's.
    lo, hi = cs_interval(4, 15)
    wlo, whi = wilson_interval(4, 15)
    assert lo < wlo and hi > whi
    assert lo < 4 / 15 < hi


@pytest.mark.parametrize("p", [0.05, 0.25, 0.5, 0.8])
def test_time_uniform_coverage_by_simulation(p: float) -> None:
    """P(p leaves CS_n for some n <= 300) <= alpha, over 1,000 replicates."""
    alpha, horizon, replicates = 0.05, 300, 1_000
    threshold = math.log(1 / alpha)
    rng = random.Random(int(p * 1000))
    misses = 0
    for _ in range(replicates):
        s = 0
        for n in range(1, horizon + 1):
            s += rng.random() < p
            if log_mixture(s, n, p) >= threshold:
                misses += 1
                break
    assert misses / replicates <= alpha


def test_running_intersection_and_verdict() -> None:
    band = (0.10, 0.40)
    rng = random.Random(3)
    cs = ConfidenceSequence.of(rng.random() < 0.25 for _ in range(400))
    assert cs.n == 400 and 0 <= cs.lower <= 0.25 <= cs.upper <= 1
    widths = [hi - lo for lo, hi in cs.history]
    assert all(b <= a for a, b in zip(widths, widths[1:], strict=False))  # never widens
    assert cs.verdict(band) == "in band"
    decided = cs.decided_at(band)
    assert decided is not None and decided <= 400
    lo, hi = cs.history[decided - 1]
    assert band[0] <= lo and hi <= band[1]
    if decided > 1:
        lo, hi = cs.history[decided - 2]
        assert not (band[0] <= lo and hi <= band[1])


def test_out_of_band_and_inconclusive() -> None:
    band = (0.10, 0.40)
    easy = ConfidenceSequence.of([True] * 30)
    assert easy.verdict(band) == "out of band" and easy.decided_at(band) is not None
    short = ConfidenceSequence.of([True, False, False, False])
    assert short.verdict(band) == "inconclusive" and short.decided_at(band) is None
    assert ConfidenceSequence().verdict(band) == "inconclusive"


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="alpha"):
        ConfidenceSequence(alpha=1.5)
    with pytest.raises(ValueError, match="prior"):
        ConfidenceSequence(prior=(0.0, 1.0))
    with pytest.raises(ValueError, match="successes"):
        cs_interval(5, 3)
