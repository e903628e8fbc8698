"""The task plug-in interface: what a task gives, and how attnrl finds tasks.

Pure and synchronous. :func:`load_task` is the entry point; :class:`Task` the contract a task
implements (:mod:`attnrl.task.base`), :class:`Grade` its verdict, :class:`TaskPlugin` its
registration (:mod:`attnrl.task.registry`). The tasks themselves live in :mod:`attnrl.tasks`
(or in any package that registers one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attnrl.task.base import AuditEntry, Task
    from attnrl.task.grade import Grade
    from attnrl.task.registry import TaskPlugin, get_plugin, load_task, task_names
    from attnrl.tasks.attention.spec import TaskSpec

__all__ = [
    "AuditEntry",
    "Grade",
    "Task",
    "TaskPlugin",
    "TaskSpec",
    "get_plugin",
    "load_task",
    "task_names",
]

_LAZY = {
    "AuditEntry": "attnrl.task.base",
    "Grade": "attnrl.task.grade",
    "Task": "attnrl.task.base",
    "TaskPlugin": "attnrl.task.registry",
    "TaskSpec": "attnrl.tasks.attention.spec",
    "get_plugin": "attnrl.task.registry",
    "load_task": "attnrl.task.registry",
    "task_names": "attnrl.task.registry",
}
"""Resolved on first use, so that importing a light module of the package (the registry for
the CLI's help) does not import numpy and the grader. ``TaskSpec`` is the attention task's
spec, kept here for code written before tasks were plug-ins."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
