"""The shipped presets table (``attnrl presets``): printed only while it is the table a probe
gives now, and a probe is what it holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from attnrl.tasks.attention import preset_table

STALE = "the shipped presets table is stale: python -m attnrl.tasks.attention.preset_table --write"


def test_the_shipped_table_is_valid_here_and_is_what_a_probe_gives() -> None:
    table = preset_table.shipped(preset_table.DEFAULT_SEEDS)
    assert table is not None, STALE
    assert table == preset_table.probe(preset_table.DEFAULT_SEEDS), STALE


def test_the_key_covers_the_code_the_probe_runs() -> None:
    sources = json.loads(preset_table.SHIPPED.read_text())["key"]["sources"]
    for name in (
        "tasks/attention/preset_table.py",
        "tasks/attention/procedural.py",
        "tasks/attention/reference.py",
        "tasks/attention/bugs.py",
        "tasks/attention/answer_size.py",
        "tasks/attention/ladder.py",
        "tasks/attention/presets.py",
        "tasks/attention/spec.py",
        "sandbox/limits.py",
    ):
        assert name in sources, name


@pytest.fixture
def package_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the package's sources the table is keyed to, made the package root."""
    root = tmp_path / "attnrl"
    shutil.copytree(preset_table._PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(preset_table, "_PACKAGE_ROOT", root)
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS) is not None  # the copy matches
    return root


@pytest.mark.parametrize(
    "source", ["tasks/attention/procedural.py", "tasks/attention/preset_table.py", "stats/card.py"]
)
def test_an_edited_source_makes_the_command_probe(
    package_copy: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    path = package_copy / source
    path.write_bytes(path.read_bytes() + b"\n# an edit\n")
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS) is None
    probed: list[int] = []

    def fake_probe(seeds: int, count_tokens: Any = None) -> list[dict[str, Any]]:
        probed.append(seeds)
        return [{"name": "probed"}]

    monkeypatch.setattr(preset_table, "probe", fake_probe)
    assert preset_table.rows(preset_table.DEFAULT_SEEDS) == [{"name": "probed"}]
    assert probed == [preset_table.DEFAULT_SEEDS]


def test_a_removed_source_makes_the_command_probe(package_copy: Path) -> None:
    (package_copy / "tasks/attention/bugs.py").unlink()
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS) is None


def test_other_seeds_another_numpy_or_an_exact_count_are_probed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS + 1) is None
    calls: list[tuple[int, Any]] = []
    monkeypatch.setattr(preset_table, "probe", lambda s, c=None: calls.append((s, c)) or [])
    preset_table.rows(preset_table.DEFAULT_SEEDS, count_tokens=len)
    assert calls == [(preset_table.DEFAULT_SEEDS, len)]
    monkeypatch.setattr(preset_table, "_numpy_version", lambda: "0.0.0")
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS) is None


@pytest.mark.parametrize(
    "text",
    ["", "{", "[]", '{"key": {}}', '{"rows": []}', '{"key": {"sources": 1}, "rows": []}', "\x00"],
)
def test_a_damaged_table_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    damaged = tmp_path / "preset_table.json"
    damaged.write_text(text)
    monkeypatch.setattr(preset_table, "SHIPPED", damaged)
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS) is None


def test_a_table_whose_rows_were_edited_keeps_its_key_but_a_probe_disagrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key proves which code made the table, not that nobody edited its rows by hand:
    that is what the first test's probe checks, on every run of the suite."""
    data = json.loads(preset_table.SHIPPED.read_text())
    data["rows"][0]["answer_max"] += 1
    edited = tmp_path / "preset_table.json"
    edited.write_text(json.dumps(data))
    monkeypatch.setattr(preset_table, "SHIPPED", edited)
    table = preset_table.shipped(preset_table.DEFAULT_SEEDS)
    assert table == data["rows"]
    assert table != preset_table.probe(preset_table.DEFAULT_SEEDS)


def test_write_records_a_key_that_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preset_table, "probe", lambda s, c=None: [{"name": "row", "seeds": s}])
    out = tmp_path / "table.json"
    data = preset_table.write(out)
    assert data["rows"] == [{"name": "row", "seeds": preset_table.DEFAULT_SEEDS}]
    assert "tasks/attention/preset_table.py" in data["key"]["sources"]
    monkeypatch.setattr(preset_table, "SHIPPED", out)
    assert preset_table.shipped(preset_table.DEFAULT_SEEDS) == data["rows"]


def test_the_module_command_says_its_usage() -> None:
    assert preset_table.main([]) == 2
    assert preset_table.main(["--write", "x"]) == 2
