"""The ``GRPOConfig`` settings of the tier's CPU smoke runs: the README's TRL settings, then
what makes a run on the tiny model small (8 completion tokens, groups of 2, a few steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attnrl.integrations._commands import TRL_CONFIG


def smoke_config(output_dir: Path | str, **overrides: Any) -> dict[str, Any]:
    """``GRPOConfig`` keyword arguments; ``overrides`` win (e.g. ``max_steps``)."""
    small = {
        "output_dir": str(output_dir),
        "max_completion_length": 8,
        "num_generations": 2,
        "per_device_train_batch_size": 2,
        "max_steps": 3,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "bf16": False,
        "seed": 0,
    }
    return {**TRL_CONFIG, **small, **overrides}
