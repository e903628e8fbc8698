"""Issue 19 through a real ``attnrl run``: a scripted model (the real Anthropic SDK against
the fake server on loopback) leaves a spy behind in its first call (the thread-group
leader ends with the raw exit syscall while a thread forks it); the next calls of the run,
and the calls of the next run, see only themselves, are not signalled, keep their limits
and their output, and both runs pass."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from test_sandbox_containment import INNOCENT, assert_innocent, attack_code, host_processes_named
from test_sandbox_escape_run import run_two_scripted_rollouts

from attnrl.sandbox.limits import SandboxLimits
from attnrl.task import Task
from fakes.llm_server import FakeLLMServer, anthropic_tool_use

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="per-call namespaces need root")


def test_a_leftover_of_one_rollout_never_reaches_the_next(
    tmp_path: Path, llm_server: FakeLLMServer, seed_task: Task
) -> None:
    token = "spy" + uuid.uuid4().hex[:12]
    submit = {"answer": seed_task.reference()}
    py = "python_expression"
    llm_server.enqueue_anthropic(
        anthropic_tool_use(py, {"expression": attack_code("zombie_leader", token)}, id="a"),
        anthropic_tool_use(py, {"expression": INNOCENT}, id="probe-1"),
        anthropic_tool_use("submit_answer", submit, id="submit-1"),
        anthropic_tool_use(py, {"expression": INNOCENT}, id="probe-2"),
        anthropic_tool_use(py, {"expression": INNOCENT}, id="probe-3"),
        anthropic_tool_use("submit_answer", submit, id="submit-2"),
    )
    run_two_scripted_rollouts(tmp_path / "run", llm_server)
    attack, *probes = llm_server.anthropic_tool_results()
    assert attack["error"] is None and attack["result"].startswith("UID "), attack
    assert len(probes) == 3
    for probe in probes:
        assert probe["error"] is None, probe
        assert_innocent(json.loads(probe["result"]), SandboxLimits())
    assert host_processes_named(token) == []
