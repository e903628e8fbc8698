"""Calibration's honest result: below the band even at the easiest rung tried (exit 4, said in
the card), ties to the easier rung, and run's model flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attnrl.cli import build_parser, main
from attnrl.cli.model_flags import model_options
from attnrl.stats.calibration_result import EXIT_OUT_OF_REACH, choose_rung, result_text

BAND = (0.10, 0.40)


def rung(index: int, passed: int, runs: int, verdict: str = "inconclusive") -> dict[str, Any]:
    return {"rung": index, "passed": passed, "runs": runs, "pass_rate": passed / runs,
            "verdict": verdict}  # fmt: skip


def test_nothing_solved_anywhere_is_below_the_band_at_the_easiest_rung() -> None:
    chosen, result = choose_rung([rung(4, 0, 4), rung(1, 0, 4)], BAND)
    assert result == "below band" and chosen["rung"] == 1
    text = result_text(result, chosen, BAND)
    assert "below the band (10-40%) even at rung 1, the easiest rung tried: 0/4" in text
    assert "undecided" in text  # 0/4 does not decide the sequence: said so


def test_everything_solved_is_above_the_band_at_the_hardest_rung() -> None:
    chosen, result = choose_rung([rung(2, 4, 4), rung(5, 3, 4, "out of band")], BAND)
    assert (result, chosen["rung"]) == ("above band", 5)
    assert "the confidence sequence agrees" in result_text(result, chosen, BAND)


def test_in_band_wins_and_ties_go_to_the_easier_rung() -> None:
    assert choose_rung([rung(3, 0, 4), rung(1, 1, 4, "in band")], BAND)[0]["rung"] == 1
    # 0/4 and 2/4 are equally far (25 points) from the band's centre: the easier rung wins
    chosen, result = choose_rung([rung(4, 0, 4), rung(2, 2, 4)], BAND)
    assert (result, chosen["rung"]) == ("closest", 2)
    chosen, _ = choose_rung([rung(2, 2, 4), rung(4, 0, 4)], BAND)
    assert chosen["rung"] == 2  # whatever the order visited
    with pytest.raises(ValueError, match="no runs"):
        choose_rung([], BAND)


def test_calibrate_exits_4_and_the_card_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "c"
    args = ["calibrate", "--model", "simulated", "--simulated-skill", "-30", "--max-runs", "8",
            "--rung-runs", "4", "--out", str(out)]  # fmt: skip
    assert main(args) == EXIT_OUT_OF_REACH
    card = json.loads((out / "card.json").read_text())
    assert card["result"] == "below band" and card["passed"] == 0
    assert card["rung"] == min(r["rung"] for r in card["calibration"]["rungs_visited"])
    assert f"below the band (10-40%) even at rung {card['rung']}" in capsys.readouterr().out


def test_calibrate_takes_runs_model_flags() -> None:
    flags = ["--base-url", "http://127.0.0.1:1/v1", "--max-tokens", "256", "--temperature",
             "0.2", "--retries", "1", "--retry-delay", "0.5", "--timeout", "42"]  # fmt: skip
    parser = build_parser()
    for command in (["calibrate", "--model", "openai/x"], ["run"]):
        options = model_options(parser.parse_args([*command, *flags]))
        assert (options.base_url, options.max_tokens, options.temperature) == (
            "http://127.0.0.1:1/v1", 256, 0.2,
        )  # fmt: skip
        assert options.timeout_s == 42.0 and options.retry is not None
        assert options.retry.max_attempts == 2 and options.retry.initial_delay_s == 0.5
    assert model_options(parser.parse_args(["run"])).timeout_s == 600.0
    with pytest.raises(SystemExit) as bad:
        parser.parse_args(["run", "--timeout", "0"])
    assert bad.value.code == 2
