"""The betting confidence sequence: its wealth against a direct product, its time-uniform
error by simulation, and the verdicts it reaches."""

from __future__ import annotations

import math
import random

import pytest

from attnrl.stats.betting import (
    BET_FRACTIONS,
    BettingSequence,
    betting_interval,
    log_wealth,
)


def _wealth_by_product(outcomes: list[bool], m: float, side: int) -> float:
    """The mean over fractions of prod(1 + lambda (x - m)), lambda = f / m (passes) or the
    mirror on failures: the betting game played run by run."""
    total = 0.0
    for f in BET_FRACTIONS:
        wealth = 1.0
        for x in outcomes:
            if side > 0:
                wealth *= 1.0 + (f / m) * (float(x) - m)
            else:
                wealth *= 1.0 + (f / (1.0 - m)) * (m - float(x))
        total += wealth
    return total / len(BET_FRACTIONS)


@pytest.mark.parametrize(("m", "side"), [(0.1, 1), (0.4, 1), (0.1, -1), (0.4, -1)])
def test_log_wealth_is_the_betting_game(m: float, side: int) -> None:
    rng = random.Random(3)
    outcomes = [rng.random() < 0.3 for _ in range(60)]
    direct = _wealth_by_product(outcomes, m, side)
    assert log_wealth(sum(outcomes), len(outcomes), m, side) == pytest.approx(math.log(direct))


def test_interval_brackets_the_rate_and_narrows() -> None:
    assert betting_interval(0, 0, 0.05) == (0.0, 1.0)
    widths = []
    for n in (20, 80, 320, 1280):
        lo, hi = betting_interval(n // 4, n, 0.05)
        assert lo < 0.25 < hi
        widths.append(hi - lo)
    assert widths == sorted(widths, reverse=True)
    # the ends are where the one-sided wealth crosses 2/alpha
    lo, hi = betting_interval(30, 100, 0.05)
    threshold = math.log(2 / 0.05)
    assert log_wealth(30, 100, lo - 1e-3, +1) >= threshold > log_wealth(30, 100, lo + 1e-3, +1)
    assert log_wealth(30, 100, hi + 1e-3, -1) >= threshold > log_wealth(30, 100, hi - 1e-3, -1)


@pytest.mark.parametrize("p", [0.1, 0.4])
def test_error_is_time_uniform(p: float) -> None:
    """Across 400 sequences of 400 runs, the wealth at the true rate reaches 2/alpha (either
    side) in at most alpha of them: it is checked after every single run."""
    threshold = math.log(2 / 0.05)
    rng = random.Random(int(100 * p))
    crossed = 0
    for _ in range(400):
        s = 0
        for n in range(1, 401):
            s += rng.random() < p
            if max(log_wealth(s, n, p, +1), log_wealth(s, n, p, -1)) >= threshold:
                crossed += 1
                break
    assert crossed <= 0.05 * 400  # Ville: the bound holds at every n at once


@pytest.mark.parametrize(("p", "verdict"), [(0.02, "out of band"), (0.25, "in band")])
def test_reaches_the_right_verdict(p: float, verdict: str) -> None:
    rng = random.Random(7)
    seq = BettingSequence()
    while seq.verdict((0.1, 0.4)) == "inconclusive" and seq.n < 3000:
        seq.extend(sum(rng.random() < p for _ in range(10)), 10)
    assert seq.verdict((0.1, 0.4)) == verdict
    assert seq.decided_at((0.1, 0.4)) == seq.n // 10  # one history entry per look


def test_update_and_extend_agree_at_the_looks() -> None:
    outcomes = [i % 3 == 0 for i in range(30)]
    one = BettingSequence.of(outcomes)
    blocks = BettingSequence()
    blocks.extend(sum(outcomes), len(outcomes))
    assert (one.n, one.successes) == (blocks.n, blocks.successes)
    assert one.lower >= blocks.lower and one.upper <= blocks.upper  # more looks, tighter
    restored = BettingSequence()
    restored.load_state_dict(one.state_dict())
    assert (restored.lower, restored.upper, restored.n) == (one.lower, one.upper, one.n)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1])
def test_bad_alpha_is_an_error(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha must be in"):
        BettingSequence(alpha=alpha)
    with pytest.raises(ValueError, match="alpha must be in"):
        betting_interval(1, 2, alpha)


def test_the_sequence_is_chosen_by_name() -> None:
    from attnrl.stats.sequential import ConfidenceSequence, new_sequence

    assert isinstance(new_sequence("betting", alpha=0.1), BettingSequence)
    assert isinstance(new_sequence(), ConfidenceSequence)
    with pytest.raises(ValueError, match="unknown sequence method 'wald'; choose one of"):
        new_sequence("wald")
