"""The attention task (the first plug-in): positional multi-head attention, forward pass.

:data:`PLUGIN` is what the ``attnrl.tasks`` entry point ``attention`` names.
"""

from __future__ import annotations

from attnrl.task.registry import TaskPlugin

__all__ = ["PLUGIN"]

PLUGIN = TaskPlugin(
    name="attention",
    description="positional multi-head attention with asymmetric head splits (forward pass)",
    task_class="attnrl.tasks.attention.task:AttentionTask",
    spec_factory="attnrl.tasks.attention.presets:spec_factory",
    spec_from_dict="attnrl.tasks.attention.spec:TaskSpec.from_dict",
    presets=("procedural", "seed-doc", "seed-doc-text"),
    seeded_presets=frozenset({"procedural"}),
    ladder="attnrl.tasks.attention.ladder:LADDER",
    workload="attnrl.tasks.attention.ladder:workload_card",
    knobs=(
        "heads",
        "tokens",
        "d_model",
        "mask",
        "position_encoding",
        "residual",
        "layer_norm",
        "policy",
        "tolerance_scale",
        "adequacy",
    ),
)
"""Names literal here (a test checks them against :mod:`.presets`), so listing the tasks
imports nothing of the attention code."""
