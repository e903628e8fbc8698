"""Helpers for the adapter tests: a recording fake sandbox, and submissions as the
frameworks' models would write them (imported as ``adapter_helpers``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from attnrl.sandbox.base import ExecResult


class RecordingSandbox:
    """A stand-in for attnrl's sandbox that runs nothing and records the code it got."""

    isolation = "fake"

    def __init__(self) -> None:
        self.codes: list[str] = []
        self.opened = 0
        self.closed = 0

    async def run(self, code: str) -> ExecResult:
        self.codes.append(code)
        return ExecResult(result=f"ran {len(self.codes)}\n", error=None)

    async def aclose(self) -> None:
        self.closed += 1

    def factory(self) -> Any:
        @asynccontextmanager
        async def open_fake() -> AsyncIterator[RecordingSandbox]:
            self.opened += 1
            try:
                yield self
            finally:
                await self.aclose()

        return open_fake


def as_text(submission: Any, raw: str | None = None) -> str:
    """A completion carrying ``submission`` in a fenced JSON block, with prose (and braces
    in the prose) around it; ``raw`` is used verbatim as the block's body instead."""
    body = raw if raw is not None else json.dumps(submission)
    return (
        "I computed Q_pos = Q + pos_emb, sliced the heads as {Q1, K1} and {Q2, K2}, masked "
        "j > i with -inf and applied the softmax row by row.\n\n"
        f"```json\n{body}\n```\n\nThat is my final answer."
    )


def run_inspect_eval(*args: Any, **kwargs: Any) -> Any:
    """``inspect_ai.eval`` then a garbage collection, so a stream inspect_ai 0.3.285 leaves
    unclosed is reported (and exempted) in the test that ran the eval, not in a later one."""
    import gc

    from inspect_ai import eval as inspect_eval

    try:
        return inspect_eval(*args, **kwargs)
    finally:
        gc.collect()
