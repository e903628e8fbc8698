"""TRL: a reward function for ``GRPOTrainer`` (and any trainer with TRL's reward contract).

``GRPOTrainer`` calls each reward function as
``reward_func(prompts=..., completions=..., completion_ids=..., **columns)``, where every
dataset column other than ``prompt`` arrives as a list aligned with ``completions`` (here
``answer`` and ``info``, plus ``trainer_state`` in recent versions). Completions are strings
for a standard dataset, and lists of messages (``[{"role": "assistant", "content": ...}]``,
with ``tool_calls`` when TRL runs tools) for a conversational one, which
:func:`attnrl.task.dataset.dataset_row` rows are::

    from trl import GRPOConfig, GRPOTrainer
    from attnrl.integrations.trl import load_dataset, reward_func

    trainer = GRPOTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", reward_funcs=reward_func,
                          train_dataset=load_dataset("procedural", n=512, seed=0),
                          args=GRPOConfig(output_dir="out", max_completion_length=8192))

TRL's default ``max_completion_length=512`` cuts every answer short (reward 0); the README's
settings are :data:`attnrl.integrations._commands.TRL_CONFIG`, which the trainer tier trains
with through TRL's real ``GRPOTrainer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attnrl.integrations._common import build_rows, install_hint, reward_for
from attnrl.tasks.attention.presets import DEFAULT_PRESET

__all__ = ["load_dataset", "reward_func"]


def reward_func(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] = (),
    answer: Sequence[Any] | None = None,
    info: Sequence[Any] | None = None,
    **_kwargs: Any,
) -> list[float]:
    """attnrl's reward of each completion, graded against its own row's task.

    The submission of a string completion is its last JSON object; of a chat completion with
    tool calls, its first ``submit_answer`` call whose arguments are exactly ``{"answer":
    ...}`` (TRL calls ``submit_answer(**arguments)``, so no other call reached the
    environment; the first one closed the episode, and ``AttnrlToolEnv`` refused every later
    call), else none: text is never a tool episode's answer. Without any tool call, the last
    JSON object of its last assistant message. ``info`` rebuilds each row's task (cached by
    spec hash); without it the rows must be of the default preset, which ``answer`` is
    checked against.
    """
    del prompts  # the task comes from info, not from the prompt text
    n = len(completions)
    answers = _column(answer, n, "answer")
    infos = _column(info, n, "info")
    return [
        reward_for(c, a, i, keyword_call=True)  # TRL calls tools as f(**arguments)
        for c, a, i in zip(completions, answers, infos, strict=True)
    ]


def _column(values: Sequence[Any] | None, n: int, name: str) -> Sequence[Any]:
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def load_dataset(
    preset: str = DEFAULT_PRESET, n: int = 1, seed: int | None = None, *, task: str = "attention"
) -> Any:
    """A ``datasets.Dataset`` of ``n`` rows (``prompt``, ``answer``, ``info``) of ``preset``."""
    try:
        from datasets import Dataset
    except ImportError as exc:
        raise ImportError(install_hint("trl", "hf", "the datasets library")) from exc
    return Dataset.from_list(build_rows(preset, n, seed, task=task))
