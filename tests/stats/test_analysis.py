"""Statistics: Wilson interval, band verdict, percentiles, summary and the analysis block."""

from __future__ import annotations

import math

import pytest

from attnrl.stats.analysis import (
    band_verdict,
    percentile,
    render_analysis,
    summarize,
    wilson_interval,
)


def test_wilson_matches_known_values() -> None:
    lo, hi = wilson_interval(4, 15)
    assert lo == pytest.approx(0.1090, abs=5e-4) and hi == pytest.approx(0.5195, abs=5e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 3)


@pytest.mark.parametrize(
    ("ci", "verdict"),
    [
        ((0.15, 0.35), "in band"),
        ((0.45, 0.8), "out of band"),
        ((0.0, 0.05), "out of band"),
        ((0.11, 0.52), "inconclusive"),
        ((0.05, 0.2), "inconclusive"),
    ],
)
def test_band_verdict(ci: tuple[float, float], verdict: str) -> None:
    assert band_verdict(ci, (0.10, 0.40)) == verdict


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)
    assert math.isnan(percentile([], 50))


def record(run_id: int, passed: bool, category: str | None, outcome: str = "failure") -> dict:
    return {
        "run_id": run_id,
        "passed": passed,
        "category": category,
        "outcome": "full_success" if passed else outcome,
        "duration_s": float(run_id),
        "steps": 2,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def test_summary_excludes_infrastructure_from_the_rate() -> None:
    records = [
        record(1, True, None),
        record(2, False, "causal_mask"),
        record(3, False, "dimension"),
        record(4, False, "infrastructure", "error"),
    ]
    s = summarize(records)
    assert s["runs"] == 3 and s["passed"] == 1 and s["pass_rate"] == pytest.approx(1 / 3)
    assert s["infrastructure_errors"] == 1
    assert s["categories"] == {"causal_mask": 1, "dimension": 1}
    assert s["pass_rate_ci95"] == pytest.approx(list(wilson_interval(1, 3)))
    assert s["timing_s"]["max"] == 3.0 and s["tokens"] == {
        "input": 40,
        "output": 20,
        "cache_write": 0,
        "cache_read": 0,
    }


def test_analysis_block_has_the_seed_lines() -> None:
    records = [record(i, i <= 4, None if i <= 4 else "dimension") for i in range(1, 16)]
    text = render_analysis(summarize(records) | {"model": "simulated", "simulated": True})
    assert "TASK ANALYSIS - Positional Multi-Head Attention Implementation" in text
    assert "Total Runs: 15\nSuccessful: 4\nFailed: 11\nPass Rate: 26.7%" in text
    assert "Dimension errors: 11 runs (73.3%)" in text
    assert "Wilson 95% interval: 10.9% - 52.0%" in text
    assert "SIMULATED" in text
    easy = render_analysis(summarize([record(i, True, None) for i in range(1, 30)]))
    assert "\nVerdict: OUT OF BAND (10-40%), too easy: the Wilson 95% interval " in easy


def test_summary_carries_the_sequence_and_cost() -> None:
    records = [record(i, i % 4 == 3, None if i % 4 == 3 else "dimension") for i in range(1, 16)]
    for r in records:
        r["cost_usd"] = 0.01
    s = summarize(records)
    lo, hi = s["pass_rate_cs95"]
    assert s["passed"] == 4
    assert lo < s["pass_rate_ci95"][0] and hi > s["pass_rate_ci95"][1]  # wider than Wilson
    assert s["sequence_verdict"] == "inconclusive" and s["decided_at"] is None
    assert s["cost_usd"]["total"] == pytest.approx(0.15)
    assert s["cost_usd"]["to_verdict"] is None
    assert s["cost_usd"]["per_run"] == pytest.approx(0.01)
    text = render_analysis(s)
    assert "anytime-valid 95% sequence:" in text and "decided after" not in text
    assert "Cost: $0.1500 total, $0.0100 per run" in text


def test_unknown_price_makes_cost_null_and_says_so() -> None:
    records = [record(1, True, None) | {"model": "openai/mystery", "cost_usd": None}]
    s = summarize(records)
    assert s["cost_usd"]["total"] is None and s["cost_usd"]["per_run"] is None
    assert "openai/mystery" in s["cost_usd"]["note"] and "--pricing" in s["cost_usd"]["note"]
    assert "Cost: cost unknown" in render_analysis(s)


def test_decided_runs_report_when_and_what_it_cost() -> None:
    records = [record(i, True, None) | {"cost_usd": 0.5} for i in range(1, 41)]
    s = summarize(records)
    assert s["sequence_verdict"] == "out of band"
    n = s["decided_at"]
    assert n is not None and n < 40
    assert s["cost_usd"]["to_verdict"] == pytest.approx(0.5 * n)
    assert f"(valid at every n; decided after {n} runs)" in render_analysis(s)


def verdict_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "verdict" in line.lower() or "RANGE" in line]


