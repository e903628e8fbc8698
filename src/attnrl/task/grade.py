"""The verdict on one submission, the same type for every task: :class:`Grade`.

A task's grader returns a :class:`Grade`; the harness records its ``to_dict()``, the
statistics count its ``outcome`` and ``category``, the report shows its ``diagnosis``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Category", "Diagnosis", "Grade", "Kind", "Outcome"]

Category = Literal[
    "dimension", "causal_mask", "numerical", "logic", "format", "no_submission", "infrastructure"
]
"""The failure categories of DESIGN.md section 3 (a task uses the ones that apply to it)."""
Kind = Literal["bug", "cheap"]
"""``bug``: an honest mistake; ``cheap``: an answer that skips the computation."""
Outcome = Literal["full_success", "partial_success", "partial", "failure", "invalid"]


@dataclass(frozen=True)
class Diagnosis:
    """Why a submission failed."""

    category: Category
    closest_bug: str | None = None
    """The catalogued bug the whole submission matches, if any."""
    component_bugs: dict[str, str] = field(default_factory=dict)
    """Per wrong component: the catalogued bug whose value it matches."""
    inconsistencies: tuple[str, ...] = ()
    """Where the submission disagrees with itself."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "closest_bug": self.closest_bug,
            "component_bugs": dict(self.component_bugs),
            "inconsistencies": list(self.inconsistencies),
        }


@dataclass(frozen=True)
class Grade:
    """The verdict on one submission."""

    passed: bool
    outcome: Outcome
    message: str
    category: Category | None
    """DESIGN.md section 3 category; None when passed."""
    errors: dict[str, float | None]
    """Max absolute error per graded key; None when absent, malformed or non-finite."""
    reward: float
    diagnosis: Diagnosis | None = field(default=None)

    @classmethod
    def passing(
        cls, outcome: Outcome, message: str, errors: dict[str, float | None], reward: float
    ) -> Grade:
        """A passing grade (no category, no diagnosis), equal to the one the constructor
        makes, built without the frozen dataclass's seven ``object.__setattr__`` calls:
        about half a microsecond, a twentieth of grading a correct answer, on the path an
        optimiser's policy takes most once it learns."""
        grade = object.__new__(cls)
        object.__setattr__(
            grade,
            "__dict__",
            {
                "passed": True,
                "outcome": outcome,
                "message": message,
                "category": None,
                "errors": errors,
                "reward": reward,
                "diagnosis": None,
            },
        )
        return grade

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``attnrl verify --json``, ``results.jsonl``)."""
        return {
            "passed": self.passed,
            "outcome": self.outcome,
            "message": self.message,
            "category": self.category,
            "errors": dict(self.errors),
            "reward": self.reward,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
        }
