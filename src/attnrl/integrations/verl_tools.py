r"""verl multi-turn: the ``python_expression`` and ``submit_answer`` tools as verl
``BaseTool`` classes, the ``tool_agent`` dataset rows, and the episode's reward function.

verl's ``ToolAgentLoop`` (``agent_name: tool_agent``) loads the tools once per agent-loop
worker from ``verl_tools.yaml`` (beside this file) and calls ``create`` -> ``execute`` ->
``release`` on every tool call, so nothing here may live in a tool instance: an episode's
state (:class:`~attnrl.integrations._tool_session.ToolSession`) is keyed on
``agent_data.request_id``, which lasts the episode, and every rollout of the worker process
shares one sandbox. ``submit_answer`` grades with the row's task (``create_kwargs.info``),
returns the reward as the step reward and the grade as metrics, and records the submission
in ``agent_data.extra_fields``: verl hands those to the reward function as ``extra_info``
(``tool_extra_fields``), where :func:`compute_score` grades it again, in the reward worker.

Every call also counts what it hit in the jail (:mod:`attnrl.harness.tamper`): the
call's counters are ``execute``'s metrics, and the episode's totals travel in
``extra_fields["attnrl_tamper"]`` to :func:`compute_score`, which returns them as
``tamper/*`` keys (verl's ``reward_extra_info``: logged as ``val-aux/attnrl/tamper/*``
metrics on validation, dumped with the rollouts in training).

verl's ``OpenAIFunctionPropertySchema`` keeps only ``type``, ``description`` and ``enum``
of a parameter (verl#7505), so the answer format is in the tool description itself.
"""

from __future__ import annotations

from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from attnrl.harness import tamper
from attnrl.integrations._common import build_tasks, grade_submission, resolve_info, task_for
from attnrl.integrations._tool_session import ToolSession
from attnrl.integrations.verl import verl_row
from attnrl.sandbox.base import Sandbox
from attnrl.task.presets import DEFAULT_PRESET

__all__ = [
    "AGENT_NAME",
    "SUBMISSION_KEY",
    "TAMPER_KEY",
    "PythonExpressionTool",
    "SubmitAnswerTool",
    "compute_score",
    "tool_config_path",
    "verl_tool_row",
    "verl_tool_rows",
]

AGENT_NAME = "tool_agent"
"""verl's registered multi-turn agent loop (``ToolAgentLoop``)."""
SUBMISSION_KEY = "attnrl_submission"
"""``extra_fields`` key of the episode's submission (its JSON), read by :func:`compute_score`."""
TAMPER_KEY = "attnrl_tamper"
"""``extra_fields`` key of the episode's tamper counters (name -> count)."""
MAX_OPEN_EPISODES = 65_536
"""Episodes that never submit are forgotten oldest first past this many (verl has no
end-of-episode hook)."""


def tool_config_path() -> Path:
    """The shipped tool config: ``actor_rollout_ref.rollout.multi_turn.tool_config_path``."""
    return Path(str(resources.files("attnrl.integrations").joinpath("verl_tools.yaml")))


class _Episodes:
    """The open episodes of this worker process, by ``request_id`` (bounded, oldest out)."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, ToolSession] = OrderedDict()
        self.sandbox: Sandbox | None = None
        """Where python calls run; None: this process's shared sandbox (``worker_sandbox``)."""

    def get(self, key: str, info: Any) -> ToolSession:
        session = self._open.get(key)
        if session is None:
            session = self._open[key] = ToolSession.for_info(info, self.sandbox)
            while len(self._open) > MAX_OPEN_EPISODES:
                self._open.popitem(last=False)
        return session

    def close(self, key: str) -> None:
        self._open.pop(key, None)

    def __len__(self) -> int:
        return len(self._open)


EPISODES = _Episodes()


