"""Fixtures of the adapter tests."""

from __future__ import annotations

import pytest
from adapter_helpers import RecordingSandbox


@pytest.fixture
def fake_sandbox() -> RecordingSandbox:
    return RecordingSandbox()
