"""The comparison's statistics against published values."""

from __future__ import annotations

import math

import pytest

from attnrl.report.compare import compare_pass_rates, fisher_exact_two_sided


def test_fisher_exact_matches_known_tables() -> None:
    # scipy.stats.fisher_exact([[8, 2], [1, 5]]) -> p = 0.03496503496503495
    assert fisher_exact_two_sided(8, 10, 1, 6) == pytest.approx(0.034965034965035, rel=1e-9)
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2)) -> p = 0.4857
    assert fisher_exact_two_sided(3, 4, 1, 4) == pytest.approx(0.4857142857, rel=1e-6)
    assert fisher_exact_two_sided(4, 15, 4, 15) == pytest.approx(1.0)
    assert fisher_exact_two_sided(0, 0, 0, 0) == 1.0


def test_fisher_exact_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="passed <= runs"):
        fisher_exact_two_sided(5, 4, 1, 4)


def test_newcombe_interval_matches_the_paper() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 vs 48/80,
    # method 10 (score interval, no continuity correction): 0.0524 to 0.3339.
    diff = compare_pass_rates(56, 70, 48, 80)
    assert diff.difference == pytest.approx(0.2)
    assert diff.ci95[0] == pytest.approx(0.0524, abs=5e-5)
    assert diff.ci95[1] == pytest.approx(0.3339, abs=5e-5)
    assert diff.significant


def test_no_graded_runs_gives_no_difference() -> None:
    diff = compare_pass_rates(0, 0, 3, 10)
    assert diff.difference is None and diff.ci95 == (-1.0, 1.0)
    assert not math.isnan(diff.p_value)
