"""verifiers: the task as a multi-turn tool environment (``vf-eval``, prime-rl, verifiers'
own trainers).

Each rollout is the harness's episode: the model gets the task prompt and the two tools
with the harness's exact descriptions; ``python_expression`` runs in attnrl's sandbox (a
separate, isolated process, never ``exec`` in the trainer), ``submit_answer`` records the
answer and ends the episode. The rubric's reward is attnrl's grade of the submitted answer
(0 without a submission), with ``attnrl_passed`` and ``attnrl_full_success`` as metrics.

``vf-eval attnrl`` imports the module ``attnrl`` and calls its ``load_environment``, which
forwards here. In Python::

    from openai import AsyncOpenAI
    import verifiers as vf
    from attnrl.integrations.verifiers import load_environment

    env = load_environment(preset="procedural", n=64, seed=0)
    client = vf.OpenAIChatCompletionsClient(AsyncOpenAI())
    results = await env.evaluate(client, model="gpt-4.1-mini", num_examples=1,
                                 rollouts_per_example=4)
"""

from __future__ import annotations

import json
from typing import Any

from attnrl.harness.tools import (
    ALREADY_SUBMITTED,
    NO_SUBMISSION,
    call_tool,
    parse_arguments,
    tool_error_json,
)
from attnrl.integrations._common import (
    build_tasks,
    grade_submission,
    install_hint,
    task_for,
)
from attnrl.integrations._sandbox import SandboxFactory, SandboxLease, SharedSandbox
from attnrl.sandbox.base import ExecResult
from attnrl.task import Task
from attnrl.task.dataset import dataset_row
from attnrl.task.grade import Grade
from attnrl.tasks.attention.presets import DEFAULT_PRESET

try:
    import verifiers as vf
    from datasets import Dataset
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(install_hint("verifiers", "verifiers", "verifiers")) from exc

__all__ = ["GRADE_KEY", "SUBMISSION_KEY", "AttentionEnv", "AttentionRubric", "load_environment"]


SUBMISSION_KEY = "attnrl_submission"
"""State key holding the answer of the ``submit_answer`` call (by the harness's rule)."""
GRADE_KEY = "attnrl_grade"
"""State key holding ``Grade.to_dict()`` once the rollout is scored."""
DEFAULT_MAX_TURNS = 15
"""Model turns per rollout, as the harness's ``--max-steps`` default."""


def _grade_state(state: Any, info: Any) -> dict[str, Any]:
    """The grade of a rollout's submission (computed once and kept in the state)."""
    cached = state.get(GRADE_KEY)
    if isinstance(cached, dict):
        return cached
    grade: Grade = grade_submission(task_for(info), state.get(SUBMISSION_KEY, NO_SUBMISSION))
    result = grade.to_dict()
    state[GRADE_KEY] = result
    return result


class AttentionRubric(vf.Rubric):  # type: ignore[misc]
    """Reward = attnrl's grade of the submitted answer; metrics: passed, full success."""

    def __init__(self) -> None:
        super().__init__(funcs=[self.attnrl_reward], weights=[1.0])
        self.add_metric(self.attnrl_passed)
        self.add_metric(self.attnrl_full_success)

    async def attnrl_reward(self, state: Any, info: Any) -> float:
        return float(_grade_state(state, info)["reward"])

    async def attnrl_passed(self, state: Any, info: Any) -> float:
        return 1.0 if _grade_state(state, info)["passed"] else 0.0

    async def attnrl_full_success(self, state: Any, info: Any) -> float:
        return 1.0 if _grade_state(state, info)["outcome"] == "full_success" else 0.0


