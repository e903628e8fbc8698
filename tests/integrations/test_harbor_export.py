"""The Harbor export's own files work: the oracle's code earns reward 1 from the exported
grader (attnrl vendored into tests/), a catalogued bug and a missing answer earn 0. Harbor's
loader and linter read the same directories in ``make test-harbor``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.cli import main
from attnrl.integrations.harbor import export_harbor
from attnrl.task import load_task


def _grade(task_dir: Path, answer: Path, tmp_path: Path) -> tuple[str, dict[str, object]]:
    logs = tmp_path / "logs"
    env = {"ATTNRL_ANSWER": str(answer), "ATTNRL_VERIFIER_DIR": str(logs), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-I", str(task_dir / "tests" / "grade.py")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    del done
    grade = json.loads((logs / "grade.json").read_text())
    return (logs / "reward.txt").read_text().strip(), grade


@pytest.mark.parametrize("task", ["rope", "attention"])
def test_the_oracle_earns_1_and_a_bug_0_from_the_exported_grader(tmp_path: Path, task: str) -> None:
    instance = load_task(task=task, seed=2)
    (task_dir,) = export_harbor([instance], tmp_path / "out")
    solve = (task_dir / "solution" / "solve.sh").read_text()
    code = re.search(r"<<'ATTNRL_SOLUTION'\n(.*)ATTNRL_SOLUTION\n", solve, re.S)
    assert code is not None and "/app/answer.json" in solve
    answer = tmp_path / "answer.json"
    out = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, check=True)
    answer.write_bytes(out.stdout)
    reward, grade = _grade(task_dir, answer, tmp_path / "a")
    assert reward == "1" and grade["outcome"] == "full_success"
    bug = instance.bugs()[0]
    answer.write_text(json.dumps(instance.entry_answer(bug)))
    reward, grade = _grade(task_dir, answer, tmp_path / "b")
    assert reward == "0" and grade["reward"] == 0.0
    reward, grade = _grade(task_dir, tmp_path / "missing.json", tmp_path / "c")
    assert reward == "0" and grade["outcome"] == "no_submission"
    vendored = task_dir / "tests" / "vendor" / "attnrl"
    assert (vendored / "task" / "registry.py").is_file() and not (vendored / "cli").exists()


def test_export_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tasks"
    assert (
        main(["export", "--format", "harbor", "--task", "rope", "--n", "2", "--out", str(out)]) == 0
    )
    assert "wrote 2 Harbor task(s)" in capsys.readouterr().out
    assert len(list(out.iterdir())) == 2
    assert main(["export", "--format", "harbor", "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    fixed = ["export", "--format", "harbor", "--preset", "seed-doc", "--n", "2"]
    assert main([*fixed, "--out", str(tmp_path / "x")]) == 2
    assert "one fixed instance" in capsys.readouterr().err
