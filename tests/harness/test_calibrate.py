"""Calibration end to end with the offline skill model: the card it writes measures in band
on a fresh, independent batch, and --card / load_task(card=...) use it."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest

from attnrl.cli import main
from attnrl.cli.calibrate_command import simulated_skill_plans
from attnrl.harness.calibrate import CalibrationConfig, calibrate
from attnrl.harness.rundir import load_records
from attnrl.models.base import ModelSource
from attnrl.models.simulated import SkillModel
from attnrl.stats.card import CARD_FORMAT, grpo_informative_share, read_card
from attnrl.task import load_task
from attnrl.task.family import TaskFamily
from attnrl.tasks.attention.answer_size import ANSWER_TOKEN_BUDGET
from attnrl.tasks.attention.ladder import LADDER, MEASURE_NAMES, rung_measures
from attnrl.tasks.attention.presets import spec_factory

# Small instances keep the runs cheap; the skill puts the middle rung at p = 0.25 exactly.
RUNGS: tuple[dict[str, Any], ...] = (
    {
        "heads": (1, 1),
        "tokens": (4, 5),
        "d_model": (3, 4),
        "policy": "lenient",
        "tolerance_scale": 1.5,
    },
    {"heads": (1, 2), "tokens": (4, 5), "d_model": (3, 5), "tolerance_scale": 0.25},
    {
        "heads": (2, 2),
        "tokens": (4, 5),
        "d_model": (4, 5),
        "tolerance_scale": 0.03,
        "residual": True,
    },
)
SKILL = SkillModel().difficulty(RUNGS[1]) - math.log(3)


def test_skill_model_gets_harder_along_the_ladder() -> None:
    model = SkillModel()
    rates = [model.pass_probability(k) for k in LADDER]
    assert all(b < a for a, b in zip(rates, rates[1:], strict=False))
    assert SkillModel(SKILL).pass_probability(RUNGS[1]) == pytest.approx(0.25)
    easy, hard = model.failure_weights(LADDER[0]), model.failure_weights(LADDER[-1])
    assert all(hard[k] >= easy[k] for k in easy) and hard["causal_mask"] > easy["causal_mask"]


LADDER_PROBES = 60
SAMPLING_SLACK = 0.05
"""Rungs that share their structure (4-7 differ only in tolerance, residual, mask) redraw
different instances when adequacy rejects one, so their medians may differ by a little noise."""


def test_the_ladder_order_is_measured_not_assumed() -> None:
    """No rung asks a solver for less than the rung below it, on any measure of what it must
    compute (operations, answer numbers, rules, precision, every component required), and each
    asks for clearly more on at least one."""
    measures = [
        rung_measures(spec_factory("procedural", **knobs)(s) for s in range(LADDER_PROBES))
        for knobs in LADDER
    ]
    for i, (easier, harder) in enumerate(itertools.pairwise(measures), start=1):
        for name, a, b in zip(MEASURE_NAMES, easier.ordered(), harder.ordered(), strict=True):
            assert b >= a * (1 - SAMPLING_SLACK), (f"rung {i} asks less {name}", a, b)
        assert any(
            b > a * (1 + SAMPLING_SLACK)
            for a, b in zip(easier.ordered(), harder.ordered(), strict=True)
        ), (f"rung {i} asks for nothing more than rung {i - 1}", easier, harder)
    # and the hardest rung asks for several times the computation of the easiest
    assert measures[-1].operations > 10 * measures[0].operations
    assert all(m.max_answer_tokens <= ANSWER_TOKEN_BUDGET for m in measures)


def test_grpo_share() -> None:
    share = grpo_informative_share(0.25)
    assert share["8"] == pytest.approx(1 - 0.25**8 - 0.75**8)
    assert grpo_informative_share(0.0) == {"4": 0.0, "8": 0.0, "16": 0.0}


def _models(family: TaskFamily, knobs: dict[str, Any], runs: int, seed: int) -> ModelSource:
    return simulated_skill_plans(family, knobs, runs, seed, SKILL)


def test_calibrated_card_measures_in_band_on_a_fresh_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = CalibrationConfig(
        model="simulated",
        out=tmp_path / "cal",
        max_runs=800,
        rung_runs=400,
        seed=1,
        concurrency=24,
        ladder=RUNGS,
        extra={"simulated_skill": SKILL},
    )
    card = asyncio.run(calibrate(config, _models))
    assert card["format"] == CARD_FORMAT and card["rung"] == 1 and card["verdict"] == "in band"
    lo, hi = card["pass_rate_cs95"]
    assert 0.10 <= lo <= card["pass_rate"] <= hi <= 0.40
    assert card["decided_at"] is not None and card["decided_at"] <= card["runs"]
    assert set(card["grpo_informative_share"]) == {"4", "8", "16"}
    assert (
        card["family_hash"]
        == TaskFamily(
            lambda s: load_task("procedural", s, **RUNGS[1]), 101, seeded=True
        ).family_hash
    )
    assert card["workload"]["max_answer_tokens"] <= ANSWER_TOKEN_BUDGET  # the card says the size
    assert card["workload"]["operations"] > 0 and card["workload"]["numbers"] > 0
    assert card["calibration"]["runs"] >= card["runs"] and card["cost_usd"] == 0.0
    assert card["cost_per_run_usd"] == 0.0 and card["cost_to_verdict_usd"] == 0.0
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card))

    # A fresh batch: other instance seeds, other agents' draws, through the real CLI.
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    fresh = tmp_path / "fresh"
    args = [
        "run",
        "--card",
        str(path),
        "--model",
        "simulated",
        "--seed",
        "777",
        "--runs",
        "500",
        "--concurrency",
        "24",
        "--stop-when-decided",
        "--no-progress",
        "--out",
        str(fresh),
    ]
    assert main(args) == 0
    summary = json.loads((fresh / "summary.json").read_text())
    assert summary["sequence_verdict"] == "in band", summary["pass_rate_cs95"]
    assert "decided after" in capsys.readouterr().out
    records = load_records(fresh / "results.jsonl")
    first = load_task("procedural", records[0]["instance_seed"], **RUNGS[1])
    assert records[0]["task_hash"] == first.content_hash  # the card's knobs, fresh instances


def test_card_loads_in_python_and_dataset_and_rejects_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "card.json"
    path.write_text(
        json.dumps(
            {
                "format": CARD_FORMAT,
                "preset": "procedural",
                "knobs": {"heads": [2, 2], "mask": "window:3", "residual": True},
            }
        )
    )
    task = load_task(card=path, seed=4)
    assert (
        task.content_hash
        == load_task(
            "procedural", 4, heads=2, residual=True, mask=read_card(path)[1]["mask"]
        ).content_hash
    )
    assert task.spec.mask.kind == "sliding_window" and task.spec.residual
    with pytest.raises(ValueError, match="card= or knobs"):
        load_task(card=path, seed=4, heads=2)
    out = tmp_path / "rows.jsonl"
    assert main(["dataset", "--card", str(path), "--n", "3", "--seed", "4", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(rows[0]["info"])["spec_hash"] == task.content_hash
    assert len({json.loads(r["info"])["spec_hash"] for r in rows}) == 3
    assert (
        main(["dataset", "--card", str(path), "--heads", "3", "--n", "1", "--out", str(out)]) == 2
    )
    assert "--card sets the difficulty knobs" in capsys.readouterr().err
    path.write_text("{}")
    assert (
        main(["run", "--card", str(path), "--model", "simulated", "--out", str(tmp_path / "r")])
        == 2
    )
    assert "not an attnrl preset card" in capsys.readouterr().err


def test_calibrate_command_writes_a_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "c"
    code = main(
        [
            "calibrate",
            "--model",
            "simulated",
            "--max-runs",
            "40",
            "--rung-runs",
            "20",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    card = json.loads((out / "card.json").read_text())
    assert card["calibration"]["runs"] <= 40 and card["model"] == "simulated"
    text = capsys.readouterr().out
    assert "Card:" in text and "GRPO groups with a reward spread" in text
    with pytest.raises(SystemExit) as bad:  # an argparse type: one line and exit 2
        main(["calibrate", "--model", "simulated", "--max-cost", "-1", "--out", str(out)])
    assert bad.value.code == 2


def test_calibrate_sets_a_knob_on_every_rung(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--knob adequacy=per_head``: every rung drawn at that level, the card's knobs carry it
    (so ``run --card`` draws alike); a knob the rungs set, an unknown one or a bad value is one
    usage error before any run."""
    from attnrl.tasks.attention.procedural import is_mutation_adequate
    from attnrl.tasks.attention.task import AttentionTask

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "c"
    args = ["calibrate", "--model", "simulated", "--max-runs", "40", "--rung-runs", "20"]
    assert main([*args, "--knob", "adequacy=per_head", "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["knobs"]["adequacy"] == "per_head"
    rungs = [json.loads(p.read_text()) for p in out.glob("rung_*/run.json")]
    assert rungs and all(r["knobs"]["adequacy"] == "per_head" for r in rungs)
    task = load_task(card=out / "card.json", seed=0)
    assert isinstance(task, AttentionTask) and is_mutation_adequate(task.spec, per_head=True)
    capsys.readouterr()
    for knob, message in [
        ("heads=3", "--knob heads: the ladder's rungs set it"),
        ("dim=4", "task attention has no knob 'dim'"),
        ("adequacy=some", "--knob on rung 0: ProceduralConfig.adequacy must be one of"),
    ]:
        assert main([*args, "--knob", knob, "--out", str(tmp_path / knob)]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / knob).exists()


def test_a_rungs_directory_says_its_knobs_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each rung's manifest records the rung's knobs, so ``run --resume`` on it extends that
    rung's batch (with none recorded it rebuilt the default instances and refused)."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "c"
    args = ["calibrate", "--model", "simulated", "--max-runs", "40", "--rung-runs", "20"]
    assert main([*args, "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    for rung in card["calibration"]["rungs_visited"]:
        manifest = json.loads((out / f"rung_{rung['rung']:02d}" / "run.json").read_text())
        assert manifest["knobs"] == rung["knobs"]
    away = next(r for r in card["calibration"]["rungs_visited"] if r["knobs"])  # not defaults
    rung_dir = out / f"rung_{away['rung']:02d}"
    before = len(load_records(rung_dir / "results.jsonl"))
    capsys.readouterr()
    code = main(
        ["run", "--model", "simulated", "--out", str(rung_dir), "--resume"]
        + ["--runs", str(before + 4)]
    )
    assert code == 0, capsys.readouterr().err
    assert len(load_records(rung_dir / "results.jsonl")) == before + 4
