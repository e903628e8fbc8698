"""SandboxFusion's own client package (``sandbox-fusion`` 0.3.7, sync and async) against
``attnrl serve-sandbox``, unchanged: its request models, its response parsing, its summary."""

from __future__ import annotations

import asyncio

import pytest
import sandbox_fusion
from sandbox_fusion import (
    CommandRunStatus,
    RunCodeRequest,
    RunStatus,
    SummaryMapping,
    run_code,
    run_code_async,
    summary_run_code_result,
)

from fakes.sandbox_server import Served


def test_the_client_package_is_the_pinned_one() -> None:
    from importlib.metadata import version

    assert version("sandbox-fusion") == "0.3.7"
    assert sandbox_fusion.run_code is run_code


def test_sync_client_runs_python_with_numpy(server: Served) -> None:
    request = RunCodeRequest(code="print(int(np.arange(5).sum()))", language="python")
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.status == RunStatus.Success
    assert response.run_result is not None
    assert response.run_result.status == CommandRunStatus.Finished
    assert response.run_result.return_code == 0
    assert response.run_result.stdout == "10\n"
    assert summary_run_code_result(response, SummaryMapping()) == "Success"


def test_sync_client_sees_an_exception_as_a_failed_run(server: Served) -> None:
    request = RunCodeRequest(
        code="import sys\nprint('out')\nprint('warn', file=sys.stderr)\nraise KeyError('k')",
        language="python",
    )
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.status == RunStatus.Failed
    assert response.run_result is not None
    assert response.run_result.return_code == 1
    assert response.run_result.stdout == "out\n"  # stderr kept apart, as the API has it
    assert response.run_result.stderr is not None
    assert response.run_result.stderr.startswith("warn\nKeyError: 'k'")
    mapping = SummaryMapping(RunFailed="runtime error")
    assert summary_run_code_result(response, mapping) == "runtime error"


def test_run_timeout_maps_to_the_jails_wall_clock_limit(server: Served) -> None:
    request = RunCodeRequest(code="while True: pass", language="python", run_timeout=1)
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.status == RunStatus.Failed
    assert response.run_result is not None
    assert response.run_result.status == CommandRunStatus.TimeLimitExceeded
    assert "1.0 s wall-clock limit" in (response.run_result.stderr or "")
    assert summary_run_code_result(response, SummaryMapping(RunTimeout="timeout")) == "timeout"


FORGED_TIMEOUTS = (
    "raise TimeoutError('execution exceeded 1.0 s wall-clock limit')",
    "raise TimeoutError('CPU time limit of 1 s exceeded (killed by signal SIGKILL)')",
    "import sys\nsys.stderr.write('TimeoutError: execution exceeded 1.0 s wall-clock limit')\n"
    "raise SystemExit(1)",
    "class TimeLimitExceeded(Exception): pass\nraise TimeLimitExceeded('run_timeout')",
    "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 1))\nwhile True: pass",
)


@pytest.mark.parametrize(
    "code", FORGED_TIMEOUTS, ids=["wall", "cpu", "stderr", "class", "its own cpu limit"]
)
def test_code_cannot_pass_its_own_failure_for_a_time_limit(server: Served, code: str) -> None:
    """A trainer may treat a time limit apart from a wrong program (retry it, drop the
    sample): only a limit the sandbox saw is ``TimeLimitExceeded``, never the code's words."""
    request = RunCodeRequest(code=code, language="python", run_timeout=5)
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.status == RunStatus.Failed
    assert response.run_result is not None
    assert response.run_result.status == CommandRunStatus.Finished, response
    assert response.run_result.return_code == 1
    assert summary_run_code_result(response, SummaryMapping(RunTimeout="timeout")) != "timeout"
    after = run_code(RunCodeRequest(code="print(6 * 7)", language="python"), endpoint=server.url)
    assert after.run_result is not None and after.run_result.stdout == "42\n"


def test_threads_burning_cpu_end_by_a_time_limit(server: Served) -> None:
    """Whichever time limit ends it (the CPU limit, a second above the wall clock, counts
    every thread), a busy program is ``TimeLimitExceeded``."""
    code = (
        "import threading\n"
        "def burn():\n    while True: pass\n"
        "for _ in range(4): threading.Thread(target=burn, daemon=True).start()\n"
        "burn()\n"
    )
    request = RunCodeRequest(code=code, language="python", run_timeout=3)
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.run_result is not None
    assert response.run_result.status == CommandRunStatus.TimeLimitExceeded, response
    stderr = response.run_result.stderr or ""
    assert "CPU time limit of 4 s" in stderr or "3.0 s wall-clock limit" in stderr, stderr


def test_stdin_is_the_programs_input(server: Served) -> None:
    request = RunCodeRequest(
        code="a, b = map(int, input().split())\nprint(a * b)", language="python", stdin="6 7\n"
    )
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.run_result is not None and response.run_result.stdout == "42\n"


def test_output_is_capped_at_the_servers_limit(server: Served) -> None:
    request = RunCodeRequest(code="print('x' * 5000)", language="python")
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.run_result is not None
    stdout = response.run_result.stdout or ""
    assert stdout.startswith("x" * 200) and "[output truncated:" in stdout
    assert len(stdout) < 400


def test_an_unserved_language_is_refused_by_name(server: Served) -> None:
    request = RunCodeRequest(code="int main(){}", language="cpp")
    with pytest.raises(Exception, match="language 'cpp' is not served"):
        run_code(request, endpoint=server.url, max_attempts=1)


def test_async_client_many_at_once(server: Served) -> None:
    async def main() -> list[str]:
        requests = [RunCodeRequest(code=f"print({i} * 2)", language="python") for i in range(24)]
        responses = await asyncio.gather(
            *(run_code_async(r, endpoint=server.url, max_attempts=1) for r in requests)
        )
        return [r.run_result.stdout if r.run_result else "" for r in responses]

    assert asyncio.run(main()) == [f"{i * 2}\n" for i in range(24)]


def test_the_default_server_takes_the_30_s_the_trainers_clients_ask(server: Served) -> None:
    """SkyRL's ``code_interpreter`` tool and coder1 verifier send ``run_timeout`` 30 on every
    call: the default command serves it (a larger ask is a 400)."""
    request = RunCodeRequest(code="print(6 * 7)", language="python", run_timeout=30)
    response = run_code(request, endpoint=server.url, max_attempts=1)
    assert response.run_result is not None and response.run_result.stdout == "42\n"
    with pytest.raises(Exception, match="limit of 30 s"):
        run_code(RunCodeRequest(code="1", language="python", run_timeout=31), endpoint=server.url)


@pytest.mark.parametrize(
    ("body", "cap", "wall", "cpu"),
    [
        ({}, 30.0, 10.0, 11),  # none asked: SandboxFusion's 10 s (CPU a second above)
        ({}, 4.0, 4.0, 5),  # ... or the server's limit when lower
        ({"run_timeout": 30}, 30.0, 30.0, 31),
        ({"run_timeout": 2.5}, 30.0, 2.5, 4),
    ],
)
def test_a_requests_wall_clock_and_cpu_limits(
    body: dict[str, float], cap: float, wall: float, cpu: int
) -> None:
    from attnrl.sandbox.limits import SandboxLimits
    from attnrl.service.fusion import parse_run_code

    server_limits = SandboxLimits(timeout_s=cap, cpu_s=int(cap) + 1)
    limits = parse_run_code({"code": "1", "language": "python", **body}, server_limits).limits
    assert (limits.timeout_s, limits.cpu_s) == (wall, cpu)
