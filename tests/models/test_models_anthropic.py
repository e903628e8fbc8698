"""AnthropicModel against the fake server through the real ``anthropic`` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from attnrl.models.anthropic import AnthropicModel, to_anthropic_messages
from attnrl.models.base import (
    Message,
    ModelConfigError,
    ModelUnavailable,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from attnrl.models.retry import RetryPolicy
from fakes.llm_server import (
    FakeLLMServer,
    FakeResponse,
    RecordedRequest,
    RecordingSleep,
    anthropic_message,
    anthropic_text,
    anthropic_text_block,
    anthropic_tool_use,
    anthropic_tool_use_block,
)

KEY = "sk-ant-test-SECRET123"

TOOLS = (
    ToolSpec(
        name="python_expression",
        description="Evaluate a Python expression.",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    ),
    ToolSpec(
        name="submit_answer",
        description="Submit the final answer.",
        parameters={"type": "object", "properties": {"answer": {"type": "string"}}},
    ),
)

PROMPT = (Message(role="user", text="Implement attention."),)


def sent_key(request: RecordedRequest) -> str | None:
    """The key as sent: ``x-api-key`` or (SDK 2.x) ``Authorization: Bearer``."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


@pytest.fixture
async def model(
    llm_server: FakeLLMServer, recorded_sleep: RecordingSleep
) -> AsyncIterator[AnthropicModel]:
    m = AnthropicModel(
        "claude-test",
        api_key=KEY,
        base_url=llm_server.url,
        retry=RetryPolicy(max_attempts=3, initial_delay_s=1.0, max_delay_s=8.0, jitter=0.0),
        sleep=recorded_sleep,
    )
    yield m
    await m.aclose()


async def test_text_turn(model: AnthropicModel, llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_anthropic(anthropic_text("Hello there.", input_tokens=21, output_tokens=4))

    turn = await model.generate(PROMPT, TOOLS)

    assert model.name == "anthropic/claude-test"
    assert turn.text == "Hello there."
    assert turn.tool_calls == ()
    assert turn.stop_reason == "end_turn"
    assert turn.usage == Usage(input_tokens=21, output_tokens=4)

    (request,) = llm_server.requests_to("anthropic")
    assert request.path == "/v1/messages"
    assert sent_key(request) == KEY
    assert request.body["model"] == "claude-test"
    assert request.body["max_tokens"] == 4096
    assert "temperature" not in request.body
    assert "stream" not in request.body or request.body["stream"] is False
    assert request.body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "Implement attention.",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        }
    ]
    assert request.body["tools"] == [
        {
            "name": "python_expression",
            "description": "Evaluate a Python expression.",
            "input_schema": TOOLS[0].parameters,
        },
        {
            "name": "submit_answer",
            "description": "Submit the final answer.",
            "input_schema": TOOLS[1].parameters,
        },
    ]


