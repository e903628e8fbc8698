"""The RoPE task through the plug-in contract: :class:`RopeTask` (prompt, tools, reference,
grade, catalogue, solution code), all rendered from one :class:`~.spec.RopeSpec`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from attnrl.sandbox.limits import SandboxLimits
from attnrl.task.base import CatalogueEntry, Task
from attnrl.task.grade import Grade
from attnrl.task.tools import SUBMIT_TOOL, ToolSpec, python_tool, submit_tool, tool_lines
from attnrl.tasks.rope.catalogue import RopeBug, applicable, entry_by_name
from attnrl.tasks.rope.grading import RopeGrader
from attnrl.tasks.rope.reference import Variant, answer
from attnrl.tasks.rope.spec import COMPONENTS, RopeSpec, shapes

__all__ = ["RopeTask", "render_prompt"]

DECIMALS = 4
_MEANING = {
    "inv_freq": "the frequency of each pair, as one row",
    "angles": "angles[t][i] = positions[t] * inv_freq[i]",
    "q_rotated": "Q with every pair rotated",
    "k_rotated": "K with every pair rotated",
    "scores": "q_rotated @ k_rotated.T / sqrt(d)",
}


def _fmt(m: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join("[" + ", ".join(repr(float(x)) for x in r) + "]" for r in m) + "]"


def _pairing_lines(spec: RopeSpec) -> list[str]:
    h = spec.d // 2
    if spec.pairing == "half":
        return [
            f"   Pairs split the row in halves: dimension i (0 <= i < {h}) pairs with dimension "
            f"i + {h}, and pair i uses frequency i: a = x[i], b = x[i + {h}].",
        ]
    return [
        "   Pairs are adjacent (interleaved): dimension 2i pairs with dimension 2i + 1, and pair i "
        "uses frequency i: a = x[2i], b = x[2i + 1].",
    ]


def render_prompt(spec: RopeSpec, limits: SandboxLimits | None = None) -> str:
    """The exact text of the task's user message."""
    sh = shapes(spec)
    parts = [
        "Apply rotary position embeddings (RoPE) to the queries and keys below and submit "
        "every intermediate result.",
        "",
        f"## Inputs ({spec.n} tokens, head width d = {spec.d}; row t is the token at positions[t])",
        f"Q = {_fmt(spec.q)}",
        f"K = {_fmt(spec.k)}",
        f"positions = {list(spec.positions)}",
        f"base = {spec.base:g}",
        "",
        "## Algorithm (follow it exactly; numbers are float64, angles in radians)",
        f"1. inv_freq[i] = base ** (-2 * i / d) for i = 0 .. {spec.d // 2 - 1}.",
        "2. angles[t][i] = positions[t] * inv_freq[i] (use the positions given, as they are).",
        "3. Rotate each pair (a, b) of a row of Q and of K by its angle theta = angles[t][i]: "
        "a' = a * cos(theta) - b * sin(theta), b' = a * sin(theta) + b * cos(theta).",
        *_pairing_lines(spec),
        "4. scores = q_rotated @ k_rotated.T / sqrt(d).",
        "",
        *tool_lines(limits),
        "",
        "## Answer",
        f"Call {SUBMIT_TOOL} with `answer` set to a JSON object with exactly these keys; "
        "every value is a list of rows of numbers with exactly the shape given:",
        *(
            f'- "{k}": shape {sh[k]}, {_MEANING[k]}; tolerance {spec.tolerance:g}'
            for k in COMPONENTS
        ),
        "",
        "Each matrix is compared element-wise with the reference: the max absolute error must "
        f"be strictly less than its tolerance. Round every number to {DECIMALS} decimals and "
        "print compact JSON, so the answer fits the tool output and your reply.",
        "Grading: every component within tolerance earns reward 1; anything else earns 0.",
    ]
    return "\n".join(parts) + "\n"


def _schema(spec: RopeSpec) -> dict[str, Any]:
    matrix = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    props = {k: matrix | {"description": f"shape {s}"} for k, s in shapes(spec).items()}
    return {"type": "object", "properties": props, "required": list(COMPONENTS)}


