r"""verl: a custom reward function, and dataset rows in verl's parquet layout.

verl's reward managers (``naive``, ``batch``, ``dapo``, ...) call
``compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)`` for
each response, where ``ground_truth`` is the row's ``reward_model.ground_truth`` and
``extra_info`` its ``extra_info`` dict (to which verl adds keys such as ``num_turns``);
``reward.custom_reward_function.reward_kwargs`` arrive as extra keyword arguments. Point
verl 0.9 at this file under ``reward.`` (the top-level ``custom_reward_function.*`` of older
versions is still accepted by ``main_ppo`` and silently ignored)::

    REWARD_FILE=$(python -c "import attnrl.integrations.verl as m; print(m.__file__)")
    python -m verl.trainer.main_ppo ... reward.custom_reward_function.path=$REWARD_FILE \
        reward.custom_reward_function.name=compute_score

The full command, with prompt and response lengths that fit, is
:func:`attnrl.integrations._commands.verl_shell` (what the README prints and the trainer tier
runs through verl's own config).

verl loads the file by path (as module ``custom_module``), so this module only uses
absolute imports of attnrl and needs nothing of verl itself.
"""

from __future__ import annotations

import re
from typing import Any

from attnrl.harness import tamper
from attnrl.integrations._common import build_tasks, grade_completion, grade_submission, task_for
from attnrl.task import Task
from attnrl.task.dataset import dataset_row
from attnrl.task.tools import SUBMIT_TOOL
from attnrl.tasks.attention.presets import DEFAULT_PRESET

__all__ = [
    "DATA_SOURCE",
    "RECEIPT_KEY",
    "RECEIPT_LINE",
    "RECORD_PREFIX",
    "SUBMISSION_KEY",
    "TAMPER_KEY",
    "compute_score",
    "episode_record",
    "tool_episode_score",
    "verl_row",
    "verl_rows",
]

DATA_SOURCE = "attnrl"
"""The ``data_source`` of attnrl rows (verl logs metrics per data source)."""
SUBMISSION_KEY = "attnrl_submission"
"""``extra_fields`` key of a tool episode's first submission (its JSON), written once by
attnrl's verl tools (:mod:`attnrl.integrations.verl_tools`)."""
REPEATS_KEY = "attnrl_repeats"
"""``extra_fields`` key of the episode's repeated calls and the previous call's digest."""
TAMPER_KEY = "attnrl_tamper"
"""``extra_fields`` key of the episode's tamper counters (name -> count), written on every
tool call."""
RECEIPT_KEY = "attnrl_episode"
"""``extra_fields`` key of the episode's receipt: 16 random hex digits, made at its first
tool call and shown to the model on the first line of that call's result
(:data:`RECEIPT_LINE`)."""
RECEIPT_LINE = "attnrl episode "
"""The first line of an episode's first tool result: this, then the receipt."""
RECORD_PREFIX = "attnrl_record:"
"""``extra_fields[RECORD_PREFIX + receipt]``: the episode's record (its submission, tamper
counters and repeats, as under the plain keys) under a key no other episode writes. verl's
colocated reward path merges the tool fields of a prompt's rollouts into one shared
``extra_info``: the record whose receipt a rollout's response shows is that rollout's."""
_RECEIPT_SHOWN = re.compile(re.escape(RECEIPT_LINE) + r"([0-9a-f]{16})\b")


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    details: bool = False,
    **_reward_kwargs: Any,
) -> float | dict[str, Any]:
    """The attnrl reward of one verl response.

    ``solution_str`` is the decoded response; its submission is the last JSON object in it
    (fenced or bare, or a ``submit_answer`` tool call). When ``extra_info`` holds a tool
    episode that attnrl's verl tools recorded, the response is not read at all: it also holds
    the tool calls the episode refused after its first submission, so the episode is graded
    as :mod:`attnrl.integrations.verl_tools` grades it. ``extra_info`` is the row's
    ``extra_info`` (holding the attnrl ``info`` under ``"info"``) or the info itself, as a
    dict or JSON string; without it the row must be of the default preset.

    With ``details=True`` (``+reward.custom_reward_function.reward_kwargs.details=true``) it returns
    verl's dict form: ``score`` plus ``passed`` and ``outcome``, which verl logs per sample.
    """
    del data_source  # one task family; verl routes by data_source before calling us
    if is_tool_episode(extra_info):  # a tool row graded with this file: grade what it recorded
        result = tool_episode_score(extra_info, ground_truth, solution_str)
        return result if details else float(result["score"])
    grade = grade_completion(solution_str, ground_truth, extra_info)
    if details:
        return {"score": grade.reward, "passed": grade.passed, "outcome": grade.outcome}
    return grade.reward


