"""What every adapter shares: rebuild the row's task, grade the submission found in a
completion (see :mod:`attnrl.integrations._extract`), return the reward.

The path is the same for every framework::

    completion text ──extract_submission──▶ answer ──task_for(info).grade──▶ Grade.reward

``info`` is the dataset row's ``info`` column (see :mod:`attnrl.task.dataset`); it carries the
whole spec, so the grader is exactly the one the row was made from. Rebuilt tasks are kept
in an LRU cache keyed by the spec hash, so a trainer's batch of rollouts of one instance
builds its grader once.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import lru_cache
from typing import Any

from attnrl.integrations._extract import (
    NO_SUBMISSION,
    extract_submission,
    submission_from_messages,
)
from attnrl.task import Task, load_task
from attnrl.task.dataset import dataset_row, task_from_info
from attnrl.task.grade import Grade
from attnrl.task.registry import DEFAULT_TASK, UnknownTask, get_plugin
from attnrl.tasks.attention.presets import DEFAULT_PRESET

__all__ = [
    "build_rows",
    "build_tasks",
    "grade_completion",
    "grade_submission",
    "install_hint",
    "resolve_info",
    "reward_for",
    "task_for",
]

_REFERENCE_MATCH_ATOL = 1e-9


def install_hint(module: str, extra: str, package: str) -> str:
    """The message of the ImportError an optional integration raises."""
    return (
        f"attnrl.integrations.{module} needs {package}, which is not installed: "
        f"pip install 'attnrl[{extra}]'"
    )


# -- from a row's info to its task ----------------------------------------------------------


class _SpecKey:
    """An LRU-cache key that hashes and compares by spec hash, and carries the info."""

    __slots__ = ("info", "spec_hash")

    def __init__(self, spec_hash: str, info: dict[str, Any]) -> None:
        self.spec_hash = spec_hash
        self.info = info

    def __hash__(self) -> int:
        return hash(self.spec_hash)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SpecKey) and other.spec_hash == self.spec_hash


@lru_cache(maxsize=1024)
def _task_for_key(key: _SpecKey) -> Task:
    return task_from_info(key.info)


@lru_cache(maxsize=1024)
def _key_for_info_json(info: str) -> _SpecKey:
    try:
        parsed = json.loads(info)
    except ValueError as exc:
        raise ValueError(f"info is not valid JSON: {exc}") from None
    resolved = resolve_info(parsed)
    if resolved is None:
        raise ValueError("info must be an object with a 'spec' object (an attnrl dataset row)")
    return _key_for_dict(resolved)


def _key_for_dict(info: dict[str, Any]) -> _SpecKey:
    """The cache key of an info: the hash of the spec it holds (checked against the hash
    it claims, so an edited row is rejected rather than served a cached grader)."""
    spec = info.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("info must be an object with a 'spec' object (an attnrl dataset row)")
    name = str(info.get("attnrl_task", DEFAULT_TASK))  # rows made before plug-ins: attention
    try:
        spec_hash = get_plugin(name).from_dict(spec).content_hash
    except UnknownTask as exc:
        raise ValueError(f"info['attnrl_task']: {exc}") from None
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ValueError(f"info['spec'] is not a valid attnrl {name} spec: {exc}") from None
    claimed = info.get("spec_hash")
    if claimed is not None and claimed != spec_hash:
        task_from_info(info)  # raises its ValueError naming both hashes
    return _SpecKey(spec_hash, info)


def resolve_info(info: Any) -> Any:
    """The attnrl info inside what a framework passes along: the info object or its JSON
    string, or a mapping that holds it under ``"info"`` (verl's ``extra_info``, a label).
    None when there is none."""
    for _ in range(3):
        if info is None:
            return None
        if isinstance(info, str):
            return info
        if isinstance(info, dict):
            if "spec" in info:
                return info
            info = info.get("info")
            continue
        raise ValueError(f"info must be a dict or a JSON string, got {type(info).__name__}")
    return None


def task_for(info: Any = None, answer: Any = None) -> Task:
    """The task a row describes, from its ``info`` (dict or JSON string; cached by spec hash).

    Without info it is the default preset's task, and ``answer`` (the row's expected
    submission, when given) must be that task's reference, so a row of another instance is
    never silently graded against the wrong one. ValueError for a bad info or a mismatch.
    """
    resolved = resolve_info(info)
    if resolved is None:
        task = _default_task()
        if answer is not None and not _matches_reference(task, answer):
            raise ValueError(
                f"the row's answer is not the reference of the {DEFAULT_PRESET!r} preset: pass "
                "the row's info (from attnrl.task.dataset.dataset_row) so it is graded against its "
                "own instance"
            )
        return task
    key = _key_for_info_json(resolved) if isinstance(resolved, str) else _key_for_dict(resolved)
    return _task_for_key(key)


@lru_cache(maxsize=1)
def _default_task() -> Task:
    return load_task(DEFAULT_PRESET)


def _matches_reference(task: Task, answer: Any) -> bool:
    if isinstance(answer, str):
        return _matches_default_reference_json(answer)
    return _same_answer(task.reference(), answer)


@lru_cache(maxsize=256)
def _matches_default_reference_json(answer: str) -> bool:
    try:
        parsed = json.loads(answer)
    except ValueError:
        return False
    return _same_answer(_default_task().reference(), parsed)


def _same_answer(expected: Any, given: Any) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(given, dict)
            and set(given) == set(expected)
            and all(_same_answer(v, given[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(given, list)
            and len(given) == len(expected)
            and all(_same_answer(e, g) for e, g in zip(expected, given, strict=True))
        )
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        return bool(expected == given)
    return (
        isinstance(given, int | float)
        and not isinstance(given, bool)
        and math.isclose(expected, given, rel_tol=0.0, abs_tol=_REFERENCE_MATCH_ATOL)
    )


# -- grading ---------------------------------------------------------------------------------


def grade_submission(task: Task, submission: Any) -> Grade:
    """The task's grade of an extracted submission; :data:`NO_SUBMISSION` is an invalid
    grade of category ``no_submission``."""
    if submission is NO_SUBMISSION:
        empty = task.grade(None)
        return replace(
            empty,
            message="INVALID: no submission (no JSON object found)",
            category="no_submission",
            diagnosis=None,
        )
    return task.grade(submission)


def grade_completion(
    completion: Any, answer: Any = None, info: Any = None, *, keyword_call: bool = False
) -> Grade:
    """Grade a completion (text or chat messages) against the task of ``info``
    (``keyword_call``: see :func:`~attnrl.integrations._extract.submission_from_messages`)."""
    task = task_for(info, answer)
    if isinstance(completion, str):
        submission = extract_submission(completion)
    else:
        submission = submission_from_messages(
            completion, task.answer_keys(), keyword_call=keyword_call
        )
    return grade_submission(task, submission)


def reward_for(
    completion: Any, answer: Any = None, info: Any = None, *, keyword_call: bool = False
) -> float:
    """The reward of a completion: attnrl's grade of its submission (a text's last JSON
    object; a chat transcript with tool calls, its first ``submit_answer`` call that carries
    an answer, else none).

    ``completion`` is the model's text (or chat messages), ``answer`` and ``info`` the
    dataset row's columns (dicts or JSON strings). Never raises for anything the model
    wrote; ValueError for a bad ``info`` (an operator error).
    """
    return grade_completion(completion, answer, info, keyword_call=keyword_call).reward


# -- dataset rows ----------------------------------------------------------------------------


def build_tasks(
    preset: str = DEFAULT_PRESET, n: int = 1, seed: int | None = None, *, task: str = DEFAULT_TASK
) -> list[Task]:
    """``n`` instances of ``preset`` of registered task ``task``: the fixed instance for n=1
    without a seed, else the instances of seeds ``seed, seed+1, ...`` (from 0 when no seed is
    given)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n == 1:
        return [load_task(preset, seed, task=task)]
    first = 0 if seed is None else seed
    try:
        return [load_task(preset, first + i, task=task) for i in range(n)]
    except ValueError as exc:
        raise ValueError(
            f"cannot draw {n} instances of preset {preset!r} ({exc}); a fixed preset has one "
            "instance: use n=1 and repeat it with the framework's epochs/rollouts"
        ) from None


def build_rows(
    preset: str = DEFAULT_PRESET, n: int = 1, seed: int | None = None, *, task: str = DEFAULT_TASK
) -> list[dict[str, Any]]:
    """:func:`attnrl.task.dataset.dataset_row` of each task of :func:`build_tasks`."""
    return [dataset_row(t) for t in build_tasks(preset, n, seed, task=task)]
