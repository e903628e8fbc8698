"""The default model is one the locked anthropic SDK still serves; retired models are refused."""

from __future__ import annotations

from datetime import date

import pytest

from attnrl.models.base import ModelConfigError
from attnrl.models.deprecation import (
    DEFAULT_MODEL,
    deprecated_models,
    end_of_life,
    known_models,
    replacement,
    retirement_notice,
)


def test_default_is_the_newest_sonnet_the_sdk_lists_and_does_not_deprecate() -> None:
    provider, model_id = DEFAULT_MODEL.split("/", 1)
    assert provider == "anthropic"
    assert model_id not in deprecated_models(), "the default model is in the SDK's table"
    sonnets = [m for m in known_models() if m.startswith("claude-sonnet")]
    assert model_id in sonnets
    assert model_id == next(m for m in sonnets if m not in deprecated_models())


def test_the_seeds_model_is_in_the_table_with_its_date() -> None:
    assert end_of_life("claude-sonnet-4-5") == date(2026, 11, 30)
    assert end_of_life(DEFAULT_MODEL.split("/", 1)[1]) is None
    assert replacement("claude-sonnet-4-5") == DEFAULT_MODEL.split("/", 1)[1]


def test_warned_before_its_date_refused_after() -> None:
    before = retirement_notice("claude-sonnet-4-5", today=date(2026, 11, 1))
    assert before is not None and "end of life on 2026-11-30" in before
    with pytest.raises(ModelConfigError, match="use --model anthropic/claude-sonnet-5-5"):
        retirement_notice("claude-sonnet-4-5", today=date(2026, 12, 1))
    behind_gateway = retirement_notice(
        "claude-sonnet-4-5", custom_base_url=True, today=date(2026, 12, 1)
    )
    assert behind_gateway is not None and "custom base URL" in behind_gateway
    assert retirement_notice("claude-sonnet-5-5", today=date(2026, 12, 1)) is None
