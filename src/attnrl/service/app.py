"""The HTTP service as an ASGI app: SandboxFusion's ``/run_code`` plus python sessions.

Routes (every one behind :class:`~attnrl.service.guard.Guard`):

- ``POST /run_code``: SandboxFusion's request and response (:mod:`attnrl.service.fusion`).
- ``POST /sessions``: open a stateful python session (201, ``{"session_id": ...}``);
  ``POST /sessions/{id}/run_code`` runs a cell in it (same request and response);
  ``DELETE /sessions/{id}`` closes it (204). See :mod:`attnrl.service.sessions`.
- ``GET /health``: isolation, calls running and waiting, open sessions.

Calls beyond the sandbox's concurrency wait their turn on its semaphore (backpressure: the
client's request simply takes longer), never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from attnrl.sandbox.base import ExecResult
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.local import SandboxError
from attnrl.service.connections import DEFAULT_HEAD_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS
from attnrl.service.fusion import RequestError, error_response, parse_run_code, run_code_response
from attnrl.service.guard import ASGIApp, Guard
from attnrl.service.sessions import Session, SessionError, Sessions, replayed

__all__ = ["Backend", "ServiceSettings", "create_app"]

log = logging.getLogger(__name__)


class Backend(Protocol):
    """A sandbox that takes per-call limits (:class:`~attnrl.sandbox.local.LocalSandbox`
    and :class:`~attnrl.sandbox.ray_pool.RaySandbox` both do)."""

    @property
    def limits(self) -> SandboxLimits:
        """The sandbox's own limits: a request may ask for less, never more."""
        ...

    @property
    def max_concurrency(self) -> int: ...

    @property
    def isolation(self) -> str: ...

    async def start(self) -> None: ...

    async def run(self, code: str, limits: SandboxLimits | None = None) -> ExecResult: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ServiceSettings:
    """What the service enforces in front of the sandbox."""

    token: str | None = None
    """Bearer token every request must carry; None: none asked (loopback only)."""
    max_body_bytes: int = 2 << 20
    """Largest request body (the code itself is capped at 1 MiB by the sandbox)."""
    body_timeout_s: float = 30.0
    """Seconds a client may take to send its body."""
    max_sessions: int = 4096
    session_idle_s: float = 3600.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Connections open at once; one more is 503 (:mod:`attnrl.service.connections`)."""
    head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S
    """Seconds a connection may take to send a request head; slower is closed."""


BROKEN_SESSION = (
    "the session's earlier cells no longer run to their end (one ended its process in a way "
    "a replay cannot stop, such as os.execv or a C-level _exit, or they ran out of a limit), "
    "so no later cell could run: the session is closed; open a new one"
)


class _State:
    def __init__(self, backend: Backend, settings: ServiceSettings) -> None:
        self.backend = backend
        self.sessions = Sessions(settings.max_sessions, settings.session_idle_s)
        self.slots = asyncio.Semaphore(backend.max_concurrency)
        self.running = 0
        self.waiting = 0
        self.peak_running = 0
        self.peak_waiting = 0
        self.served = 0

    async def run(
        self, code: str, limits: SandboxLimits, mark: str | None = None
    ) -> dict[str, Any] | None:
        """One call, when a slot is free: the wait is the backpressure a client feels.
        ``mark``: a session's replay mark, taken out of the output; None is returned when
        the call ran but the mark is missing (:func:`~attnrl.service.sessions.replayed`)."""
        self.waiting += 1
        self.peak_waiting = max(self.peak_waiting, self.waiting)
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        try:
            result = await self.backend.run(code, limits)
        except SandboxError as exc:  # the backend failed (a lost node): the clients retry
            log.warning("sandbox service: %s", exc)
            return error_response(f"the sandbox failed: {exc}")
        finally:
            self.running -= 1
            self.slots.release()
        self.served += 1
        kept = result if mark is None else replayed(result, mark)
        answer = run_code_response(result if kept is None else kept)
        if kept is None and answer["status"] != "SandboxError":  # it ran, the mark did not
            return None
        return answer


def _bad(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON ({exc})") from None
    except RecursionError:
        raise RequestError("the body is JSON nested too deeply to read") from None


def create_app(backend: Backend, settings: ServiceSettings | None = None) -> ASGIApp:
    """The service over ``backend`` (started with the app, closed when it stops)."""
    settings = settings or ServiceSettings()
    state = _State(backend, settings)

    async def run_code(request: Request) -> Response:
        try:
            parsed = parse_run_code(await _json(request), backend.limits)
        except RequestError as exc:
            return _bad(400, str(exc))
        return JSONResponse(await state.run(parsed.code, parsed.limits))

    async def open_session(_: Request) -> Response:
        try:
            session = state.sessions.create()
        except SessionError as exc:
            return _bad(429, str(exc))
        return JSONResponse({"session_id": session.id}, status_code=201)

    async def session_run(request: Request) -> Response:
        try:
            session: Session = state.sessions.get(request.path_params["session_id"])
            parsed = parse_run_code(await _json(request), backend.limits)
            Sessions.check_room(session, parsed.code)
        except SessionError as exc:
            return _bad(404 if "no open session" in str(exc) else 413, str(exc))
        except RequestError as exc:
            return _bad(400, str(exc))
        if session.busy:
            return _bad(409, "the session is running a cell; send the next one after it")
        session.busy = True
        try:
            program, mark = session.program(parsed.code)
            answer = await state.run(program, parsed.limits, mark)
        finally:
            session.busy = False
            session.last_used = time.monotonic()
        if answer is None:  # its history no longer runs to its end: it can run no cell
            with contextlib.suppress(SessionError):
                state.sessions.close(session.id)
            return _bad(409, BROKEN_SESSION)
        if answer["status"] == "Success":
            session.cells.append(parsed.code)
        return JSONResponse(answer)

    async def close_session(request: Request) -> Response:
        try:
            state.sessions.close(request.path_params["session_id"])
        except SessionError as exc:
            return _bad(404, str(exc))
        return Response(status_code=204)

    async def health(_: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "isolation": backend.isolation,
                "running": state.running,
                "peak_running": state.peak_running,
                "waiting": state.waiting,
                "peak_waiting": state.peak_waiting,
                "served": state.served,
                "sessions": len(state.sessions),
                "rejected_tokens": guard.rejected,
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await backend.start()
        log.info("sandbox service: isolation=%r", backend.isolation)
        try:
            yield
        finally:
            await backend.aclose()

    app = Starlette(
        routes=[
            Route("/run_code", run_code, methods=["POST"]),
            Route("/sessions", open_session, methods=["POST"]),
            Route("/sessions/{session_id}/run_code", session_run, methods=["POST"]),
            Route("/sessions/{session_id}", close_session, methods=["DELETE"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    guard = Guard(
        app,
        token=settings.token,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    return guard