class _AttnrlTool(BaseTool):  # type: ignore[misc]  # verl is untyped
    """What both tools share: the row's info from ``create_kwargs``, the episode's session."""

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema) -> None:
        super().__init__(config, tool_schema)
        self._infos: dict[str, Any] = {}

    async def create(
        self, instance_id: str | None = None, **kwargs: Any
    ) -> tuple[str, ToolResponse]:
        instance_id = instance_id or uuid4().hex
        create_kwargs = kwargs.get("create_kwargs") or {}
        self._infos[instance_id] = create_kwargs.get("info")
        return instance_id, ToolResponse()

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        del kwargs
        self._infos.pop(instance_id, None)

    def _session(self, instance_id: str, agent_data: Any) -> ToolSession:
        info = self._infos.get(instance_id)
        if resolve_info(info) is None:
            raise ValueError(
                "the row carries no attnrl info for this tool: make the rows with "
                "attnrl.integrations.verl_tools.verl_tool_rows (extra_info.tools_kwargs."
                f"{self.name}.create_kwargs.info)"
            )
        key = getattr(agent_data, "request_id", None) or instance_id
        return EPISODES.get(str(key), info)


class PythonExpressionTool(_AttnrlTool):
    """``python_expression``: the code runs in this worker's attnrl sandbox."""

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        agent_data = kwargs.get("agent_data")
        session = self._session(instance_id, agent_data)
        text, counts = await session.python(parameters)
        _record(agent_data, session)
        return ToolResponse(text=text), 0.0, {f"tamper/{k}": v for k, v in counts.items()}


class SubmitAnswerTool(_AttnrlTool):
    """``submit_answer``: graded with the row's task; the reward is the step reward."""

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        agent_data = kwargs.get("agent_data")
        session = self._session(instance_id, agent_data)
        outcome = await session.submit(parameters)
        grade = session.grade
        _record(agent_data, session)
        if outcome.is_error or grade is None:
            return ToolResponse(text=outcome.content), 0.0, {"submitted": 0}
        EPISODES.close(str(getattr(agent_data, "request_id", None) or instance_id))
        metrics = {
            "submitted": 1,
            "reward": grade.reward,
            "passed": int(grade.passed),
            "outcome": grade.outcome,
        }
        return ToolResponse(text=outcome.content), grade.reward, metrics


def _record(agent_data: Any, session: ToolSession) -> None:
    """Put the episode's plain data where verl carries it to the reward function."""
    extra = getattr(agent_data, "extra_fields", None)
    if not isinstance(extra, dict):
        return
    extra[TAMPER_KEY] = dict(session.tamper)
    answer = session.answer_json()
    if answer is not None:
        extra[SUBMISSION_KEY] = answer


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Any = None,
    **_reward_kwargs: Any,
) -> dict[str, Any]:
    """The reward of a tool episode: attnrl's grade of what ``submit_answer`` recorded.

    ``extra_info`` is the row's ``extra_info`` with verl's ``tool_extra_fields`` merged in.
    No submission is reward 0 (outcome ``no_submission``): the answer is what the model
    submitted, never text it wrote. Returns verl's dict form: ``score``, ``passed``,
    ``outcome``, and the episode's ``tamper/*`` counters.
    """
    del data_source, solution_str
    extra = extra_info if isinstance(extra_info, dict) else {}
    task = task_for(extra.get("info", extra_info), ground_truth)
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
        **{f"tamper/{k}": v for k, v in counts.items()},
    }


def verl_tool_row(task: Any, index: int = 0, split: str = "train") -> dict[str, Any]:
    """One verl parquet row that runs the task as a tool episode (``agent_name``
    ``tool_agent``), carrying the instance to both tools through ``tools_kwargs``."""
    row = verl_row(task, index, split)
    info = row["extra_info"]["info"]
    row["agent_name"] = AGENT_NAME
    row["extra_info"]["tools_kwargs"] = {
        name: {"create_kwargs": {"info": info}} for name in ("python_expression", "submit_answer")
    }
    return row


def verl_tool_rows(
    preset: str = DEFAULT_PRESET, n: int = 1, seed: int | None = None, split: str = "train"
) -> list[dict[str, Any]]:
    """:func:`verl_tool_row` for ``n`` instances of ``preset`` (see ``build_tasks``)."""
    return [verl_tool_row(t, i, split) for i, t in enumerate(build_tasks(preset, n, seed))]