def solution_code(spec: RopeSpec, v: Variant | None = None) -> str:
    """The numpy program a solver with variant ``v`` (None: the reference) writes; prints the
    answer as JSON."""
    v = v or Variant()
    pairing = spec.pairing
    if v.other_pairing:
        pairing = "interleaved" if pairing == "half" else "half"
    base = v.base if v.base is not None else spec.base
    exponent = "2 * i / d" if v.exponent == "2i/d" else "i / d"
    positions = {
        "given": "np.array(positions, dtype=float)",
        "from_zero": "np.arange(len(positions), dtype=float)",
        "plus_one": "np.array(positions, dtype=float) + 1",
    }[v.positions]
    cos, sin = (
        ("np.sin(ang)", f"{v.sign} * np.cos(ang)")
        if v.sin_cos_swapped
        else (
            "np.cos(ang)",
            f"{v.sign} * np.sin(ang)",
        )
    )
    split = "a, b = x[:, :h], x[:, h:]" if pairing == "half" else "a, b = x[:, 0::2], x[:, 1::2]"
    join = (
        "np.concatenate([ra, rb], axis=1)"
        if pairing == "half"
        else "np.stack([ra, rb], axis=2).reshape(x.shape)"
    )
    lines = [
        "import json",
        f"Q = np.array({json.dumps([list(r) for r in spec.q])})",
        f"K = np.array({json.dumps([list(r) for r in spec.k])})",
        f"positions = {list(spec.positions)}",
        f"base = {base!r}",
        "d = Q.shape[1]",
        "h = d // 2",
        "i = np.arange(h, dtype=float)",
        f"inv_freq = base ** (-({exponent}))",
        *(["inv_freq = inv_freq[::-1]"] if v.freq_reversed else []),
        f"angles = ({positions})[:, None] * inv_freq[None, :]",
        "def rot(x, ang):",
        f"    c, s = {cos}, {sin}",
        f"    {split}",
        "    ra, rb = a * c - b * s, a * s + b * c",
        f"    return {join}",
        f"q_rot = {'rot(Q, angles)' if v.rotate_q else 'Q'}",
        "k_rot = rot(K, angles)",
        f"scores = q_rot @ k_rot.T{' / np.sqrt(d)' if v.scale else ''}",
        "answer = {'inv_freq': [inv_freq.tolist()], 'angles': angles.tolist(),",
        "          'q_rotated': q_rot.tolist(), 'k_rotated': k_rot.tolist(),",
        "          'scores': scores.tolist()}",
        f"r = lambda m: [[round(float(x), {DECIMALS}) for x in row] for row in m]",
        "print(json.dumps({k: r(v) for k, v in answer.items()}, separators=(',', ':')))",
    ]
    return "\n".join(lines) + "\n"


class RopeTask(Task):
    """One RoPE instance, derived entirely from its :class:`RopeSpec`."""

    task_name = "rope"
    title = "Rotary Position Embeddings (RoPE)"

    def __init__(self, spec: RopeSpec, limits: SandboxLimits | None = None) -> None:
        super().__init__(spec, limits)
        self.spec: RopeSpec = spec

    @cached_property
    def prompt(self) -> str:
        return render_prompt(self.spec, self.limits)

    @cached_property
    def tools(self) -> tuple[ToolSpec, ToolSpec]:
        return python_tool(self.limits), submit_tool(COMPONENTS, _schema(self.spec))

    @cached_property
    def _grader(self) -> RopeGrader:
        return RopeGrader(self.spec)

    def reference(self) -> dict[str, Any]:
        return answer(self.spec)

    def grade(self, answer: Any) -> Grade:
        return self._grader.grade(answer)

    def tolerances(self) -> dict[str, float]:
        return dict.fromkeys(COMPONENTS, self.spec.tolerance)

    def answer_text(self) -> str:
        rounded = {
            k: [[round(x, DECIMALS) for x in row] for row in v] for k, v in self.reference().items()
        }
        return json.dumps(rounded, separators=(",", ":"))

    def instance_size(self) -> tuple[int, int, int] | None:
        return (self.spec.n, self.spec.d, 1)

    def bugs(self) -> tuple[RopeBug, ...]:
        return applicable(self.spec)

    def entry_answer(self, entry: CatalogueEntry) -> dict[str, Any]:
        return entry_by_name(entry.name).submission(self.spec)

    def solution_code(self, bug: str | None = None) -> str:
        if bug is None:
            return solution_code(self.spec)
        entry = entry_by_name(bug)
        if entry.fill is not None:
            return f"import json\nprint(json.dumps({json.dumps(entry.submission(self.spec))}))\n"
        return solution_code(self.spec, entry.variant)
