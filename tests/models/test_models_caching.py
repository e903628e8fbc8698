"""Prompt caching and billed usage through the real SDKs against the loopback server:
Anthropic requests carry one cache breakpoint on the last block, each provider's cache
counts are parsed apart, and the pricing table turns them into dollars."""

from __future__ import annotations

import json
from typing import Any

import pytest

from attnrl.models.anthropic import AnthropicModel
from attnrl.models.base import Message, ToolResult, ToolSpec, Usage
from attnrl.models.openai import OpenAIModel
from attnrl.stats.cost import PRICES, usage_cost
from fakes.llm_server import (
    FakeLLMServer,
    anthropic_text,
    anthropic_tool_use,
    openai_text,
)

TOOLS = (
    ToolSpec(
        name="python_expression",
        description="Evaluate a Python expression.",
        parameters={"type": "object", "properties": {"expression": {"type": "string"}}},
    ),
)
PROMPT = (Message(role="user", text="Implement attention."),)


def _markers(body: dict[str, Any]) -> list[tuple[int, int]]:
    """(message index, block index) of every cache_control in a request body."""
    found = []
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        for j, block in enumerate(content if isinstance(content, list) else []):
            if "cache_control" in block:
                assert block["cache_control"] == {"type": "ephemeral"}
                found.append((i, j))
    assert "cache_control" not in json.dumps(body.get("tools", []))
    return found


async def test_each_turn_marks_its_last_block_and_reads_the_rest(
    llm_server: FakeLLMServer,
) -> None:
    first = anthropic_tool_use("python_expression", {"expression": "1"}, id="toolu_1")
    first.body["usage"].update(input_tokens=3, output_tokens=40, cache_creation_input_tokens=2000)
    second = anthropic_text("done")
    second.body["usage"].update(
        input_tokens=3,
        output_tokens=10,
        cache_creation_input_tokens=60,
        cache_read_input_tokens=2000,
    )
    llm_server.enqueue_anthropic(first, second)
    model = AnthropicModel("claude-sonnet-4-6", api_key="sk-ant-test", base_url=llm_server.url)
    try:
        turn1 = await model.generate(PROMPT, TOOLS)
        transcript = (
            *PROMPT,
            turn1.as_message(),
            Message(role="tool", tool_results=(ToolResult("toolu_1", "1"),)),
        )
        turn2 = await model.generate(transcript, TOOLS)
    finally:
        await model.aclose()

    one, two = (r.body for r in llm_server.requests_to("anthropic"))
    assert _markers(one) == [(0, 0)]
    last = len(two["messages"]) - 1
    assert _markers(two) == [(last, len(two["messages"][last]["content"]) - 1)]
    assert two["messages"][last]["content"][-1]["type"] == "tool_result"

    assert turn1.usage == Usage(3, 40, 2000, 0)
    assert turn2.usage == Usage(3, 10, 60, 2000)
    run = turn1.usage + turn2.usage
    price = PRICES["anthropic/claude-sonnet-4-6"]
    expected = (6 * 3.0 + 50 * 15.0 + 2060 * 3.75 + 2000 * 0.30) / 1e6
    assert usage_cost(run, price) == pytest.approx(expected)
    uncached = Usage(input_tokens=run.prompt_tokens, output_tokens=50)
    assert usage_cost(run, price) < usage_cost(uncached, price)  # type: ignore[operator]


async def test_no_cache_prompt_sends_no_marker(llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_anthropic(anthropic_text("hi"))
    model = AnthropicModel(
        "claude-sonnet-4-6", api_key="sk-ant-test", base_url=llm_server.url, cache_prompt=False
    )
    try:
        turn = await model.generate(PROMPT, TOOLS)
    finally:
        await model.aclose()
    (request,) = llm_server.requests_to("anthropic")
    assert _markers(request.body) == []
    assert turn.usage == Usage(input_tokens=11, output_tokens=7)  # no cache fields sent: 0


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 64},
            },
            Usage(36, 5, 0, 64),
        ),
        ({"prompt_tokens": 100, "completion_tokens": 5}, Usage(100, 5, 0, None)),
        (
            {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {}},
            Usage(100, 5, 0, None),
        ),
    ],
)
async def test_openai_cached_tokens_are_read_apart_and_missing_is_unknown(
    llm_server: FakeLLMServer, usage: dict[str, Any], expected: Usage
) -> None:
    llm_server.enqueue_openai(openai_text("hi", usage=usage))
    model = OpenAIModel("gpt-4.1", api_key="sk-test", base_url=llm_server.openai_base_url)
    try:
        turn = await model.generate(PROMPT, TOOLS)
    finally:
        await model.aclose()
    assert turn.usage == expected
    (request,) = llm_server.requests_to("openai")
    assert "cache_control" not in json.dumps(request.body)  # the server caches on its own
    price = PRICES["openai/gpt-4.1"]
    cached = expected.cache_read_input_tokens or 0
    want = ((100 - cached) * 2.0 + cached * 0.50 + 5 * 8.0) / 1e6
    assert usage_cost(turn.usage, price) == pytest.approx(want)
    total = turn.usage + turn.usage
    assert total.cache_read_input_tokens == (
        None if expected.cache_read_input_tokens is None else 128
    )
