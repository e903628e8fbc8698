"""The verifiers v1 taskset ``attnrl-curriculum-v1``: attnrl instances drawn from the online
difficulty controller (:mod:`attnrl.integrations.curriculum_v1`), with attnrl-v1's harness and
env. v1 takes the one ``Taskset``, ``Harness`` and ``Env`` subclass exported here."""

from attnrl.integrations.curriculum_v1 import (
    CurriculumTask,
    CurriculumTaskset,
    CurriculumTasksetConfig,
)
from attnrl.integrations.verifiers_v1 import (
    AttentionEnv,
    AttentionEnvConfig,
    AttentionHarness,
    AttentionHarnessConfig,
)

__all__ = [
    "AttentionEnv",
    "AttentionEnvConfig",
    "AttentionHarness",
    "AttentionHarnessConfig",
    "CurriculumTask",
    "CurriculumTaskset",
    "CurriculumTasksetConfig",
]
