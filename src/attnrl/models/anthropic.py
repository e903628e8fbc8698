"""Claude through the official ``anthropic`` SDK (``AsyncAnthropic``, non-streaming
``messages.create``)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from anthropic import AsyncAnthropic, omit
from anthropic.types import (
    ContentBlockParam,
    MessageParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from attnrl.models.base import (
    ANTHROPIC_API_KEY_ENV,
    Message,
    ModelConfigError,
    ModelTurn,
    StopReason,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from attnrl.models.credentials import check_base_url, resolve_api_key
from attnrl.models.retry import RetryPolicy, SleepFn
from attnrl.models.sdk_model import SDKModel

__all__ = [
    "ANTHROPIC_API_KEY_ENV",
    "AnthropicModel",
    "mark_cache_breakpoint",
    "to_anthropic_messages",
    "to_anthropic_tools",
    "turn_from_anthropic",
]

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
}


class AnthropicModel(SDKModel):
    """An Anthropic model, e.g. ``AnthropicModel("claude-sonnet-5-5")``.

    The key comes from ``api_key`` or ``$ANTHROPIC_API_KEY``; the base URL from ``base_url``
    or ``$ANTHROPIC_BASE_URL`` (read by the SDK). ``temperature`` is sent only when set (the
    SDK has no keyword for it any more, so it goes in the request body directly).
    ``cache_prompt`` (default on) marks the last block of each request with ``cache_control``
    so the next turn reads the repeated prefix (tools, prompt, earlier turns) from the prompt
    cache (:func:`mark_cache_breakpoint`). Retries are
    ours (:mod:`attnrl.models.retry`); ``sleep`` and ``rng`` are injectable for tests.
    """

    key_env = ANTHROPIC_API_KEY_ENV
    provider = "anthropic"

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
        cache_prompt: bool = True,
        sleep: SleepFn | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._cache_prompt = cache_prompt
        self._configure(
            model,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            temperature=temperature,
            retry=retry,
            sleep=sleep,
            rng=rng,
        )
        key = resolve_api_key(api_key, ANTHROPIC_API_KEY_ENV)
        if base_url:
            check_base_url(base_url, "base_url")
        if not key:
            raise ModelConfigError(
                f"anthropic/{model}: no API key: set {ANTHROPIC_API_KEY_ENV} "
                "(or run offline with the simulated agents)"
            )
        self._api_key = key
        # max_retries=0 on purpose: retries happen in exactly one place, call_with_retries,
        # with our policy and logging; SDK retries would multiply the attempts.
        self._client = AsyncAnthropic(
            api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def __repr__(self) -> str:
        return f"AnthropicModel({self._model!r})"

    async def generate(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        wire_messages = to_anthropic_messages(messages)
        if self._cache_prompt:
            mark_cache_breakpoint(wire_messages)
        wire_tools = to_anthropic_tools(tools)
        extra_body = {"temperature": self._temperature} if self._temperature is not None else None
        return await self._turn(
            lambda: self._client.messages.create(
                model=self._model,
                max_tokens=self._max_tokens,
                messages=wire_messages,
                tools=wire_tools if wire_tools else omit,
                extra_body=extra_body,
            ),
            turn_from_anthropic,
        )


# ---------------------------------------------------------------------------------------------
# Conversion


def mark_cache_breakpoint(messages: list[MessageParam]) -> None:
    """Put an ephemeral ``cache_control`` breakpoint on the last block of the last message.

    The cache key is the whole prefix up to the breakpoint in the order tools, system,
    messages; the next turn's breakpoint sits two blocks later and the API looks back for
    the longest cached prefix, so each turn reads everything before its new blocks from the
    cache (billed at the cache-read rate) and writes only those (one breakpoint of the four
    allowed). Prefixes under the model's minimum cacheable length are simply not cached.
    """
    if not messages:
        return
    content = messages[-1]["content"]
    if isinstance(content, str):
        return
    blocks: list[Any] = list(content)
    if not blocks:
        return
    blocks[-1] = dict(blocks[-1]) | {"cache_control": {"type": "ephemeral"}}
    messages[-1]["content"] = blocks


def to_anthropic_tools(tools: Sequence[ToolSpec]) -> list[ToolParam]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]


def _tool_use_input(call: ToolCall) -> dict[str, object]:
    # The API only takes an object; arguments that were not one go back as {} (the loop has
    # already told the model, in the tool result, what was wrong with them).
    return dict(call.arguments) if call.arguments is not None else {}


def _tool_result_block(result: ToolResult) -> ToolResultBlockParam:
    block: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": result.call_id,
        "is_error": result.is_error,
    }
    if result.content:
        block["content"] = result.content
    elif result.is_error:  # the API rejects an error result without content
        block["content"] = "(error without a message)"
    return block


def to_anthropic_messages(messages: Sequence[Message]) -> list[MessageParam]:
    """Our transcript as Messages API ``messages``.

    ``user`` text becomes a text block; ``assistant`` becomes its text block (if any) and
    one ``tool_use`` block per call; a ``tool`` message becomes one user message of
    ``tool_result`` blocks. Blank text is dropped (the API rejects blank text blocks), a
    message left with no content is skipped, and consecutive messages of the same role are
    merged, so the result always alternates.
    """
    turns: list[tuple[str, list[ContentBlockParam]]] = []
    for message in messages:
        blocks: list[ContentBlockParam] = []
        if message.role == "tool":
            role = "user"
            blocks.extend(_tool_result_block(r) for r in message.tool_results)
            if message.text.strip():
                blocks.append(_text_block(message.text))
        elif message.role == "assistant":
            role = "assistant"
            if message.text.strip():
                blocks.append(_text_block(message.text))
            for call in message.tool_calls:
                tool_use: ToolUseBlockParam = {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": _tool_use_input(call),
                }
                blocks.append(tool_use)
        else:
            role = "user"
            if message.text.strip():
                blocks.append(_text_block(message.text))
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    out: list[MessageParam] = []
    for role, blocks in turns:
        if role == "user":
            out.append({"role": "user", "content": blocks})
        else:
            out.append({"role": "assistant", "content": blocks})
    return out


def _text_block(text: str) -> TextBlockParam:
    return {"type": "text", "text": text}


def turn_from_anthropic(response: Any) -> ModelTurn:
    """A ``messages.create`` result as a :class:`ModelTurn`.

    Text blocks are concatenated; ``tool_use`` blocks become calls (an ``input`` that is not
    an object gives ``arguments=None`` and its JSON in ``raw_arguments``); other block types
    (thinking, server tools) are ignored. The response is read leniently because the SDK
    does not validate it; a response without a ``content`` list raises ValueError.
    """
    content = getattr(response, "content", None)
    if not isinstance(content, list):
        raise ValueError(f"'content' is not a list but {type(content).__name__}")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "text":
            text = getattr(block, "text", None)
            if isinstance(text, str):
                texts.append(text)
        elif kind == "tool_use":
            raw_input = getattr(block, "input", None)
            if isinstance(raw_input, dict):
                calls.append(ToolCall(id=str(block.id), name=str(block.name), arguments=raw_input))
            else:
                calls.append(
                    ToolCall(
                        id=str(block.id),
                        name=str(block.name),
                        arguments=None,
                        raw_arguments=json.dumps(raw_input),
                    )
                )
    stop_reason = _STOP_REASONS.get(str(response.stop_reason), "other")
    return ModelTurn(
        text="".join(texts),
        tool_calls=tuple(calls),
        stop_reason=stop_reason,
        usage=_usage(response),
        finish_reason=None if response.stop_reason is None else str(response.stop_reason),
    )


def _usage(response: Any) -> Usage:
    """Usage as Anthropic bills it: base input, cache writes and cache reads apart
    (``input_tokens`` excludes both). The API sends the cache fields only when caching is
    in play, so a missing one is 0."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()

    def tokens(field: str) -> int:
        value = getattr(usage, field, None)
        return value if isinstance(value, int) else 0

    return Usage(
        input_tokens=tokens("input_tokens"),
        output_tokens=tokens("output_tokens"),
        cache_creation_input_tokens=tokens("cache_creation_input_tokens"),
        cache_read_input_tokens=tokens("cache_read_input_tokens"),
    )
