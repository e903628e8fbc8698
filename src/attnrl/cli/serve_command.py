"""``serve-sandbox``: the python tool's sandbox as a SandboxFusion-compatible HTTP service.

Binds loopback by default; any other address needs a bearer token (``--token-file`` or
``ATTNRL_SANDBOX_TOKEN``). The sandbox behind it is the configured one (``ATTNRL_SANDBOX``:
the local jail, or the Ray pool). Prints one line saying where it listens, then serves until
SIGINT/SIGTERM. Exit 2 for a usage error (bad flag, address, token), 1 if the sandbox
could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from attnrl.cli.common import UsageError, fail
from attnrl.sandbox.limits import RANGES, MiB, SandboxLimits, check_limit

__all__ = ["cmd_serve_sandbox", "register"]

DEFAULT_PORT = 8080
"""SandboxFusion's own default port."""
MAX_WAIT_S = 3600.0
"""The longest ``--body-timeout`` or ``--head-timeout``: an hour; more is a typo."""
MAX_RUN_TIMEOUT_S = 30.0
"""The default ``--timeout``: the largest ``run_timeout`` a request may ask. SkyRL 0.4.0's
SandboxFusion clients (its ``code_interpreter`` tool and coder1 verifier) ask 30 s on every
call, so they work unchanged against the default command (verl 0.9.1's ``compute_score`` asks
10); a request that names no ``run_timeout`` still gets SandboxFusion's 10 s."""
EXIT_SANDBOX_FAILED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = SandboxLimits()
    parser = subparsers.add_parser(
        "serve-sandbox",
        help="serve the python sandbox over HTTP (SandboxFusion /run_code, sessions)",
        description=(
            "Serve the python tool's sandbox over HTTP: SandboxFusion's POST /run_code "
            "(verl's and the sandbox-fusion package's clients work unchanged) and stateful "
            "python sessions under /sessions. Loopback only unless a bearer token is set."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port; 0 picks a free one ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help="file whose first line is the bearer token every request must send "
        "(else ATTNRL_SANDBOX_TOKEN; required for a non-loopback --host)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="calls run at once (per node with ATTNRL_SANDBOX=ray); more wait their turn (16)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=MAX_RUN_TIMEOUT_S,
        metavar="SECONDS",
        help=f"the largest run_timeout a request may ask ({MAX_RUN_TIMEOUT_S:g}); a request "
        "that names none gets 10, or this if lower",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=defaults.memory_bytes // MiB,
        help=f"the largest memory_limit_MB a request may ask ({defaults.memory_bytes // MiB})",
    )
    parser.add_argument(
        "--max-output-chars",
        type=int,
        default=defaults.max_output_chars,
        help=f"characters of stdout and of stderr returned ({defaults.max_output_chars})",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=2 << 20,
        help=f"largest request body; larger is 413 ({2 << 20})",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds a client may take to send its body; slower is 408 (30)",
    )
    parser.add_argument(
        "--max-sessions", type=int, default=4096, help="open python sessions at most (4096)"
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=1024,
        help="connections open at once; one more is answered 503 and closed (1024)",
    )
    parser.add_argument(
        "--head-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds a connection may take to send a request head; slower is closed (10)",
    )
    parser.set_defaults(handler=cmd_serve_sandbox)


def _limits(args: argparse.Namespace) -> SandboxLimits:
    values = {
        "timeout_s": ("--timeout", args.timeout),
        "memory_bytes": ("--memory-mb", args.memory_mb * MiB),
        "max_output_chars": ("--max-output-chars", args.max_output_chars),
    }
    for name, (flag, value) in values.items():
        problem = check_limit(name, value)
        if problem:
            if name == "memory_bytes":
                lo, hi = RANGES[name]
                problem = f"must be in {int(lo) // MiB}..{int(hi) // MiB}, got {args.memory_mb}"
            raise UsageError(f"{flag} {problem}")
    return SandboxLimits(
        timeout_s=args.timeout,
        cpu_s=max(1, int(args.timeout) + 1),
        memory_bytes=args.memory_mb * MiB,
        max_output_chars=args.max_output_chars,
    )


def _room_for_connections(max_connections: int, concurrency: int) -> None:
    """Raise the soft descriptor limit as far as the hard one allows for the connections
    and the calls; refuse what it cannot hold (else calls fail to start once it is full)."""
    import resource

    from attnrl.service.connections import descriptors_needed

    need = descriptors_needed(max_connections, concurrency)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise UsageError(
                f"--max-connections {max_connections} with --concurrency {concurrency} needs "
                f"{need} file descriptors; this process may open {hard} (ulimit -Hn): lower "
                "--max-connections or raise the limit"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def cmd_serve_sandbox(args: argparse.Namespace) -> int:
    from attnrl.sandbox.local import PREFORK, SPARE_SLOTS, UID_BLOCK, SandboxError
    from attnrl.sandbox.select import open_sandbox

    try:
        from attnrl.service.app import ServiceSettings
    except ImportError as exc:
        return fail(
            f"serve-sandbox needs the serve extra ({exc.name} is missing): "
            "pip install 'attnrl[serve]' (make env installs it)"
        )
    from attnrl.service.server import BindError, bind_socket, check_bind, read_token, serve

    try:
        limits = _limits(args)
        top = UID_BLOCK - SPARE_SLOTS - PREFORK
        if not 1 <= args.concurrency <= top:
            raise UsageError(f"--concurrency must be in 1..{top}, got {args.concurrency}")
        for flag, value in (
            ("--max-body-bytes", args.max_body_bytes),
            ("--max-sessions", args.max_sessions),
            ("--max-connections", args.max_connections),
        ):
            if value < 1:
                raise UsageError(f"{flag} must be >= 1, got {value}")
        for flag, seconds in (
            ("--body-timeout", args.body_timeout),
            ("--head-timeout", args.head_timeout),
        ):
            if not 0 < seconds <= MAX_WAIT_S:
                raise UsageError(f"{flag} must be in (0, {MAX_WAIT_S:g}] seconds, got {seconds}")
        _room_for_connections(args.max_connections, args.concurrency)
        if not 0 <= args.port <= 65535:
            raise UsageError(f"--port must be in 0..65535, got {args.port}")
        token = read_token(args.token_file)
        check_bind(args.host, token)
        backend = open_sandbox(limits, max_concurrency=args.concurrency)  # ATTNRL_SANDBOX
        sock = bind_socket(args.host, args.port)
    except (UsageError, BindError, ValueError) as exc:
        return fail(str(exc))
    settings = ServiceSettings(
        token=token,
        max_body_bytes=args.max_body_bytes,
        body_timeout_s=args.body_timeout,
        max_sessions=args.max_sessions,
        max_connections=args.max_connections,
        head_timeout_s=args.head_timeout,
    )

    def announce(line: str) -> None:
        print(line, flush=True)

    # uvicorn stops gracefully on SIGTERM, then hands the signal on to the handler it found:
    # make that one a no-op, so a stop asked for is exit 0 rather than death by SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        asyncio.run(serve(backend, sock, settings, announce))
    except SandboxError as exc:
        print(f"attnrl: sandbox error: {exc}", file=sys.stderr)
        return EXIT_SANDBOX_FAILED
    finally:
        sock.close()
    return 0
