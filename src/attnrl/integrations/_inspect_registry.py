"""Inspect AI entry point (``[project.entry-points.inspect_ai]``): importing this module
registers ``attnrl/attention_task`` and its solver and scorer for ``inspect eval``."""

from attnrl.integrations.inspect import attention_agent, attention_scorer, attention_task

__all__ = ["attention_agent", "attention_scorer", "attention_task"]
