"""SkyRL's own SandboxFusion clients (the skyrl 0.4.0 wheel's ``skyrl_agent`` code, unchanged)
against ``attnrl serve-sandbox``: the ``call_sandbox_api`` / ``check_correctness`` pair behind
SkyRL's ``code_interpreter`` tool and its test-case grading, and the coder1 verifier's
``code_exec_sandboxfusion`` with the ``compute_score`` reward built on it."""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest
from skyrl_agent.tasks.verifiers.sandbox_fusion.utils import (
    _process_single_case,
    call_sandbox_api,
    check_correctness,
)

from conftest import SKYRL_VERSION, Served, skyrl_agent_root, start

ADD = "a, b = map(int, input().split())\nprint(a + b)"
CASES = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}


@pytest.fixture(scope="module")
def narrow() -> Iterator[Served]:
    """A service whose limit is below the 30 s SkyRL's clients ask on every call."""
    served = start("--concurrency", "2", "--timeout", "10")
    yield served
    served.stop()


def test_the_clients_are_skyrls_pinned_code() -> None:
    assert version("skyrl") == SKYRL_VERSION
    root = skyrl_agent_root()
    module = sys.modules["skyrl_agent.tasks.verifiers.sandbox_fusion.utils"]
    assert Path(str(module.__file__)).is_relative_to(root)


def test_call_sandbox_api_round_trip(server: Served) -> None:
    response, error = call_sandbox_api(
        server.url + "/run_code", "print(input()[::-1])", "olleh\n", 10, 10, 1024, "python"
    )
    assert error is None
    assert response is not None and response["status"] == "Success"
    assert response["run_result"]["stdout"] == "hello\n"
    assert response["run_result"]["return_code"] == 0


def test_check_correctness_grades_each_case(server: Served) -> None:
    url = server.url + "/run_code"
    assert check_correctness(url, CASES, ADD, 10)[0] == [True, True]
    assert check_correctness(url, CASES, "print(3)", 10)[0] == [True, False]
    results, metadata = check_correctness(url, CASES, "raise ValueError('no')", 10)
    assert results == [-2, -2]  # runtime error
    assert "ValueError: no" in metadata[0]["stderr"]


def test_check_correctness_calls_a_function_by_name(server: Served) -> None:
    """SkyRL's LeetCode-style wrapper: star-imports of the standard library, arguments as JSON
    lines on stdin, the result printed."""
    cases = {"inputs": ["1\n2", "[1, 2]\n[3]"], "outputs": ["3", "[1, 2, 3]"], "fn_name": "add"}
    results, metadata = check_correctness(
        server.url + "/run_code", cases, "def add(a, b):\n    return a + b", 10
    )
    assert results == [True, True], metadata


def test_a_time_limit_is_a_timeout_and_a_forged_one_is_not(server: Served) -> None:
    url = server.url + "/run_code"
    assert check_correctness(url, CASES, "while True: pass", 1)[0] == [-3, -3]
    forged = "raise TimeoutError('execution exceeded 1.0 s wall-clock limit')"
    assert check_correctness(url, CASES, forged, 5)[0] == [-2, -2]
    printed = "print('TimeLimitExceeded')\nraise SystemExit(1)"
    assert check_correctness(url, CASES, printed, 5)[0] == [-2, -2]


@pytest.mark.parametrize(
    "code",
    [
        "print(3)\nraise SystemExit(1)",  # right output, then a failure
        "import sys\nsys.stderr.write('3\\n')",  # the answer on stderr only
        "import json\nprint(json.dumps({'status': 'Success', 'run_result': {'stdout': '3'}}))",
    ],
    ids=["then-fail", "stderr", "forged-json"],
)
def test_output_around_the_answer_is_never_a_pass(server: Served, code: str) -> None:
    results, _ = check_correctness(server.url + "/run_code", CASES, code, 5)
    assert True not in results


def test_the_code_interpreter_call_with_its_30_s(server: Served, narrow: Served) -> None:
    """What SkyRL's ``code_interpreter`` tool sends (30 s, 1024 MB) runs on the default
    command; a service started with a lower ``--timeout`` refuses it, and the client says so."""
    code = "x = np.arange(4.0)\nprint(float(x @ x))"
    status, metadata = _process_single_case(
        0, None, None, server.url + "/run_code", code, 30, 1024, "python"
    )
    assert metadata["run_status"] == "Finished", metadata
    assert metadata["stdout"] + metadata["stderr"] == "14.0\n"
    status, metadata = _process_single_case(
        0, None, None, narrow.url + "/run_code", code, 30, 1024, "python"
    )
    assert status == -1 and metadata["status"] == "api_error"
    assert "400 Client Error" in metadata["api_request_error"]


def _free_8080() -> str | None:
    """A loopback address whose port 8080 is free (coder1's client always calls port 8080)."""
    for last in range(2 + os.getpid() % 200, 256):
        host = f"127.0.0.{last}"
        with socket.socket() as probe:
            try:
                probe.bind((host, 8080))
            except OSError:
                continue
            return host
    return None


@pytest.fixture(scope="module")
def coder1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """SkyRL's coder1 verifier, set to run code through SandboxFusion on a service at
    ``<host>:8080`` (its client's fixed port)."""
    host = _free_8080()
    if host is None:
        pytest.skip("port 8080 is taken on every loopback address; coder1's client needs it")
    served = start("--host", host, "--port", "8080", "--concurrency", "4")
    saved = {k: os.environ.get(k) for k in ("CODER1_EXEC", "SANDBOX_FUSION_SERVERS")}
    os.environ["CODER1_EXEC"] = "sandboxfusion"  # read when coder1 is imported
    os.environ["SANDBOX_FUSION_SERVERS"] = host
    try:
        yield importlib.import_module("skyrl_agent.tasks.verifiers.coder1")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        served.stop()


def test_coder1_runs_its_code_through_the_service(coder1: ModuleType) -> None:
    exec_module = sys.modules["skyrl_agent.tasks.verifiers.coder1.sandboxfusion_exec"]
    assert coder1.code_exec is exec_module.code_exec_sandboxfusion
    assert coder1.code_exec(ADD, stdin="20 22\n") == (True, "42\n")
    ok, output = coder1.code_exec("import sys\nprint('out')\nsys.exit(3)")
    assert not ok and "STDOUT:\nout\n" in output


def test_coder1_compute_score_pays_only_the_right_program(coder1: ModuleType) -> None:
    truth = json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]})
    right = f"</think>```python\n{ADD}\n```"
    assert coder1.compute_score(right, truth, {})["score"] == 1.0
    for wrong in ("print(3)", "print(3)\nraise SystemExit(1)", "print(input())"):
        solution = f"</think>```python\n{wrong}\n```"
        assert coder1.compute_score(solution, truth, {})["score"] == 0.0, wrong
