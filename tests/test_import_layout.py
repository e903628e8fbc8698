"""Imports run one way: no module of attnrl imports, directly or through others, a module that
imports it back (lazy imports inside functions included), and the task package does not reach
up into the models, the harness or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "attnrl"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                names = [s for s in subs if s in modules]  # `from pkg import submodule`
                targets = names if len(names) == len(subs) else [node.module, *names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_the_former_cycles_are_gone() -> None:
    graph = _graph()
    for a, b in (
        ("attnrl.cli.calibrate_command", "attnrl.cli.run_command"),
        ("attnrl.stats.analysis", "attnrl.stats.sequential"),
    ):
        assert not (b in graph[a] and a in graph[b]), f"{a} and {b} import each other"


def test_no_two_modules_import_each_other() -> None:
    graph = _graph()
    pairs = sorted((a, b) for a, deps in graph.items() for b in deps if a < b and a in graph[b])
    assert not pairs, pairs


def test_the_task_interface_does_not_reach_up() -> None:
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith("attnrl.task.") or name.startswith("attnrl.tasks."):
            upward = {
                d for d in deps if d.startswith(("attnrl.models", "attnrl.harness", "attnrl.cli"))
            }
            assert not upward, f"{name} imports {sorted(upward)}"
