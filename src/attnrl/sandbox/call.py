"""One call's side of the local sandbox: its pipes, read on the event loop and bounded,
and the result the model sees (output, truncation, the error for a limit hit).

Split from :mod:`attnrl.sandbox.local`, which owns the zygote and hands each call's
descriptors to a :class:`Call`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from typing import Any, Protocol

from attnrl.sandbox.base import ExecResult
from attnrl.sandbox.limits import SandboxLimits

__all__ = ["EXIT_SETUP_FAILED", "Call", "CallOwner", "format_output"]

CPU_LIMIT_SLACK_S = 0.5
"""How far under its CPU limit a call's rusage may read and still count as having hit it:
less than the one second by which code that lowers its own (whole-second) RLIMIT_CPU can
undercut the sandbox's."""

STATUS_CAP = 1 << 16
FLOOD_BYTES = 8 << 20
"""Output read (and discarded) past what is kept before a call is stopped as a flood."""
EXIT_SETUP_FAILED = 121
RUN_MARK = b'{"run": 1}'
"""The child's line on the status descriptor just before the code runs (see the zygote)."""
RESERVED_TYPES = (
    "SandboxError",
    "OutputLimitError",
    "ProcessKilled",
    "CancelledError",
    "StatusForgeryError",
)
"""Error types only the harness reports. The code's own exceptions of such a name are
module-qualified (``__main__.SandboxError``), so a bare one from the call is a forgery."""
_ERROR_HEAD = re.compile(r"((?:[^\W\d]|\?)[\w.?<>]*)(?::| \(|\n|$)")
"""How the zygote's own report of an error starts: ``Type`` or ``module.Type`` (group 1),
then ``:``, `` (``, a new line or the end."""
_CONTINUATION = bytes(range(0x80, 0xC0))


class CallOwner(Protocol):
    """What a call needs from its sandbox."""

    jail_memory_bytes: int

    def send_nowait(self, msg: dict[str, Any]) -> None:
        """Send a control message (e.g. kill this call) to the zygote."""
        ...

    def took_oom_kill(self) -> bool:
        """Whether the jail's memory budget killed a process."""
        ...


def format_output(
    stdout: bytes, stderr: bytes, max_chars: int, more_chars: int = 0, stopped: bool = False
) -> tuple[str, bool]:
    """What the model sees: stdout then stderr, decoded (invalid UTF-8 replaced), cut at
    ``max_chars`` with a visible marker; ``more_chars`` counts output already discarded."""
    out = stdout.decode("utf-8", "replace")
    err = stderr.decode("utf-8", "replace")
    if out and err and not out.endswith("\n"):
        out += "\n"
    text = out + err
    more = max(0, len(text) - max_chars) + more_chars
    if not more and not stopped:
        return text, False
    text = text[:max_chars]
    if stopped:
        marker = (
            f"\n... [output truncated: at least {more} more characters; "
            "the call was stopped for flooding its output]"
        )
    else:
        marker = f"\n... [output truncated: {more} more characters]"
    return text + marker, True


