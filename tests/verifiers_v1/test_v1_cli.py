"""The real v1 commands on the taskset: ``vf-eval attnrl-v1`` (rollouts against the scripted
loopback server, python in attnrl's sandbox) and ``vf-validate attnrl-v1`` (gold and noop
checks), run as subprocesses of this environment's installed console scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.task import load_task
from conftest import KEY, KEY_VAR, solving_policy
from fakes.llm_server import FakeLLMServer

BIN = Path(sys.executable).parent


def run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, KEY_VAR: KEY, "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_vf_eval_runs_the_tool_episode_and_records_attnrls_reward(
    v1_server: FakeLLMServer, tmp_path: Path
) -> None:
    tasks = [load_task("procedural", seed) for seed in (40, 41, 42)]
    v1_server.set_default("openai", solving_policy(tasks))
    done = run(
        "vf-eval", "attnrl-v1", "--env.taskset.seed", "40", "-n", "3", "-r", "2",
        "-m", "scripted-policy", "--client.base-url", v1_server.openai_base_url,
        "--client.api-key-var", KEY_VAR, "--no-push", "--no-rich",
        "-o", str(tmp_path / "out"), "--run.name", "cli",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / "out/cli/traces.jsonl").read_text().splitlines()
    episodes = [json.loads(line) for line in lines]
    traces = [trace for episode in episodes for trace in episode["traces"]]
    assert len(traces) == 6
    by_name: dict[str, int] = {}
    for trace in traces:
        assert trace["ok"] and trace["errors"] == []
        assert trace["rewards"]["attnrl_reward"]["score"] == 1.0
        assert trace["info"]["attnrl"]["outcome"] == "full_success"
        assert trace["info"]["attnrl"]["isolation"] == "bwrap"
        name = trace["task"]["data"]["name"]
        by_name[name] = by_name.get(name, 0) + 1
    assert by_name == {"procedural#40": 2, "procedural#41": 2, "procedural#42": 2}
    assert len(v1_server.requests_to("openai")) == 12  # a python call and a submit each
    # the key reached the server, and nothing the run wrote
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in v1_server.requests)
    for path in files_under(tmp_path / "out"):
        assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in done.stdout + done.stderr


@pytest.mark.slow
def test_vf_validate_passes_the_gold_answers_and_the_noop_check(tmp_path: Path) -> None:
    done = run(
        "vf-validate", "attnrl-v1", "-n", "5", "--runtime.type", "subprocess",
        "--no-rich", "-o", str(tmp_path / "out"), "--run.name", "gold",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "out/gold/summary.json").read_text())
    assert summary["total"] == 5 and summary["valid_rate"] == 1.0
    assert summary["outcomes"]["valid"] == 5


@pytest.mark.slow
def test_vf_eval_refuses_an_unknown_preset_naming_the_presets(tmp_path: Path) -> None:
    done = run(
        "vf-eval", "attnrl-v1", "--env.taskset.preset", "nope", "-m", "x", "--no-push",
        "-o", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "unknown attnrl preset 'nope'" in done.stdout + done.stderr
    assert "procedural" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_documented_env_block_resolves_in_vf_evals_own_parser(tmp_path: Path) -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "training.md"
    section = page.read_text(encoding="utf-8").split("**prime-rl / verifiers v1**", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "attnrl-v1.toml").write_text('model = "m"\n\n' + block)
    done = run(
        "vf-eval", "@", "attnrl-v1.toml", "-n", "4", "--no-push", "--dry-run",
        "-o", str(tmp_path / "out"), "--run.name", "dry",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((tmp_path / "out/dry/configs/resolved/eval.json").read_text())
    env = config["env"]
    assert env["taskset"]["id"] == "attnrl-v1" and env["taskset"]["preset"] == "procedural"
    assert env["agent"]["harness"]["id"] == "attnrl-v1"
    assert env["agent"]["harness"]["max_steps"] == 15
    assert env["agent"]["runtime"]["type"] == "subprocess"
