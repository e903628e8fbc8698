"""The code blocks of README.md and docs/*.md that are marked runnable, and how to check them.

A fenced block directly after the line ``<!-- runnable -->`` (``<!-- runnable slow -->`` for
one that takes a minute) is run by ``tests/docs/test_runnable_docs.py``, in the order of its
page, in one scratch directory per page (holding a link to the repository's ``benchmarks/``),
with the environment's ``attnrl`` and ``python`` first on PATH and no API key:

- ``console``: each ``$ command`` (continued by a trailing backslash) runs in bash; the lines
  after it are its standard output, compared exactly, except that a line ``...`` stands for
  any number of lines. It must exit 0, or N when the command ends with the comment ``# exit N``.
- ``bash``: the whole block runs as a script under ``set -euo pipefail`` and must exit 0.
- ``pycon``: a doctest (``>>>`` lines and the output they print).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- runnable( slow)? -->$")
FENCE = re.compile(r"^```(\w+)?.*$")


@dataclass(frozen=True)
class Block:
    """One marked block: where it is, its language and its text (without the fences)."""

    page: str
    line: int
    lang: str
    text: str
    slow: bool


@dataclass(frozen=True)
class Command:
    """One ``$ command`` of a console block, the output it quotes and the exit it expects."""

    command: str
    expected: str
    exit_code: int


def pages() -> list[Path]:
    """README.md and every page of the site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def runnable_blocks(path: Path) -> list[Block]:
    """The marked blocks of one page, in order; a marker not followed by a fence is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    name = str(path.relative_to(ROOT))
    for i, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not fence:
            raise ValueError(f"{name}:{i + 1}: <!-- runnable --> must be followed by a ``` fence")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        text = "\n".join(lines[i + 2 : end])
        blocks.append(Block(name, i + 2, fence.group(1) or "", text, bool(marker.group(1))))
    return blocks


def console_commands(text: str) -> list[Command]:
    """The ``$`` commands of a console block with the output each quotes."""
    commands: list[Command] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"console block: expected a '$ ' line, got {lines[i]!r}")
        command = lines[i][2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + "\n" + lines[i]
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        code = re.search(r"#\s*exit (\d+)\s*$", command)
        commands.append(Command(command, "\n".join(output), int(code.group(1)) if code else 0))
    return commands


def output_pattern(expected: str) -> re.Pattern[str]:
    """``expected`` as a pattern over whole lines: ``...`` is any number of lines, trailing
    spaces are ignored, everything else must be equal."""
    parts = []
    for line in expected.splitlines():
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(re.escape(line.rstrip()) + r"[ \t]*\n")
    return re.compile("".join(parts))


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` (a command's standard output) is what the page quotes."""
    text = "\n".join(line.rstrip() for line in actual.splitlines())
    text = text + "\n" if text else ""
    return output_pattern(expected).fullmatch(text) is not None
