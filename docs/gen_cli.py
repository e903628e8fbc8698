"""The CLI reference, generated from ``attnrl.cli.build_parser()`` (the one source of every flag).

MkDocs loads this file as a hook (``hooks:`` in mkdocs.yml): ``on_page_markdown`` replaces the
marker ``<!-- cli-reference -->`` in ``cli.md`` with :func:`render`, so a flag cannot be
documented one way and behave another. ``python docs/gen_cli.py`` prints the same Markdown.
Building the parser imports no provider, trainer or plotting library (the CLI's own rule for
``--help``); ``tests/docs/test_cli_reference.py`` checks both.
"""

from __future__ import annotations

import argparse
import html
import re
from typing import Any

MARKER = "<!-- cli-reference -->"
"""Where ``cli.md`` receives the generated reference."""

WIDTH = 88
"""Usage lines are wrapped at this width whatever the terminal (the build is reproducible)."""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, one-line help, parser)`` of each subcommand, in the order of ``attnrl --help``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _default(action: argparse.Action) -> str:
    """The parser's real default, when it says something (not None, False or a bare flag)."""
    value = action.default
    if value is None or value is False or value == argparse.SUPPRESS:
        return ""
    if isinstance(action, argparse._StoreTrueAction | argparse._HelpAction):
        return ""
    if isinstance(value, tuple):
        value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f" (default `{value}`)"


def _text(help_text: str) -> str:
    """Help text as Markdown prose: ``<model>`` stays visible, ``_`` and ``*`` stay literal
    (code spans in backticks are kept as they are)."""
    parts = re.split(r"(`[^`]*`)", help_text)
    return "".join(
        part
        if part.startswith("`")
        else re.sub(r"([*_\[\]])", r"\\\1", html.escape(part, quote=False))
        for part in parts
    )


def _sentence(text: str) -> str:
    text = _text(text)
    return f"{text[:1].upper()}{text[1:]}" + ("" if text.endswith((".", "...")) else ".")


def _option(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    """One bullet: the flag spellings with their value, the real default, the help text."""
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    if action.option_strings:
        if action.nargs == 0:
            names = ", ".join(action.option_strings)
        else:
            value = formatter._format_args(
                action, formatter._get_default_metavar_for_optional(action)
            )
            names = ", ".join(f"{flag} {value}" for flag in action.option_strings)
    else:
        names = formatter._format_args(
            action, formatter._get_default_metavar_for_positional(action)
        )
    required = " (required)" if action.required and action.option_strings else ""
    text = _text(formatter._expand_help(action)) if action.help else ""
    return f"- `{names}`{required}{_default(action)}: {text}".rstrip(": ")


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    """The parser's argument groups, each a small titled list."""
    lines: list[str] = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)
        ]
        if not actions:
            continue
        lines += ["", f"**{group.title}**", ""]
        if group.description:
            lines += [_sentence(group.description), ""]
        lines += [_option(a, parser) for a in actions]
    return lines


def render() -> str:
    """The whole reference: the top-level command, then one section per subcommand."""
    from attnrl.cli import build_parser

    parser = build_parser()
    lines = ["```text", _usage(parser), "```", *_arguments(parser), ""]
    commands = _subcommands(parser)
    lines += ["| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#attnrl-{name}) | {_text(text)} |" for name, text, _ in commands]
    for name, text, sub in commands:
        lines += ["", f"## attnrl {name}", "", _sentence(text)]
        if sub.description:
            lines += ["", _text(sub.description)]
        lines += ["", "```text", _usage(sub), "```", *_arguments(sub)]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: fill the marker of the CLI page (every other page passes through)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


if __name__ == "__main__":
    print(render(), end="")  # noqa: T201
