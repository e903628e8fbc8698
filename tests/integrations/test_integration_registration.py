"""`vf-eval attnrl` and `inspect eval attnrl/attention_task` find the task by name."""

from __future__ import annotations

from importlib.metadata import entry_points

import verifiers as vf

import attnrl


def test_verifiers_resolves_the_env_id_attnrl() -> None:
    env = vf.load_environment("attnrl")
    assert type(env).__name__ == "AttentionEnv"
    assert attnrl.load_environment is not None


def test_inspect_entry_point_registers_the_task() -> None:
    points = {ep.name: ep for ep in entry_points(group="inspect_ai")}
    assert "attnrl" in points
    module = points["attnrl"].load()
    assert callable(module.attention_task)


def test_import_attnrl_does_not_import_the_frameworks() -> None:
    import subprocess
    import sys

    code = "import attnrl, sys; print('verifiers' in sys.modules, 'inspect_ai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
