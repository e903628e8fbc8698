"""What a person watching a batch sees: a live bar on a terminal, plain lines elsewhere.

On a terminal: a rich bar with runs done, the running pass rate, elapsed time and an ETA.
When stderr is not a terminal (CI, a log file) a live bar would print only its final frame,
so a plain line (runs done, pass rate, elapsed, ETA) is printed every ``every_s`` seconds and
at the end, as pytest and uv do.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["BatchProgress"]


def _rate(passed: int, done: int) -> str:
    return f"{100 * passed / done:.1f}%" if done else "n/a"


class BatchProgress:
    """Progress of ``total`` runs; :meth:`advance` once per finished run."""

    def __init__(
        self, console: Console, total: int, enabled: bool = True, every_s: float = 5.0
    ) -> None:
        self.console, self.total, self.every_s = console, total, every_s
        self.done = self.passed = 0
        self._plain = enabled and not console.is_terminal
        self._started = self._last = time.monotonic()
        self._bar = Progress(
            TextColumn("[bold]runs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("passed {task.fields[passed]} ({task.fields[rate]})"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled or self._plain,
            transient=False,
        )
        self._task = self._bar.add_task("runs", total=total, passed=0, rate="n/a")

    def line(self) -> str:
        """The plain progress line: ``runs 12/60, passed 3 (25.0%), 8s elapsed, eta 32s``."""
        elapsed = time.monotonic() - self._started
        eta = f"eta {elapsed / self.done * (self.total - self.done):.0f}s" if self.done else "eta ?"
        return (
            f"runs {self.done}/{self.total}, passed {self.passed} "
            f"({_rate(self.passed, self.done)}), {elapsed:.0f}s elapsed, {eta}"
        )

    def advance(self, passed: bool) -> None:
        self.done += 1
        self.passed += passed
        self._bar.update(
            self._task, advance=1, passed=self.passed, rate=_rate(self.passed, self.done)
        )
        now = time.monotonic()
        if self._plain and (now - self._last >= self.every_s or self.done == self.total):
            self._last = now
            self.console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def skip(self) -> None:
        """A run that will not be scheduled (the batch stopped early): one fewer to wait for."""
        self.total -= 1
        self._bar.update(self._task, total=self.total)

    def __enter__(self) -> BatchProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)
