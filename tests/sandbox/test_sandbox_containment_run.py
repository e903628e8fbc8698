"""Issue 19 through a real ``attnrl run``: a scripted model (the real Anthropic SDK against
the fake server on loopback) leaves a spy behind in its first call (the thread-group
leader ends with the raw exit syscall while a thread forks it); the next calls of the run,
and the calls of the next run, see only themselves, are not signalled, keep their limits
and their output, and both runs pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_sandbox_containment import INNOCENT, assert_innocent, attack_code, host_processes_named

from attnrl.harness.rundir import load_records
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
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": llm_server.url}
    out = tmp_path / "run"
    args = ["run", "--model", "anthropic/claude-test", "--preset", "seed-doc", "--runs", "2"]
    args += ["--concurrency", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", *args, "--out", str(out), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    records = load_records(out / "results.jsonl")
    assert [r["outcome"] for r in records] == ["full_success", "full_success"], records
    attack, *probes = llm_server.anthropic_tool_results()
    assert attack["error"] is None and attack["result"].startswith("UID "), attack
    assert len(probes) == 3
    for probe in probes:
        assert probe["error"] is None, probe
        assert_innocent(json.loads(probe["result"]), SandboxLimits())
    assert host_processes_named(token) == []
