"""The curriculum page shows the configs the trainer tier runs: verl's overrides exactly, and
TRL's settings by the names the test imports."""

from __future__ import annotations

from pathlib import Path

from attnrl.integrations._commands import VERL_CURRICULUM_OVERRIDES
from attnrl.integrations.curriculum_trl import CURRICULUM_GRPO_CONFIG

PAGE = Path(__file__).resolve().parents[2] / "docs" / "curriculum.md"


def test_the_page_shows_verls_overrides_as_the_tier_composes_them() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for override in VERL_CURRICULUM_OVERRIDES:
        assert f"  {override}" in text, override


def test_the_page_shows_trls_settings_by_name() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "**TRL_CONFIG, **CURRICULUM_GRPO_CONFIG" in text
    for key, value in CURRICULUM_GRPO_CONFIG.items():
        assert f"`{key}={value}`" in text
