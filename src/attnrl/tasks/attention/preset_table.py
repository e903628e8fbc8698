"""The table ``attnrl presets`` prints: each preset and ladder rung probed on seeds 0..N-1.

Probing draws every instance (about 220 for the default 20 seeds, ~1 s of mutation-adequacy
checks), so the default table ships with the package (``preset_table.json``) and is printed
from there while it is provably the table a probe would print: it is keyed by the sha256 of
every attnrl source file the probe ran and by numpy's version, and any other key (an edited
source, another numpy, other seeds, ``--exact``) makes the command probe again. A test
probes and compares; ``python -m attnrl.tasks.attention.preset_table --write`` rewrites it.

Reading the shipped table imports neither numpy nor the grader: the command starts like
``--help``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

DEFAULT_SEEDS = 20
"""Instances probed per seeded preset or rung, unless ``--seeds`` says otherwise."""
SHIPPED = Path(__file__).with_name("preset_table.json")
"""The default probe's table, with the key it is valid for."""
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""``src/attnrl``: the shipped key names sources relative to it."""


def probe(seeds: int, count_tokens: Callable[[str], int] | None = None) -> list[dict[str, Any]]:
    """One row per preset and ladder rung: policy, answer decimals and size, workload, knobs,
    what is gameable; seeded ones drawn on seeds ``0..seeds-1``."""
    from attnrl.sandbox.limits import SandboxLimits
    from attnrl.stats.card import knobs_to_json
    from attnrl.tasks.attention.answer_size import RESPONSE_TOKENS, answer_decimals, answer_tokens
    from attnrl.tasks.attention.ladder import LADDER, rung_measures
    from attnrl.tasks.attention.presets import GAMEABLE, PRESETS, PROCEDURAL, SEEDED_PRESETS
    from attnrl.tasks.attention.presets import spec_factory as preset_factory

    targets: list[tuple[str, str, dict[str, Any]]] = [(name, name, {}) for name in PRESETS]
    targets += [(f"rung {i}", PROCEDURAL, dict(k)) for i, k in enumerate(LADDER)]
    rows = []
    for label, preset, knobs in targets:
        factory = preset_factory(preset, **knobs)
        specs = [factory(s) for s in (range(seeds) if preset in SEEDED_PRESETS else [None])]
        median, largest, unit = answer_tokens(specs, count_tokens)
        rows.append(
            {
                "name": label,
                "preset": preset,
                "knobs": knobs_to_json(knobs),
                "policy": specs[0].policy,
                "instances": len(specs),
                "answer_decimals": answer_decimals(specs[0]),
                "answer_median": median,
                "answer_max": largest,
                "answer_unit": unit,
                "response_tokens": RESPONSE_TOKENS,
                "tool_output_chars": SandboxLimits().max_output_chars,
                "workload": rung_measures(specs).to_dict(),
                "gameable": GAMEABLE.get(preset),
            }
        )
    return rows


def rows(seeds: int, count_tokens: Callable[[str], int] | None = None) -> list[dict[str, Any]]:
    """The table for ``seeds``: the shipped one when its key holds, else a fresh probe."""
    if count_tokens is None:
        table = shipped(seeds)
        if table is not None:
            return table
    return probe(seeds, count_tokens)


def shipped(seeds: int) -> list[dict[str, Any]] | None:
    """The shipped table if it is the one :func:`probe` would give now for ``seeds``, else
    None (missing, unreadable, or keyed to other sources, numpy or seeds)."""
    try:
        data = json.loads(SHIPPED.read_text(encoding="utf-8"))
        key, table = data["key"], data["rows"]
        if key != _key(seeds, list(key["sources"])):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return table if isinstance(table, list) else None


def _key(seeds: int, sources: list[str]) -> dict[str, Any] | None:
    """What the table depends on: the seeds, numpy's version and each source's sha256
    (None if a source is gone)."""
    digests = {}
    for name in sources:
        try:
            digests[name] = hashlib.sha256((_PACKAGE_ROOT / name).read_bytes()).hexdigest()
        except OSError:
            return None
    return {"seeds": seeds, "numpy": _numpy_version(), "sources": digests}


def _numpy_version() -> str:
    try:
        return version("numpy")
    except PackageNotFoundError:
        return "unknown"


def _sources_in_use() -> list[str]:
    """Every attnrl module loaded in this process, as a path under ``src/attnrl``: after a
    probe, a superset of the code it ran (a new dependency is imported by a file listed)."""
    names = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not (getattr(module, "__name__", "") + ".").startswith("attnrl."):
            continue
        path = Path(file).resolve()
        if path.is_relative_to(_PACKAGE_ROOT):
            names.append(path.relative_to(_PACKAGE_ROOT).as_posix())
    names.append(Path(__file__).resolve().relative_to(_PACKAGE_ROOT).as_posix())  # -m: __main__
    return sorted(set(names))


def write(path: Path = SHIPPED) -> dict[str, Any]:
    """Probe the default table and write it to ``path`` with its key; returns what it wrote."""
    table = probe(DEFAULT_SEEDS)
    data = {"key": _key(DEFAULT_SEEDS, _sources_in_use()), "rows": table}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        sys.stderr.write("usage: python -m attnrl.tasks.attention.preset_table --write\n")
        return 2
    data = write()
    sources = len(data["key"]["sources"])
    sys.stdout.write(f"wrote {SHIPPED} ({len(data['rows'])} rows, {sources} sources)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
