"""Shared fixtures: the seed task, built once per test session."""

from __future__ import annotations

import pytest

from attnrl.task import Task, load_task


@pytest.fixture(scope="session")
def seed_task() -> Task:
    return load_task("seed")
