"""OpenAIModel against the fake server through the real ``openai`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from attnrl.models.base import (
    Message,
    ModelConfigError,
    ModelUnavailable,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from attnrl.models.openai import OpenAIModel, to_openai_messages
from attnrl.models.retry import RetryPolicy
from fakes.llm_server import (
    FakeLLMServer,
    FakeResponse,
    RecordingSleep,
    openai_completion,
    openai_text,
    openai_tool_call,
    openai_tool_use,
)

KEY = "sk-test-SECRET456"

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


@pytest.fixture
async def model(
    llm_server: FakeLLMServer, recorded_sleep: RecordingSleep
) -> AsyncIterator[OpenAIModel]:
    m = OpenAIModel(
        "qwen-test",
        api_key=KEY,
        base_url=llm_server.openai_base_url,
        retry=RetryPolicy(max_attempts=3, initial_delay_s=1.0, max_delay_s=8.0, jitter=0.0),
        sleep=recorded_sleep,
    )
    yield m
    await m.aclose()


async def test_text_turn(model: OpenAIModel, llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_openai(
        openai_text("Hello there.", usage={"prompt_tokens": 30, "completion_tokens": 3})
    )

    turn = await model.generate(PROMPT, TOOLS)

    assert model.name == "openai/qwen-test"
    assert turn.text == "Hello there."
    assert turn.tool_calls == ()
    assert turn.stop_reason == "end_turn"
    assert turn.usage == Usage(input_tokens=30, output_tokens=3, cache_read_input_tokens=None)

    (request,) = llm_server.requests_to("openai")
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "qwen-test"
    # A custom base URL means a local server: the classic field.
    assert request.body["max_tokens"] == 4096
    assert "max_completion_tokens" not in request.body
    assert "temperature" not in request.body
    assert request.body["messages"] == [{"role": "user", "content": "Implement attention."}]
    assert request.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "python_expression",
                "description": "Evaluate a Python expression.",
                "parameters": TOOLS[0].parameters,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "submit_answer",
                "description": "Submit the final answer.",
                "parameters": TOOLS[1].parameters,
            },
        },
    ]


async def test_options_are_sent(llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_openai(openai_text("ok"))
    async with OpenAIModel(
        "gpt-test",
        api_key=KEY,
        base_url=llm_server.openai_base_url,
        max_tokens=77,
        temperature=0.0,
        max_tokens_field="max_completion_tokens",
    ) as model:
        await model.generate(PROMPT, ())
    body = llm_server.requests[0].body
    assert body["max_completion_tokens"] == 77
    assert "max_tokens" not in body
    assert body["temperature"] == 0.0
    assert "tools" not in body


async def test_tool_call_turn(model: OpenAIModel, llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_openai(
        openai_tool_use("python_expression", {"expression": "1 + 1"}, id="call_1")
    )

    turn = await model.generate(PROMPT, TOOLS)

    assert turn.text == ""
    assert turn.stop_reason == "tool_use"
    assert turn.tool_calls == (
        ToolCall(id="call_1", name="python_expression", arguments={"expression": "1 + 1"}),
    )


async def test_round_trip_sends_one_tool_message_per_result(
    model: OpenAIModel, llm_server: FakeLLMServer
) -> None:
    llm_server.enqueue_openai(
        openai_completion(
            "Two things.",
            [
                openai_tool_call("python_expression", {"expression": "2**10"}, id="call_a"),
                openai_tool_call("python_expression", {"expression": "1/0"}, id="call_b"),
            ],
        ),
        openai_text("All done."),
    )
    first = await model.generate(PROMPT, TOOLS)
    transcript = (
        *PROMPT,
        first.as_message(),
        Message(
            role="tool",
            tool_results=(
                ToolResult(call_id="call_a", content="1024"),
                ToolResult(call_id="call_b", content="ZeroDivisionError", is_error=True),
            ),
        ),
    )
    second = await model.generate(transcript, TOOLS)
    assert second.text == "All done."

    sent = llm_server.requests_to("openai")[1].body["messages"]
    assert sent == [
        {"role": "user", "content": "Implement attention."},
        {
            "role": "assistant",
            "content": "Two things.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {
                        "name": "python_expression",
                        "arguments": '{"expression": "2**10"}',
                    },
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "python_expression", "arguments": '{"expression": "1/0"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "1024"},
        {"role": "tool", "tool_call_id": "call_b", "content": "ERROR: ZeroDivisionError"},
    ]


@pytest.mark.parametrize(
    "raw", ['{"expression": "1+', "[1, 2]", '"just a string"', "null", "", "42"]
)
async def test_arguments_that_are_not_a_json_object(
    model: OpenAIModel, llm_server: FakeLLMServer, raw: str
) -> None:
    llm_server.enqueue_openai(openai_tool_use("python_expression", raw, id="call_x"))

    turn = await model.generate(PROMPT, TOOLS)

    assert turn.tool_calls == (
        ToolCall(id="call_x", name="python_expression", arguments=None, raw_arguments=raw),
    )
    # Round trip: the model's own string goes back verbatim.
    (wire,) = to_openai_messages((turn.as_message(),))
    assert wire["tool_calls"][0]["function"]["arguments"] == raw  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("finish", "has_calls", "ours"),
    [
        ("stop", False, "end_turn"),
        ("tool_calls", True, "tool_use"),
        ("length", False, "max_tokens"),
        ("content_filter", False, "other"),
        ("function_call", False, "other"),
        ("stop", True, "tool_use"),  # some servers say "stop" with tool calls
        ("length", True, "max_tokens"),
    ],
)
async def test_finish_reason_mapping(
    model: OpenAIModel, llm_server: FakeLLMServer, finish: str, has_calls: bool, ours: str
) -> None:
    calls = [openai_tool_call("submit_answer", {"answer": "x"})] if has_calls else []
    llm_server.enqueue_openai(openai_completion("t", calls, finish_reason=finish))
    assert (await model.generate(PROMPT, TOOLS)).stop_reason == ours


async def test_missing_usage_and_null_content(
    model: OpenAIModel, llm_server: FakeLLMServer
) -> None:
    llm_server.enqueue_openai(openai_completion(None, with_usage=False))
    turn = await model.generate(PROMPT, TOOLS)
    assert (turn.text, turn.tool_calls, turn.usage) == ("", (), Usage(cache_read_input_tokens=None))


async def test_no_choices_is_unavailable(model: OpenAIModel, llm_server: FakeLLMServer) -> None:
    response = openai_text("x")
    response.body["choices"] = []
    llm_server.enqueue_openai(response, FakeResponse(body={"nothing": "useful"}))
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="no choices"):
            await model.generate(PROMPT, TOOLS)
    assert len(llm_server.requests) == 2  # not retried


def test_conversion_of_text_only_and_empty_assistant_turns() -> None:
    assert to_openai_messages(
        (
            Message(role="user", text="prompt"),
            Message(role="assistant", text=""),
            Message(role="user", text="Please call a tool."),
            Message(
                role="assistant",
                tool_calls=(ToolCall(id="c1", name="submit_answer", arguments={"answer": "x"}),),
            ),
        )
    ) == [
        {"role": "user", "content": "prompt"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Please call a tool."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "submit_answer", "arguments": '{"answer": "x"}'},
                }
            ],
        },
    ]


async def test_base_url_without_key_uses_placeholder(llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_openai(openai_text("local"))
    async with OpenAIModel("llama", base_url=llm_server.openai_base_url) as model:
        assert (await model.generate(PROMPT, TOOLS)).text == "local"
    assert llm_server.requests[0].headers["authorization"] == "Bearer EMPTY"


async def test_key_and_base_url_from_environment(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_base_url)
    llm_server.enqueue_openai(openai_text("from env"))
    async with OpenAIModel("gpt-test") as model:
        assert (await model.generate(PROMPT, TOOLS)).text == "from env"
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_official_endpoint_uses_max_completion_tokens(clean_model_env: None) -> None:
    async with OpenAIModel("gpt-test", api_key=KEY) as model:
        assert model.base_url.startswith("https://api.openai.com")
        assert model._max_tokens_field == "max_completion_tokens"


def test_missing_key_without_base_url_is_a_config_error(clean_model_env: None) -> None:
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        OpenAIModel("gpt-test")


@pytest.mark.parametrize("bad", ["", " gpt", "gpt\n"])
def test_bad_model_id(bad: str) -> None:
    with pytest.raises(ValueError, match="model id"):
        OpenAIModel(bad, api_key=KEY)
