"""The task: spec → instance → reference → prompt → grade and diagnose.

Pure and synchronous. :func:`load_task` is the entry point; everything else here is
derived from one :class:`TaskSpec`, so the prompt, the reference, the grading and the bug
catalogue cannot disagree.
"""

from __future__ import annotations

from attnrl.task.grading import Grade
from attnrl.task.spec import TaskSpec
from attnrl.task.task import Task, load_task

__all__ = ["Grade", "Task", "TaskSpec", "load_task"]
