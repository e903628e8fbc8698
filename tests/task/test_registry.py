"""The task registry: the entry point group, the built-ins, clear errors for bad names."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import attnrl
from attnrl.task import Task, load_task
from attnrl.task.registry import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    TaskPlugin,
    UnknownTask,
    get_plugin,
    task_names,
)
from attnrl.tasks.attention import presets

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_registers_the_builtin_tasks_through_the_entry_point_group() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == BUILTIN


def test_every_registered_task_loads_and_grades_its_reference() -> None:
    assert task_names()[:2] == ["attention", "rope"]
    for name in task_names():
        plugin = get_plugin(name)
        task = plugin.load()
        assert isinstance(task, Task) and task.task_name == name
        assert task.grade(task.reference()).reward == 1.0
        assert plugin.from_dict(task.spec.to_dict()).content_hash == task.content_hash


def test_attention_plugin_names_match_its_presets_module() -> None:
    plugin = get_plugin("attention")
    assert plugin.presets == presets.PRESETS and plugin.default_preset == presets.DEFAULT_PRESET
    assert plugin.seeded_presets == presets.SEEDED_PRESETS
    assert plugin.knobs == presets.DIFFICULTY_KNOBS


def test_load_task_keeps_its_attention_default_and_takes_task() -> None:
    assert load_task().task_name == "attention" and load_task().name == "procedural"
    assert (
        attnrl.load_task(task="rope", seed=3).content_hash
        == load_task(None, 3, task="rope").content_hash
    )
    assert isinstance(load_task(task="rope"), attnrl.Task)


def test_unknown_task_names_the_registered_ones() -> None:
    with pytest.raises(
        UnknownTask, match=r"unknown task 'nope'; registered tasks: attention, rope"
    ):
        get_plugin("nope")


def test_plugin_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="task name"):
        TaskPlugin("bad name", "", "m:C", "m:f", "m:g", ("p",), frozenset())
    with pytest.raises(ValueError, match="seeded presets must be among"):
        TaskPlugin("x", "", "m:C", "m:f", "m:g", ("p",), frozenset({"q"}))


def test_a_class_that_is_not_a_task_is_refused() -> None:
    plugin = TaskPlugin("x", "", "attnrl.task.grade:Grade", "m:f", "m:g", ("p",), frozenset())
    with pytest.raises(TypeError, match="is not an attnrl Task class"):
        plugin.task_type()
