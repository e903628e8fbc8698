"""The real sandbox service for the tests: ``attnrl serve-sandbox --port 0`` in its own process,
on loopback, its URL read from the line it prints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pytest


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]
    first_line: str

    def stop(self) -> str:
        """Stop the server (SIGTERM, as an operator would) and return all it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, (self.proc.returncode, err[-2000:])  # a clean stop
        return self.first_line + out + err


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.pop("ATTNRL_SANDBOX_TOKEN", None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def start(
    *flags: str, env: dict[str, str] | None = None, attnrl: Sequence[str] | None = None
) -> Served:
    """Start ``attnrl serve-sandbox --port 0 FLAGS`` (a later ``--port`` wins) and wait for its
    line; ``attnrl`` is the command (default this interpreter's ``-m attnrl``: a tier whose
    environment lacks attnrl passes the main environment's)."""
    command = list(attnrl) if attnrl is not None else [sys.executable, "-m", "attnrl"]
    proc = subprocess.Popen(
        [*command, "serve-sandbox", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"serve-sandbox did not start: {line!r} {err[-2000:]!r}")
    url = line.split("listening on ", 1)[1].split()[0]
    return Served(url, proc, line)


def without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy for this test's HTTP clients: the service is on loopback."""
    for key in list(os.environ):
        if "PROXY" in key.upper():
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
