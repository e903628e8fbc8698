"""Many runs of one task: bounded concurrency, persistence after every run, resume.

Every finished run is appended to ``results.jsonl`` and flushed as it ends, so a crash,
a Ctrl-C or a SIGKILL loses at most the runs in flight;
``--resume`` keeps what is there (the last record per run id wins, a torn last line is
cut) and runs only the missing ids and those that ended in an infrastructure error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attnrl.harness.agent import AgentResult, run_agent
from attnrl.models.base import Message, Model, ModelConfigError
from attnrl.models.simulated import SIMULATED_NAME, Plan, SimulatedModel, assign_plans
from attnrl.sandbox import open_sandbox
from attnrl.sandbox.base import Sandbox
from attnrl.stats.analysis import summarize
from attnrl.task import Task
from attnrl.task.spec import ANSWER_MASK_FLAG

__all__ = [
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "RunConfig",
    "RunDirError",
    "load_records",
    "run_batch",
    "run_with_model",
    "summarize_run_dir",
]

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "run.json"


class RunDirError(Exception):
    """The output directory cannot be used as asked (message says why and what to do)."""


@dataclass(frozen=True)
class RunConfig:
    """One ``attnrl run`` batch."""

    model: str
    out: Path
    runs: int = 15
    concurrency: int = 15
    max_steps: int = 15
    resume: bool = False
    verbose: bool = False
    seed: int | None = None
    """Seeds the simulated agents' mix (and the instance, for seeded presets)."""
    band: tuple[float, float] = (0.10, 0.40)
    simulated_delay_s: float = 0.0
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    """Provider options recorded in the manifest (base_url, max_tokens...); never a key."""

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"--runs must be >= 1, got {self.runs}")
        if self.concurrency < 1:
            raise ValueError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.max_steps < 1:
            raise ValueError(f"--max-steps must be >= 1, got {self.max_steps}")
        lo, hi = self.band
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"--target-band must satisfy 0 <= low < high <= 100, got {lo}, {hi}")

    @property
    def simulated(self) -> bool:
        return self.model == SIMULATED_NAME


def load_records(path: Path) -> list[dict[str, Any]]:
    """Records of ``results.jsonl``, the last one per run id; a torn last line is dropped."""
    if not path.exists():
        return []
    latest: dict[int, dict[str, Any]] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            run_id = int(record["run_id"])
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines):  # the write a kill interrupted
                logger.warning("dropping torn last line of %s", path)
                continue
            raise RunDirError(f"{path}:{number} is not a run record ({exc})") from None
        latest[run_id] = record
    return [latest[k] for k in sorted(latest)]


def _repair_tail(path: Path) -> None:
    """Cut a partial last line so the next append starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


class _ResultsWriter:
    """Appends one JSON line per run.

    Each line is flushed to the OS at once, so a crash or SIGKILL of attnrl loses nothing
    written; ``fsync`` (surviving power loss) is grouped, at most every ``sync_every_s``
    and at close, because a per-run fsync blocked the event loop for ~5 ms a run.
    """

    def __init__(self, path: Path, sync_every_s: float = 1.0) -> None:
        _repair_tail(path)
        self._fh = path.open("a", encoding="utf-8")
        self._sync_every_s = sync_every_s
        self._last_sync = time.monotonic()

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
        self._fh.flush()
        if time.monotonic() - self._last_sync >= self._sync_every_s:
            os.fsync(self._fh.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats spelled as strings (``"NaN"``, ``"Infinity"``), since
    JSON has no such numbers and a model may well submit them."""
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else repr(value).replace("inf", "Infinity").replace("nan", "NaN")
        )
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _manifest(config: RunConfig, task: Task) -> dict[str, Any]:
    return {
        "model": config.model,
        "simulated": config.simulated,
        "preset": task.spec.preset,
        "seed": config.seed,
        "task_hash": task.content_hash,
        "max_steps": config.max_steps,
        "runs": config.runs,
        "options": config.extra,
    }


