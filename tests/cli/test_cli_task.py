"""The task subcommands: exit codes and JSON shapes of DESIGN.md section 4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.cli import main
from attnrl.task import load_task


def run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_python_dash_m_verify_reference_round_trip() -> None:
    ref = run(["reference", "--json"])
    assert ref.returncode == 0
    verdict = run(["verify", "--json", "-"], stdin=ref.stdout)
    assert verdict.returncode == 0, verdict.stderr
    data = json.loads(verdict.stdout)
    assert data["passed"] is True and data["outcome"] == "full_success"
    assert data["category"] is None and data["reward"] == 1.0
    assert set(data["errors"]) == set(load_task().spec.answer_keys()) - {"causal_mask_applied"}


def test_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = load_task().reference() | {"causal_mask_applied": False}
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer))
    assert main(["verify", "--json", str(path)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "partial" and data["category"] == "causal_mask"
    assert data["passed"] is False and data["reward"] == 0.0
    path.write_text("{not json")
    assert main(["verify", str(path)]) == 1
    assert "INVALID: submission is not valid JSON" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["verify", "--preset", "nope", str(path)]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_verify_text_output_shows_diagnosis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = load_task()
    path = tmp_path / "bug.json"
    path.write_text(json.dumps(task.bugs()[2].submission(task.spec)))
    assert main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILURE: Incorrect")
    assert "closest known bug: reversed_mask" in out and "reward: 0" in out


def test_instance_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["instance", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["inputs"]) == {"Q", "K", "V", "pos_emb"}
    assert data["heads"] == [{"qk": [0, 1], "v": [0, 2]}, {"qk": [1, 3], "v": [2, 3]}]
    assert data["value_source"] == "v_pos"
    assert data["mask"] == {"kind": "causal", "window": None}
    assert data["tolerances"] == {"position": 0.1, "weights": 0.15, "outputs": 0.2}
    assert data["expected"] == load_task().reference()


def test_prompt_command_prints_the_task_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt"]) == 0
    assert capsys.readouterr().out == load_task().prompt
    assert main(["prompt", "--preset", "seed-doc-text", "--tools"]) == 0
    out = capsys.readouterr().out
    assert "V1 = Q_pos[:, 0:2]" in out and '"name": "submit_answer"' in out


def test_audit_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--json"]) == 0  # the default preset: procedural, seed 0
    entries = json.loads(capsys.readouterr().out)
    assert all({"name", "kind", "category", "errors", "detected"} <= set(e) for e in entries)
    assert all(e["detected"] and e["reward"] == 0 for e in entries)
    assert main(["audit", "--preset", "seed-doc", "--json"]) == 0
    by_name = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert by_name["no_scaling"]["detected"] is False
    assert by_name["uniform_weights"]["kind"] == "cheap"
    assert by_name["uniform_weights"]["outcome"] == "full_success"
    assert main(["audit", "--preset", "seed-doc"]) == 0
    text = capsys.readouterr().out
    assert "PAID DESPITE THE MISTAKE: no_scaling" in text and "uniform_weights" in text


def test_usage_errors_exit_2() -> None:
    proc = run(["verify"])
    assert proc.returncode == 2 and "FILE|-" in proc.stderr
    proc = run(["reference", "--preset", "seed-doc", "--seed", "3"])
    assert proc.returncode == 2 and "takes no seed" in proc.stderr
