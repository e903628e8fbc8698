"""Who gets in, and what a request may cost: the bearer token (wrong, missing, replayed),
the bind policy, oversized bodies and slow clients, through the real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from attnrl.service.server import MIN_TOKEN_CHARS, check_bind, is_loopback, read_token
from fakes.sandbox_server import Served

TOKEN = "t0ken-" + "a" * 40
BODY = {"code": "print('in')", "language": "python"}


def _token_file(tmp_path: Path, token: str, name: str = "token") -> str:
    path = tmp_path / name
    path.write_text(token + "\n")
    path.chmod(0o600)
    return str(path)


def _post(url: str, headers: dict[str, str] | None = None, **kw: object) -> httpx.Response:
    return httpx.post(f"{url}/run_code", json=BODY, headers=headers or {}, timeout=60, **kw)  # type: ignore[arg-type]


def test_token_wrong_missing_and_misplaced_are_401(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = serve("--token-file", _token_file(tmp_path, TOKEN))
    assert "bearer token required" in served.first_line
    assert _post(served.url, {"Authorization": f"Bearer {TOKEN}"}).json()["status"] == "Success"
    near_miss = TOKEN[:-1] + ("b" if TOKEN[-1] != "b" else "c")  # same length, last char off
    refused = [
        {},  # missing
        {"Authorization": f"Bearer {near_miss}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},  # right secret, wrong scheme
        {"Authorization": TOKEN},  # no scheme
        {"X-API-Key": TOKEN},  # another header
    ]
    for headers in refused:
        response = _post(served.url, headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
    in_query = httpx.post(f"{served.url}/run_code?token={TOKEN}", json=BODY, timeout=60)
    assert in_query.status_code == 401
    assert httpx.get(f"{served.url}/health", timeout=60).status_code == 401
    health = httpx.get(
        f"{served.url}/health", headers={"Authorization": f"bearer {TOKEN}"}, timeout=60
    ).json()
    assert health["rejected_tokens"] == len(refused) + 2
    assert health["served"] == 1  # no refused request ran anything
    output = served.stop()
    assert TOKEN not in output and near_miss not in output


def test_a_token_replayed_against_a_restarted_server_with_a_new_one_is_401(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    """Rotation: the token is the server's, per start; one captured from an earlier server
    (or another one) opens nothing."""
    old = serve("--token-file", _token_file(tmp_path, TOKEN, "old"))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert _post(old.url, headers).status_code == 200
    old.stop()
    rotated = "r0tated-" + "z" * 40
    new = serve(env={"ATTNRL_SANDBOX_TOKEN": rotated})
    assert _post(new.url, headers).status_code == 401
    assert _post(new.url, {"Authorization": f"Bearer {rotated}"}).status_code == 200
    assert rotated not in new.stop()


def test_the_token_is_never_logged_even_at_debug(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = serve(env={"ATTNRL_SANDBOX_TOKEN": TOKEN})
    served.proc.args  # noqa: B018 - the token is not on the command line either
    assert TOKEN not in " ".join(map(str, served.proc.args))  # type: ignore[arg-type]
    _post(served.url, {"Authorization": f"Bearer {TOKEN}"})
    _post(served.url, {"Authorization": f"Bearer {TOKEN}0"})
    assert TOKEN not in served.stop()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attnrl", "serve-sandbox", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.org"])
def test_binding_beyond_loopback_without_a_token_is_refused(host: str) -> None:
    proc = _cli("--host", host, "--port", "0")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"attnrl: error: --host {host} is not loopback")
    assert "--token-file" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_short_or_unreadable_token_is_a_usage_error(tmp_path: Path) -> None:
    short = _cli("--token-file", _token_file(tmp_path, "abc"))
    assert short.returncode == 2 and f"at least {MIN_TOKEN_CHARS}" in short.stderr
    assert "abc" not in short.stderr
    missing = _cli("--token-file", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr


def test_bind_policy_unit() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.9.10") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.example.org")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ValueError, match="not loopback"):
        check_bind("10.1.2.3", None)
    assert read_token(None, {}) is None
    assert read_token(None, {"ATTNRL_SANDBOX_TOKEN": TOKEN}) == TOKEN


def test_oversized_bodies_are_413_declared_or_streamed(serve: Callable[..., Served]) -> None:
    served = serve("--max-body-bytes", "4096")
    big = {"code": "x = '" + "a" * 8000 + "'", "language": "python"}
    declared = httpx.post(f"{served.url}/run_code", json=big, timeout=60)
    assert declared.status_code == 413
    assert "limit is 4096" in declared.json()["detail"]

    def chunks() -> object:
        payload = json.dumps(big).encode()
        for i in range(0, len(payload), 1000):
            yield payload[i : i + 1000]

    streamed = httpx.post(f"{served.url}/run_code", content=chunks(), timeout=60)  # type: ignore[arg-type]
    assert "content-length" not in streamed.request.headers  # chunked: the size is found as read
    assert streamed.status_code == 413
    assert "at least" in streamed.json()["detail"]
    health = httpx.get(f"{served.url}/health", timeout=60).json()
    assert health["served"] == 0
    assert _post(served.url).json()["status"] == "Success"  # the server is fine


def test_a_slow_client_gets_408_and_holds_up_no_one(serve: Callable[..., Served]) -> None:
    served = serve("--body-timeout", "2", "--concurrency", "1")
    parts = urlsplit(served.url)
    assert parts.hostname is not None and parts.port is not None
    slow = socket.create_connection((parts.hostname, parts.port), timeout=60)
    body = json.dumps(BODY).encode()
    head = (
        f"POST /run_code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    slow.sendall(head + body[:5])  # ... and then nothing
    # While it dawdles, others are served, one call slot notwithstanding.
    for i in range(3):
        fast = httpx.post(
            f"{served.url}/run_code", json={"code": f"print({i})", "language": "python"}, timeout=60
        )
        assert fast.json()["run_result"]["stdout"] == f"{i}\n"
    slow.settimeout(60)
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = slow.recv(4096)
        if not data:
            break
        answer += data
    slow.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_bad_requests_get_400_with_the_fix(server: Served) -> None:
    cases = [
        (b"{not json", "not valid JSON"),
        (json.dumps([1, 2]).encode(), "must be a JSON object"),
        (json.dumps({"code": 3, "language": "python"}).encode(), "code must be a string"),
        (json.dumps({"code": "1", "language": "go"}).encode(), "python only"),
        (json.dumps({"code": "1", "language": "python", "files": {"a": "Zg=="}}).encode(), "files"),
        (json.dumps({"code": "1", "language": "python", "run_timeout": 99}).encode(), "--timeout"),
        (json.dumps({"code": "1", "language": "python", "run_timeout": -1}).encode(), "> 0"),
        (
            json.dumps({"code": "1", "language": "python", "memory_limit_MB": 99999}).encode(),
            "--memory-mb",
        ),
        (json.dumps({"code": "1", "language": "python", "colour": 1}).encode(), "unknown field"),
    ]
    for body, message in cases:
        response = httpx.post(f"{server.url}/run_code", content=body, timeout=60)
        assert response.status_code == 400, body
        assert message in response.json()["detail"], (body, response.text)


async def test_accepted_connections_get_tcp_nodelay() -> None:
    """The listening socket says TCP, so asyncio sets TCP_NODELAY on each accepted one (with
    protocol 0 it does not, and a keep-alive client waits on Nagle for every request)."""
    import asyncio

    from attnrl.service.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = writer.get_extra_info("socket")
        seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        host, port = sock.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        assert await seen != 0
        writer.close()
