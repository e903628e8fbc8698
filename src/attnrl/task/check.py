"""The plug-in contract as checks: what ``attnrl check-task NAME`` runs, and the suite runs on
every registered task.

- the reference gets full reward on many seeds;
- zero, empty, malformed, oversized and wrong-type answers get 0 without raising;
- instances, prompts and tools are byte-identical across processes and hash seeds;
- every catalogued bug and cheap answer gets zero reward on the drawn instances;
- every graded component appears in the prompt with its tolerance;
- the answer fits the tool output and the response budget.

Each check gives one line; a failure names the instance (preset, seed) and what to fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from attnrl.task.base import Task
from attnrl.task.registry import TaskPlugin, get_plugin
from attnrl.task.tools import PYTHON_TOOL, RESPONSE_SHARE, RESPONSE_TOKENS, SUBMIT_TOOL

__all__ = ["CheckResult", "bad_answers", "check_task", "fingerprint"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def bad_answers() -> dict[str, Any]:
    """Answers that must earn 0 on any task (and never raise)."""
    deep = "[" * 100_000 + "]" * 100_000
    return {
        "zero": 0,
        "empty object": {},
        "empty string": "",
        "null": None,
        "malformed JSON": '{"a": [1, 2',
        "truncated": '{"',
        "deeply nested": deep,
        "oversized text": '{"x": "' + "9" * 2_000_000 + '"}',
        "oversized object": {"x": [0.0] * 300_000},
        "a list": [1, 2, 3],
        "a string": "the answer",
        "a boolean": True,
        "a float": 3.5,
        "NaN": float("nan"),
        "bytes": b"\xff\xfe",
    }


def _typed_wrong(task: Task) -> dict[str, Any]:
    """The right keys with wrong-typed values."""
    keys = task.answer_keys()
    return {
        "keys with strings": dict.fromkeys(keys, "1.0"),
        "keys with null": dict.fromkeys(keys, None),
        "keys with flat lists": dict.fromkeys(keys, [0.0, 1.0]),
        "keys with NaN matrices": dict.fromkeys(keys, [[float("nan")]]),
        "keys with huge ints": dict.fromkeys(keys, [[10**400]]),
        "keys with objects": {k: {"v": 1} for k in keys},
    }


def fingerprint(task_name: str, preset: str, seed: int | None, knobs: dict[str, Any]) -> str:
    """SHA-256 of an instance's spec, prompt and tool schemas (what must not vary)."""
    task = get_plugin(task_name).load(preset, seed, **knobs)
    tools = [(t.name, t.description, t.parameters) for t in task.tools]
    payload = json.dumps(
        [task.spec.to_dict(), task.prompt, tools, task.reference()], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


_CHILD = """
import json, sys
from attnrl.task.check import fingerprint
args = json.loads(sys.argv[1])
print(json.dumps([fingerprint(args["task"], p, s, args["knobs"]) for p, s in args["cases"]]))
"""


def _instances(plugin: TaskPlugin, seeds: int) -> Iterator[tuple[str, int | None]]:
    for preset in plugin.presets:
        if preset in plugin.seeded_presets:
            yield from ((preset, s) for s in range(seeds))
        else:
            yield preset, None


class _Failed(Exception):
    """One check's failure (its message is the line shown)."""


def _require(condition: bool, message: str) -> None:
    """Not ``assert``: a check must also run under ``python -O``."""
    if not condition:
        raise _Failed(message)


def _check(name: str, fn: Callable[[], str]) -> CheckResult:
    """Run one check: its return value is the detail; :class:`_Failed` its one-line failure;
    any other exception is a failure too (the contract says "never raises")."""
    try:
        return CheckResult(name, True, fn())
    except _Failed as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:  # a task raising is exactly what the check reports
        return CheckResult(name, False, f"raised {type(exc).__name__}: {str(exc)[:200]}")


def check_task(
    name: str, *, seeds: int = 20, knobs: dict[str, Any] | None = None, processes: bool = True
) -> list[CheckResult]:
    """Every check of the contract on task ``name`` (``seeds`` instances of each seeded
    preset, the fixed presets once); ``processes=False`` skips the cross-process check."""
    plugin = get_plugin(name)
    knobs = knobs or {}
    cases = list(_instances(plugin, seeds))
    tasks: dict[tuple[str, int | None], Task] = {}

    def task(preset: str, seed: int | None) -> Task:
        if (preset, seed) not in tasks:
            tasks[preset, seed] = plugin.load(preset, seed, **(knobs if seed is not None else {}))
        return tasks[preset, seed]

    def reference() -> str:
        for preset, seed in cases:
            t = task(preset, seed)
            grade = t.grade(t.reference())
            _require(
                grade.reward == 1.0 and grade.passed,
                f"{preset} seed {seed}: the reference earns {grade.reward:g} "
                f"({grade.message[:120]})",
            )
            text = json.loads(json.dumps(t.reference()))
            _require(
                t.grade(json.dumps(text)).reward == 1.0,
                (f"{preset} seed {seed}: the reference as JSON text does not earn 1"),
            )
        return f"full reward on {len(cases)} instances"

    def bad() -> str:
        t = task(*cases[0])
        answers = bad_answers() | _typed_wrong(t)
        for label, answer in answers.items():
            grade = t.grade(answer)
            _require(grade.reward == 0.0 and not grade.passed, f"{label!r} earns {grade.reward:g}")
        return f"{len(answers)} bad answers earn 0 without raising"

    def determinism() -> str:
        here = [fingerprint(name, p, s, knobs if s is not None else {}) for p, s in cases[:5]]
        if not processes:
            return f"{len(here)} instances (cross-process check skipped)"
        arg = json.dumps({"task": name, "knobs": knobs, "cases": cases[:5]})
        for hash_seed in ("0", "4242"):
            env = os.environ | {"PYTHONHASHSEED": hash_seed}
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, arg], capture_output=True, text=True, env=env
            )
            _require(out.returncode == 0, f"a child process failed: {out.stderr.strip()[-200:]}")
            _require(
                json.loads(out.stdout) == here,
                f"instances differ under PYTHONHASHSEED={hash_seed}: generation must not "
                "depend on hash order or process state",
            )
        return f"{len(here)} instances byte-identical in 2 processes (PYTHONHASHSEED 0, 4242)"

    def catalogue() -> str:
        seeded = [c for c in cases if c[1] is not None] or cases
        bugs = cheap = 0
        for preset, seed in seeded:
            t = task(preset, seed)
            entries = t.audit()
            bugs = max(bugs, sum(e.kind == "bug" for e in entries))
            cheap = max(cheap, sum(e.kind == "cheap" for e in entries))
            paid = [e.name for e in entries if e.reward > 0]
            _require(not paid, f"{preset} seed {seed}: catalogue entries earn reward: {paid}")
        _require(bugs > 0, "the catalogue lists no bug: catalogue the mistakes solvers make")
        return f"{bugs} bugs and {cheap} cheap answers earn 0 on {len(seeded)} instances"

    def prompt() -> str:
        for preset, seed in cases:
            t = task(preset, seed)
            for key, tol in t.tolerances().items():
                _require(key in t.prompt, f"{preset} seed {seed}: {key!r} is not in the prompt")
                _require(
                    f"{tol:g}" in t.prompt,
                    (f"{preset} seed {seed}: tolerance {tol:g} of {key!r} is not in the prompt"),
                )
            names = [tool.name for tool in t.tools]
            _require(
                names == [PYTHON_TOOL, SUBMIT_TOOL], (f"tools must be {PYTHON_TOOL}, {SUBMIT_TOOL}")
            )
            schema = t.tools[1].parameters["properties"]["answer"]
            _require(
                set(schema.get("required", ())) == set(t.answer_keys()),
                (f"{preset} seed {seed}: the submit schema must require every answer key"),
            )
        return "every graded component and its tolerance are in the prompt"

    def budget() -> str:
        count = _token_counter()
        worst_chars = worst_tokens = 0
        for preset, seed in cases:
            t = task(preset, seed)
            text = t.answer_text()
            limit = int(RESPONSE_SHARE * t.limits.max_output_chars)
            _require(
                len(text) <= limit,
                f"{preset} seed {seed}: the answer is {len(text):,} characters; the tool "
                f"output allows {limit:,} ({RESPONSE_SHARE:.0%} of its cut): ask for fewer "
                "decimals",
            )
            tokens = count(text) if count else len(text)
            worst_chars, worst_tokens = max(worst_chars, len(text)), max(worst_tokens, tokens)
            _require(
                tokens <= RESPONSE_SHARE * RESPONSE_TOKENS,
                (
                    f"{preset} seed {seed}: the answer is {tokens:,} tokens; a response allows "
                    f"{RESPONSE_SHARE * RESPONSE_TOKENS:,.0f}"
                ),
            )
        unit = "tokens" if count else "characters (bounding tokens)"
        return f"largest answer {worst_chars:,} characters, {worst_tokens:,} {unit}"

    return [
        _check("reference", reference),
        _check("bad answers", bad),
        _check("determinism", determinism),
        _check("catalogue", catalogue),
        _check("prompt", prompt),
        _check("budget", budget),
    ]


def _token_counter() -> Callable[[str], int] | None:
    from attnrl.task.lengths import openai_token_counter

    return openai_token_counter()
