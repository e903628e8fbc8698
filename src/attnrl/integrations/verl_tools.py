r"""verl multi-turn: the ``python_expression`` and ``submit_answer`` tools as verl
``BaseTool`` classes, the ``tool_agent`` dataset rows, and the episode's reward function.

verl's ``ToolAgentLoop`` (``agent_name: tool_agent``) loads the tools once per agent-loop
worker from ``verl_tools.yaml`` (beside this file) and calls ``create`` -> ``execute`` ->
``release`` on every tool call, so nothing here may live in a tool instance: an episode's
state (:class:`~attnrl.integrations._tool_session.ToolSession`) is keyed on the episode's
``agent_data`` (see :class:`_Episodes`), and every rollout of the worker process shares one
sandbox. ``submit_answer`` grades with the row's task (``create_kwargs.info``), returns the
reward as the step reward and the grade as metrics, and records the submission in
``agent_data.extra_fields``: verl hands those to the reward function as ``extra_info``
(``tool_extra_fields``), where :func:`compute_score` grades it again, in the reward worker.
The first accepted submission closes the episode: it is the one recorded and graded, and
every later call of the episode (python or submit, after any ``release``/``create``) is
refused with a message saying so, at step reward 0.

Every call also counts what it hit in the jail (:mod:`attnrl.harness.tamper`): the
call's counters are ``execute``'s metrics, and the episode's totals travel in
``extra_fields["attnrl_tamper"]`` to :func:`compute_score`, which returns them as
``tamper/*`` keys (verl's ``reward_extra_info``: logged as ``val-aux/attnrl/tamper/*``
metrics on validation, dumped with the rollouts in training).

verl's ``OpenAIFunctionPropertySchema`` keeps only ``type``, ``description`` and ``enum``
of a parameter (verl#7505), so the answer format is in the tool description itself.
"""

from __future__ import annotations

import secrets
import weakref
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from attnrl.harness import tamper
from attnrl.integrations._common import build_tasks, resolve_info
from attnrl.integrations._tool_session import ClosedEpisode, ToolSession
from attnrl.integrations.verl import (
    RECEIPT_KEY,
    RECEIPT_LINE,
    RECORD_PREFIX,
    REPEATS_KEY,
    SUBMISSION_KEY,
    TAMPER_KEY,
    episode_repeats,
    tool_episode_score,
    verl_row,
)
from attnrl.sandbox.base import Sandbox
from attnrl.tasks.attention.presets import DEFAULT_PRESET

