"""The RoPE task (the second plug-in): rotary position embeddings of queries and keys at
given positions, and the scores they give.

A different computation from attention's forward pass: pairwise rotations whose angles come
from a frequency schedule and the absolute positions (a decoded chunk, not 0..n-1), with two
pairing conventions in use in real models. :data:`PLUGIN` is what the ``attnrl.tasks`` entry
point ``rope`` names.
"""

from __future__ import annotations

from attnrl.task.registry import TaskPlugin

__all__ = ["PLUGIN"]

PLUGIN = TaskPlugin(
    name="rope",
    description="rotary position embeddings: frequencies, angles, rotated Q and K, scores",
    task_class="attnrl.tasks.rope.task:RopeTask",
    spec_factory="attnrl.tasks.rope.procedural:spec_factory",
    spec_from_dict="attnrl.tasks.rope.spec:RopeSpec.from_dict",
    presets=("procedural",),
    seeded_presets=frozenset({"procedural"}),
    ladder="attnrl.tasks.rope.procedural:LADDER",
    workload="attnrl.tasks.rope.procedural:workload",
    knobs=("dim", "tokens", "pairing", "base", "tolerance_scale"),
)
