"""What the trainers' multi-turn tool adapters share (verl's ``BaseTool`` classes, TRL's
environment): one episode's state, and one sandbox per worker process.

A trainer runs hundreds of rollouts at once in one worker process, each calling the tools
many times. Opening a sandbox costs about half a second, so every rollout of a process
shares one :class:`~attnrl.sandbox.LocalSandbox` per event loop (:class:`WorkerSandbox`),
opened on the first call and closed when the process exits. An episode's state
(:class:`ToolSession`: its task, its submission, its tamper counters) is the only
per-rollout object; the tools follow :mod:`attnrl.harness.tools`, the rules and result
texts of ``attnrl run``.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import marshal
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

from attnrl.harness.tamper import TamperCounts, call_metrics, summed
from attnrl.harness.tools import (
    EPISODE_OVER,
    JSON_SCALAR_TYPES,
    NO_SUBMISSION,
    ToolOutcome,
    call_tool,
    parse_arguments,
    tool_error_json,
)
from attnrl.integrations._common import grade_submission, task_for
from attnrl.sandbox import LocalSandbox, open_sandbox
from attnrl.sandbox.base import ExecResult, Sandbox
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.ray_pool import RaySandbox
from attnrl.task import Task
from attnrl.task.grade import Grade
from attnrl.task.tools import PYTHON_TOOL, SUBMIT_TOOL

__all__ = ["ClosedEpisode", "ToolSession", "WorkerSandbox", "refuse_python", "worker_sandbox"]

logger = logging.getLogger(__name__)


class WorkerSandbox:
    """One sandbox per event loop of this process, shared by all its rollouts, closed at exit.

    ``run`` never raises for what the code does. ``aclose`` (from the loop that used it)
    closes the current loop's sandbox; at interpreter exit whatever is still open is
    closed on its own loop (idle, or running in another thread as TRL's tool loop does),
    else its jail is killed (bubblewrap's ``--die-with-parent`` would do it too).
    """

    def __init__(
        self, limits: SandboxLimits | None = None, max_concurrency: int | None = None
    ) -> None:
        self.limits = limits
        self.max_concurrency = max_concurrency
        self._lock = threading.Lock()
        self._boxes: dict[asyncio.AbstractEventLoop, LocalSandbox | RaySandbox] = {}
        self._atexit = False

    def _box(self) -> LocalSandbox | RaySandbox:
        loop = asyncio.get_running_loop()
        with self._lock:
            box = self._boxes.get(loop)
            if box is None:
                kwargs: dict[str, Any] = {}
                if self.max_concurrency is not None:
                    kwargs["max_concurrency"] = self.max_concurrency
                box = self._boxes[loop] = open_sandbox(self.limits, **kwargs)  # ATTNRL_SANDBOX
                if not self._atexit:
                    atexit.register(self.close_all)
                    self._atexit = True
            return box

    @property
    def isolation(self) -> str:
        with self._lock:
            boxes = list(self._boxes.values())
        return boxes[0].isolation if boxes else "not started"

    async def run(self, code: str) -> ExecResult:
        return await self._box().run(code)

    async def aclose(self) -> None:
        """Close the running loop's sandbox (the next ``run`` opens a new one)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            box = self._boxes.pop(loop, None)
        if box is not None:
            await box.aclose()

    def close_all(self) -> None:
        """Close every sandbox still open (registered with ``atexit``)."""
        with self._lock:
            boxes, self._boxes = list(self._boxes.items()), {}
        for loop, box in boxes:
            try:
                if not loop.is_closed() and not loop.is_running():
                    loop.run_until_complete(box.aclose())
                    continue
                if loop.is_running():  # e.g. TRL's tool loop, on its daemon thread
                    asyncio.run_coroutine_threadsafe(box.aclose(), loop).result(timeout=10)
                    continue
            except Exception:  # an exit hook must not raise; fall through to the kill
                logger.debug("closing the worker sandbox on its loop failed", exc_info=True)
            pid = box.server_pid
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


_WORKER: WorkerSandbox | None = None
_WORKER_LOCK = threading.Lock()


def worker_sandbox() -> WorkerSandbox:
    """This process's :class:`WorkerSandbox` (made on first use, with the default limits)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = WorkerSandbox()
        return _WORKER


@dataclass
class ToolSession:
    """One episode: its task, the tamper counters of its calls, and its submission.

    The first accepted ``submit_answer`` closes the episode: its answer is the one graded,
    and every later call (python or submit) is refused with :data:`EPISODE_OVER`. The
    counters only ever grow; a refused python call still counts what its code reaches for.
    """

    task: Task
    sandbox: Sandbox = field(default_factory=worker_sandbox)
    calls: int = 0
    tamper: TamperCounts = field(default_factory=lambda: summed(()))
    repeats: int = 0
    """Calls that repeated the episode's previous call exactly (tool and arguments): a model
    stuck in a loop (the harness counts per turn: :func:`attnrl.harness.turns.count_repeats`)."""
    last_call: str | None = None
    """A digest of the previous call, to count :attr:`repeats`."""
    answer: Any = NO_SUBMISSION
    grade: Grade | None = None

    @classmethod
    def for_info(cls, info: Any, sandbox: Sandbox | None = None) -> ToolSession:
        """The session of a dataset row's ``info`` (dict or JSON string)."""
        task = task_for(info)
        return cls(task) if sandbox is None else cls(task, sandbox)

    @property
    def submitted(self) -> bool:
        return self.answer is not NO_SUBMISSION

    async def python(self, arguments: Any) -> tuple[str, TamperCounts]:
        """Run a ``python_expression`` call; the tool result text and this call's counters."""
        if self.submitted:
            return refuse_python(self, arguments)
        parsed = parse_arguments(arguments)
        note_call(self, PYTHON_TOOL, arguments, parsed)
        seen: list[TamperCounts] = []
        code = parsed.get("expression") if parsed is not None else None

        async def run(source: str) -> ExecResult:
            result = await self.sandbox.run(source)
            seen.append(call_metrics(result, source))
            return result

        outcome = await call_tool(PYTHON_TOOL, parsed, arguments, self._keys(), run)
        self.calls += 1
        counts = seen[0] if seen else call_metrics(None, _code_text(code))
        self.tamper = summed((self.tamper, counts))
        return outcome.content, counts

    async def submit(self, arguments: Any) -> ToolOutcome:
        """Take a ``submit_answer`` call: the first answer is graded; after it, refused."""
        parsed = parse_arguments(arguments)
        note_call(self, SUBMIT_TOOL, arguments, parsed)
        if self.submitted:
            return ToolOutcome(tool_error_json(EPISODE_OVER), True)
        outcome = await call_tool(SUBMIT_TOOL, parsed, arguments, self._keys(), _no_python)
        if outcome.answer is NO_SUBMISSION or self.submitted:
            return outcome
        self.answer = outcome.answer
        self.grade = grade_submission(self.task, outcome.answer)
        return outcome

    def answer_json(self) -> str | None:
        """The submission as JSON (non-finite numbers as NaN/Infinity), None before a submit."""
        if not self.submitted:
            return None
        if isinstance(self.answer, str):
            return self.answer
        try:
            return json.dumps(self.answer)
        except (TypeError, ValueError, RecursionError):  # graded invalid already
            return _UNENCODABLE

    def closed(self) -> ClosedEpisode:
        """What is worth keeping of this episode once it is submitted: its counters."""
        return ClosedEpisode(
            self.calls, dict(self.tamper), repeats=self.repeats, last_call=self.last_call
        )

    def _keys(self) -> tuple[str, ...]:
        return self.task.answer_keys()


@dataclass
class ClosedEpisode:
    """A submitted episode as a long-lived table keeps it: no task, no answer (the trainer
    already carries those), only the counters, which keep growing with refused calls."""

    calls: int = 0
    tamper: TamperCounts = field(default_factory=lambda: summed(()))
    grade: Grade | None = None
    submitted: bool = True
    repeats: int = 0
    last_call: str | None = None

    async def python(self, arguments: Any) -> tuple[str, TamperCounts]:
        return refuse_python(self, arguments)

    async def submit(self, arguments: Any) -> ToolOutcome:
        note_call(self, SUBMIT_TOOL, arguments)
        return ToolOutcome(tool_error_json(EPISODE_OVER), True)

    def answer_json(self) -> str | None:
        return None


def refuse_python(episode: ToolSession | ClosedEpisode, arguments: Any) -> tuple[str, TamperCounts]:
    """A python call of a submitted episode: not run, but counted (its code's probes)."""
    parsed = parse_arguments(arguments)
    note_call(episode, PYTHON_TOOL, arguments, parsed)
    code = parsed.get("expression") if parsed is not None else None
    counts = call_metrics(None, _code_text(code))
    episode.calls += 1
    episode.tamper = summed((episode.tamper, counts))
    return tool_error_json(EPISODE_OVER), counts


def note_call(
    episode: ToolSession | ClosedEpisode, tool: str, arguments: Any, parsed: Any = None
) -> None:
    """Count ``episode.repeats`` when this call is the previous one again, exactly."""
    digest = call_digest(tool, arguments, parsed)
    if digest == episode.last_call:
        episode.repeats += 1
    episode.last_call = digest


def call_digest(tool: str, arguments: Any, parsed: Any = None) -> str:
    """A short digest of a call: the tool and its arguments as sent (a dict in canonical
    form, as JSON's ``sort_keys`` orders it; anything else as its text), so an episode
    keeps no copy of a large argument. ``parsed`` is :func:`parse_arguments` of them when
    the caller has it already."""
    try:
        if parsed is None:
            parsed = parse_arguments(arguments)
        data = _call_bytes(arguments, parsed)
    except (TypeError, ValueError, RecursionError):  # too deep or not JSON: refused anyway
        data = f"<unencodable {type(arguments).__name__}>".encode()
    return hashlib.sha256(tool.encode("utf-8", "surrogatepass") + b"\0" + data).hexdigest()[:32]


def _call_bytes(arguments: Any, parsed: Any) -> bytes:
    """The bytes :func:`call_digest` hashes. A dict goes in canonical form as ``marshal``
    bytes: a submitted answer's few hundred floats are packed as 8 bytes each, not written
    out digit by digit as JSON text, on every call. Values JSON would write alike pack
    alike."""
    if parsed is None:
        text = arguments if isinstance(arguments, str) else repr(arguments)
        return b"t" + text.encode("utf-8", "surrogatepass")
    try:
        return b"m" + marshal.dumps(_canonical(parsed), 2)
    except _NotPlain:  # e.g. a non-string key from a Python caller: JSON's own rules
        text = json.dumps(parsed, sort_keys=True, allow_nan=True)
        return b"j" + text.encode("utf-8", "surrogatepass")


class _NotPlain(Exception):
    """A value :func:`_canonical` leaves to JSON's rules (a non-string key, an object)."""


def _canonical(value: Any) -> Any:
    """``value`` as the plain types of parsed JSON, every dict rebuilt in key order:
    what ``json.dumps(sort_keys=True)`` would write, as data (a list of scalars is
    returned as it is). A subclass of a JSON type becomes that type, as JSON writes it.
    Raises :class:`_NotPlain` for anything else, RecursionError when nested too deep."""
    kind = type(value)
    if kind is list:  # first, by identity: an answer is mostly rows of numbers
        if JSON_SCALAR_TYPES.issuperset(map(type, value)):
            return value
        return [_canonical(item) for item in value]
    if kind in JSON_SCALAR_TYPES:
        return value
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise _NotPlain
        return {str(key): _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    for plain in (float, int, str):  # bool cannot be subclassed
        if isinstance(value, plain):
            return plain(value)
    raise _NotPlain


def _code_text(code: Any) -> str:
    return code if isinstance(code, str) else ""


_UNENCODABLE = "(the submitted answer could not be encoded as JSON)"
"""Recorded for an answer JSON cannot encode (graded invalid either way)."""


async def _no_python(code: str) -> ExecResult:  # submit never runs code
    del code
    raise RuntimeError("submit_answer does not run code")
