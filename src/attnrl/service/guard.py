"""What stands in front of the service: the bearer token, the body's size and its pace.

A plain ASGI middleware (no framework), so it runs before any route and before any byte
of a body is kept: a request without the right token is answered 401 without its body
being read; a body over ``max_body_bytes`` is 413 (at once when ``Content-Length`` says
so, else as soon as it passes the cap); a body that does not arrive within ``body_timeout_s``
is 408, so a slow client holds one connection, never a call slot. The token is compared
in constant time (:func:`hmac.compare_digest`) and appears in no log line and no response.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "Guard"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Guard:
    """Wraps ``app``: token check, then the whole body read (bounded in size and time) and
    handed to ``app`` as one message."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        body_timeout_s: float,
    ) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.rejected = 0
        """Requests refused for a missing or wrong token (for tests and the health route)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._authorised(scope):
            self.rejected += 1
            await _answer(
                send,
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                {"www-authenticate": "Bearer"},
            )
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _answer(send, 413, self._too_large(declared))
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self.body_timeout_s)
        except TimeoutError:
            await _answer(
                send, 408, f"the request body did not arrive within {self.body_timeout_s:g} s"
            )
            return
        except _BodyError as exc:
            await _answer(send, exc.status, str(exc))
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when it comes

        await self.app(scope, replay, send)

    def _authorised(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = value
                break
        scheme, _, credential = given.partition(b" ")
        if scheme.lower() != b"bearer":
            credential = b""
        # compare_digest's time depends on the lengths only, never on where they differ.
        return hmac.compare_digest(credential.strip(), self._token)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _BodyError(400, "the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyError(413, self._too_large(size, at_least=True))
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, size: int, at_least: bool = False) -> str:
        return (
            f"the request body is {'at least ' if at_least else ''}{size} bytes; the limit "
            f"is {self.max_body_bytes} (serve-sandbox --max-body-bytes)"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(
    send: Send, status: int, message: str, extra: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": message}).encode()  # FastAPI's shape, as SandboxFusion's
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
