"""make_model / api_key_available."""

from __future__ import annotations

import pytest

from attnrl.models.anthropic import AnthropicModel
from attnrl.models.base import Message, ModelConfigError
from attnrl.models.openai import OpenAIModel
from attnrl.models.registry import api_key_available, make_model, split_model_name
from attnrl.models.retry import RetryPolicy
from fakes.llm_server import FakeLLMServer, anthropic_text, openai_text

PROMPT = (Message(role="user", text="hi"),)


async def test_makes_anthropic_model(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-SECRET123")
    llm_server.enqueue_anthropic(anthropic_text("ok"))
    model = make_model(
        "anthropic/claude-sonnet-4-6",
        base_url=llm_server.url,
        max_tokens=99,
        temperature=0.5,
        retry=RetryPolicy(max_attempts=1),
        timeout_s=5.0,
    )
    assert isinstance(model, AnthropicModel)
    assert model.name == "anthropic/claude-sonnet-4-6"
    assert (await model.generate(PROMPT, ())).text == "ok"
    await model.aclose()
    body = llm_server.requests[0].body
    assert (body["model"], body["max_tokens"], body["temperature"]) == (
        "claude-sonnet-4-6",
        99,
        0.5,
    )


async def test_makes_openai_model_for_a_local_server(llm_server: FakeLLMServer) -> None:
    llm_server.enqueue_openai(openai_text("ok"))
    model = make_model("openai/Qwen/Qwen3-8B", base_url=llm_server.openai_base_url)
    assert isinstance(model, OpenAIModel)
    assert model.name == "openai/Qwen/Qwen3-8B"
    assert (await model.generate(PROMPT, ())).text == "ok"
    await model.aclose()
    assert llm_server.requests[0].body["model"] == "Qwen/Qwen3-8B"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("claude-sonnet-4-6", "no provider prefix"),
        ("gemini/pro", "unknown provider"),
        ("anthropic/", "empty model id"),
        ("openai/   ", "empty model id"),
        ("", "no provider prefix"),
        ("/x", "unknown provider"),
    ],
)
def test_bad_names(name: str, reason: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        make_model(name)
    message = str(excinfo.value)
    assert repr(name) in message
    assert reason in message
    assert "anthropic/<model>" in message
    assert "openai/<model>" in message
    with pytest.raises(ValueError):
        api_key_available(name)


def test_split_model_name() -> None:
    assert split_model_name("openai/meta-llama/Llama-3.1-8B") == (
        "openai",
        "meta-llama/Llama-3.1-8B",
    )


def test_missing_key_is_a_config_error(clean_model_env: None) -> None:
    with pytest.raises(ModelConfigError, match="ANTHROPIC_API_KEY"):
        make_model("anthropic/claude-sonnet-4-6")
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        make_model("openai/gpt-4.1")


def test_api_key_available(clean_model_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not api_key_available("anthropic/claude-sonnet-4-6")
    assert not api_key_available("openai/gpt-4.1")
    assert api_key_available("openai/llama", base_url="http://127.0.0.1:8000/v1")

    monkeypatch.setenv("ANTHROPIC_API_KEY", "")
    assert not api_key_available("anthropic/claude-sonnet-4-6")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    assert api_key_available("anthropic/claude-sonnet-4-6")

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert api_key_available("openai/llama")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert api_key_available("openai/gpt-4.1")
