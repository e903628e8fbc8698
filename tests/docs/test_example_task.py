"""The "write your own task" page's example package: built and installed as a wheel (offline,
by uv), found through the ``attnrl.tasks`` entry point with no edit to attnrl, passing
``attnrl check-task`` and running through ``attnrl run``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "attnrl-softmax-task"
UV = ROOT / "tools" / "uv"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed into a target directory (a wheel built from its pyproject)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("src") / "pkg"
    shutil.copytree(EXAMPLE, build)  # never write build files into the docs tree
    done = subprocess.run(
        [str(UV), "pip", "install", "--offline", "--no-deps", "--target", str(target), str(build)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (target / "attnrl_softmax").is_dir()
    return target


def _attnrl(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_the_installed_example_is_registered_and_passes_check_task(installed: Path) -> None:
    listed = _attnrl(installed, "tasks")
    assert listed.returncode == 0 and "softmax " in listed.stdout
    checked = _attnrl(installed, "check-task", "softmax", "--seeds", "10", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {r["name"] for r in json.loads(checked.stdout) if r["passed"]} == {
        "reference",
        "bad answers",
        "determinism",
        "catalogue",
        "prompt",
        "budget",
    }


def test_the_example_runs_through_attnrl_run(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _attnrl(installed, "run", "--task", "softmax", "--model", "simulated", "--runs", "6",
                   "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "TASK ANALYSIS - Temperature softmax" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "softmax" and summary["runs"] == 6 and summary["passed"] >= 1


def test_without_the_package_the_task_is_unknown(tmp_path: Path) -> None:
    done = _attnrl(tmp_path, "check-task", "softmax")
    assert done.returncode == 2
    assert "unknown task 'softmax'; registered tasks: attention, rope" in done.stderr


SIZE_PROBE = """
import json
from attnrl.task import load_task
from attnrl.task.submission import MAX_SUBMISSION_BYTES
task = load_task(task="softmax", seed=3)
ref = task.reference()
padded = json.dumps(ref) + " " * (MAX_SUBMISSION_BYTES + 10)     # whitespace: still the answer
huge = dict(ref, logits=[[0.5] * (MAX_SUBMISSION_BYTES // 4)])   # over the limit as JSON
print(json.dumps([
    task.grade(ref).outcome, task.grade(json.dumps(ref)).outcome,
    task.grade(json.dumps(ref).encode()).outcome, task.grade(padded).outcome,
    task.grade(huge).message[:60], task.grade(b"\\xff{}").message, task.grade("[1]").message,
]))
"""


def test_the_example_reads_submissions_as_attnrl_does(installed: Path) -> None:
    """The page tells plug-in authors to start ``grade`` with ``parse_submission``: the example
    does, so JSON text, bytes and objects grade alike and the size limit holds."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(installed)
    done = subprocess.run(
        [sys.executable, "-c", SIZE_PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    obj, text, raw, padded, huge, bad_utf8, array = json.loads(done.stdout)
    assert obj == text == raw == padded == "full_success"
    assert huge.startswith("INVALID: submission is") and "canonical JSON" in huge, huge
    assert bad_utf8 == "INVALID: submission is not UTF-8 text (invalid byte at offset 0)"
    assert array == "INVALID: submission must be a JSON object, got an array"
