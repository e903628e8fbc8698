"""``attnrl check-task``: the contract holds for every registered task, and a task that breaks
it fails the check with one clear line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from attnrl.cli import main
from attnrl.task.check import check_task
from attnrl.task.grade import Grade
from attnrl.task.registry import get_plugin, task_names
from attnrl.tasks.rope.task import RopeTask


@pytest.mark.parametrize("name", task_names())
def test_every_registered_task_passes_the_contract(name: str) -> None:
    results = check_task(name, seeds=8)
    assert [r.name for r in results] == [
        "reference",
        "bad answers",
        "determinism",
        "catalogue",
        "prompt",
        "budget",
    ]
    failed = [r.line() for r in results if not r.passed]
    assert not failed, failed


class _RaisingTask(RopeTask):
    def grade(self, answer: Any) -> Grade:
        if not isinstance(answer, dict):
            raise TypeError("not a dict")
        return super().grade(answer)


class _PayingTask(RopeTask):
    def grade(self, answer: Any) -> Grade:
        grade = super().grade(answer)
        if grade.diagnosis and grade.diagnosis.closest_bug == "unscaled_scores":
            return Grade(True, "full_success", "paid", None, grade.errors, 1.0)
        return grade


class _SilentPromptTask(RopeTask):
    @property
    def prompt(self) -> str:
        return super().prompt.replace("tolerance 0.002", "a small tolerance")


@pytest.mark.parametrize(
    ("cls", "check", "message"),
    [
        (_RaisingTask, "bad answers", "raised TypeError: not a dict"),
        (_PayingTask, "catalogue", "catalogue entries earn reward: ['unscaled_scores']"),
        (_SilentPromptTask, "prompt", "tolerance 0.002 of 'inv_freq' is not in the prompt"),
    ],
)
def test_a_broken_task_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, cls: type[RopeTask], check: str, message: str
) -> None:
    plugin = get_plugin("rope")
    monkeypatch.setattr(type(plugin), "task_type", lambda self: cls)
    results = {r.name: r for r in check_task("rope", seeds=2, processes=False)}
    assert not results[check].passed and message in results[check].detail
    assert "\n" not in results[check].line()


def test_check_task_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-task", "rope", "--seeds", "3", "--json"]) == 0
    assert all(r["passed"] for r in json.loads(capsys.readouterr().out))
    assert main(["check-task", "nope"]) == 2
    assert "unknown task 'nope'; registered tasks: attention, rope" in capsys.readouterr().err
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("attention") and "rope" in out
