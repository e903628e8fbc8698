"""The site's CLI reference is generated from the parser: every subcommand and flag is in it,
with the parser's own defaults, and generating it loads no heavy library."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from attnrl.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
GEN_CLI = ROOT / "docs" / "gen_cli.py"
HEAVY = ("anthropic", "openai", "matplotlib", "torch", "transformers", "trl", "verl", "inspect_ai")
"""Libraries that a command printing help must not import (issue 21: start-up)."""


def _gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", GEN_CLI)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> str:
    text: str = _gen_cli().render()
    return text


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _section(reference: str, name: str) -> str:
    return reference.split(f"\n## attnrl {name}\n", 1)[1].split("\n## attnrl ", 1)[0]


def test_every_subcommand_and_flag_is_documented(reference: str) -> None:
    subcommands = _subparsers(build_parser())
    assert len(subcommands) >= 10
    for name, sub in subcommands.items():
        section = _section(reference, name)
        assert f"usage: attnrl {name}" in section
        for action in sub._actions:
            for flag in action.option_strings:
                assert f"`{flag}" in section or f", {flag}" in section, f"{name}: {flag}"


def test_defaults_are_the_parsers_own(reference: str) -> None:
    """A default shown beside a flag is the value argparse uses, not prose about it."""
    sub = _subparsers(build_parser())["run"]
    section = _section(reference, "run")
    checked = 0
    for action in sub._actions:
        if isinstance(action.default, int | str) and not isinstance(action.default, bool):
            if not action.option_strings or action.default == argparse.SUPPRESS:
                continue
            line = next(
                ln for ln in section.splitlines() if ln.startswith(f"- `{action.option_strings[0]}")
            )
            assert f"(default `{action.default}`)" in line, line
            checked += 1
    assert checked >= 5  # --runs, --concurrency, --max-steps, --max-tokens, --retries, ...


def test_help_text_states_the_parsers_numeric_default() -> None:
    """Where a help text quotes a number as the default ("default 15", "... (300)"), it is
    the value argparse really uses: the reference shows both, and they must agree."""
    checked = 0
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            value = action.default
            if isinstance(value, bool) or not isinstance(value, int | float) or not action.help:
                continue
            quoted = re.search(r"\(default:? (-?[0-9.]+)\b|\((-?[0-9.]+)\)$", action.help)
            if quoted:
                number = float(quoted.group(1) or quoted.group(2))
                assert number == value, f"{name} {action.option_strings}: help {number}, {value}"
                checked += 1
    assert checked >= 8


def test_the_hook_fills_the_cli_page_and_leaves_others_alone(reference: str) -> None:
    gen = _gen_cli()
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page.count(gen.MARKER) == 1
    filled = gen.on_page_markdown(page, page=None)
    assert gen.MARKER not in filled and reference in filled
    other = (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8")
    assert gen.on_page_markdown(other, page=None) == other


def test_markup_in_help_text_stays_literal() -> None:
    gen = _gen_cli()
    assert gen._text("anthropic/<model> or final_output") == (
        "anthropic/&lt;model&gt; or final\\_output"
    )
    assert gen._text("see `attnrl run_x`") == "see `attnrl run_x`"  # code spans untouched


def test_generating_the_reference_imports_no_provider_or_plotting_library() -> None:
    """The build hook runs in the docs build: it walks the parser and nothing else (this
    needs the CLI's lazy imports of issue 21, item 1)."""
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('gen_cli', {str(GEN_CLI)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert '## attnrl run' in m.render()\n"
        f"print(json.dumps(sorted(n for n in {HEAVY!r} if n in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(done.stdout) == []
