"""The attention task through the plug-in contract: :class:`AttentionTask`.

One spec with its prompt, tools, reference, grader and catalogue, built once per spec; it
caches what is expensive (the reference, the grader, the bug answers).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from attnrl.sandbox.limits import SandboxLimits
from attnrl.task.base import AuditEntry, CatalogueEntry, Task
from attnrl.task.tools import ToolSpec
from attnrl.tasks.attention.bugs import Bug, applicable_bugs, bug_by_name
from attnrl.tasks.attention.grading import Grade, Grader
from attnrl.tasks.attention.presets import DEFAULT_PRESET, DEFAULT_SEED, SEEDED_PRESETS, build_spec
from attnrl.tasks.attention.prompt import render_prompt, tool_specs
from attnrl.tasks.attention.reference import forward, submission
from attnrl.tasks.attention.solution import solution_code
from attnrl.tasks.attention.spec import ANSWER_MASK_FLAG, TaskSpec

__all__ = ["AttentionTask", "AuditEntry", "load_attention"]


class AttentionTask(Task):
    """One attention instance, derived entirely from its :class:`TaskSpec`."""

    task_name = "attention"
    title = "Positional Multi-Head Attention Implementation"
    flag_keys: ClassVar[dict[str, str]] = {"mask_flag": ANSWER_MASK_FLAG}

    def __init__(self, spec: TaskSpec, limits: SandboxLimits | None = None) -> None:
        super().__init__(spec, limits)
        self.spec: TaskSpec = spec

    @cached_property
    def prompt(self) -> str:
        """The exact user message the model receives."""
        return render_prompt(self.spec, self.limits)

    @cached_property
    def tools(self) -> tuple[ToolSpec, ToolSpec]:
        """``python_expression`` and ``submit_answer``, described from the spec."""
        return tool_specs(self.spec, self.limits)

    @cached_property
    def _grader(self) -> Grader:
        return Grader(self.spec)

    def reference(self) -> dict[str, Any]:
        """The expected submission (a fresh dict of plain lists)."""
        return submission(self.spec, forward(self.spec))

    def grade(self, answer: Any) -> Grade:
        """Grade a submission (dict or JSON string); never raises."""
        return self._grader.grade(answer)

    def bugs(self) -> tuple[Bug, ...]:
        return applicable_bugs(self.spec)

    def tolerances(self) -> dict[str, float]:
        return {c.key: self.spec.tolerance(c) for c in self.spec.components()}

    def tolerance_summary(self) -> str:
        tol = self.spec.tolerances
        return f"position {tol.position:g}, weights {tol.weights:g}, outputs {tol.outputs:g}"

    def answer_text(self) -> str:
        from attnrl.tasks.attention.answer_size import answer_text

        return answer_text(self.spec, self.reference())

    def instance_size(self) -> tuple[int, int, int] | None:
        return (self.spec.n_tokens, self.spec.d_model, len(self.spec.heads))

    def answer_flags(self, answer: dict[str, Any]) -> dict[str, Any]:
        return {"mask_flag": answer[ANSWER_MASK_FLAG]} if ANSWER_MASK_FLAG in answer else {}

    def entry_answer(self, entry: CatalogueEntry) -> dict[str, Any]:
        assert isinstance(entry, Bug), "an attention catalogue entry"
        return entry.submission(self.spec)

    def solution_code(self, bug: str | None = None) -> str:
        return solution_code(self.spec, bug_by_name(bug) if bug else None)

    def instance(self) -> dict[str, Any]:
        """The instance as data (``attnrl instance --json``)."""
        s = self.spec
        spec = s.to_dict()
        return {
            "task": self.task_name,
            "preset": s.preset,
            "seed": s.seed,
            "inputs": {"Q": spec["q"], "K": spec["k"], "V": spec["v"], "pos_emb": spec["pos_emb"]},
            **{
                key: spec[key]
                for key in (
                    "heads",
                    "value_source",
                    "mask",
                    "position_encoding",
                    "residual",
                    "layer_norm",
                    "policy",
                    "tolerances",
                    "rewards",
                )
            },
            "answer_keys": list(s.answer_keys()),
            "expected": self.reference(),
            "content_hash": self.content_hash,
            "spec": spec,
        }


def load_attention(name: str = DEFAULT_PRESET, seed: int | None = None, **knobs: Any) -> Task:
    """The task of preset ``name`` (drawn from ``seed`` for seeded presets, seed
    :data:`~attnrl.tasks.attention.presets.DEFAULT_SEED` when None).

    ``knobs`` are the difficulty knobs of :data:`.presets.DIFFICULTY_KNOBS` (for
    ``procedural``: generation settings, every instance stays mutation-adequate) or other
    spec fields set as given (e.g. ``tolerances=Tolerances(...)``), validated again.
    """
    if seed is None and name in SEEDED_PRESETS:
        seed = DEFAULT_SEED
    return AttentionTask(build_spec(name, seed, **knobs))
