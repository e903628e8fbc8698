"""Every command the README and the site mark runnable runs, and prints what the page quotes.

Pages quote real output (figures included: pass rates, counts, estimates); a quoted figure
that drifts from what the command prints fails here. See ``doc_blocks`` for the marker.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import (
    ROOT,
    Block,
    console_commands,
    matches,
    output_pattern,
    pages,
    runnable_blocks,
)

BIN = str(Path(sys.executable).parent)


def _env() -> dict[str, str]:
    """This environment's ``attnrl`` first on PATH; no provider key or URL (offline agents)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    return env


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _run_block(block: Block, cwd: Path) -> None:
    where = f"{block.page}:{block.line}"
    if block.lang == "console":
        for command in console_commands(block.text):
            done = _bash(f"set -o pipefail\n{command.command}", cwd)
            assert done.returncode == command.exit_code, (
                f"{where}: `{command.command}` exited {done.returncode}, the page says "
                f"{command.exit_code}\n{done.stderr[-2000:]}"
            )
            assert matches(command.expected, done.stdout), (
                f"{where}: `{command.command}` printed\n{done.stdout}\nthe page quotes\n"
                f"{command.expected}"
            )
    elif block.lang == "bash":
        done = _bash(f"set -euo pipefail\n{block.text}", cwd)
        assert done.returncode == 0, f"{where}: exited {done.returncode}\n{done.stderr[-2000:]}"
    elif block.lang == "pycon":
        test = doctest.DocTestParser().get_doctest(block.text, {}, where, block.page, block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        old = Path.cwd()
        os.chdir(cwd)
        try:
            result = runner.run(test, out=sys.stdout.write)
        finally:
            os.chdir(old)
        assert result.failed == 0, f"{where}: {result.failed} doctest example(s) failed"
    else:
        raise AssertionError(f"{where}: no way to run a ```{block.lang} block")


def _params() -> list[object]:
    params: list[object] = []
    for page in pages():
        blocks = runnable_blocks(page)
        if blocks:
            marks = [pytest.mark.slow] if any(b.slow for b in blocks) else []
            name = str(page.relative_to(ROOT))
            params.append(pytest.param(blocks, id=name, marks=marks))
    return params


@pytest.mark.parametrize("blocks", _params())
def test_runnable_blocks_print_what_the_page_quotes(blocks: list[Block], tmp_path: Path) -> None:
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")  # `python benchmarks/...` runs
    for block in blocks:
        _run_block(block, tmp_path)


def test_the_readme_and_the_site_have_runnable_blocks() -> None:
    """A misspelt marker would silently check nothing: the front door and the tour run."""
    marked = {str(p.relative_to(ROOT)): len(runnable_blocks(p)) for p in pages()}
    assert marked["README.md"] >= 3
    assert sum(marked.values()) >= 10


def test_the_output_pattern_is_strict_except_for_ellipses() -> None:
    assert matches("a\n...\nd", "a\nb\nc\nd\n")
    assert matches("a\n...\nd", "a\nd\n")
    assert not matches("a\nd", "a\nb\nd\n")  # no silent skipping without "..."
    assert not matches("Pass Rate: 26.7%", "Pass Rate: 26.8%\n")
    assert not matches("a", "a\nb\n")  # nothing unquoted after the end
    assert output_pattern("x").pattern  # one compiled pattern per quote


def test_a_verl_shell_line_fails_loudly_without_verl(tmp_path: Path) -> None:
    """``TOOL_CONFIG=$(python -c ...)`` under the script's ``set -euo pipefail`` stops the
    script when the import fails (this environment has no verl), instead of going on with
    an empty path."""
    from attnrl.integrations import _commands

    if importlib.util.find_spec("verl") is not None:
        pytest.skip("verl is installed here")
    lines = _commands.verl_tools_shell().splitlines()
    head = [ln for ln in lines if not ln.startswith(("python -m", "  ", "#"))]
    assert head[0] == "set -euo pipefail"
    script = "\n".join(head) + '\necho "reached with TOOL_CONFIG=$TOOL_CONFIG"'
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "reached" not in done.stdout
    assert "No module named 'verl'" in done.stderr