def verl_row(task: Task, index: int = 0, split: str = "train") -> dict[str, Any]:
    """One row of a verl RL parquet file for ``task``.

    ``extra_info["info"]`` is the attnrl info as a JSON string: a string column keeps the
    parquet schema the same for every preset.
    """
    row = dataset_row(task)
    return {
        "data_source": DATA_SOURCE,
        "prompt": row["prompt"],
        "ability": "attention",
        "reward_model": {"style": "rule", "ground_truth": row["answer"]},
        "extra_info": {"split": split, "index": index, "info": row["info"]},
    }


def verl_rows(
    preset: str = DEFAULT_PRESET,
    n: int = 1,
    seed: int | None = None,
    split: str = "train",
    *,
    task: str = "attention",
) -> list[dict[str, Any]]:
    """:func:`verl_row` for ``n`` instances of ``preset`` of ``task`` (see ``build_tasks``)."""
    tasks = build_tasks(preset, n, seed, task=task)
    return [verl_row(t, i, split) for i, t in enumerate(tasks)]


def is_tool_episode(extra_info: Any) -> bool:
    """Whether ``extra_info`` is of an episode of attnrl's verl tools: one of them was called,
    or the row hands them the instance (``tools_kwargs`` naming ``submit_answer``), so its
    answer is what the tools recorded, never text, even when the model called no tool."""
    if not isinstance(extra_info, dict):
        return False
    if SUBMISSION_KEY in extra_info or TAMPER_KEY in extra_info:
        return True
    tools = extra_info.get("tools_kwargs")
    return isinstance(tools, dict) and SUBMIT_TOOL in tools


def tool_episode_score(
    extra_info: Any, ground_truth: Any = None, response: str | None = None
) -> dict[str, Any]:
    """The grade of a tool episode's recorded first submission in verl's dict form:
    ``score``, ``passed``, ``outcome`` (``no_submission`` without one), the episode's
    ``tamper/*`` counters and ``repeats`` (calls that repeated the previous call exactly).
    ``response`` (verl's ``solution_str``) names the episode: :func:`episode_record`."""
    info = extra_info if isinstance(extra_info, dict) else {}
    task = task_for(info.get("info", extra_info), ground_truth)
    extra = episode_record(info, response)
    submitted = extra.get(SUBMISSION_KEY)
    if submitted is None:
        score, passed, outcome = 0.0, False, "no_submission"
    else:
        grade = grade_submission(task, submitted)
        score, passed, outcome = grade.reward, grade.passed, grade.outcome
    counts = tamper.summed([extra.get(TAMPER_KEY) or {}])
    return {
        "score": score,
        "passed": passed,
        "outcome": outcome,
        "repeats": episode_repeats(extra)[0],
        **{f"tamper/{k}": v for k, v in counts.items()},
    }


def episode_record(extra: dict[str, Any], response: str | None) -> dict[str, Any]:
    """The fields of the episode whose ``response`` this is: the record whose receipt the
    response shows (:data:`RECORD_PREFIX`); nothing when ``extra`` holds records of other
    episodes only (a rollout that called no tool, in a dict its siblings wrote to); the plain
    keys when it holds no record (written before receipts, or by hand)."""
    records = {
        key[len(RECORD_PREFIX) :]: value
        for key, value in extra.items()
        if isinstance(key, str) and key.startswith(RECORD_PREFIX)
    }
    if not records:
        return extra
    for receipt in _RECEIPT_SHOWN.findall(response or ""):
        record = records.get(receipt)
        if record is not None:
            return record if isinstance(record, dict) else {}
    return {}


def episode_repeats(extra: dict[str, Any]) -> tuple[int, str | None]:
    """The repeated calls and the previous call's digest that attnrl's verl tools left in
    verl's episode (0 and None when absent or malformed)."""
    value = extra.get(REPEATS_KEY)
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return max(0, value[0]), value[1] if isinstance(value[1], str) else None
    return 0, None
