"""The online difficulty controller: keeps a learning model's pass rate in its band."""

from attnrl.curriculum.config import DEFAULT_BAND, LEARNING_BAND, ControllerConfig
from attnrl.curriculum.controller import DifficultyController, StepReport
from attnrl.curriculum.instances import RungInstances

__all__ = [
    "DEFAULT_BAND",
    "LEARNING_BAND",
    "ControllerConfig",
    "DifficultyController",
    "RungInstances",
    "StepReport",
]
