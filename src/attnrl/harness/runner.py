"""Many runs of one task: plan the runs, run them bounded, record each, summarise.

The run directory (manifest, records, resume, atomic writes) is :mod:`attnrl.harness.rundir`;
one run's loop is :mod:`attnrl.harness.agent`. The runner knows models only through
:class:`~attnrl.models.base.ModelSource`: what a model adds to a record comes from the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from attnrl.harness.agent import AgentResult, run_agent
from attnrl.harness.progress import BatchProgress
from attnrl.harness.rundir import (
    RESULTS_FILE,
    SUMMARY_FILE,
    BatchDir,
    RunDirError,
    json_safe,
    load_records,
    now,
    open_batch_dir,
    summarize_run_dir,
)
from attnrl.harness.turns import last_turn_cause, turn_issue_counts
from attnrl.models.base import SIMULATED_NAME, Message, Model, ModelConfigError, ModelSource
from attnrl.sandbox import open_sandbox
from attnrl.sandbox.base import Sandbox
from attnrl.stats.cost import Price, price_for, usage_cost
from attnrl.stats.sequential import ConfidenceSequence
from attnrl.task.base import Task
from attnrl.task.family import TaskFamily

__all__ = [
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "RunConfig",
    "RunDirError",
    "batch_manifest",
    "load_records",
    "run_batch",
    "run_with_models",
    "summarize_run_dir",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """One ``attnrl run`` batch."""

    model: str
    """The name the batch's models record their runs under (``Model.name``): a record under
    another name is not a run of this batch (:func:`attnrl.harness.rundir.record_problem`)."""
    out: Path
    runs: int = 15
    concurrency: int = 15
    max_steps: int = 15
    resume: bool = False
    verbose: bool = False
    seed: int | None = None
    """Seeds the simulated agents' mix (and the instance, for seeded presets)."""
    band: tuple[float, float] = (0.10, 0.40)
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    """Provider options recorded in the manifest (base_url, max_tokens...); never a key."""
    stop_when_decided: bool = False
    """Stop scheduling runs once the confidence sequence is inside or outside the band."""
    max_cost: float | None = None
    """Stop scheduling runs once the recorded cost reaches this many USD."""
    prices: dict[str, Price] = field(default_factory=dict)
    """``--pricing`` entries, consulted before the published table."""
    knobs: dict[str, Any] = field(default_factory=dict)
    """The difficulty knobs the task was made with, as JSON (recorded in the manifest)."""
    context: dict[str, Any] | None = None
    """The up-front context check (:mod:`attnrl.models.context_window`), recorded in the
    manifest as ``context`` when there was one."""

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"--runs must be >= 1, got {self.runs}")
        if self.concurrency < 1:
            raise ValueError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.max_steps < 1:
            raise ValueError(f"--max-steps must be >= 1, got {self.max_steps}")
        if self.max_cost is not None and not self.max_cost > 0:
            raise ValueError(f"--max-cost must be > 0 USD, got {self.max_cost}")
        lo, hi = self.band
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"--target-band must satisfy 0 <= low < high <= 100, got {lo}, {hi}")

    @property
    def simulated(self) -> bool:
        """The label recorded in the manifest and summary (the runner does not branch on it)."""
        return self.model == SIMULATED_NAME


def batch_manifest(config: RunConfig, task: Task | TaskFamily) -> dict[str, Any]:
    """``run.json``: everything the batch is made with (``--resume`` restores it)."""
    family = task if isinstance(task, TaskFamily) else TaskFamily.of(task)
    return {
        "model": config.model,
        "simulated": config.simulated,
        "task": family.base.task_name,
        "title": family.base.title,
        "preset": family.base.spec.preset,
        "seed": config.seed,
        "task_hash": family.family_hash,
        "instances": "per run" if family.per_run else "fixed",
        "max_steps": config.max_steps,
        "runs": config.runs,
        "band": list(config.band),
        "knobs": config.knobs,
        "options": config.extra,
        "spec": family.base.spec.to_dict(),  # every knob, the expected answer for the report
    } | ({"context": config.context} if config.context is not None else {})


