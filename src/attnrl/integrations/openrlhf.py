"""OpenRLHF: a custom ``reward_func`` file for ``--reward.remote_url``, and its JSONL rows.

OpenRLHF 0.11 loads the file given as ``--reward.remote_url /path/to/file.py`` (older
releases: ``--remote_rm_url``) and calls ``reward_func(queries, prompts, labels)`` from a thread,
one sample at a time (``openrlhf/utils/agent.py``): ``queries`` are the decoded prompt +
response (special tokens kept), ``prompts`` the prompts, ``labels`` the dataset's
``--data.label_key`` column. It turns any exception into a log line and a None reward, so this
function never raises for anything the model wrote. Since v0.8 it concatenates the returned
``"rewards"``, ``"scores"`` and each ``"extra_logs"`` value with ``torch.cat``, so those must
be 1-D tensors; older versions accept a bare tensor. This function returns the dict, with
tensors when torch is importable (it always is inside OpenRLHF) and plain lists otherwise, so
it can be tested and reused without torch::

    --reward.remote_url $(python -c "import attnrl.integrations.openrlhf as m; print(m.__file__)")
    --data.input_key prompt --data.label_key label --data.apply_chat_template

The full command is :func:`attnrl.integrations._commands.openrlhf_shell` (what the README
prints and the trainer tier parses with OpenRLHF's own parser).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

from attnrl.integrations._common import build_tasks, grade_completion
from attnrl.task import Task
from attnrl.task.dataset import dataset_row
from attnrl.tasks.attention.presets import DEFAULT_PRESET

__all__ = ["openrlhf_row", "openrlhf_rows", "reward_func"]


def reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **_kwargs: Any
) -> dict[str, Any]:
    """attnrl's reward of each response: ``{"rewards", "scores", "extra_logs"}``.

    Each label is ``{"answer": ..., "info": ...}`` (a JSON string or a dict, as written by
    :func:`openrlhf_row`). The response is the query with its prompt prefix removed (the
    whole query when the prefix does not match), and its submission the last JSON object in
    it. ``scores`` (used by ``--dynamic_filtering``) equal ``rewards``, both in [0, 1];
    ``extra_logs`` has ``attnrl_passed`` and ``attnrl_full_success`` (1.0/0.0) for wandb.
    """
    if not len(queries) == len(prompts) == len(labels):
        raise ValueError(
            f"queries, prompts and labels differ in length: "
            f"{len(queries)}, {len(prompts)}, {len(labels)}"
        )
    rewards: list[float] = []
    passed: list[float] = []
    full: list[float] = []
    for query, prompt, label in zip(queries, prompts, labels, strict=True):
        answer, info = _parse_label(label)
        response = query[len(prompt) :] if prompt and query.startswith(prompt) else query
        grade = grade_completion(response, answer, info)
        rewards.append(grade.reward)
        passed.append(1.0 if grade.passed else 0.0)
        full.append(1.0 if grade.outcome == "full_success" else 0.0)
    return {
        "rewards": _tensor(rewards),
        "scores": _tensor(rewards),
        "extra_logs": {"attnrl_passed": _tensor(passed), "attnrl_full_success": _tensor(full)},
    }


def _parse_label(label: Any) -> tuple[Any, Any]:
    if isinstance(label, str):
        try:
            label = json.loads(label)
        except ValueError as exc:
            raise ValueError(f"an attnrl label must be JSON, got {label[:80]!r}: {exc}") from None
    if not isinstance(label, dict) or "info" not in label:
        raise ValueError(
            "an attnrl label must be an object with 'answer' and 'info' "
            "(write rows with attnrl.integrations.openrlhf.openrlhf_row)"
        )
    return label.get("answer"), label["info"]


def _tensor(values: list[float]) -> Any:
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return values
    return torch.tensor(values, dtype=torch.float32)


def openrlhf_row(task: Task) -> dict[str, Any]:
    """One JSONL row: ``prompt`` (chat messages, for ``--data.apply_chat_template``) and
    ``label`` (JSON string of ``{"answer", "info"}``)."""
    row = dataset_row(task)
    label = json.dumps({"answer": row["answer"], "info": row["info"]}, separators=(",", ":"))
    return {"prompt": row["prompt"], "label": label}


def openrlhf_rows(
    preset: str = DEFAULT_PRESET, n: int = 1, seed: int | None = None, *, task: str = "attention"
) -> list[dict[str, Any]]:
    """:func:`openrlhf_row` for ``n`` instances of ``preset`` of task ``task``."""
    return [openrlhf_row(t) for t in build_tasks(preset, n, seed, task=task)]
