"""Start-up (issue 21 item 1): which modules each command imports, read from the real process
with ``python -X importtime`` (every import, in order), never a time."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from attnrl.cli import COMMANDS, build_parser

PROVIDERS = {"anthropic", "openai"}
TRAINERS = {"torch", "transformers", "trl", "verl", "openrlhf", "datasets", "verifiers"}
HEAVY = PROVIDERS | TRAINERS | {"inspect_ai", "matplotlib", "rich", "aiohttp", "httpx", "httpx2"}
"""Never imported by a command that only prints help, a prompt or the presets: providers,
trainers, plotting, the console UI (the progress display) and HTTP clients."""
HELP_NEEDS_NUMPY = {"calibrate"}
"""``calibrate --help`` shows the simulated agents' default skill, which lives with the agents
(numpy); every other ``--help`` imports neither numpy nor the task's grader."""


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Every module ``python -m attnrl ARGS`` imported, and its stdout."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "attnrl", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "attnrl.cli" in modules  # the log is really there
    return modules, proc.stdout


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_top_level_help_imports_no_command_module_and_no_numpy() -> None:
    modules, out = imported("--help")
    assert "calibrate" in out and "run" in out  # every command is listed
    assert not {m for m in modules if m.startswith("attnrl.cli.") and m != "attnrl.cli"}
    assert not top_level(modules) & (HEAVY | {"numpy"})
    assert "attnrl.task" not in modules


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_imports_only_its_module_and_nothing_heavy(command: str) -> None:
    modules, out = imported(command, "--help")
    assert out.startswith(f"usage: attnrl {command}")
    assert not top_level(modules) & HEAVY, top_level(modules) & HEAVY
    if command not in HELP_NEEDS_NUMPY:
        assert "numpy" not in top_level(modules)
        assert "attnrl.tasks.attention.grading" not in modules
    own = COMMANDS[command][0]
    others = {f"attnrl.cli.{m}" for m, _ in COMMANDS.values()} - {f"attnrl.cli.{own}"}
    # a command module may use a helper of another (run_options), never register it
    assert not others & modules - {"attnrl.cli.run_options", "attnrl.cli.run_command"}, (
        others & modules
    )


@pytest.mark.parametrize("args", [("prompt",), ("prompt", "--tools"), ("presets",)])
def test_prompt_and_presets_import_nothing_heavy(args: tuple[str, ...]) -> None:
    if args[0] not in COMMANDS:
        pytest.skip(f"attnrl {args[0]} is not a command of this tree")
    modules, out = imported(*args)
    assert out.strip()
    assert not top_level(modules) & HEAVY, top_level(modules) & HEAVY
    # The prompt renders the sandbox's limits, not the sandbox: no zygote manager, no asyncio.
    assert not modules & {"attnrl.sandbox.local", "asyncio"}, modules & {"attnrl.sandbox.local"}


def test_presets_prints_the_shipped_table_without_numpy_or_the_grader() -> None:
    """The default table is read from the package (tasks/attention/preset_table.py), not
    probed: the command starts like ``--help``."""
    modules, out = imported("presets")
    assert "rung 9" in out
    stale = "stale table: python -m attnrl.tasks.attention.preset_table --write"
    assert "numpy" not in top_level(modules), stale
    assert "attnrl.tasks.attention.procedural" not in modules, stale


def _closed_port() -> int:
    """A loopback port with nothing listening (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return env | {"NO_PROXY": "127.0.0.1"} | extra


def test_a_simulated_run_imports_no_provider(tmp_path: Path) -> None:
    modules, _ = imported(
        "run", "--model", "simulated", "--runs", "2", "--no-progress", "--out", str(tmp_path / "r"),
        env=_run_env(),
    )  # fmt: skip
    assert not top_level(modules) & (PROVIDERS | TRAINERS | {"matplotlib"})
    assert "attnrl.harness.runner" in modules  # it did run a batch


@pytest.mark.parametrize(
    ("model", "used", "unused", "env_var"),
    [
        ("openai/some-model", "openai", "anthropic", "OPENAI_BASE_URL"),
        ("anthropic/claude-sonnet-5-5", "anthropic", "openai", "ANTHROPIC_BASE_URL"),
    ],
)
def test_a_provider_run_imports_only_its_provider(
    tmp_path: Path, model: str, used: str, unused: str, env_var: str
) -> None:
    """The model is built and called (a refused loopback connection: infrastructure, exit 3);
    only its own SDK is imported."""
    url = f"http://127.0.0.1:{_closed_port()}"
    env = _run_env(**{env_var: url, "ANTHROPIC_API_KEY": "sk-test", "OPENAI_API_KEY": "sk-test"})
    modules, _ = imported(
        "run", "--model", model, "--runs", "1", "--retries", "0", "--no-progress",
        "--out", str(tmp_path / "r"), env=env,
    )  # fmt: skip
    assert used in top_level(modules)
    assert unused not in top_level(modules)


def _registered(module: str) -> dict[str, str]:
    """What ``register`` of ``attnrl.cli.<module>`` adds: command -> one-line help."""
    import importlib

    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    importlib.import_module(f"attnrl.cli.{module}").register(subparsers)
    return {a.dest: a.help or "" for a in subparsers._choices_actions}


def test_the_command_table_lists_exactly_what_the_modules_register() -> None:
    """:data:`COMMANDS` is what ``attnrl --help`` prints without importing the modules."""
    modules = dict.fromkeys(m for m, _ in COMMANDS.values())
    registered = {name: (m, h) for m in modules for name, h in _registered(m).items()}
    assert registered == COMMANDS
    full = build_parser()
    lazy = build_parser("")
    assert [a.dest for a in _commands(full)] == [a.dest for a in _commands(lazy)]


def _commands(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub._choices_actions)


INTERRUPT_DURING_IMPORT = """
import os, signal, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "attnrl.cli.run_command":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the command loads
        return None

sys.meta_path.insert(0, Interrupt())
from attnrl.cli import main
sys.exit(main(["run", "--model", "simulated", "--runs", "1"]))
"""


def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", INTERRUPT_DURING_IMPORT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "attnrl: interrupted\n"
    assert not (tmp_path / "runs").exists()