def _no_submission_message(result: AgentResult, max_steps: int) -> str:
    if result.stop == "error":
        return (
            "FAILURE: the run stopped on an error while handling the model's output "
            f"({result.error}); counted as a failure, not infrastructure"
        )
    if result.stop == "context_overflow":
        return (
            "FAILURE: the request exceeded the model's context (the server refused it for its "
            f"size; re-running cannot help): {result.error}"
        )
    if result.stop == "step_limit":
        return f"FAILURE: No submission within the {max_steps}-step limit"
    cause = last_turn_cause(result.transcript)
    if cause is not None:
        return f"FAILURE: No submission ({cause})"
    return "FAILURE: No submission (the model ended its turn without calling submit_answer)"


def _record(
    run_id: int,
    family: TaskFamily,
    config: RunConfig,
    model: Model,
    result: AgentResult,
    isolation: str,
    started_at: str,
) -> dict[str, Any]:
    """The ``results.jsonl`` object of one finished run."""
    task = family.task(run_id)
    base: dict[str, Any] = {
        "run_id": run_id,
        "model": model.name,
        "simulated": config.simulated,
        "preset": task.spec.preset,
        "task_hash": task.content_hash,
        "instance_seed": family.seed_of(run_id),
        "steps": result.steps,
        "stop": result.stop,
        "duration_s": round(result.duration_s, 4),
        "started_at": started_at,
        "finished_at": now(),
        "usage": asdict(result.usage),
        "cost_usd": usage_cost(result.usage, price_for(model.name, config.prices)),
        "tool_errors": result.tool_errors,
        "repeats": result.repeats,
        "turn_issues": turn_issue_counts(result.transcript),
        "sandbox": isolation,
        # every record has every key (null where it does not apply)
        "diagnosis": None,
        "submitted_keys": None,
        "mask_flag": None,
    }
    if family.per_run:  # the report's expected answer and instance size for this run
        base["instance"] = {"seed": base["instance_seed"], "spec": task.spec.to_dict()}
    base |= model.record_fields()
    if result.stop == "infrastructure":
        base |= {
            "passed": False,
            "outcome": "error",
            "category": "infrastructure",
            "message": f"INFRASTRUCTURE: {result.error}",
            "errors": {},
            "reward": 0.0,
        }
    elif not result.submitted:
        base |= {
            "passed": False,
            "outcome": "failure",
            "category": (
                "context_overflow" if result.stop == "context_overflow" else "no_submission"
            ),
            "message": _no_submission_message(result, config.max_steps),
            "errors": {},
            "reward": 0.0,
        }
    else:
        grade = task.grade(result.answer).to_dict()
        base |= grade
        base["submitted_keys"] = (
            sorted(result.answer)
            if isinstance(result.answer, dict)
            else type(result.answer).__name__
        )
        if isinstance(result.answer, dict):
            base |= {k: json_safe(v) for k, v in task.answer_flags(result.answer).items()}
    base["transcript"] = [m.to_dict() for m in result.transcript]
    return base


def _log_record(record: dict[str, Any], task: Task) -> None:
    """What the seed logged per run: outcome, message, submitted keys (and the task's answer
    flags, by their answer keys), component errors."""
    logger.info(
        "run %d finished in %.2fs after %d steps: %s (%s) %s",
        record["run_id"],
        record["duration_s"],
        record["steps"],
        record["outcome"],
        record["category"],
        record["message"],
    )
    if "submitted_keys" in record:
        flags = "".join(f"{key}={record.get(field)!r}; " for field, key in task.flag_keys.items())
        logger.info(
            "run %d submitted keys: %s; %sshapes %s",
            record["run_id"],
            record["submitted_keys"],
            flags,
            "invalid" if record["outcome"] == "invalid" else "as expected",
        )
    if record.get("errors"):
        errors = ", ".join(
            f"{k}={'n/a' if v is None else f'{v:.4f}'}" for k, v in record["errors"].items()
        )
        logger.info("run %d component errors: %s", record["run_id"], errors)


