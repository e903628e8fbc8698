"""verl 0.9.1's own SandboxFusion client against ``attnrl serve-sandbox``, unchanged: the
request ``call_sandbox_api`` sends (with ``memory_limit_MB`` and ``stdin``) and the reward
``compute_score`` derives from the response (success, wrong answer, runtime error, timeout)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("verl")
from verl.utils.reward_score.sandbox_fusion import compute_score  # noqa: E402
from verl.utils.reward_score.sandbox_fusion.utils import call_sandbox_api  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_code_url() -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["NO_PROXY"] = "127.0.0.1,localhost"
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnrl", "serve-sandbox", "--port", "0", "--concurrency", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on " in line, (line, proc.stderr.read() if proc.stderr else "")
    old = {k: os.environ.pop(k) for k in list(os.environ) if "PROXY" in k.upper()}
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    yield line.split("listening on ", 1)[1].split()[0] + "/run_code"
    os.environ.update(old)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)


def test_call_sandbox_api_round_trip(run_code_url: str) -> None:
    response, error = call_sandbox_api(
        run_code_url, "print(input()[::-1])", "olleh\n", 10, 10, 1024, "python"
    )
    assert error is None
    assert response is not None and response["status"] == "Success"
    assert response["run_result"]["stdout"] == "hello\n"
    assert response["run_result"]["return_code"] == 0


def test_compute_score_grades_through_the_service(run_code_url: str) -> None:
    cases = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}
    semaphore = threading.Semaphore(4)
    right = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    score, meta = compute_score(run_code_url, semaphore, 1024, right, cases)
    assert score == 1.0, meta
    assert [m["status"] for m in meta] == ["success", "success"]

    wrong = "```python\na, b = map(int, input().split())\nprint(a * b)\n```"
    score, meta = compute_score(run_code_url, semaphore, 1024, wrong, cases)
    assert score == 0.0
    assert meta[0]["status"] == "wrong_answer"

    crash = "```python\nraise SystemExit(3)\n```"
    score, meta = compute_score(run_code_url, semaphore, 1024, crash, cases)
    assert score == 0.0 and meta[0]["status"] == "runtime_error"

    slow = "```python\nwhile True:\n    pass\n```"
    score, meta = compute_score(run_code_url, semaphore, 1024, slow, cases, timeout=1)
    assert score == 0.0 and meta[0]["status"] == "timeout"