def summarize_run_dir(
    out: Path, band: tuple[float, float] = (0.10, 0.40), isolation: str | None = None
) -> dict[str, Any]:
    """``summary.json`` of a run directory, from its records and manifest: the one place a
    summary is made, for ``attnrl run`` as it ends and for ``attnrl report`` later."""
    records = load_records(out / RESULTS_FILE)
    manifest_path = out / MANIFEST_FILE
    manifest = (
        json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    )
    wanted = manifest.get("runs")
    return summarize(records, band) | {
        "model": manifest.get("model"),
        "simulated": manifest.get("simulated"),
        "preset": manifest.get("preset"),
        "task_hash": manifest.get("task_hash"),
        "isolation": isolation or (records[-1].get("sandbox") if records else None),
        "complete": wanted is not None
        and len(records) >= wanted
        and all(r.get("category") != "infrastructure" for r in records),
        "written_at": _now(),
    }


def _check_out_dir(config: RunConfig, task: Task) -> None:
    out = config.out
    results = out / RESULTS_FILE
    manifest_path = out / MANIFEST_FILE
    wanted = _manifest(config, task)
    if results.exists() and results.stat().st_size and not config.resume:
        raise RunDirError(
            f"{out} already holds runs; pass --resume to continue them, or choose another --out"
        )
    if config.resume and manifest_path.exists():
        have = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key in ("model", "task_hash", "max_steps", "seed"):
            if have.get(key) != wanted[key]:
                raise RunDirError(
                    f"cannot resume {out}: its runs used {key}={have.get(key)!r}, this run asks "
                    f"for {wanted[key]!r}; choose another --out to start afresh"
                )
    out.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(manifest_path, wanted | {"updated": _now()})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _no_submission_message(result: AgentResult, max_steps: int) -> str:
    if result.stop == "step_limit":
        return f"FAILURE: No submission within the {max_steps}-step limit"
    return "FAILURE: No submission (the model ended its turn without calling submit_answer)"


def _record(
    run_id: int,
    task: Task,
    config: RunConfig,
    model_name: str,
    result: AgentResult,
    plan: Plan | None,
    isolation: str,
    started_at: str,
) -> dict[str, Any]:
    """The ``results.jsonl`` object of one finished run."""
    base: dict[str, Any] = {
        "run_id": run_id,
        "model": model_name,
        "simulated": config.simulated,
        "preset": task.spec.preset,
        "task_hash": task.content_hash,
        "steps": result.steps,
        "stop": result.stop,
        "duration_s": round(result.duration_s, 4),
        "started_at": started_at,
        "finished_at": _now(),
        "usage": asdict(result.usage),
        "tool_errors": result.tool_errors,
        "sandbox": isolation,
    }
    if plan is not None:
        base["intended_category"] = plan.intended_category
        base["plan"] = plan.label()
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
            "category": "no_submission",
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
        if isinstance(result.answer, dict) and ANSWER_MASK_FLAG in result.answer:
            base["mask_flag"] = json_safe(result.answer[ANSWER_MASK_FLAG])
    base["transcript"] = [m.to_dict() for m in result.transcript]
    return base


def _log_record(record: dict[str, Any]) -> None:
    """What the seed logged per run: outcome, message, submitted keys, component errors."""
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
        logger.info(
            "run %d submitted keys: %s; %s=%r; shapes %s",
            record["run_id"],
            record["submitted_keys"],
            ANSWER_MASK_FLAG,
            record.get("mask_flag"),
            "invalid" if record["outcome"] == "invalid" else "as expected",
        )
    if record.get("errors"):
        errors = ", ".join(
            f"{k}={'n/a' if v is None else f'{v:.4f}'}" for k, v in record["errors"].items()
        )
        logger.info("run %d component errors: %s", record["run_id"], errors)


