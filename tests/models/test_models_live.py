"""One tiny real call per provider; skipped unless the provider's key is set.

Run with ``pytest -m live tests/models``. Model ids can be overridden with
``ATTNRL_LIVE_ANTHROPIC_MODEL`` / ``ATTNRL_LIVE_OPENAI_MODEL``; ``OPENAI_BASE_URL`` points
the OpenAI test at any compatible server.
"""

from __future__ import annotations

import os

import pytest

from attnrl.models.base import Message, ToolSpec
from attnrl.models.registry import make_model
from attnrl.models.retry import RetryPolicy

pytestmark = pytest.mark.live

SUBMIT = ToolSpec(
    name="submit_answer",
    description="Submit the final answer.",
    parameters={
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    },
)
PROMPT = (Message(role="user", text="What is 2 + 3? Submit the number with submit_answer."),)


async def _tiny_call(name: str) -> None:
    model = make_model(name, max_tokens=200, retry=RetryPolicy(max_attempts=3), timeout_s=60.0)
    try:
        turn = await model.generate(PROMPT, (SUBMIT,))
    finally:
        await model.aclose()  # type: ignore[attr-defined]
    assert turn.text or turn.tool_calls
    assert turn.usage.input_tokens > 0
    if turn.tool_calls:
        assert turn.tool_calls[0].name == "submit_answer"


@pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="ANTHROPIC_API_KEY not set")
async def test_anthropic_live() -> None:
    await _tiny_call(
        "anthropic/" + os.environ.get("ATTNRL_LIVE_ANTHROPIC_MODEL", "claude-haiku-4-5")
    )


@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="OPENAI_API_KEY not set")
async def test_openai_live() -> None:
    await _tiny_call("openai/" + os.environ.get("ATTNRL_LIVE_OPENAI_MODEL", "gpt-4.1-mini"))
