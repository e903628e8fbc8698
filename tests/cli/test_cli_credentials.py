"""API keys and base URLs through the real CLI: a key that cannot go into an HTTP header, a
base URL that is not one, and credentials inside a base URL are one-line errors (or redacted),
before any run, and the secret never appears on stdout, stderr or in a file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_errors import assert_one_error

SECRETS = ("sk-FAKE456", "sk-FAKE789")


def attnrl(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        env=clean | (env or {}),
        cwd=cwd,
        timeout=300,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_no_secret(proc: subprocess.CompletedProcess[str], root: Path) -> None:
    for secret in SECRETS:
        assert secret not in proc.stdout and secret not in proc.stderr
        for path in root.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path


@pytest.mark.parametrize(
    ("key", "what"),
    [
        ("sk-FAKE456\n", "whitespace"),
        ("sk-FAKE456é", "a non-ASCII character"),
        ("sk-FAKE\x01456", "a control character"),
    ],
)
@pytest.mark.parametrize("base_url", [True, False])
def test_a_key_that_cannot_be_sent_is_one_line_naming_the_variable(
    key: str, what: str, base_url: bool, tmp_path: Path
) -> None:
    url = ["--base-url", f"http://127.0.0.1:{closed_port()}/v1"] if base_url else []
    proc = attnrl(
        "run", "--model", "openai/gpt-4o", *url, "--runs", "1", "--retries", "0",
        "--out", "D", "--no-progress", cwd=tmp_path, env={"OPENAI_API_KEY": key},
    )  # fmt: skip
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "OPENAI_API_KEY" in error and what in error and "not shown" in error
    assert not (tmp_path / "D").exists()
    assert_no_secret(proc, tmp_path)


def test_a_bad_anthropic_key_is_refused_before_any_run(tmp_path: Path) -> None:
    proc = attnrl(
        "run", "--model", "anthropic/claude-sonnet-4-5", "--runs", "1", "--out", "D",
        cwd=tmp_path, env={"ANTHROPIC_API_KEY": "sk-FAKE456 "},
    )  # fmt: skip
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "ANTHROPIC_API_KEY holds whitespace" in error
    assert_no_secret(proc, tmp_path)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:99999/v1", "invalid port"),
        ("http://127.0.0.1:port/v1", "invalid port"),
        ("notaurl", "no scheme"),
        ("ftp://127.0.0.1/v1", "scheme 'ftp'"),
        ("http:///v1", "no host"),
    ],
)
@pytest.mark.parametrize("command", ["run", "calibrate"])
def test_a_bad_base_url_is_one_line_before_any_run(
    url: str, problem: str, command: str, tmp_path: Path
) -> None:
    proc = attnrl(
        command, "--model", "openai/gpt-4o", "--base-url", url, "--out", "D", cwd=tmp_path
    )
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert error.startswith("attnrl: error: --base-url ") and problem in error
    assert "http(s)://HOST[:PORT][/PATH]" in error
    assert not (tmp_path / "D").exists()


def test_a_bad_openai_base_url_variable_is_named(tmp_path: Path) -> None:
    proc = attnrl(
        "run", "--model", "openai/gpt-4o", "--out", "D", cwd=tmp_path,
        env={"OPENAI_BASE_URL": "localhost:8000/v1"},
    )  # fmt: skip
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "OPENAI_BASE_URL 'localhost:8000/v1'" in error


def test_credentials_in_the_base_url_are_never_shown_or_stored(tmp_path: Path) -> None:
    port = closed_port()
    url = f"http://u:sk-FAKE456@127.0.0.1:{port}/v1?api-key=sk-FAKE789"
    proc = attnrl(
        "run", "--model", "openai/gpt-4o", "--base-url", url, "--runs", "1", "--retries", "0",
        "--out", "D", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr  # the server is unreachable: infrastructure
    assert_no_secret(proc, tmp_path)
    shown = f"http://REDACTED@127.0.0.1:{port}/v1?api-key=REDACTED"
    run = json.loads((tmp_path / "D" / "run.json").read_text())
    assert run["options"]["base_url"] == shown
    assert "api-key=REDACTED" in proc.stdout  # the context line: probed, shown redacted

    # resume: run.json cannot give the credentials back, so the URL must be given again...
    again = attnrl("run", "--out", "D", "--resume", "--no-progress", cwd=tmp_path)
    error, _ = assert_one_error(again.returncode, again.stderr)
    assert "pass --base-url again" in error and shown in error
    # ...and it is compared redacted: the same URL matches, another host does not
    other = url.replace(str(port), str(closed_port()))
    wrong = attnrl("run", "--out", "D", "--resume", "--base-url", other, cwd=tmp_path)
    error, _ = assert_one_error(wrong.returncode, wrong.stderr)
    assert "pass the --base-url they were made with" in error
    same = attnrl("run", "--out", "D", "--resume", "--base-url", url, "--no-progress", cwd=tmp_path)
    assert same.returncode == 3, same.stderr
    assert_no_secret(same, tmp_path)


def test_the_simulated_agents_refuse_a_base_url(tmp_path: Path) -> None:
    proc = attnrl(
        "run", "--model", "simulated", "--base-url", "http://127.0.0.1:8000/v1", "--out", "D",
        cwd=tmp_path,
    )  # fmt: skip
    error, _ = assert_one_error(proc.returncode, proc.stderr)
    assert "--base-url is for a provider model" in error and "drop --base-url" in error
    assert not (tmp_path / "D").exists()
