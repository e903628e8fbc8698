"""The task: spec → instance → reference → prompt → grade and diagnose.

Pure and synchronous. :func:`load_task` is the entry point; everything else here is
derived from one :class:`TaskSpec`, so the prompt, the reference, the grading and the bug
catalogue cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attnrl.tasks.attention.grading import Grade
    from attnrl.tasks.attention.spec import TaskSpec
    from attnrl.tasks.attention.task import Task, load_task

__all__ = ["Grade", "Task", "TaskSpec", "load_task"]

_LAZY = {
    "Grade": "attnrl.tasks.attention.grading",
    "TaskSpec": "attnrl.tasks.attention.spec",
    "Task": "attnrl.tasks.attention.task",
    "load_task": "attnrl.tasks.attention.task",
}
"""Resolved on first use, so that importing a light module of the package (``presets`` for
the CLI's help) does not import numpy and the grader."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
