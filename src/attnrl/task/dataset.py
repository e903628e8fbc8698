"""Dataset rows in the column convention of verifiers and TRL, and the way back to a task.

A row is ``{"prompt": [chat messages], "answer": "<expected submission JSON>",
"info": "<JSON: attnrl_task, preset, seed, spec, spec_hash>"}``. ``info`` carries the task's
name and its whole spec, so :func:`task_from_info` rebuilds the exact task on any machine (a
row without ``attnrl_task`` is an attention row, as written before tasks were plug-ins), and
checks the hash. Not ``task``: verifiers reserves ``info["task"]`` for its own payloads.
"""

from __future__ import annotations

import json
from typing import Any

from attnrl.task.base import Task
from attnrl.task.registry import DEFAULT_TASK, UnknownTask, get_plugin

__all__ = ["dataset_row", "task_from_info"]


def dataset_row(task: Task) -> dict[str, Any]:
    """One row for ``task``: chat-format prompt, JSON answer, JSON info."""
    spec = task.spec
    info = {
        "attnrl_task": task.task_name,
        "preset": spec.preset,
        "seed": spec.seed,
        "spec_hash": task.content_hash,
        "spec": spec.to_dict(),
    }
    return {
        "prompt": [{"role": "user", "content": task.prompt}],
        "answer": json.dumps(task.reference(), separators=(",", ":")),
        "info": json.dumps(info, separators=(",", ":")),
    }


def task_from_info(info: dict[str, Any] | str) -> Task:
    """The task a row's ``info`` describes (dict or JSON string); ValueError if it is not one."""
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError as exc:
            raise ValueError(f"info is not valid JSON: {exc}") from None
    if not isinstance(info, dict) or not isinstance(info.get("spec"), dict):
        raise ValueError("info must be an object with a 'spec' object (an attnrl dataset row)")
    name = info.get("attnrl_task", DEFAULT_TASK)
    try:
        plugin = get_plugin(str(name))
    except UnknownTask as exc:
        raise ValueError(f"info['attnrl_task']: {exc}") from None
    try:
        task = plugin.from_dict(info["spec"])
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"info['spec'] is not a valid attnrl {name} spec: {exc}") from None
    expected = info.get("spec_hash")
    if expected is not None and task.content_hash != expected:
        raise ValueError(
            f"info['spec'] hashes to {task.content_hash[:12]}, not {str(expected)[:12]}: "
            "the row was edited or made by an incompatible attnrl version"
        )
    return task
