"""Serving the app with uvicorn: who may bind where, the token, and the one line saying
where it listens.

The service runs code for whoever reaches it, so :func:`check_bind` refuses any address but
loopback unless a bearer token is set; the token comes from a file or the environment,
never the command line (where ``ps`` shows it to every user).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from attnrl.service.app import Backend, ServiceSettings, create_app

__all__ = [
    "MIN_TOKEN_CHARS",
    "TOKEN_ENV",
    "BindError",
    "check_bind",
    "is_loopback",
    "read_token",
    "serve",
]

log = logging.getLogger(__name__)

TOKEN_ENV = "ATTNRL_SANDBOX_TOKEN"
MIN_TOKEN_CHARS = 32
"""A token shorter than this is refused (``python -c 'import secrets;
print(secrets.token_urlsafe(32))'`` makes a good one)."""


class BindError(ValueError):
    """The address, port or token cannot be used as given (the message says the fix)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def read_token(token_file: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The bearer token from ``token_file`` (its first line) or :data:`TOKEN_ENV`; None if
    neither is given. Raises :class:`BindError` for an unreadable or too short token."""
    environ = dict(os.environ) if environ is None else environ
    if token_file is not None:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BindError(f"--token-file {token_file}: cannot read it ({exc})") from None
        token, source = (text.splitlines() or [""])[0].strip(), f"--token-file {token_file}"
    elif environ.get(TOKEN_ENV):
        token, source = environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        return None
    if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable():
        raise BindError(
            f"{source}: the token must be at least {MIN_TOKEN_CHARS} printable ASCII characters"
            " (make one: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback ``host`` without a token."""
    if token is None and not is_loopback(host):
        raise BindError(
            f"--host {host} is not loopback: binding it needs a bearer token (put one in a "
            f"file and pass --token-file FILE, or set {TOKEN_ENV}), and TLS in front "
            "(docs/scale-out.md)"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    if host == "localhost":
        host = "127.0.0.1"
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol says TCP; with 0 a keep-alive client waits ~40 ms per request (Nagle and
    # delayed ACKs between the response's separate writes).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.set_inheritable(False)
    return sock


async def serve(
    backend: Backend,
    sock: socket.socket,
    settings: ServiceSettings,
    announce: Callable[[str], None],
) -> None:
    """Start ``backend``, say where the service listens (``announce``), serve until
    SIGINT/SIGTERM, then stop the backend."""
    import uvicorn

    from attnrl.service.connections import limited_protocol

    previous = signal.getsignal(signal.SIGTERM)
    await backend.start()
    if previous is not None:  # Ray's driver installs its own (sys.exit(15)): undo it
        signal.signal(signal.SIGTERM, previous)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    announce(
        f"attnrl serve-sandbox: listening on http://{shown}:{port} (SandboxFusion POST "
        f"/run_code, sessions under /sessions; isolation {backend.isolation}; bearer token "
        f"{'required' if settings.token else 'not required (loopback only)'})"
    )
    config = uvicorn.Config(
        create_app(backend, settings),
        http=limited_protocol(settings.max_connections, settings.head_timeout_s),
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    try:
        await server.serve(sockets=[sock])
    finally:
        await backend.aclose()
