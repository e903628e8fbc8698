"""The verifiers v1 taskset ``attnrl-v1`` (``vf-eval attnrl-v1``, prime-rl's
``[env.taskset] id = "attnrl-v1"``).

v1 imports the module named by a taskset id (``attnrl-v1`` -> ``attnrl_v1``) and takes the
``Taskset``, ``Harness`` and ``Env`` subclasses it exports through ``__all__``. They live in
:mod:`attnrl.integrations.verifiers_v1`; this module only names them for v1's loader.
"""

from attnrl.integrations.verifiers_v1 import (
    AttentionEnv,
    AttentionEnvConfig,
    AttentionHarness,
    AttentionHarnessConfig,
    AttentionTask,
    AttentionTaskset,
    AttentionTasksetConfig,
)

__all__ = [
    "AttentionEnv",
    "AttentionEnvConfig",
    "AttentionHarness",
    "AttentionHarnessConfig",
    "AttentionTask",
    "AttentionTaskset",
    "AttentionTasksetConfig",
]
