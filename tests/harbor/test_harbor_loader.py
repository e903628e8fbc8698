"""``attnrl export --format harbor`` read by Harbor's own code (0.25.0): every exported task of
every registered task loads with Harbor's ``Task`` and passes its linter's default rules."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from harbor.lint.models import DEFAULT_RULES
from harbor.lint.task import lint_task
from harbor.models.task.config import VerifierEnvironmentMode
from harbor.models.task.task import Task

ATTNRL = os.environ.get("ATTNRL_BIN", "attnrl")


def export(out: Path, *args: str) -> list[Path]:
    done = subprocess.run(
        [ATTNRL, "export", "--format", "harbor", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return sorted(p for p in out.iterdir() if p.is_dir())


@pytest.mark.parametrize(
    ("args", "count", "task"),
    [
        (["--task", "attention", "--n", "3", "--seed", "4"], 3, "attention"),
        (["--task", "attention", "--preset", "seed-doc"], 1, "attention"),
        (["--task", "rope", "--n", "3", "--knob", "pairing=interleaved"], 3, "rope"),
    ],
)
def test_harbor_loads_and_lints_every_exported_task(
    tmp_path: Path, args: list[str], count: int, task: str
) -> None:
    dirs = export(tmp_path / "tasks", *args)
    assert len(dirs) == count
    for path in dirs:
        loaded = Task(path)
        assert loaded.name == f"attnrl/{path.name}"
        assert loaded.config.metadata["attnrl_task"] == task
        assert "answer.json" in loaded.instruction and "## Answer" in loaded.instruction
        assert loaded.config.verifier.environment_mode == VerifierEnvironmentMode.SEPARATE
        assert [str(a) for a in loaded.config.artifacts] == ["/app/answer.json"]
        assert loaded.paths.test_path.is_file() and loaded.paths.solve_path.is_file()
        findings = [f for f in lint_task(path) if f.rule in DEFAULT_RULES]
        assert not findings, [f.message for f in findings]


def test_a_broken_export_is_what_harbors_linter_reports(tmp_path: Path) -> None:
    """The check above can fail: an export without its test script is reported."""
    (path,) = export(tmp_path / "tasks", "--task", "rope")
    (path / "tests" / "test.sh").unlink()
    assert [f for f in lint_task(path) if f.rule in DEFAULT_RULES]
