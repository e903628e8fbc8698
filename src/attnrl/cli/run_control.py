"""How a batch ends: signals, exit codes, and retries told once per cause.

SIGTERM (what ``timeout``, Slurm and Kubernetes send) and SIGHUP get what Ctrl-C gets: the
runs in flight are cancelled, finished runs are kept, the summary is written, and the command
says so and exits ``128 + signal`` (130, 143, 129). A batch in which some run could not reach
the model exits :data:`EXIT_INFRASTRUCTURE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import TypeVar

from attnrl.models.retry import GAVE_UP_CAUSE, RETRY_CAUSE

__all__ = [
    "EXIT_INFRASTRUCTURE",
    "Interrupted",
    "RetryTally",
    "retry_tally",
    "run_stoppable",
    "stop_signals",
]

T = TypeVar("T")

EXIT_INFRASTRUCTURE = 3
"""Some run ended as ``infrastructure`` (the model or the sandbox unreachable after retries)."""

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """The batch was stopped by a signal (``signum``); finished runs are kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _Stopper:
    """The handler of SIGTERM/SIGHUP: cancels the running batch, as asyncio does for SIGINT."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.task: asyncio.Task[object] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum
        if self.task is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        else:  # between batches: stop where we are
            raise Interrupted(signum)


_stopper: _Stopper | None = None


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the batch cleanly while this is active."""
    global _stopper
    stopper, previous = _Stopper(), {}
    for sig in _STOP_SIGNALS:
        previous[sig] = signal.signal(sig, stopper)
    _stopper = stopper
    try:
        yield
    finally:
        _stopper = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_stoppable(make: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run`` of ``make()``; raises :class:`Interrupted` after SIGINT, SIGTERM or
    SIGHUP (once the batch has recorded what finished and written its summary)."""
    stopper = _stopper

    async def main() -> T:
        if stopper is not None:
            stopper.loop, stopper.task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            return await make()
        finally:
            if stopper is not None:
                stopper.loop = stopper.task = None

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT) from None
    except asyncio.CancelledError:
        if stopper is not None and stopper.signum is not None:
            raise Interrupted(stopper.signum) from None
        raise


class RetryTally(logging.Filter):
    """Counts retry warnings by cause instead of letting each reach the console."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.gave_up: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if (cause := getattr(record, RETRY_CAUSE, None)) is not None:
            self.counts[cause] += 1
            return False
        if (cause := getattr(record, GAVE_UP_CAUSE, None)) is not None:
            self.gave_up[cause] += 1
            return False
        return True

    def lines(self) -> list[str]:
        """One line per distinct cause, most frequent first."""
        return [
            f"attnrl: retried {n} time{'s' if n != 1 else ''}: {cause}"
            for cause, n in self.counts.most_common()
        ] + [
            f"attnrl: {n} run{'s' if n != 1 else ''} gave up on the model: {cause}"
            for cause, n in self.gave_up.most_common()
        ]


@contextlib.contextmanager
def retry_tally() -> Iterator[RetryTally]:
    """A :class:`RetryTally` on the console handlers (at WARNING and above; with
    ``--log-level INFO`` or lower every retry is shown as it happens)."""
    tally = RetryTally()
    handlers = [
        h
        for h in logging.getLogger().handlers
        if not isinstance(h, logging.FileHandler) and h.level >= logging.WARNING
    ]
    for handler in handlers:
        handler.addFilter(tally)
    try:
        yield tally
    finally:
        for handler in handlers:
            handler.removeFilter(tally)
