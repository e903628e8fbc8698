"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, ...) through the official
``openai`` SDK (``AsyncOpenAI``, Chat Completions with tools)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, Literal

from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)

from attnrl.models.base import (
    OPENAI_API_KEY_ENV,
    OPENAI_BASE_URL_ENV,
    Message,
    ModelConfigError,
    ModelTurn,
    StopReason,
    ToolCall,
    ToolSpec,
    Usage,
)
from attnrl.models.credentials import (
    read_base_url,
    redact_url,
    resolve_api_key,
    url_secrets,
)
from attnrl.models.retry import RetryPolicy, SleepFn
from attnrl.models.sdk_model import SDKModel

__all__ = [
    "LOCAL_SERVER_API_KEY",
    "OPENAI_API_KEY_ENV",
    "OPENAI_BASE_URL_ENV",
    "OpenAIModel",
    "chat_request",
    "to_openai_messages",
    "to_openai_tools",
    "turn_from_openai",
]

LOCAL_SERVER_API_KEY = "EMPTY"
"""Sent when a base URL is set but no key: local servers ignore it, the SDK requires one."""

ERROR_PREFIX = "ERROR: "
"""Prefix of a failed tool result's content (Chat Completions has no error flag)."""

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
}

MaxTokensField = Literal["max_tokens", "max_completion_tokens"]


class OpenAIModel(SDKModel):
    """A Chat Completions model, e.g. ``OpenAIModel("gpt-4.1")`` or
    ``OpenAIModel("Qwen/Qwen3-8B", base_url="http://localhost:8000/v1")``.

    ``base_url`` defaults to ``$OPENAI_BASE_URL`` (else OpenAI itself); the key to ``api_key``
    or ``$OPENAI_API_KEY``, or :data:`LOCAL_SERVER_API_KEY` when a base URL is set without
    one. The output limit goes out as ``max_completion_tokens`` to OpenAI itself (its
    reasoning models refuse ``max_tokens``) and as ``max_tokens`` to other servers (which all
    know that one); ``max_tokens_field`` overrides the choice. ``temperature`` is sent only
    when set. Retries are ours (:mod:`attnrl.models.retry`).
    """

    key_env = OPENAI_API_KEY_ENV
    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 4096,
        temperature: float | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        max_tokens_field: MaxTokensField | None = None,
        sleep: SleepFn | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._configure(
            model,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            temperature=temperature,
            retry=retry,
            sleep=sleep,
            rng=rng,
        )
        url = read_base_url(base_url, "base_url")
        key = resolve_api_key(api_key, OPENAI_API_KEY_ENV)
        if not key:
            if url is None:
                raise ModelConfigError(
                    f"openai/{model}: no API key: set {OPENAI_API_KEY_ENV}, or pass a base URL "
                    f"(or set {OPENAI_BASE_URL_ENV}) for a local OpenAI-compatible server"
                )
            key = LOCAL_SERVER_API_KEY
        self._api_key = key
        self._base_url = url
        self._url_secrets = url_secrets(url)
        self._max_tokens_field: MaxTokensField = max_tokens_field or (
            "max_completion_tokens" if url is None else "max_tokens"
        )
        # max_retries=0 on purpose: retries happen in exactly one place, call_with_retries,
        # with our policy and logging; SDK retries would multiply the attempts.
        self._client = AsyncOpenAI(api_key=key, base_url=url, timeout=timeout_s, max_retries=0)

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def __repr__(self) -> str:
        return f"OpenAIModel({self._model!r}, base_url={redact_url(self.base_url)!r})"

    async def generate(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        request = chat_request(
            self._model,
            messages,
            tools,
            max_tokens=self._max_tokens,
            max_tokens_field=self._max_tokens_field,
            temperature=self._temperature,
        )
        return await self._turn(
            lambda: self._client.chat.completions.create(**request), turn_from_openai
        )


def chat_request(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    max_tokens: int,
    max_tokens_field: MaxTokensField = "max_tokens",
    temperature: float | None = None,
) -> dict[str, Any]:
    """The chat-completions request attnrl sends, as the SDK's keyword arguments (also the JSON
    body): what :class:`OpenAIModel` sends and what the up-front context check counts."""
    request: dict[str, Any] = {"model": model, "messages": to_openai_messages(messages)}
    wire_tools = to_openai_tools(tools)
    if wire_tools:
        # OpenAI's default when tools are sent, said explicitly: llama-cpp-python's
        # function-calling formats drop the tools without it (0.3.36)
        request |= {"tools": wire_tools, "tool_choice": "auto"}
    request[max_tokens_field] = max_tokens
    if temperature is not None:
        request["temperature"] = temperature
    return request


# ---------------------------------------------------------------------------------------------
# Conversion


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[ChatCompletionFunctionToolParam]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def _wire_arguments(call: ToolCall) -> str:
    if call.arguments is not None:
        return json.dumps(call.arguments)
    # Send back exactly what the model produced: it is a string on this wire anyway.
    return call.raw_arguments if call.raw_arguments is not None else "{}"


def to_openai_messages(messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    """Our transcript as Chat Completions ``messages``.

    A ``tool`` message becomes one ``role: "tool"`` message per result, in order, with its
    ``tool_call_id``; failed results are prefixed with :data:`ERROR_PREFIX`.
    """
    out: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message.role == "user":
            out.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            # content is always a string, "" when the turn had none: llama-cpp-python 0.3.36
            # rejects null (its request schema) and a missing content (its templates read it)
            assistant: ChatCompletionAssistantMessageParam = {
                "role": "assistant",
                "content": message.text,
            }
            if message.tool_calls:
                calls: list[ChatCompletionMessageFunctionToolCallParam] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": _wire_arguments(c)},
                    }
                    for c in message.tool_calls
                ]
                assistant["tool_calls"] = calls
            out.append(assistant)
        else:
            for result in message.tool_results:
                content = ERROR_PREFIX + result.content if result.is_error else result.content
                out.append({"role": "tool", "tool_call_id": result.call_id, "content": content})
            if message.text:
                out.append({"role": "user", "content": message.text})
    return out


