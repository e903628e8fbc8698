"""The real-model tier's server: llama-cpp-python's OpenAI-compatible server (the pinned
wheel in .venv-real-model) on a free loopback port, serving gemma-3-270m Q4_K_M with tool
calling, started once per session and stopped by its pid at the end, even on failure.

``make test-real-model`` sets ``ATTNRL_REAL_PYTHON`` (the server's interpreter),
``ATTNRL_REAL_GGUF`` (the model file), ``ATTNRL_V1_PYTHON`` (verifiers 0.4's venv) and
``ATTNRL_LLAMA_SERVER``: llama.cpp's own ``llama-server`` (tools/real_model/llama_server.sh),
which reports its context length, for the up-front context check; empty when it is not built
(``make test-real-model LLAMA_SERVER=skip``), and its tests are then skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

N_CTX = 4096
"""The server's context: the seed-doc prompt fits, the largest procedural instances do not."""
LLAMA_N_CTX = 3072
"""llama-server's context: its template for gemma-3 adds no text for the tools, so the largest
procedural instance the task allows (3,612 tokens) fits 4,096; at 3,072 it does not, and the
seed-doc prompt (1,239 tokens) does."""
THREADS = 2
START_TIMEOUT_S = 300.0
ATTNRL = str(Path(sys.executable).parent / "attnrl")


@dataclass(frozen=True)
class Server:
    base_url: str
    """``http://127.0.0.1:<port>/v1``."""
    log: Path
    pid: int


def _required(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: run this tier with `make test-real-model`")
    return value


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            return bool(json.load(response).get("data"))
    except OSError:
        return False


def server_command(python: str, gguf: str, port: int, chat_format: str | None) -> list[str]:
    """The server's command line: 2 threads, ``N_CTX`` tokens, one model named ``local``."""
    command = [
        python, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", "local",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX),
        "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS),
    ]  # fmt: skip
    if chat_format is not None:
        command += ["--chat_format", chat_format]
    return command


def server_env() -> dict[str, str]:
    """OMP_WAIT_POLICY=passive: with 2 threads on a busy machine, spinning OpenMP workers make
    decoding 2-10x slower (DESIGN.md section 8)."""
    return {**os.environ, "OMP_WAIT_POLICY": "passive", "OMP_NUM_THREADS": str(THREADS)}


def llama_server_command(binary: str, gguf: str, port: int) -> list[str]:
    """llama.cpp's own server: one slot of ``LLAMA_N_CTX`` tokens (so ``/props`` reports
    exactly that), 2 threads, the model's Jinja template with tool calling (``--jinja``)."""
    return [
        binary, "--model", gguf, "--alias", "local", "--host", "127.0.0.1", "--port", str(port),
        "--ctx-size", str(LLAMA_N_CTX), "--parallel", "1", "--threads", str(THREADS),
        "--threads-batch", str(THREADS), "--jinja",
    ]  # fmt: skip


def start_server(log: Path, chat_format: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = server_command(
        _required("ATTNRL_REAL_PYTHON"), _required("ATTNRL_REAL_GGUF"), port, chat_format
    )
    return start_process(log, command, port)


def start_process(log: Path, command: list[str], port: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server ``command`` listening on ``port`` in its own session; wait until its
    ``/v1/models`` answers (or fail with its log)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=server_env(), start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _ready(base_url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"the llama.cpp server did not start (exit {proc.returncode}):\n{tail}")
        time.sleep(1.0)
    return proc, base_url


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (its own session), SIGKILL after 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The tool-calling server (``chatml-function-calling``: llama-cpp-python's format that
    turns the OpenAI ``tools`` into a grammar-constrained call)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base_url = start_server(log, "chatml-function-calling")
    try:
        yield Server(base_url, log, proc.pid)
    finally:
        stop_server(proc)
        print(server_speed(log))  # noqa: T201 - the tier's figures, for its report


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """llama.cpp's ``llama-server`` (built from the pinned llama-cpp-python's vendored
    llama.cpp): it reports its context length, which llama-cpp-python's server does not."""
    binary = os.environ.get("ATTNRL_LLAMA_SERVER")
    if not binary:
        pytest.skip(
            "llama-server is not built (ATTNRL_LLAMA_SERVER is empty): the up-front context "
            "check against a server that reports its context is not tested in this run; "
            "`make test-real-model` builds it (tools/real_model/llama_server.sh)"
        )
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    port = _free_port()
    proc, base_url = start_process(
        log, llama_server_command(binary, _required("ATTNRL_REAL_GGUF"), port), port
    )
    try:
        yield Server(base_url, log, proc.pid)
    finally:
        stop_server(proc)
        print(server_speed(log))  # noqa: T201 - the tier's figures, for its report


_PERF = re.compile(r"(prompt eval|\s+eval) time =\s+([\d.]+) ms /\s+(\d+) (?:tokens|runs)")


def server_speed(log: Path) -> str:
    """The server's own timings summed over the session (llama.cpp's perf lines): prompt
    processing and decoding speed in tokens per second."""
    totals = {"prompt eval": [0.0, 0], "eval": [0.0, 0]}
    for kind, ms, tokens in _PERF.findall(log.read_text(errors="replace")):
        entry = totals[kind.strip()]
        entry[0] += float(ms)
        entry[1] += int(tokens)
    parts = [
        f"{name}: {int(n)} tokens in {ms / 1000:.1f} s = {1000 * n / ms:.1f} tokens/s"
        for name, (ms, n) in (("prompt", totals["prompt eval"]), ("decode", totals["eval"]))
        if ms > 0
    ]
    return "\n[server] " + ("; ".join(parts) or "no timings in the log")


def attnrl(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """``attnrl ARGS`` from the main environment, with the local server's placeholder key."""
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY", "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run([ATTNRL, *args], capture_output=True, text=True, timeout=timeout, env=env)