__all__ = [
    "AGENT_NAME",
    "RECEIPT_LINE",
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
MAX_EPISODES = 65_536
"""Fallback table only (see :class:`_Episodes`): episodes remembered by request id, open or
closed, least recently used out past this many (a closed one is a few hundred bytes)."""


def tool_config_path() -> Path:
    """The shipped tool config: ``actor_rollout_ref.rollout.multi_turn.tool_config_path``."""
    return Path(str(resources.files("attnrl.integrations").joinpath("verl_tools.yaml")))


Episode = ToolSession | ClosedEpisode


class _Episodes:
    """The episodes of this worker process.

    verl 0.9 makes one ``AgentData`` per episode and passes it to every tool call of that
    episode (``create`` -> ``execute`` -> ``release`` per call, so a tool instance lasts
    one call). An episode is therefore keyed on that object, weakly: it lives exactly as long
    as verl keeps the episode, and a ``release`` + ``create`` inside the episode finds the same
    (possibly closed) session. Not on ``request_id`` alone: with ``full_determinism`` verl's
    request id is ``det-<index in batch>``, the same in every batch.

    When ``agent_data`` cannot be weakly referenced (or is missing), the key is its
    ``request_id`` (else the tool instance id) in a bounded LRU table: a closed episode is
    kept as a :class:`ClosedEpisode` (its counters only) for the next :data:`MAX_EPISODES`
    episodes. Past that, the episode's own ``extra_fields`` (kept by verl for the whole
    episode) still say it was submitted, so a session rebuilt for it starts closed, with its
    counters.
    """

    def __init__(self) -> None:
        self._by_data: weakref.WeakKeyDictionary[Any, Episode] = weakref.WeakKeyDictionary()
        self._by_id: OrderedDict[str, Episode] = OrderedDict()
        self.sandbox: Sandbox | None = None
        """Where python calls run; None: this process's shared sandbox (``worker_sandbox``)."""

    def get(self, agent_data: Any, instance_id: str, info: Any) -> Episode:
        """The episode of this call, made (or restored from ``extra_fields``) on first use."""
        try:
            found = self._by_data.get(agent_data)
        except TypeError:  # not weakly referenceable or unhashable: the id table
            return self._get_by_id(agent_data, instance_id, info)
        if found is None:
            found = self._by_data[agent_data] = self._new(agent_data, info)
        return found

    def _get_by_id(self, agent_data: Any, instance_id: str, info: Any) -> Episode:
        key = str(getattr(agent_data, "request_id", None) or instance_id)
        found = self._by_id.get(key)
        if found is None:
            found = self._by_id[key] = self._new(agent_data, info)
            while len(self._by_id) > MAX_EPISODES:
                self._by_id.popitem(last=False)
        else:
            self._by_id.move_to_end(key)
        return found

    def _new(self, agent_data: Any, info: Any) -> Episode:
        extra = getattr(agent_data, "extra_fields", None)
        extra = extra if isinstance(extra, dict) else {}
        counts = tamper.summed([extra.get(TAMPER_KEY) or {}])
        repeats, last_call = episode_repeats(extra)
        if SUBMISSION_KEY in extra:  # forgotten here, but verl's episode says: submitted
            return ClosedEpisode(tamper=counts, repeats=repeats, last_call=last_call)
        if resolve_info(info) is None:
            raise ValueError(
                "the row carries no attnrl info for this tool: make the rows with "
                "attnrl.integrations.verl_tools.verl_tool_rows (extra_info.tools_kwargs."
                "<tool>.create_kwargs.info)"
            )
        session = ToolSession.for_info(info, self.sandbox)
        session.tamper = counts
        session.repeats, session.last_call = repeats, last_call
        return session

    def close(self, agent_data: Any, instance_id: str) -> None:
        """After the accepted submit: the id table keeps only the counters."""
        key = str(getattr(agent_data, "request_id", None) or instance_id)
        session = self._by_id.get(key)
        if isinstance(session, ToolSession):
            self._by_id[key] = session.closed()

    def __len__(self) -> int:
        """Open episodes (not yet submitted) this process still holds."""
        episodes = [*self._by_data.values(), *self._by_id.values()]
        return sum(1 for e in episodes if not e.submitted)


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

    def _session(self, instance_id: str, agent_data: Any) -> Episode:
        return EPISODES.get(agent_data, instance_id, self._infos.get(instance_id))


class PythonExpressionTool(_AttnrlTool):
    """``python_expression``: the code runs in this worker's attnrl sandbox."""

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        agent_data = kwargs.get("agent_data")
        session = self._session(instance_id, agent_data)
        text, counts = await session.python(parameters)
        text = _shown(text, _record(agent_data, session))
        return ToolResponse(text=text), 0.0, {f"tamper/{k}": v for k, v in counts.items()}


class SubmitAnswerTool(_AttnrlTool):
    """``submit_answer``: graded with the row's task; the reward is the step reward, once."""

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        agent_data = kwargs.get("agent_data")
        session = self._session(instance_id, agent_data)
        outcome = await session.submit(parameters)
        grade = session.grade
        text = _shown(outcome.content, _record(agent_data, session))
        if outcome.is_error or grade is None:  # not taken: bad arguments, or the episode is over
            return ToolResponse(text=text), 0.0, {"submitted": 0}
        EPISODES.close(agent_data, instance_id)
        metrics = {
            "submitted": 1,
            "reward": grade.reward,
            "passed": int(grade.passed),
            "outcome": grade.outcome,
        }
        return ToolResponse(text=text), grade.reward, metrics


def _shown(text: str, receipt: str | None) -> str:
    """``text`` after a first line naming the episode's receipt, where a result truncated
    at either end (verl's ``tool_response_truncate_side``) keeps it but ``left``."""
    return text if receipt is None else f"{RECEIPT_LINE}{receipt}\n{text}"


def _record(agent_data: Any, session: Episode) -> str | None:
    """Put the episode's plain data where verl carries it to the reward function: the
    counters (updated on every call) and the first submission (never replaced), under the
    plain keys and, whole, under the episode's own key (``RECORD_PREFIX`` + its receipt,
    :data:`~attnrl.integrations.verl.RECEIPT_KEY`). Returns the receipt when this call, the
    episode's first, made it (to show: :func:`_shown`), else None."""
    extra = getattr(agent_data, "extra_fields", None)
    if not isinstance(extra, dict):
        return None
    made = None if RECEIPT_KEY in extra else secrets.token_hex(8)
    if made is not None:
        extra[RECEIPT_KEY] = made
    extra[TAMPER_KEY] = dict(session.tamper)
    extra[REPEATS_KEY] = [session.repeats, session.last_call]
    if SUBMISSION_KEY not in extra:
        answer = session.answer_json()
        if answer is not None:
            extra[SUBMISSION_KEY] = answer
    receipt = extra[RECEIPT_KEY]
    keys = (SUBMISSION_KEY, TAMPER_KEY, REPEATS_KEY)
    extra[RECORD_PREFIX + str(receipt)] = {k: extra[k] for k in keys if k in extra}
    return made


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Any = None,
    **_reward_kwargs: Any,
) -> dict[str, Any]:
    """The reward of a tool episode: attnrl's grade of what ``submit_answer`` recorded
    (:func:`attnrl.integrations.verl.tool_episode_score`, in verl's dict form).

    ``extra_info`` is the row's ``extra_info`` with verl's ``tool_extra_fields`` merged in.
    No submission is reward 0 (outcome ``no_submission``): the answer is what the model
    submitted, never text it wrote.
    """
    del data_source
    return tool_episode_score(extra_info, ground_truth, solution_str)


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
    preset: str = DEFAULT_PRESET,
    n: int = 1,
    seed: int | None = None,
    split: str = "train",
    *,
    task: str = "attention",
) -> list[dict[str, Any]]:
    """:func:`verl_tool_row` for ``n`` instances of ``preset`` of ``task`` (see
    ``build_tasks``)."""
    tasks = build_tasks(preset, n, seed, task=task)
    return [verl_tool_row(t, i, split) for i, t in enumerate(tasks)]
