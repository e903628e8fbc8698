"""attnrl: tolerance-graded RL tasks for LLM agents, starting with positional multi-head
attention.

The public API is small: :func:`load_task` gives a :class:`Task` (prompt, tools,
reference, :meth:`Task.grade` → :class:`Grade`) of any registered task; :func:`run` runs a
batch of attempts as ``attnrl run`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attnrl.task import Task, load_task
    from attnrl.task.grade import Grade
    from attnrl.tasks.attention.spec import TaskSpec

__all__ = ["Grade", "Task", "TaskSpec", "__version__", "load_environment", "load_task", "run"]

__version__ = "0.1.0"


def run(
    task: Task | None = None,
    *,
    model: str = "simulated",
    out: str | Path = "runs/api",
    runs: int = 15,
    concurrency: int = 15,
    max_steps: int = 15,
    resume: bool = False,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run a batch of attempts (blocking) and return its ``summary.json`` content.

    ``model`` is ``simulated`` or a provider model name (``anthropic/...``, ``openai/...``,
    credentials from the environment). Results land in ``out`` as with ``attnrl run``.
    """
    import asyncio

    from attnrl.harness.runner import RunConfig, run_with_models
    from attnrl.models.registry import model_source
    from attnrl.task import load_task

    task = task or load_task()
    config = RunConfig(
        model=model,
        out=Path(out),
        runs=runs,
        concurrency=concurrency,
        max_steps=max_steps,
        resume=resume,
        seed=seed,
        progress=False,
    )
    return asyncio.run(
        run_with_models(config, task, lambda: model_source(model, task, runs=runs, seed=seed))
    )


_LAZY = {
    "Task": "attnrl.task",
    "load_task": "attnrl.task",
    "Grade": "attnrl.task.grade",
    "TaskSpec": "attnrl.tasks.attention.spec",
}
"""Public names resolved on first use, so ``import attnrl`` (and ``attnrl --help``) does not
import numpy and the task package."""


def __getattr__(name: str) -> Any:
    """The task API on first use, and ``attnrl.load_environment`` for ``vf-eval attnrl``
    (verifiers imports the module named by the env id and calls its ``load_environment``).
    Resolved lazily, so ``import attnrl`` never imports numpy or verifiers."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name == "load_environment":
        from attnrl.integrations.verifiers import load_environment

        return load_environment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