async def run_batch(
    config: RunConfig,
    task: Task | TaskFamily,
    models: ModelSource,
    sandbox: Sandbox | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the missing runs of ``config`` and return the summary (also in summary.json).

    ``task`` is one task for every run, or a :class:`TaskFamily` giving each run its
    instance; ``models.for_run(run_id)`` gives each run its model.
    """
    family = task if isinstance(task, TaskFamily) else TaskFamily.of(task)
    task = family.base
    batch_dir = open_batch_dir(
        config.out,
        batch_manifest(config, family),
        config.resume,
        (lambda run_id: family.task(run_id).content_hash) if family.per_run else None,
    )
    previous = batch_dir.previous
    done = {r["run_id"] for r in previous if r.get("category") != "infrastructure"}
    todo = [i for i in range(1, config.runs + 1) if i not in done]
    stop = _Stopper(config, previous)
    console = console or Console(stderr=True)
    isolation: str | None = None
    failing = True
    try:
        with batch_dir.log():
            logger.info(
                "batch: model=%s preset=%s hash=%s (instances %s) runs=%d (to do %d) "
                "concurrency=%d",
                config.model,
                task.spec.preset,
                family.family_hash[:12],
                "per run" if family.per_run else "fixed",
                config.runs,
                len(todo),
                config.concurrency,
            )
            async with contextlib.AsyncExitStack() as stack:
                if sandbox is None:  # the configured backend (ATTNRL_SANDBOX)
                    opened = open_sandbox(max_concurrency=min(config.concurrency, 16))
                    await stack.enter_async_context(opened)
                    sandbox = opened
                isolation = sandbox.isolation
                await _run_all(
                    config, family, todo, models, sandbox, batch_dir, console, isolation, stop
                )
        failing = False
    finally:
        early = (
            {"stopped_early": {"reason": stop.reason, "not_scheduled": stop.skipped}}
            if stop.reason is not None
            else {}
        )
        summary = batch_dir.finish(config.band, isolation, failing=failing, extra=early)
    if summary is None:  # finish_run_dir returns None only when failing, i.e. never here
        raise RunDirError(f"no summary written in {config.out}")
    return summary


class _Stopper:
    """Whether to schedule another run: ``--stop-when-decided`` feeds the confidence
    sequence outcomes in run-id order (only the contiguous prefix of finished runs, since
    finishing order is not independent of outcomes); ``--max-cost`` adds up recorded cost."""

    def __init__(self, config: RunConfig, previous: list[dict[str, Any]]) -> None:
        self.config = config
        self.reason: str | None = None
        self.skipped = 0
        self._finished: dict[int, dict[str, Any]] = {}
        self._next = 1
        self._cs = ConfidenceSequence()
        self._spent = 0.0
        for record in previous:
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        self._spent += float(record.get("cost_usd") or 0.0)
        self._finished[int(record["run_id"])] = record
        while self._next in self._finished:
            done = self._finished.pop(self._next)
            if done.get("category") != "infrastructure":
                self._cs.update(bool(done["passed"]))
            self._next += 1
        if self.reason is not None:
            return
        verdict = self._cs.verdict(self.config.band) if self.config.stop_when_decided else None
        if verdict not in (None, "inconclusive"):
            # runs finish out of order: name the run that decided, not the count reached
            at = self._cs.decided_at(self.config.band) or self._cs.n
            self.reason = f"the confidence sequence is {verdict} after {at} runs"
        elif self.config.max_cost is not None and self._spent >= self.config.max_cost:
            self.reason = (
                f"--max-cost {self.config.max_cost:g} USD reached (${self._spent:.4f} spent)"
            )

    def should_start(self) -> bool:
        if self.reason is None:
            return True
        self.skipped += 1
        return False


async def run_with_models(
    config: RunConfig, task: Task | TaskFamily, open_models: Callable[[], ModelSource]
) -> dict[str, Any]:
    """:func:`run_batch` with the batch's models opened inside this event loop (the SDK
    clients bind to it) and closed after."""
    models = open_models()
    try:
        return await run_batch(config, task, models)
    finally:
        await models.aclose()


async def _run_all(
    config: RunConfig,
    family: TaskFamily,
    todo: list[int],
    models: ModelSource,
    sandbox: Sandbox,
    batch_dir: BatchDir,
    console: Console,
    isolation: str,
    stop: _Stopper,
) -> None:
    limit = asyncio.Semaphore(config.concurrency)
    progress = BatchProgress(console, len(todo), enabled=config.progress)

    async def one(run_id: int) -> None:
        async with limit:
            if not stop.should_start():
                progress.skip()
                return
            task = family.task(run_id)
            model = models.for_run(run_id)
            started_at = now()
            logger.info("run %d started (model %s)", run_id, model.name)

            def show(message: Message) -> None:
                if config.verbose:
                    _show(console, run_id, message)

            try:
                result = await run_agent(task, model, sandbox, config.max_steps, on_message=show)
            except ModelConfigError:
                raise  # the operator must fix it: abort the batch, keep finished runs
            except Exception as exc:  # noqa: BLE001 - only the sandbox's failures get here
                logger.error("run %d: the sandbox failed: %s", run_id, traceback.format_exc())
                result = AgentResult(stop="infrastructure", error=f"{type(exc).__name__}: {exc}")
            try:
                record = _record(run_id, family, config, model, result, isolation, started_at)
            except Exception as exc:  # noqa: BLE001 - recording the model's output failed
                logger.error("run %d: recording failed: %s", run_id, traceback.format_exc())
                failed = AgentResult(
                    stop="error", steps=result.steps, error=f"{type(exc).__name__}: {exc}"[:500]
                )
                record = _record(run_id, family, config, model, failed, isolation, started_at)
            batch_dir.append(record)
            stop.add(record)
            _log_record(record, family.task(run_id))
            progress.advance(bool(record["passed"]))

    with progress:
        try:  # the first error (disk full, bad key) stops the other runs: none is half-recorded
            async with asyncio.TaskGroup() as group:
                for i in todo:
                    group.create_task(one(i))
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None


def _show(console: Console, run_id: int, message: Message) -> None:
    """Print one ``--verbose`` line. Model and tool text is a :class:`rich.text.Text`,
    never markup, and a line that cannot be printed never changes the run."""
    line = Text(f"run {run_id} ", style="dim")
    line.append(_brief(message))
    try:
        console.print(line, highlight=False, soft_wrap=True)
    except Exception:  # noqa: BLE001 - e.g. a closed or unencodable stream
        logger.warning("run %d: a --verbose line could not be printed", run_id, exc_info=True)


def _shown(text: str, width: int) -> str:
    """``text`` cut to ``width`` as a Python literal: control characters (ANSI escapes,
    NUL, newlines) and lone surrogates come out escaped, never sent to the terminal."""
    return repr(text[:width])


def _plain(text: str, width: int) -> str:
    """``text`` as is when it is printable ASCII (the tools' JSON results), else quoted."""
    cut = text[:width]
    return cut if cut.isascii() and cut.isprintable() else repr(cut)


def _brief(message: Message, width: int = 300) -> str:
    """One line of a transcript message, for ``--verbose`` (model text quoted, escaped)."""
    if message.role == "user":
        return f"user: prompt ({len(message.text)} chars)"
    if message.role == "assistant":
        calls = ", ".join(
            f"{c.name if c.name.isidentifier() else _shown(c.name, 80)}"
            f"({_arguments(c.arguments, c.raw_arguments, width)})"
            for c in message.tool_calls
        )
        return f"assistant: {_shown(message.text, width)} {calls}".strip()
    return "tool: " + " | ".join(
        ("ERROR " if r.is_error else "") + _plain(r.content, width) for r in message.tool_results
    )


def _arguments(arguments: Any, raw: str | None, width: int) -> str:
    if arguments is None:
        return _shown(raw or "", width)
    try:
        return json.dumps(arguments)[:width]  # ASCII: every control character escaped
    except (TypeError, ValueError, RecursionError):
        return "(arguments not shown)"