def _parse_arguments(raw: object) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(raw, str):
        return None, json.dumps(raw)
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None, raw
    if isinstance(parsed, dict):
        return parsed, None
    return None, raw


def turn_from_openai(response: Any) -> ModelTurn:
    """A ``chat.completions.create`` result as a :class:`ModelTurn` (first choice).

    ``function.arguments`` is a JSON string: a JSON object becomes ``arguments``; anything
    else gives ``arguments=None`` and the string in ``raw_arguments``. Some servers report
    ``finish_reason: "stop"`` for a turn that has tool calls; that is reported as
    ``tool_use``. Raises :class:`ValueError` for a response without choices.
    """
    choices = response.choices
    if not choices:
        raise ValueError("the response has no choices")
    choice = choices[0]
    message = choice.message
    calls: list[ToolCall] = []
    for tool_call in message.tool_calls or ():
        function = getattr(tool_call, "function", None)
        if function is not None:
            arguments, raw = _parse_arguments(getattr(function, "arguments", None))
            name = function.name
        else:  # a "custom" (free-text) tool call: no JSON arguments at all
            custom = tool_call.custom
            arguments, raw = None, str(custom.input)
            name = custom.name
        calls.append(
            ToolCall(id=str(tool_call.id), name=str(name), arguments=arguments, raw_arguments=raw)
        )
    text = message.content if isinstance(message.content, str) else ""
    refusal = getattr(message, "refusal", None)
    if not text and isinstance(refusal, str):
        text = refusal
    stop_reason = _FINISH_REASONS.get(str(choice.finish_reason), "other")
    if calls and stop_reason == "end_turn":
        stop_reason = "tool_use"
    finish = choice.finish_reason
    return ModelTurn(
        text=text,
        tool_calls=tuple(calls),
        stop_reason=stop_reason,
        usage=_usage(response),
        finish_reason=None if finish is None else str(finish),
    )


def _usage(response: Any) -> Usage:
    """Usage as OpenAI bills it: ``prompt_tokens`` includes ``prompt_tokens_details.
    cached_tokens`` (billed at the cached rate), which is kept apart; a server that does not
    report it leaves it unknown (None) and every prompt token at the base rate. The server
    caches on its own: there is no cache write to bill."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage(cache_read_input_tokens=None)
    prompt = getattr(usage, "prompt_tokens", None) or 0
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if not isinstance(cached, int) or not 0 <= cached <= prompt:
        cached = None
    return Usage(
        input_tokens=prompt - (cached or 0),
        output_tokens=getattr(usage, "completion_tokens", None) or 0,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=cached,
    )
