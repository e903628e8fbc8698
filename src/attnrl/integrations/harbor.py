"""Harbor tasks: each attnrl instance as a Harbor task directory (``attnrl export --format
harbor``), so frameworks that read Harbor's format can run and grade it.

A directory holds ``instruction.md`` (the task's prompt, plus where to put the answer),
``task.toml``, ``environment/Dockerfile`` (Python and a pinned numpy: what the python tool
offers), ``solution/solve.sh`` (the oracle: the task's own solution code) and ``tests/``:
``test.sh`` runs attnrl's grader on ``/app/answer.json`` against the row's ``info`` and writes
Harbor's ``/logs/verifier/reward.txt``. The verifier runs in a separate container (the
answer is the one artifact carried over), so the agent cannot reach the grader. The grader
is attnrl itself, vendored into ``tests/`` (its task packages; the verifier installs nothing
at run time). Checked with Harbor's own
loader and linter (``make test-harbor``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import attnrl
from attnrl.task.base import Task
from attnrl.task.dataset import dataset_row

__all__ = ["ANSWER_PATH", "NUMPY_PIN", "export_harbor", "harbor_task_dir"]

ANSWER_PATH = "/app/answer.json"
NUMPY_PIN = "numpy==2.2.6"
PYTHON_IMAGE = "python:3.12-slim"
_VENDORED = ("__init__.py", "task", "tasks", "sandbox/__init__.py", "sandbox/limits.py")
"""What the grader imports of attnrl (the registry, the tasks, the sandbox limits)."""

_GRADE = '''"""attnrl's grader for this Harbor task: grade the agent's answer, write the reward."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "vendor"))

from attnrl.task.dataset import task_from_info  # noqa: E402

tests = Path(__file__).resolve().parent
answer_path = Path(os.environ.get("ATTNRL_ANSWER", "/app/answer.json"))
reward_dir = Path(os.environ.get("ATTNRL_VERIFIER_DIR", "/logs/verifier"))
task = task_from_info((tests / "info.json").read_text(encoding="utf-8"))
try:
    answer = answer_path.read_bytes()
except OSError:
    answer = None
grade = task.grade(answer) if answer is not None else None
reward = grade.reward if grade is not None else 0.0
reward_dir.mkdir(parents=True, exist_ok=True)
(reward_dir / "reward.txt").write_text(f"{reward:g}\\n", encoding="utf-8")
verdict = grade.to_dict() if grade is not None else {"outcome": "no_submission", "reward": 0.0}
(reward_dir / "grade.json").write_text(json.dumps(verdict), encoding="utf-8")
print(grade.message if grade is not None else f"no answer at {answer_path}")
'''

_TEST_SH = """#!/bin/bash
# attnrl's grader: the reward of /app/answer.json, written to /logs/verifier/reward.txt.
python3 "$(dirname "$0")/grade.py"
"""


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for this text


def _instruction(task: Task) -> str:
    return (
        task.prompt
        + "\n## In this environment\n"
        + "There are no tool calls here: you work in a shell with python3 and numpy. Instead of "
        + f"calling submit_answer, write the answer object as JSON to `{ANSWER_PATH}`. It is "
        + "graded once, after you finish, exactly as submit_answer would grade it.\n"
    )


def _config(task: Task, name: str) -> str:
    spec = task.spec
    seed = "none" if spec.seed is None else str(spec.seed)
    return "\n".join(
        [
            f"artifacts = [{_toml_str(ANSWER_PATH)}]",
            "",
            "[task]",
            f"name = {_toml_str('attnrl/' + name)}",
            f"description = {_toml_str(task.title + ' (attnrl, tolerance-graded)')}",
            f'keywords = ["attnrl", {_toml_str(task.task_name)}]',
            "",
            "[metadata]",
            f"attnrl_task = {_toml_str(task.task_name)}",
            f"preset = {_toml_str(spec.preset)}",
            f"seed = {_toml_str(seed)}",
            f"spec_hash = {_toml_str(task.content_hash)}",
            f"attnrl_version = {_toml_str(attnrl.__version__)}",
            "",
            "[verifier]",
            "timeout_sec = 120.0",
            'environment_mode = "separate"  # a fresh container: the agent cannot touch the grader',
            "",
            "[agent]",
            "timeout_sec = 1800.0",
            "",
            "[environment]",
            "build_timeout_sec = 600.0",
            "cpus = 1",
            "memory_mb = 2048",
            "",
        ]
    )


def _solve(task: Task) -> str:
    code = "import numpy as np\n" + task.solution_code()
    return (
        "#!/bin/bash\n# The oracle: the task's own solution code, its answer written where the "
        f"grader reads it.\npython3 - > {ANSWER_PATH} <<'ATTNRL_SOLUTION'\n{code}ATTNRL_SOLUTION\n"
    )


def _vendor(dest: Path) -> None:
    package = Path(attnrl.__file__).resolve().parent
    for rel in _VENDORED:
        src, out = package / rel, dest / "attnrl" / rel
        if src.is_dir():
            shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)


def harbor_task_dir(task: Task, out: Path) -> Path:
    """Write ``task`` as one Harbor task directory under ``out``; returns its path."""
    seed = "fixed" if task.spec.seed is None else str(task.spec.seed)
    name = f"{task.task_name}-{task.spec.preset}-{seed}-{task.content_hash[:12]}"
    root = out / name
    if root.exists():
        raise FileExistsError(f"{root} exists; export into an empty directory")
    (root / "environment").mkdir(parents=True)
    (root / "solution").mkdir()
    (root / "tests").mkdir()
    (root / "instruction.md").write_text(_instruction(task), encoding="utf-8")
    (root / "task.toml").write_text(_config(task, name), encoding="utf-8")
    (root / "environment" / "Dockerfile").write_text(
        f"FROM {PYTHON_IMAGE}\nRUN pip install --no-cache-dir {NUMPY_PIN}\nWORKDIR /app\n",
        encoding="utf-8",
    )
    (root / "solution" / "solve.sh").write_text(_solve(task), encoding="utf-8")
    (root / "tests" / "test.sh").write_text(_TEST_SH, encoding="utf-8")
    (root / "tests" / "grade.py").write_text(_GRADE, encoding="utf-8")
    (root / "tests" / "info.json").write_text(dataset_row(task)["info"], encoding="utf-8")
    for script in (root / "solution" / "solve.sh", root / "tests" / "test.sh"):
        script.chmod(0o755)
    _vendor(root / "tests" / "vendor")
    return root


def export_harbor(tasks: Iterable[Task], out: Path) -> list[Path]:
    """Every task as a Harbor task directory under ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    return [harbor_task_dir(task, out) for task in tasks]