@pytest.mark.parametrize(
    ("passes", "runs", "verdict", "interval"),
    [
        (4, 15, "INCONCLUSIVE (10-40%): the Wilson 95% interval 10.9% - 52.0% straddles 40%", ""),
        (60, 240, "IN BAND (10-40%): the Wilson 95% interval", "lies wholly inside the band"),
        (29, 29, "OUT OF BAND (10-40%), too easy: the Wilson 95% interval", "wholly above it"),
        (0, 40, "OUT OF BAND (10-40%), too hard: the Wilson 95% interval", "wholly below it"),
    ],
)
def test_one_verdict_stated_once_with_its_interval(
    passes: int, runs: int, verdict: str, interval: str
) -> None:
    """The point estimate inside the band never reads as a verdict of its own (issue 21.4)."""
    records = [
        record(i, i <= passes, None if i <= passes else "dimension") for i in range(1, runs + 1)
    ]
    text = render_analysis(summarize(records))
    (line,) = verdict_lines(text)
    assert line.startswith("Verdict: " + verdict) and interval in line
    assert "simulated" not in line.lower()


def test_a_stopped_batch_is_decided_by_the_sequence_and_says_so() -> None:
    records = [record(i, True, None) for i in range(1, 41)]
    s = summarize(records)
    s["stopped_early"] = {"reason": "decided", "not_scheduled": 60}
    (line, *_) = verdict_lines(render_analysis(s))
    lo, hi = s["pass_rate_cs95"]
    assert line.startswith(
        "Verdict: OUT OF BAND (10-40%), too easy: the anytime-valid 95% sequence"
    )
    assert f"{100 * lo:.1f}% - {100 * hi:.1f}%" in line and "stopped once it was decided" in line


def test_a_simulated_verdict_says_its_rate_is_the_mix_by_construction() -> None:
    records = [
        record(i, i <= 4, None if i <= 4 else "dimension") | {"intended_category": "dimension"}
        for i in range(1, 16)
    ]
    text = render_analysis(summarize(records) | {"model": "simulated", "simulated": True})
    (line,) = verdict_lines(text)
    assert "[simulated: the scripted mix's rate by construction, not a model's]" in line
    assert "(simulated, by construction: the grader's diagnosis recovered 11/11" in text


def test_a_field_of_the_wrong_kind_counts_as_missing_never_as_a_crash() -> None:
    """Readers set such records aside first; summarize alone still never crashes on one, and
    only a recorded ``true`` passes (the string "false" is truthy)."""
    hostile = [
        {"run_id": 1, "passed": "false", "outcome": "full_success", "category": None,
         "steps": "x", "duration_s": "x", "usage": None, "cost_usd": "x", "model": "m"},
        {"run_id": "2", "passed": True, "outcome": "full_success", "category": None,
         "steps": 2, "duration_s": 1.5, "usage": {"input_tokens": "x"}, "cost_usd": 0.1},
    ]  # fmt: skip
    s = summarize(hostile)
    assert (s["runs"], s["passed"]) == (2, 1)
    assert s["timing_s"]["mean"] == 1.5 and s["steps"]["max"] == 2
    assert s["cost_usd"]["total"] is None and s["tokens"]["input"] == 0
