"""An example attnrl task: the softmax of a vector at a temperature, tolerance-graded.

The whole task in one module: a spec, a seeded draw, the reference, a catalogue of bugs and
cheap answers, the prompt, the grader, and the :data:`PLUGIN` that the ``attnrl.tasks``
entry point names. ``attnrl check-task softmax`` checks it against the contract.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from attnrl.task import Grade, Task, TaskPlugin
from attnrl.task.grade import Diagnosis
from attnrl.task.submission import InvalidSubmission, parse_submission
from attnrl.task.tools import SUBMIT_TOOL, ToolSpec, python_tool, submit_tool, tool_lines

KEYS = ("logits", "probabilities")


@dataclass(frozen=True)
class SoftmaxSpec:
    """One instance: scores x, temperature T; graded: x / T and softmax(x / T)."""

    preset: str
    seed: int | None
    x: tuple[float, ...]
    temperature: float
    tolerance: float = 0.001

    def answer_keys(self) -> tuple[str, ...]:
        return KEYS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"x": list(self.x)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SoftmaxSpec:
        return cls(**(data | {"x": tuple(float(v) for v in data["x"])}))

    def content_hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _softmax(x: list[float], t: float, *, shift: bool = True, norm: bool = True) -> list[float]:
    z = [v / t for v in x]
    top = max(z) if shift else 0.0
    e = [math.exp(v - top) for v in z]
    total = sum(e) if norm else 1.0
    return [v / total for v in e]


@dataclass(frozen=True)
class Entry:
    """A catalogue entry: its answer computed from the spec."""

    name: str
    category: str
    description: str
    answer: Callable[[SoftmaxSpec], dict[str, list[list[float]]]]
    kind: str = "bug"


def _answer(z: list[float], p: list[float]) -> dict[str, list[list[float]]]:
    return {"logits": [z], "probabilities": [p]}


CATALOGUE = (
    Entry(
        "times_temperature",
        "numerical",
        "multiplies by T instead of dividing",
        lambda s: _answer([v * s.temperature for v in s.x], _softmax(list(s.x), 1 / s.temperature)),
    ),
    Entry(
        "no_temperature",
        "logic",
        "ignores the temperature",
        lambda s: _answer(list(s.x), _softmax(list(s.x), 1.0)),
    ),
    Entry(
        "not_normalized",
        "numerical",
        "exp without the division by the sum",
        lambda s: _answer(
            [v / s.temperature for v in s.x], _softmax(list(s.x), s.temperature, norm=False)
        ),
    ),
    Entry(
        "uniform",
        "logic",
        "every probability 1/n",
        lambda s: _answer([v / s.temperature for v in s.x], [1 / len(s.x)] * len(s.x)),
        kind="cheap",
    ),
)


def draw(seed: int | None, n: tuple[int, int] = (3, 6)) -> SoftmaxSpec:
    """The first candidate of the seed's generator on which every catalogue entry earns 0
    (mutation adequacy: one dominant score makes ``not_normalized`` right by accident)."""
    rng = random.Random(f"softmax:{seed}")
    for _ in range(100):
        size = rng.randint(*n)
        x = tuple(round(rng.uniform(-3, 3), 2) for _ in range(size))
        spec = SoftmaxSpec("procedural", seed, x, rng.choice((0.5, 2.0, 4.0)))
        task = SoftmaxTask(spec)
        if all(task.grade(e.answer(spec)).reward == 0 for e in CATALOGUE):
            return spec
    raise ValueError(f"no adequate softmax instance for seed {seed}")


def spec_factory(preset: str, **knobs: Any) -> Callable[[int | None], SoftmaxSpec]:
    if preset != "procedural":
        raise ValueError(f"unknown preset {preset!r} for task softmax; choose: procedural")
    unknown = set(knobs) - {"n"}
    if unknown:
        raise ValueError(f"unknown knob(s) {sorted(unknown)}; softmax knobs: n")
    n = knobs.get("n", (3, 6))
    pair = (n, n) if isinstance(n, int) else (int(n[0]), int(n[1]))
    return lambda seed: draw(seed, pair)


class SoftmaxTask(Task):
    task_name = "softmax"
    title = "Temperature softmax"

    def __init__(self, spec: SoftmaxSpec, limits: Any = None) -> None:
        super().__init__(spec, limits)
        self.spec: SoftmaxSpec = spec

    @cached_property
    def prompt(self) -> str:
        s = self.spec
        n = len(s.x)
        return (
            "\n".join(
                [
                    f"Compute the softmax of x at temperature T. x = {list(s.x)}, T = {s.temperature}.",
                    "1. logits = x / T. 2. probabilities = exp(logits - max) / sum(exp(logits - max)).",
                    "",
                    *tool_lines(self.limits),
                    "",
                    f"Call {SUBMIT_TOOL} with `answer` = a JSON object with the keys:",
                    f'- "logits": shape (1, {n}); tolerance {s.tolerance:g}',
                    f'- "probabilities": shape (1, {n}); tolerance {s.tolerance:g}',
                    "Both within tolerance (max absolute error, strictly less) earn reward 1, "
                    "anything else 0.",
                ]
            )
            + "\n"
        )

    @cached_property
    def tools(self) -> tuple[ToolSpec, ToolSpec]:
        row = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
        schema = {"type": "object", "properties": dict.fromkeys(KEYS, row), "required": list(KEYS)}
        return python_tool(self.limits), submit_tool(KEYS, schema)

    def reference(self) -> dict[str, Any]:
        s = self.spec
        return _answer([v / s.temperature for v in s.x], _softmax(list(s.x), s.temperature))

    def tolerances(self) -> dict[str, float]:
        return dict.fromkeys(KEYS, self.spec.tolerance)

    def grade(self, answer: Any) -> Grade:
        errors: dict[str, float | None] = dict.fromkeys(KEYS)
        try:
            # JSON text or an object, within attnrl's size limit, else InvalidSubmission
            answer = parse_submission(answer)
            if set(answer) != set(KEYS):
                raise ValueError(f"the answer must be an object with exactly the keys {KEYS}")
            ref = self.reference()
            for key in KEYS:
                got, want = answer[key], ref[key][0]
                if not (isinstance(got, list) and len(got) == 1 and isinstance(got[0], list)):
                    raise ValueError(f"{key} must be one row")
                row = got[0]
                if len(row) != len(want) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in row
                ):
                    raise ValueError(f"{key} must be {len(want)} numbers")
                worst = max(abs(float(a) - b) for a, b in zip(row, want, strict=True))
                errors[key] = worst if math.isfinite(worst) else None
        except InvalidSubmission as exc:
            return Grade(False, "invalid", f"INVALID: {exc.message}", exc.category, errors, 0.0)
        except (ValueError, TypeError, OverflowError) as exc:
            return Grade(False, "invalid", f"INVALID: {str(exc)[:120]}", "format", errors, 0.0)
        ok = all(e is not None and e < self.spec.tolerance for e in errors.values())
        if ok:
            return Grade(True, "full_success", "SUCCESS", None, errors, 1.0)
        closest = next(
            (e.name for e in CATALOGUE if self._matches(answer, e.answer(self.spec))), None
        )
        category = next((e.category for e in CATALOGUE if e.name == closest), "numerical")
        diagnosis = Diagnosis(category, closest)  # type: ignore[arg-type]
        return Grade(False, "failure", "FAILURE", diagnosis.category, errors, 0.0, diagnosis)

    def _matches(self, answer: dict[str, Any], other: dict[str, Any]) -> bool:
        return all(
            abs(float(a) - b) < self.spec.tolerance
            for k in KEYS
            for a, b in zip(answer[k][0], other[k][0], strict=True)
        )

    def bugs(self) -> tuple[Entry, ...]:
        return CATALOGUE

    def entry_answer(self, entry: Any) -> dict[str, Any]:
        return next(e for e in CATALOGUE if e.name == entry.name).answer(self.spec)

    def solution_code(self, bug: str | None = None) -> str:
        answer = self.reference() if bug is None else self.entry_answer(Entry(bug, "", "", _answer))
        return f"import json\nprint(json.dumps({json.dumps(answer)}))\n"


PLUGIN = TaskPlugin(
    name="softmax",
    description="the softmax of a vector at a temperature (an example plug-in)",
    task_class="attnrl_softmax:SoftmaxTask",
    spec_factory="attnrl_softmax:spec_factory",
    spec_from_dict="attnrl_softmax:SoftmaxSpec.from_dict",
    presets=("procedural",),
    seeded_presets=frozenset({"procedural"}),
    ladder=None,
    knobs=("n",),
)
