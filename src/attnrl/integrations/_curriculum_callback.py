"""The Transformers callback that checkpoints a difficulty controller with the trainer.

Transformers saves a stateful callback (``ExportableState``) in ``trainer_state.json`` under
``stateful_callbacks`` at every checkpoint, and on ``resume_from_checkpoint`` (with
``restore_callback_states_from_checkpoint=True``) rebuilds it from its saved ``args``. So the
callback names its controller rather than holding it: the controller state travels in the
args, and the rebuilt callback loads it into the controller registered under that name.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from attnrl.curriculum import DifficultyController

__all__ = ["CurriculumCallback", "register"]

_LIVE: dict[str, DifficultyController] = {}


def register(name: str, controller: DifficultyController) -> None:
    """Make ``controller`` the one callbacks named ``name`` save and restore."""
    _LIVE[name] = controller


def _controller(name: str) -> DifficultyController:
    if name not in _LIVE:
        raise ValueError(f"no controller is registered as {name!r}; use curriculum_callback()")
    return _LIVE[name]


class CurriculumCallback(TrainerCallback, ExportableState):  # type: ignore[misc]
    """Saves the named controller's state with each checkpoint and restores it on resume."""

    def __init__(self, name: str = "default", curriculum: dict[str, Any] | None = None) -> None:
        self.name = name
        if curriculum is not None:  # rebuilt by transformers from a checkpoint
            _controller(name).load_state_dict(curriculum)

    def state(self) -> dict[str, Any]:
        curriculum = _controller(self.name).state_dict()
        return {"args": {"name": self.name, "curriculum": curriculum}, "attributes": {}}
