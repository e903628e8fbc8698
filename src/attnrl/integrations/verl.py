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

from typing import Any

from attnrl.integrations._common import build_tasks, grade_completion
from attnrl.task import Task
from attnrl.task.dataset import dataset_row
from attnrl.tasks.attention.presets import DEFAULT_PRESET

__all__ = ["DATA_SOURCE", "compute_score", "verl_row", "verl_rows"]

DATA_SOURCE = "attnrl"
"""The ``data_source`` of attnrl rows (verl logs metrics per data source)."""


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
    (fenced or bare, or a ``submit_answer`` tool call). ``extra_info`` is the row's
    ``extra_info`` (holding the attnrl ``info`` under ``"info"``) or the info itself, as a
    dict or JSON string; without it the row must be of the default preset.

    With ``details=True`` (``+reward.custom_reward_function.reward_kwargs.details=true``) it returns
    verl's dict form: ``score`` plus ``passed`` and ``outcome``, which verl logs per sample.
    """
    del data_source  # one task family; verl routes by data_source before calling us
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
