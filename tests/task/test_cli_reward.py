"""What the reward measures, through the CLI: ``attnrl audit`` prints the table of every
catalogue entry (over many instances, per rung, or the whole ladder), ``attnrl presets`` prints
each preset's answer size in tokens and what is gameable, and old names still work with a
one-line note."""

from __future__ import annotations

import json
import re

import pytest

from attnrl.cli import main
from attnrl.tasks.attention.ladder import LADDER


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_over_seeds_prints_every_entry_and_its_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "audit", "--rung", "0", "--seeds", "12")
    assert code == 0 and err == ""
    assert "Audit of rung 0 over 12 instance(s)" in out
    table = [line.split() for line in out.splitlines()[2:]]
    rows = {r[0]: r for r in table if len(r) == 5 and r[1] in ("bug", "cheap")}
    assert {"uniform_weights", "argmax_weights", "weights_only", "no_scaling"} <= set(rows)
    assert rows["uniform_weights"][1] == "cheap" and rows["no_scaling"][1] == "bug"
    assert all(r[3].startswith("0/") for r in rows.values())  # paid on no instance
    assert re.search(r"(\d+)/\1 entries never earn reward\.", out)


def test_audit_ladder_prints_one_line_per_rung_and_fixed_preset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "audit", "--ladder", "--seeds", "3", "--json")
    assert code == 0
    rows = {r["target"]: r for r in json.loads(out)}
    assert set(rows) == {f"rung {i}" for i in range(len(LADDER))} | {"seed-doc", "seed-doc-text"}
    for i in range(len(LADDER)):
        assert rows[f"rung {i}"]["paid_pairs"] == 0 and rows[f"rung {i}"]["pairs"] > 50
    assert "uniform_weights" in rows["seed-doc"]["paid_cheap"]
    assert "no_scaling" in rows["seed-doc"]["paid_bugs"]
    code, out, _ = _run(capsys, "audit", "--ladder", "--seeds", "2")
    assert code == 0 and re.search(r"rung 9 +2 +0/\d+ +none", out)
    assert re.search(r"seed-doc +1 +\d+/\d+ +.*uniform_weights", out)


def test_presets_print_answer_sizes_in_tokens_and_what_is_gameable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "presets", "--seeds", "3", "--exact", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"procedural", "seed-doc", "seed-doc-text", "rung 0", "rung 9"} <= set(rows)
    for row in rows.values():
        assert row["answer_unit"] == "tokens"  # a real tokenizer (bpe-openai, a dev dependency)
        assert 0 < row["answer_median"] <= row["answer_max"] <= 0.75 * row["response_tokens"]
    assert rows["rung 9"]["answer_decimals"] == 3 and rows["rung 0"]["policy"] == "lenient"
    assert rows["seed-doc"]["policy"] == "seed-doc" and rows["procedural"]["gameable"] is None
    assert "uniform causal weights" in rows["seed-doc"]["gameable"]
    code, out, _ = _run(capsys, "presets", "--seeds", "2")
    assert code == 0
    assert "GAMEABLE: preset seed-doc: uniform causal weights" in out
    assert "in ~tokens (an estimate that bounds cl100k and o200k counts" in out
    code, out, _ = _run(capsys, "presets", "--seeds", "2", "--exact")
    assert code == 0 and "in tokens (cl100k/o200k, the larger)" in out


def test_old_names_work_with_a_one_line_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "instance", "--json", "--preset", "seed", "--policy", "seed")
    assert code == 0
    data = json.loads(out)
    assert data["preset"] == "seed-doc" and data["policy"] == "lenient"
    notes = err.splitlines()
    assert notes[0] == "attnrl: note: preset 'seed' is deprecated, use 'seed-doc' (same meaning)"
    assert notes[1].startswith("attnrl: note: policy 'seed' is deprecated, use 'lenient'")
    assert notes[2].startswith("attnrl: note: preset 'seed-doc' is the seed document's instance")
    assert len(notes) == 3
    code, out, err = _run(capsys, "prompt")  # the default preset: no note at all
    assert code == 0 and err == "" and "## Inputs" in out


def test_usage_errors_of_the_new_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["audit", "--rung", "10"], "--rung must be 0-9"),
        (["audit", "--preset", "seed-doc", "--rung", "1"], "--rung needs --preset procedural"),
        (["audit", "--seeds", "0"], "--seeds must be in 1..100,000, got 0"),
        (["presets", "--seeds", "0"], "--seeds must be in 1..100,000, got 0"),
        (["prompt", "--preset", "procedural", "--policy", "seed-doc"], "seed-doc presets"),
    ):
        code, out, err = _run(capsys, *argv)
        assert code == 2 and out == "", argv
        assert err.startswith("attnrl: error: ") and message in err and err.count("\n") == 1