async def test_options_are_sent(llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_anthropic(anthropic_text("ok"))
    async with AnthropicModel(
        "claude-test", api_key=KEY, base_url=llm_server.url, max_tokens=123, temperature=0.25
    ) as model:
        await model.generate(PROMPT, ())
    body = llm_server.requests[0].body
    assert body["max_tokens"] == 123
    assert body["temperature"] == 0.25
    assert "tools" not in body


async def test_tool_use_turn(model: AnthropicModel, llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_anthropic(
        anthropic_tool_use(
            "python_expression", {"expression": "1 + 1"}, id="toolu_01", text="Let me check."
        )
    )

    turn = await model.generate(PROMPT, TOOLS)

    assert turn.text == "Let me check."
    assert turn.stop_reason == "tool_use"
    assert turn.tool_calls == (
        ToolCall(id="toolu_01", name="python_expression", arguments={"expression": "1 + 1"}),
    )


async def test_round_trip_sends_tool_results_as_one_user_message(
    model: AnthropicModel, llm_server: FakeLLMServer
) -> None:
    llm_server.enqueue_anthropic(
        anthropic_message(
            anthropic_text_block("Two things."),
            anthropic_tool_use_block("python_expression", {"expression": "2**10"}, id="toolu_a"),
            anthropic_tool_use_block("python_expression", {"expression": "1/0"}, id="toolu_b"),
        ),
        anthropic_text("All done."),
    )
    first = await model.generate(PROMPT, TOOLS)
    assert [c.id for c in first.tool_calls] == ["toolu_a", "toolu_b"]

    transcript = (
        *PROMPT,
        first.as_message(),
        Message(
            role="tool",
            tool_results=(
                ToolResult(call_id="toolu_a", content="1024"),
                ToolResult(call_id="toolu_b", content="ZeroDivisionError", is_error=True),
            ),
        ),
    )
    second = await model.generate(transcript, TOOLS)
    assert second.text == "All done."

    sent = llm_server.requests_to("anthropic")[1].body["messages"]
    assert sent == [
        {"role": "user", "content": [{"type": "text", "text": "Implement attention."}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Two things."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "python_expression",
                    "input": {"expression": "2**10"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "python_expression",
                    "input": {"expression": "1/0"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_a",
                    "content": "1024",
                    "is_error": False,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": "ZeroDivisionError",
                    "is_error": True,
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ]


@pytest.mark.parametrize("bad_input", ["print(1)", [1, 2], None, 3])
async def test_tool_input_that_is_not_an_object(
    model: AnthropicModel, llm_server: FakeLLMServer, bad_input: object
) -> None:
    llm_server.enqueue_anthropic(anthropic_tool_use("python_expression", bad_input, id="toolu_x"))

    turn = await model.generate(PROMPT, TOOLS)

    (call,) = turn.tool_calls
    assert call.arguments is None
    assert call.raw_arguments is not None
    assert json.loads(call.raw_arguments) == bad_input

    # Sent back as an empty object: the API accepts nothing else.
    (wire,) = to_anthropic_messages((turn.as_message(),))
    assert wire["content"] == [
        {"type": "tool_use", "id": "toolu_x", "name": "python_expression", "input": {}}
    ]


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        ("end_turn", "end_turn"),
        ("stop_sequence", "end_turn"),
        ("tool_use", "tool_use"),
        ("max_tokens", "max_tokens"),
        ("refusal", "other"),
        ("pause_turn", "other"),
        ("model_context_window_exceeded", "other"),
        (None, "other"),
    ],
)
async def test_stop_reason_mapping(
    model: AnthropicModel, llm_server: FakeLLMServer, wire: str | None, ours: str
) -> None:
    response = anthropic_text("x")
    response.body["stop_reason"] = wire
    llm_server.enqueue_anthropic(response)
    assert (await model.generate(PROMPT, TOOLS)).stop_reason == ours


async def test_empty_content_and_unknown_blocks(
    model: AnthropicModel, llm_server: FakeLLMServer
) -> None:
    llm_server.enqueue_anthropic(
        anthropic_message(stop_reason="max_tokens"),
        anthropic_message(
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "some_future_block", "data": 1},
            anthropic_text_block("a"),
            anthropic_text_block("b"),
        ),
    )
    empty = await model.generate(PROMPT, TOOLS)
    assert (empty.text, empty.tool_calls, empty.stop_reason) == ("", (), "max_tokens")

    mixed = await model.generate(PROMPT, TOOLS)
    assert mixed.text == "ab"
    assert mixed.tool_calls == ()


async def test_cache_tokens_are_kept_apart(
    model: AnthropicModel, llm_server: FakeLLMServer
) -> None:
    # Billed differently (cache writes 1.25x, reads 0.1x the input rate), so never folded.
    response = anthropic_text("x", input_tokens=5, output_tokens=2)
    response.body["usage"].update(cache_creation_input_tokens=100, cache_read_input_tokens=7)
    llm_server.enqueue_anthropic(response)
    assert (await model.generate(PROMPT, TOOLS)).usage == Usage(
        input_tokens=5, output_tokens=2, cache_creation_input_tokens=100, cache_read_input_tokens=7
    )


async def test_malformed_200_is_unavailable(
    model: AnthropicModel, llm_server: FakeLLMServer
) -> None:
    llm_server.enqueue_anthropic(FakeResponse(body={"unexpected": True}))
    with pytest.raises(ModelUnavailable, match="malformed response"):
        await model.generate(PROMPT, TOOLS)
    assert len(llm_server.requests) == 1


def test_conversion_merges_roles_and_drops_blank_text() -> None:
    messages = (
        Message(role="user", text="prompt"),
        Message(role="assistant", text="   "),  # nothing to send: skipped
        Message(role="user", text="Please call a tool."),
        Message(
            role="assistant",
            text="",
            tool_calls=(ToolCall(id="t1", name="submit_answer", arguments={"answer": "x"}),),
        ),
        Message(role="tool", tool_results=(ToolResult(call_id="t1", content=""),)),
        Message(role="user", text="Your answer was wrong."),
    )
    assert to_anthropic_messages(messages) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "prompt"},
                {"type": "text", "text": "Please call a tool."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "t1", "name": "submit_answer", "input": {"answer": "x"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "is_error": False},
                {"type": "text", "text": "Your answer was wrong."},
            ],
        },
    ]


def test_error_result_without_content_gets_one() -> None:
    (wire,) = to_anthropic_messages(
        (Message(role="tool", tool_results=(ToolResult("t1", "", is_error=True),)),)
    )
    (block,) = wire["content"]
    assert block["is_error"] is True  # type: ignore[index]
    assert block["content"]  # type: ignore[index]


async def test_key_and_base_url_from_environment(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.url)
    llm_server.enqueue_anthropic(anthropic_text("from env"))
    async with AnthropicModel("claude-test") as model:
        assert (await model.generate(PROMPT, TOOLS)).text == "from env"
    assert sent_key(llm_server.requests[0]) == KEY


def test_missing_key_is_a_config_error(clean_model_env: None) -> None:
    with pytest.raises(ModelConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude-test")


@pytest.mark.parametrize("bad", ["", " claude", "claude "])
def test_bad_model_id(bad: str) -> None:
    with pytest.raises(ValueError, match="model id"):
        AnthropicModel(bad, api_key=KEY)


def test_repr_has_no_key() -> None:
    model = AnthropicModel("claude-test", api_key=KEY, base_url="http://127.0.0.1:9")
    assert KEY not in repr(model)
