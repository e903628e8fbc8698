"""Stateful python sessions for multi-turn rollouts, on top of stateless calls.

Each call of attnrl's sandbox is a fresh fork: nothing persists, which is what keeps
concurrent rollouts apart. A session gets state back by replay: a call runs the session's
earlier cells that ran without error (their output discarded), then the new cell, in one
fresh process. Variables, functions and imports carry over; processes, files and the
random state's position do not (a cell that depends on them sees them redone). The cost
is that of re-running the history, bounded by :data:`MAX_HISTORY_BYTES` per session, and
sessions are bounded in number and expire when idle.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace

from attnrl.sandbox.base import ExecResult

__all__ = ["MAX_HISTORY_BYTES", "Session", "SessionError", "Sessions", "replayed"]

MAX_HISTORY_BYTES = 256 << 10
"""Code a session may accumulate; past it the next cell is refused (start a new session)."""


_REPLAY = """
import io, os, posix, sys
streams, exit_now = (sys.stdout, sys.stderr), os._exit
def _end(status=0):
    raise SystemExit(status)
sys.stdout = sys.stderr = io.StringIO()
os._exit = posix._exit = _end
try:
    for cell in _cells:
        try:
            exec(compile(cell, '<session history>', 'exec'), _g)
        except SystemExit:
            pass
finally:
    (sys.stdout, sys.stderr), os._exit, posix._exit = streams, exit_now, exit_now
sys.stderr.write(_replayed + chr(10))
sys.stderr.flush()
"""
"""Runs a session's earlier cells in the call's ``__main__`` namespace (``_g``), output
discarded, each to its end or its exit (``sys.exit``, ``os._exit``, ``posix._exit``), then
writes the call's mark (``_replayed``) to stderr: a cell that ended the process another way
(``os.exec*``, a C-level ``_exit``) leaves it unwritten. In a namespace of its own, so it
leaves no names."""


class SessionError(LookupError):
    """No such session, too many sessions, or a history too long (message says which)."""


@dataclass
class Session:
    """One session: the cells that ran without error, in order."""

    id: str
    cells: list[str] = field(default_factory=list)
    last_used: float = field(default_factory=time.monotonic)
    busy: bool = False

    def program(self, cell: str) -> tuple[str, str | None]:
        """The code one call runs and its replay mark: the history replayed silently, a fresh
        random mark written to stderr once it has run to its end (:func:`replayed` checks
        it), then ``cell`` as written (its last expression is echoed as in any call; its
        line numbers are one higher). Without a history, ``cell`` alone and no mark.

        A cell that ended its process without an error (``sys.exit(0)``, ``exit()``,
        ``os._exit(0)``) is replayed up to that point and the replay goes on with the next
        cell: otherwise every later cell of the session would end there too and pass
        without running."""
        if not self.cells:
            return cell, None
        mark = f"attnrl-replayed-{secrets.token_hex(16)}"
        scope = f"{{'_cells': {self.cells!r}, '_g': globals(), '_replayed': {mark!r}}}"
        replay = f"exec(compile({_REPLAY!r}, '<session replay>', 'exec'), {scope})\n"
        return replay + cell, mark

    def history_bytes(self) -> int:
        return sum(len(c.encode("utf-8", "surrogatepass")) + 1 for c in self.cells)


def replayed(result: ExecResult, mark: str) -> ExecResult | None:
    """``result`` without the replay's ``mark`` line, or None when the mark is missing: the
    session's history ended the process before the new cell ran (a cell that ended it in a
    way the replay cannot stop), so every later cell would pass without running."""
    line = mark + "\n"
    if result.stderr is None or line not in result.stderr:
        return None
    return replace(
        result,
        result=result.result.replace(line, "", 1),
        stderr=result.stderr.replace(line, "", 1),
    )


class Sessions:
    """The open sessions: at most ``max_sessions``, each dropped after ``idle_s`` unused."""

    def __init__(self, max_sessions: int = 4096, idle_s: float = 3600.0) -> None:
        if max_sessions < 1 or not idle_s > 0:
            raise ValueError("max_sessions must be >= 1 and idle_s > 0")
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self._open: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._open)

    def expire(self, now: float | None = None) -> int:
        """Drop sessions idle for longer than ``idle_s``; returns how many."""
        now = time.monotonic() if now is None else now
        stale = [k for k, s in self._open.items() if not s.busy and now - s.last_used > self.idle_s]
        for key in stale:
            del self._open[key]
        return len(stale)

    def create(self) -> Session:
        self.expire()
        if len(self._open) >= self.max_sessions:
            raise SessionError(
                f"too many open sessions ({self.max_sessions}); close finished ones "
                "(DELETE /sessions/<id>) or start the server with a larger --max-sessions"
            )
        session = Session(secrets.token_urlsafe(16))
        self._open[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        session = self._open.get(session_id)
        if session is None:
            raise SessionError(f"no open session {session_id!r} (closed, expired or never made)")
        return session

    def close(self, session_id: str) -> None:
        if self._open.pop(session_id, None) is None:
            raise SessionError(f"no open session {session_id!r} (closed, expired or never made)")

    @staticmethod
    def check_room(session: Session, cell: str) -> None:
        size = session.history_bytes() + len(cell.encode("utf-8", "surrogatepass"))
        if size > MAX_HISTORY_BYTES:
            raise SessionError(
                f"the session's code would reach {size} bytes (limit {MAX_HISTORY_BYTES}); "
                "start a new session"
            )