@contextlib.contextmanager
def _run_log(out: Path) -> Any:
    """A timestamped log file in the run directory for the duration of the batch."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    handler = logging.FileHandler(out / f"attnrl_run_{stamp}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(name)s - %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("attnrl")
    old_level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


ModelFactory = Callable[[int], Model]


async def run_batch(
    config: RunConfig,
    task: Task,
    model_factory: ModelFactory | None = None,
    sandbox: Sandbox | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the missing runs of ``config`` and return the summary (also in summary.json).

    ``model_factory(run_id)`` gives each run its model (providers share one client);
    for ``simulated`` it is built from the reproducible plan of each run id.
    """
    _check_out_dir(config, task)
    results_path = config.out / RESULTS_FILE
    done = {
        r["run_id"] for r in load_records(results_path) if r.get("category") != "infrastructure"
    }
    todo = [i for i in range(1, config.runs + 1) if i not in done]
    plans = assign_plans(task, config.runs, config.seed) if config.simulated else None
    if model_factory is None:
        if plans is None:
            raise ValueError("model_factory is required for a non-simulated model")
        model_factory = _simulated_factory(task, plans, config.simulated_delay_s)
    console = console or Console(stderr=True)
    writer = _ResultsWriter(results_path)
    isolation: str | None = None
    try:
        with _run_log(config.out):
            logger.info(
                "batch: model=%s preset=%s hash=%s runs=%d (to do %d) concurrency=%d",
                config.model,
                task.spec.preset,
                task.content_hash[:12],
                config.runs,
                len(todo),
                config.concurrency,
            )
            async with contextlib.AsyncExitStack() as stack:
                if sandbox is None:
                    sandbox = await stack.enter_async_context(
                        open_sandbox(max_concurrency=min(config.concurrency, 16))
                    )
                isolation = sandbox.isolation
                await _run_all(
                    config, task, todo, model_factory, sandbox, plans, writer, console, isolation
                )
    finally:
        writer.close()
        summary = summarize_run_dir(config.out, config.band, isolation)
        _write_json_atomic(config.out / SUMMARY_FILE, summary)
    return summary


async def run_with_model(
    config: RunConfig, task: Task, build_model: Callable[[], Model] | None = None
) -> dict[str, Any]:
    """:func:`run_batch` with one provider model built inside this event loop, shared by
    every run (one HTTP client) and closed after; ``None`` runs the simulated agents."""
    if build_model is None:
        return await run_batch(config, task)
    model = build_model()
    try:
        return await run_batch(config, task, lambda _run_id: model)
    finally:
        close = getattr(model, "aclose", None)
        if close is not None:
            await close()


def _simulated_factory(task: Task, plans: list[Plan], delay_s: float) -> ModelFactory:
    def factory(run_id: int) -> Model:
        return SimulatedModel(task, plans[run_id - 1], delay_s=delay_s)

    return factory


async def _run_all(
    config: RunConfig,
    task: Task,
    todo: list[int],
    model_factory: ModelFactory,
    sandbox: Sandbox,
    plans: list[Plan] | None,
    writer: _ResultsWriter,
    console: Console,
    isolation: str,
) -> None:
    limit = asyncio.Semaphore(config.concurrency)
    passed = 0
    progress = Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("passed {task.fields[passed]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not config.progress,
        transient=False,
    )
    bar = progress.add_task("runs", total=len(todo), passed=0)

    async def one(run_id: int) -> None:
        nonlocal passed
        async with limit:
            model = model_factory(run_id)
            started_at = _now()
            logger.info("run %d started (model %s)", run_id, model.name)

            def show(message: Message) -> None:
                if config.verbose:
                    console.print(f"[dim]run {run_id}[/dim] {_brief(message)}", highlight=False)

            plan = plans[run_id - 1] if plans else None
            try:
                result = await run_agent(task, model, sandbox, config.max_steps, on_message=show)
                record = _record(
                    run_id, task, config, model.name, result, plan, isolation, started_at
                )
            except ModelConfigError:
                raise  # the operator must fix it: abort the batch, keep finished runs
            except Exception as exc:  # noqa: BLE001 - one broken run is data, not a crash
                logger.error("run %d crashed: %s", run_id, traceback.format_exc())
                crashed = AgentResult(stop="infrastructure", error=f"{type(exc).__name__}: {exc}")
                record = _record(
                    run_id, task, config, model.name, crashed, plan, isolation, started_at
                )
            writer.append(record)
            _log_record(record)
            passed += bool(record["passed"])
            progress.update(bar, advance=1, passed=passed)

    with progress:
        await asyncio.gather(*(one(i) for i in todo))


def _brief(message: Message, width: int = 300) -> str:
    """One line of a transcript message, for ``--verbose``."""
    if message.role == "user":
        return f"user: prompt ({len(message.text)} chars)"
    if message.role == "assistant":
        calls = ", ".join(
            f"{c.name}({json.dumps(c.arguments)[:width]})" for c in message.tool_calls
        )
        return f"assistant: {message.text[:width]!r} {calls}".strip()
    return "tool: " + " | ".join(
        ("ERROR " if r.is_error else "") + r.content[:width] for r in message.tool_results
    )
