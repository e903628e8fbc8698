"""Connections that never say what they want cannot starve the calls (an adversarial review,
2026-12-04: ~21,000 idle connections used up the service's descriptors, and an authenticated
client's calls then failed to start, reported as SandboxError). Through the real server: the
cap answers 503, a head that does not arrive is closed, and the calls of a connected client
run throughout."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from attnrl.cli import build_parser
from attnrl.service.app import ServiceSettings
from attnrl.service.connections import descriptors_needed
from fakes.sandbox_server import Served

TOKEN = "t0ken-" + "b" * 40


def _address(served: Served) -> tuple[str, int]:
    parts = urlsplit(served.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the limit's own signal:
    an EOF; the generous timeout only bounds a broken server)."""
    sock.settimeout(120)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return str(path)


def _run(client: httpx.Client, url: str, code: str) -> dict[str, object]:
    response = client.post(
        f"{url}/run_code",
        json={"code": code, "language": "python"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize(
    "opening",
    [
        pytest.param(b"", id="nothing at all"),
        pytest.param(b"POST /run_code HTTP/1.1\r\nHost: x\r\n", id="half a head"),
        pytest.param(b"G", id="one byte"),
    ],
)
def test_a_head_that_never_arrives_is_closed(serve: Callable[..., Served], opening: bytes) -> None:
    """Closed by the server: unanswered when nothing came, with a 408 naming the limit
    when part of a head did."""
    served = serve("--head-timeout", "1")
    with socket.create_connection(_address(served), timeout=60) as idle:
        idle.sendall(opening)
        answer = _read_all(idle)
    if opening:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 1 s" in answer
    else:
        assert answer == b""
    assert httpx.get(f"{served.url}/health", timeout=60).status_code == 200


def test_an_idle_keep_alive_then_half_a_head_is_closed(serve: Callable[..., Served]) -> None:
    served = serve("--head-timeout", "1")
    with socket.create_connection(_address(served), timeout=60) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += conn.recv(4096)
        head, body = first.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += conn.recv(4096)
        conn.sendall(b"GET /health HTTP/1.1\r\nHo")  # a second request, never finished
        assert _read_all(conn).startswith(b"HTTP/1.1 408")


def test_half_a_head_pipelined_behind_a_request_is_timed_too(serve: Callable[..., Served]) -> None:
    """Part of the next head sent with a request (pipelined) waits under the head limit
    once the response is out, not under the 30 s keep-alive (an adversarial review): its
    408 says which limit ended it."""
    served = serve("--head-timeout", "1")
    with socket.create_connection(_address(served), timeout=60) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHo")
        answer = _read_all(conn)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"HTTP/1.1 408" in answer and b"did not arrive within 1 s" in answer


def test_past_the_cap_a_connection_gets_503_and_connected_clients_keep_running(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    cap = 6
    served = serve(
        "--max-connections",
        str(cap),
        "--head-timeout",
        "600",
        "--token-file",
        _token_file(tmp_path),
    )
    with httpx.Client() as client:  # one keep-alive connection, authenticated
        assert _run(client, served.url, "print(1 + 1)")["status"] == "Success"
        idle = [socket.create_connection(_address(served), timeout=60) for _ in range(cap - 1)]
        try:
            for i in range(3):  # the cap is full: more connections are turned away
                with socket.create_connection(_address(served), timeout=60) as extra:
                    answer = _read_all(extra)
                assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
                assert b"retry-after: 1" in answer.lower()
                assert (
                    "too many open connections"
                    in json.loads(answer.split(b"\r\n\r\n")[1])["detail"]
                )
                # the connected client's calls start and finish as if nothing happened
                result = _run(client, served.url, f"print({i} * 7)")
                assert result["status"] == "Success"
                assert result["run_result"]["stdout"] == f"{i * 7}\n"  # type: ignore[index]
        finally:
            for sock in idle:
                sock.close()
    with httpx.Client() as client:  # the idle ones gone, a new client gets in
        assert _run(client, served.url, "print('in')")["status"] == "Success"


def test_json_nested_too_deeply_is_400_not_a_crash(server: Served) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = httpx.post(f"{server.url}/run_code", content=body, timeout=60)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    health = httpx.get(f"{server.url}/health", timeout=60)
    assert health.status_code == 200


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-connections", "0"], "--max-connections must be >= 1"),
        (["--head-timeout", "0"], "--head-timeout must be in"),
        (["--head-timeout", "nan"], "--head-timeout must be in"),
        (["--head-timeout", "inf"], "--head-timeout must be in"),
        (["--body-timeout", "inf"], "--body-timeout must be in"),
    ],
)
def test_bad_connection_flags_are_usage_errors(flags: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "serve-sandbox", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_descriptor_limit_too_small_for_the_cap_is_refused_with_the_fix() -> None:
    hard = descriptors_needed(1024, 16) - 1

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "serve-sandbox", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lower,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"may open {hard} (ulimit -Hn)" in proc.stderr
    assert "lower --max-connections" in proc.stderr


def test_the_commands_defaults_are_the_services() -> None:
    parser = build_parser()
    args = parser.parse_args(["serve-sandbox"])
    settings = ServiceSettings()
    assert args.max_connections == settings.max_connections
    assert args.head_timeout == settings.head_timeout_s
    assert args.max_body_bytes == settings.max_body_bytes
    assert args.body_timeout == settings.body_timeout_s
    assert args.max_sessions == settings.max_sessions
