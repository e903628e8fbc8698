"""The Architecture map of docs/development.md matches the tree, so a reader finds behaviour by
its name."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "attnrl"


def _architecture_block() -> str:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1]
    return section.split("```", 2)[1]


def test_every_stage_module_is_in_the_map() -> None:
    block = _architecture_block()
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("cli", "integrations") or rel.name in ("__init__.py", "__main__.py"):
            continue
        assert re.search(rf"\b{re.escape(path.stem)}(\.py)?\b", block), f"{rel} is not in the map"


def test_every_module_in_the_map_exists() -> None:
    block = _architecture_block()
    for package in re.findall(r"^  (\w+)/", block, flags=re.M):
        assert (PKG / package).is_dir(), f"the map names {package}/, which does not exist"
    names = set(re.findall(r"\b(\w+)\.py\b", block)) - {"__init__", "llm_server"}
    names -= {n for n in names if n.startswith("bench_")}
    existing = {p.stem for p in PKG.rglob("*.py")}
    assert names <= existing, f"the map names modules that do not exist: {names - existing}"
