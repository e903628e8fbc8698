"""The package's small public API: load_task, Task, Grade, run."""

from __future__ import annotations

from pathlib import Path

import pytest

import attnrl


def test_public_names() -> None:
    assert set(attnrl.__all__) >= {"load_task", "Task", "Grade", "run"}
    task = attnrl.load_task()
    assert isinstance(task, attnrl.Task)
    grade = task.grade(task.reference())
    assert isinstance(grade, attnrl.Grade) and grade.reward == 1.0


def test_run_is_the_cli_main_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    summary = attnrl.run(out=tmp_path, runs=15, seed=0)
    assert summary["runs"] == 15 and summary["passed"] == 4
    assert (tmp_path / "results.jsonl").exists() and (tmp_path / "summary.json").exists()
    with pytest.raises(ValueError, match="unknown provider"):
        attnrl.run(model="nope/x", out=tmp_path / "x", runs=1)
