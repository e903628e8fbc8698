"""TRL multi-turn: the ``python_expression`` and ``submit_answer`` tools as a
``GRPOTrainer`` ``environment_factory``, and the reward function that reads each rollout's
environment.

TRL (>= 1.16) makes one environment per concurrent rollout, calls ``reset(**row)`` with
the dataset row before generation, exposes the environment's public methods as tools
(their signatures and docstrings become the tool schema), runs tool calls until the model
stops calling tools or ``max_tool_calling_iterations``, and passes the rollouts'
environments to reward functions as ``environments``. Async tools run on TRL's event loop
thread, where every rollout of the process shares one attnrl sandbox::

    from trl import GRPOConfig, GRPOTrainer
    from attnrl.integrations.trl import load_dataset
    from attnrl.integrations.trl_tools import AttnrlToolEnv, tool_reward_func

    GRPOTrainer(model=..., reward_funcs=tool_reward_func, environment_factory=AttnrlToolEnv,
                train_dataset=load_dataset("procedural", n=512, seed=0),
                args=GRPOConfig(output_dir="out", max_tool_calling_iterations=15)).train()

The environment defines no ``get_reward`` on purpose: :func:`tool_reward_func` is the
one reward source, and it also logs the tampering monitor through TRL's ``log_metric``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from attnrl.harness import tamper
from attnrl.integrations._tool_session import ToolSession

__all__ = ["METRIC_PREFIX", "AttnrlToolEnv", "tool_reward_func"]

METRIC_PREFIX = "attnrl/"
"""Prefix of the metrics :func:`tool_reward_func` logs (``attnrl/tamper/limit/timeout``, ...)."""


class AttnrlToolEnv:
    """One rollout's tools, bound to the task of the row ``reset`` was given."""

    def __init__(self) -> None:
        self.session: ToolSession | None = None

    def reset(self, **row: Any) -> None:
        """Start an episode on the row's task (its ``info`` column); nothing is appended
        to the prompt, which already states the task."""
        self.session = ToolSession.for_info(row.get("info"))

    def _current(self) -> ToolSession:
        if self.session is None:
            raise RuntimeError("AttnrlToolEnv.reset was not called before a tool call")
        return self.session

    async def python_expression(self, expression: str) -> str:
        """Run Python code in a fresh, isolated interpreter (numpy imported as np) and return
        what it prints and any error, as JSON. Nothing persists between calls.

        Args:
            expression: Python code to run.

        Returns:
            The JSON object {"result": printed text, "error": error or null}.
        """
        text, _counts = await self._current().python({"expression": expression})
        return text

    async def submit_answer(self, answer: dict) -> str:  # type: ignore[type-arg]
        """Submit the final answer once, at the end: a JSON object with exactly the keys and
        shapes of the task's "## Answer" section (matrices as lists of rows of numbers,
        causal_mask_applied a JSON boolean).

        Args:
            answer: The answer object, e.g. {"position_encoded_queries": [[...]], ...,
                "causal_mask_applied": true}.

        Returns:
            {"result": "submitted"}, or an error saying what is wrong with the call.
        """
        outcome = await self._current().submit({"answer": answer})
        return outcome.content


def tool_reward_func(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] = (),
    environments: Sequence[Any] | None = None,
    log_metric: Callable[[str, float], None] | None = None,
    **_kwargs: Any,
) -> list[float]:
    """Each rollout's reward: the grade of what its environment's ``submit_answer`` took
    (0 without a submission). Logs the batch mean of every tamper counter, the submission
    rate, the python calls and the repeated calls through TRL's ``log_metric``."""
    del prompts
    if environments is None:
        raise ValueError(
            "tool_reward_func needs TRL's environments: pass environment_factory=AttnrlToolEnv "
            "to GRPOTrainer"
        )
    if completions and len(completions) != len(environments):
        raise ValueError(f"{len(environments)} environments for {len(completions)} completions")
    sessions = [getattr(env, "session", None) for env in environments]
    rewards = [s.grade.reward if s is not None and s.grade is not None else 0.0 for s in sessions]
    if log_metric is not None and sessions:
        n = len(sessions)
        totals = tamper.summed(s.tamper for s in sessions if s is not None)
        for name in tamper.METRIC_NAMES:
            log_metric(f"{METRIC_PREFIX}tamper/{name}", totals[name] / n)
        submitted = sum(1 for s in sessions if s is not None and s.submitted)
        log_metric(f"{METRIC_PREFIX}submitted", submitted / n)
        calls = sum(s.calls for s in sessions if s is not None)
        log_metric(f"{METRIC_PREFIX}python_calls", calls / n)
        repeats = sum(s.repeats for s in sessions if s is not None)
        log_metric(f"{METRIC_PREFIX}repeats", repeats / n)
    return rewards
