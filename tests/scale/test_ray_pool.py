"""The Ray pool on a local multi-node cluster: one pool per node, calls spread over them,
a node killed mid-batch (its calls run again elsewhere, none graded as the model's), every
node lost (infrastructure, raised), and selection by configuration only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from attnrl.sandbox import SandboxError, open_sandbox
from attnrl.sandbox.limits import SandboxLimits
from attnrl.sandbox.ray_pool import RaySandbox

SLOW = "import time\ntime.sleep({s})\nprint({i} * 3)"


async def test_one_pool_per_node_and_calls_spread(cluster: Any) -> None:
    _, nodes = cluster(2)
    async with RaySandbox(max_concurrency=2) as sb:
        assert len(sb.nodes) == 2  # the CPU-less head has none
        assert sb.max_concurrency == 4
        assert sb.isolation.startswith("ray pool of 2 node(s): ")
        results = await asyncio.gather(*(sb.run(SLOW.format(s=0.2, i=i)) for i in range(16)))
        assert [r.result for r in results] == [f"{i * 3}\n" for i in range(16)]
        assert all(r.error is None for r in results)
        assert sorted(sb.served.values())[0] >= 3  # both nodes took a share
        assert sum(sb.served.values()) == 16
        # Per-call limits reach the node's jail.
        timed = await sb.run("while True: pass", SandboxLimits(timeout_s=1.0))
        assert timed.error is not None and "1.0 s wall-clock limit" in timed.error
        # What the code does is still the model's: an exception is a result, not a retry.
        raised = await sb.run("raise KeyError('mine')")
        assert raised.error is not None and raised.error.startswith("KeyError")
        assert sb.retried == 0 and not sb.lost_nodes


async def test_a_node_killed_mid_batch_loses_no_call(cluster: Any) -> None:
    c, nodes = cluster(2)
    async with RaySandbox(max_concurrency=4, retries=2) as sb:
        victim = nodes[1]
        victim_id = victim.node_id
        assert victim_id in sb.nodes
        tasks = [asyncio.ensure_future(sb.run(SLOW.format(s=1.0, i=i))) for i in range(24)]
        # Kill the node while calls run on it (the signal: calls in flight there).
        while sb.in_flight(victim_id) == 0:
            await asyncio.sleep(0.05)
        assert not all(t.done() for t in tasks)
        c.remove_node(victim, allow_graceful=False)
        results = await asyncio.gather(*tasks)
        assert [r.result for r in results] == [f"{i * 3}\n" for i in range(24)]
        assert all(r.error is None for r in results)  # none reached the model as a failure
        assert victim_id in sb.lost_nodes
        assert sb.retried >= 1
        assert sb.nodes == [nodes[0].node_id]
        after = await sb.run("print('still here')")
        assert after.result == "still here\n"


async def test_every_node_lost_is_infrastructure_not_a_result(cluster: Any) -> None:
    c, nodes = cluster(1)
    async with RaySandbox(max_concurrency=2, retries=1) as sb:
        call = asyncio.ensure_future(sb.run(SLOW.format(s=30, i=1)))
        while sb.in_flight(nodes[0].node_id) == 0:
            await asyncio.sleep(0.05)
        c.remove_node(nodes[0], allow_graceful=False)
        with pytest.raises(SandboxError, match="infrastructure"):
            await call
        with pytest.raises(SandboxError):
            await sb.run("print(1)")


async def test_ray_is_chosen_by_configuration_only(
    cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster(1)
    monkeypatch.setenv("ATTNRL_SANDBOX", "ray")
    box = open_sandbox(SandboxLimits(timeout_s=5.0), max_concurrency=2)
    assert isinstance(box, RaySandbox)
    async with box as sb:
        result = await sb.run("print(np.arange(4).sum())")
        assert result.result == "6\n"
    monkeypatch.setenv("ATTNRL_SANDBOX", "cloud")
    with pytest.raises(ValueError, match="ATTNRL_SANDBOX='cloud' is not a sandbox backend"):
        open_sandbox()


def test_the_harness_runs_on_the_pool_by_configuration_only(cluster: Any, tmp_path: Any) -> None:
    """``attnrl run`` unchanged, with two environment variables: its python calls run in the
    cluster's pools, and the run records that isolation."""
    import json
    import os
    import subprocess
    import sys

    c, _ = cluster(2)
    env = {
        **os.environ,
        "ATTNRL_SANDBOX": "ray",
        "ATTNRL_RAY_ADDRESS": c.address,
        "ANTHROPIC_API_KEY": "",
    }
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "run", "--model", "simulated", "--runs", "4"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert "Sandbox: ray pool of 2 node(s): bwrap" in proc.stdout, proc.stdout[-2000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 4
    assert all(r.get("category") != "infrastructure" for r in records)


def test_the_trainer_tools_worker_sandbox_follows_the_configuration(
    cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attnrl.integrations._tool_session import WorkerSandbox

    cluster(1)
    monkeypatch.setenv("ATTNRL_SANDBOX", "ray")
    worker = WorkerSandbox(SandboxLimits(timeout_s=5.0), max_concurrency=2)

    async def main() -> tuple[str, str]:
        result = await worker.run("print(2 + 2)")
        isolation = worker.isolation
        await worker.aclose()
        return result.result, isolation

    text, isolation = asyncio.run(main())
    assert text == "4\n" and isolation.startswith("ray pool of 1 node(s)")


def test_serve_sandbox_over_the_pool_by_configuration(cluster: Any) -> None:
    """``attnrl serve-sandbox`` with ``ATTNRL_SANDBOX=ray``: SandboxFusion requests run on
    the cluster's nodes."""
    import json
    import os
    import subprocess
    import sys
    import urllib.request

    c, _ = cluster(1)
    env = {**os.environ, "ATTNRL_SANDBOX": "ray", "ATTNRL_RAY_ADDRESS": c.address}
    env = {k: v for k, v in env.items() if "PROXY" not in k.upper()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnrl", "serve-sandbox", "--port", "0", "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "isolation ray pool of 1 node(s)" in line, line
        url = line.split("listening on ", 1)[1].split()[0]
        body = json.dumps({"code": "print(np.arange(5).sum())", "language": "python"}).encode()
        request = urllib.request.Request(
            f"{url}/run_code", data=body, headers={"Content-Type": "application/json"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=120) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "10\n"
    finally:
        proc.terminate()
        proc.communicate(timeout=120)
    assert proc.returncode == 0