def _last_object(data: bytes) -> dict[str, Any]:
    for line in reversed(data.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return {}


def _forged(text: str) -> str:
    excerpt = text[:200] + ("..." if len(text) > 200 else "")
    return (
        "StatusForgeryError: the code wrote to the sandbox's status descriptor; "
        f"what it wrote is not the sandbox's word: {excerpt!r}"
    )


def _signal_name(signum: int) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
    desc = signal.strsignal(signum) or ""
    return f"{name} ({desc})" if desc else name


class Call:
    """One call's pipes and outcome, fed by event-loop callbacks."""

    def __init__(self, call_id: int, limits: SandboxLimits, sandbox: CallOwner) -> None:
        self.id = call_id
        self.limits = limits
        self.sandbox = sandbox
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.keep_bytes = 4 * limits.max_output_chars + 64
        self.out = bytearray()
        self.err = bytearray()
        self.status = bytearray()
        self.discarded_bytes = 0
        self.discarded_chars = 0
        self.flooded = False
        self.fds: dict[int, str] = {}
        self.outcome: dict[str, Any] | None = None
        self.settled: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    # -- pipes

    def watch(self, fd: int, which: str) -> None:
        self.fds[fd] = which
        self.loop.add_reader(fd, self._on_readable, fd)

    def _on_readable(self, fd: int) -> None:
        which = self.fds.get(fd)
        if which is None:
            return
        for _ in range(16):  # then yield to the loop; the reader fires again
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close_fd(fd)
                return
            self._absorb(which, chunk)
            if self.flooded:
                self.close_all()
                return

    def _absorb(self, which: str, chunk: bytes) -> None:
        if which == "status":
            room = STATUS_CAP - len(self.status)
            if room > 0:
                self.status += chunk[:room]
            rest = len(chunk) - max(room, 0)
            if rest > 0:
                self.discarded_bytes += rest
        else:
            room = self.keep_bytes - len(self.out) - len(self.err)
            if room > 0:
                (self.out if which == "out" else self.err).extend(chunk[:room])
            if len(chunk) > room:
                spill = chunk[max(room, 0) :]
                self.discarded_bytes += len(spill)
                self.discarded_chars += len(spill.translate(None, _CONTINUATION))
        if self.discarded_bytes > FLOOD_BYTES and not self.flooded:
            self.flooded = True
            self.sandbox.send_nowait({"op": "kill", "id": self.id})

    def close_fd(self, fd: int) -> None:
        if self.fds.pop(fd, None) is None:
            return
        self.loop.remove_reader(fd)
        os.close(fd)
        if not self.fds and not self.drained.done():
            self.drained.set_result(None)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close_fd(fd)
        if not self.drained.done():
            self.drained.set_result(None)

    # -- outcome

    def settle(self, outcome: dict[str, Any]) -> None:
        if self.outcome is None:
            self.outcome = outcome
        if not self.settled.done():
            self.settled.set_result(None)

    def _status(self) -> tuple[dict[str, Any], str | None]:
        """The setup report (what the child wrote before the code ran: trusted), and the
        call's error as the call reported it after the run mark, or a forgery notice.

        After the mark the code runs in the same process and may write the descriptor
        too: only one ``{"error": str|None}`` line is accepted there, and its text never
        speaks for the harness."""
        head, mark, tail = bytes(self.status).partition(RUN_MARK)
        setup = _last_object(head)
        if not mark:
            return setup, None
        lines = [line for line in tail.split(b"\n") if line.strip()]
        if not lines:
            return setup, None
        obj = _last_object(lines[-1]) if len(lines) == 1 else {}
        error = obj.get("error", 0)
        if set(obj) != {"error"} or not (error is None or isinstance(error, str)):
            return setup, _forged(b"\n".join(lines).decode("utf-8", "replace"))
        kind = _ERROR_HEAD.match(error) if isinstance(error, str) else None
        if isinstance(error, str) and (kind is None or kind.group(1) in RESERVED_TYPES):
            return setup, _forged(error)
        return setup, error

    def result(self, duration_s: float) -> ExecResult:
        lim = self.limits
        text, truncated = format_output(
            bytes(self.out),
            bytes(self.err),
            lim.max_output_chars,
            self.discarded_chars,
            self.flooded,
        )
        stdout, _ = format_output(bytes(self.out), b"", lim.max_output_chars)
        stderr, _ = format_output(b"", bytes(self.err), lim.max_output_chars)
        error, time_limit = self._ending()
        return ExecResult(text, error, truncated, duration_s, stdout, stderr, time_limit)

    def _ending(self) -> tuple[str | None, str | None]:
        """The error the model sees (None: the call succeeded), and which time limit ended
        the call (``ExecResult.time_limit``: ``"wall_clock"``, ``"cpu"`` or None), decided
        together from what the zygote reported."""
        lim = self.limits
        o = self.outcome or {"op": "lost", "message": "no outcome"}
        if o.get("op") == "lost":
            return f"SandboxError: {o.get('message')}", None
        if o.get("op") == "failed":
            return f"SandboxError: the call could not be started: {o.get('message')}", None
        if o.get("timed_out"):
            return (
                f"TimeoutError: execution exceeded {float(lim.timeout_s)} s wall-clock limit",
                "wall_clock",
            )
        if self.flooded:
            return (
                f"OutputLimitError: the code printed far more than the "
                f"{lim.max_output_chars}-character output limit; it was stopped"
            ), None
        setup, error = self._status()
        signum = o.get("signal")
        if signum is not None:
            cpu_s = float(o.get("cpu_s") or 0.0)
            # PID 1 of its namespace (``pid1``) ignores SIGXCPU, so the CPU limit ends it with
            # SIGKILL; nothing in the call can send PID 1 a SIGKILL, the zygote says when it
            # did, and the slot's cgroup counts OOM kills: what is left is an RLIMIT_CPU. The
            # code may lower its own (to whole seconds), so the limit is the sandbox's only
            # if the call used its CPU seconds (rusage may read a little under the kernel's
            # count: CPU_LIMIT_SLACK_S); else the code chose its end: ProcessKilled.
            by_rlimit = o.get("pid1") and o.get("oom_kill") == 0 and not o.get("killed")
            used_the_limit = cpu_s >= lim.cpu_s - CPU_LIMIT_SLACK_S
            cpu_hit = used_the_limit and (
                signum == signal.SIGXCPU
                or (
                    signum == signal.SIGKILL
                    and not o.get("oom_kill")
                    and (cpu_s >= lim.cpu_s or bool(by_rlimit))
                )
            )
            if cpu_hit:
                return (
                    f"TimeoutError: CPU time limit of {lim.cpu_s} s exceeded "
                    f"(killed by signal {signal.Signals(signum).name})"
                ), "cpu"
            if o.get("killed"):
                return "CancelledError: the call was stopped by the harness", None
            if signum == signal.SIGKILL and o.get("oom_kill"):
                return (
                    "MemoryError: out of memory: the kernel's OOM killer stopped the call "
                    f"(its processes together may use {lim.memory_bytes >> 20} MiB; "
                    "killed by signal SIGKILL)"
                ), None
            if signum == signal.SIGKILL and "oom_kill" not in o and self.sandbox.took_oom_kill():
                budget = self.sandbox.jail_memory_bytes >> 20
                return (
                    "MemoryError: out of memory: the sandbox's processes together exceeded "
                    f"their {budget} MiB budget (killed by signal SIGKILL)"
                ), None
            return f"ProcessKilled: killed by signal {_signal_name(signum)}", None
        code = o.get("exit")
        if code == EXIT_SETUP_FAILED and isinstance(setup.get("setup_error"), str):
            return f"SandboxError: the call could not be set up: {setup['setup_error']}", None
        if isinstance(error, str):
            return error, None
        if code not in (0, None):
            return f"SystemExit: the process exited with status {code}", None
        return None, None
