"""How many connections the service holds, and how long one may take to say what it wants.

Every open connection is a file descriptor, and the calls need descriptors of their own (a
memfd and pipes each). uvicorn closes a connection that stays idle *after* a response, but
not one that never sends a request, or sends half its head: enough of those, token or not,
and the process runs out of descriptors, so other clients' calls fail to start. This
protocol (uvicorn's h11 one, two limits added) closes that door:

- at most ``max_connections`` open at once: one more is answered ``503`` with
  ``Retry-After`` and closed at once, before anything of it is read;
- a connection must complete a request head within ``head_timeout_s`` of opening, of its
  first byte after an idle keep-alive, or of the end of a response when part of the next
  head was already sent (pipelined); else it is closed: with a ``408`` when part of a head
  came, unanswered when nothing did.

The token check and the body's size and pace (:mod:`attnrl.service.guard`) start once a head
has arrived.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "DEFAULT_HEAD_TIMEOUT_S",
    "DEFAULT_MAX_CONNECTIONS",
    "descriptors_needed",
    "limited_protocol",
]

DEFAULT_MAX_CONNECTIONS = 1024
"""Connections open at once; ``serve-sandbox`` checks that its descriptor limit leaves room
for them and for the calls (:func:`descriptors_needed`)."""
DEFAULT_HEAD_TIMEOUT_S = 10.0
"""Seconds a connection may take to send a whole request head."""


def descriptors_needed(max_connections: int, concurrency: int) -> int:
    """Descriptors the service may hold at once: its connections, a handful per call in
    flight (the code's memfd and three pipes, both ends until handed over), and room for
    the interpreter, the sandbox's own sockets and the calls waiting for a slot."""
    return max_connections + 16 * concurrency + 256


def _closing_response(status: str, detail: str, extra: str = "") -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


BUSY = _closing_response(
    "503 Service Unavailable",
    "the service has too many open connections: retry shortly",
    "retry-after: 1\r\n",
)


def limited_protocol(max_connections: int, head_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the two limits (pass it as ``uvicorn.Config(http=...)``)."""

    late_head = _closing_response(
        "408 Request Timeout",
        f"the request head did not arrive within {head_timeout_s:g} s",
    )

    class LimitedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(BUSY)
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._awaiting_head():
                if self._head_timer is None:
                    self._arm()  # the first byte of a head after an idle keep-alive
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._awaiting_head() and self.conn.trailing_data[0]:
                self._arm()  # part of a pipelined head arrived with the last request

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _awaiting_head(self) -> bool:
            cycle: Any = self.cycle
            return cycle is None or bool(cycle.response_complete)

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._awaiting_head() and not self.transport.is_closing():
                if self.conn.trailing_data[0]:  # part of a head came: say why it ends
                    self.transport.write(late_head)
                self.transport.close()

    return LimitedH11Protocol