class AttentionEnv(vf.MultiTurnEnv):  # type: ignore[misc]
    """The attention task with its two tools. Concurrent rollouts share one attnrl sandbox
    (:class:`SharedSandbox`), started by the first ``python_expression`` call and stopped
    when the last rollout using it ends; ``sandbox_factory`` replaces attnrl's sandbox."""

    def __init__(
        self,
        dataset: Any,
        sandbox_factory: SandboxFactory | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("rubric", AttentionRubric())
        kwargs.setdefault("eval_dataset", dataset)
        super().__init__(dataset=dataset, max_turns=max_turns, **kwargs)
        self.sandbox_factory = sandbox_factory
        self._shared_sandbox = SharedSandbox(sandbox_factory)
        self._leases: dict[str, SandboxLease] = {}

    @vf.stop  # type: ignore[untyped-decorator]
    async def no_tool_calls(self, state: Any) -> bool:
        """The model answered without calling a tool: the episode ends (no submission)."""
        if not state["trajectory"]:
            return False
        last = state["trajectory"][-1]["completion"][-1]
        return bool(last.role == "assistant" and not getattr(last, "tool_calls", None))

    async def env_response(self, messages: Any, state: Any, **_kwargs: Any) -> list[Any]:
        """Run the last assistant message's tool calls, in order, as the harness does."""
        replies = []
        for call in messages[-1].tool_calls or []:
            if SUBMISSION_KEY in state:
                content = tool_error_json(ALREADY_SUBMITTED)
            else:
                content = await self._call_tool(call.name, call.arguments, state)
            replies.append(vf.ToolMessage(role="tool", tool_call_id=call.id, content=content))
        if SUBMISSION_KEY in state:
            state["final_env_response"] = replies
        return replies

    async def _call_tool(self, name: str, raw_arguments: Any, state: Any) -> str:
        async def run_python(code: str) -> ExecResult:
            lease = self._leases.setdefault(
                state["trajectory_id"], SandboxLease(self._shared_sandbox)
            )
            try:
                return await lease.run(code)
            except Exception as exc:  # the sandbox, not the code, failed: infrastructure
                raise vf.SandboxError(f"the attnrl sandbox failed: {exc!r}") from exc

        answer_keys = task_for(state.get("info")).spec.answer_keys()
        done = await call_tool(
            name, parse_arguments(raw_arguments), raw_arguments, answer_keys, run_python
        )
        if done.answer is not NO_SUBMISSION:
            state[SUBMISSION_KEY] = done.answer
        return done.content

    @vf.cleanup  # type: ignore[untyped-decorator]
    async def release_sandbox(self, state: Any) -> None:
        lease = self._leases.pop(state.get("trajectory_id"), None)
        if lease is not None:
            await lease.aclose()


def env_row(task: Task) -> dict[str, Any]:
    """A :func:`dataset_row` whose info also carries the task's tool definitions, which
    verifiers offers to the model for that row (``info["tool_defs"]``)."""
    row = dataset_row(task)
    info = json.loads(row["info"])
    info["tool_defs"] = [
        {"name": t.name, "description": t.description, "parameters": t.parameters}
        for t in task.tools
    ]
    row["info"] = json.dumps(info, separators=(",", ":"))
    return row


def load_environment(
    preset: str = DEFAULT_PRESET,
    n: int = 1,
    seed: int | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    sandbox_factory: SandboxFactory | None = None,
    task: str = "attention",
    **kwargs: Any,
) -> AttentionEnv:
    """The environment over ``n`` instances of ``preset`` of registered task ``task`` (seeds
    ``seed, seed+1, ...`` for a seeded preset). ``kwargs`` go to :class:`AttentionEnv` (e.g.
    ``system_prompt``)."""
    tasks = build_tasks(preset, n, seed, task=task)
    rows = [env_row(task) for task in tasks]
    dataset = Dataset.from_list(rows)
    tool_defs = json.loads(rows[0]["info"])["tool_defs"]
    return AttentionEnv(
        dataset=dataset,
        sandbox_factory=sandbox_factory,
        max_turns=max_turns,
        tool_defs=tool_defs,
        **kwargs,
    )
