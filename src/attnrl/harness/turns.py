"""What each assistant turn is recorded with, and the two per-run signals read off them.

Real local models showed what a transcript of role, text and tool calls hides: a 91 s turn,
a turn cut at the output limit, an empty turn (HTTP 200, ``finish_reason: tool_calls``, no
call, 0 tokens out, from a full context) that read as "ended its turn without calling
submit_answer", and loops where a model repeats its previous call exactly. So each turn
gets :class:`~attnrl.models.base.TurnStats`, empty and truncated turns get a cause, and a
run counts its repeated calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from attnrl.models.base import Message, ModelTurn, ToolCall, TurnIssue, TurnStats

__all__ = ["classify_turn", "count_repeats", "turn_stats"]


def classify_turn(turn: ModelTurn) -> tuple[TurnIssue | None, str | None]:
    """``(issue, cause)`` of a turn: ``truncated`` when cut at the output limit, ``empty``
    when it holds neither text nor a tool call; ``(None, None)`` otherwise."""
    if turn.stop_reason == "max_tokens":
        what = "with tool calls" if turn.tool_calls else "before any tool call"
        return "truncated", f"cut at the output limit (max tokens) {what}"
    if turn.tool_calls or turn.text.strip():
        return None, None
    if turn.stop_reason == "tool_use" and turn.usage.prompt_tokens == turn.usage.output_tokens == 0:
        return "empty", (
            "the server announced tool calls but returned none and counted no token, in or "
            "out: a full context that left its tool-calling format no room to name a tool"
        )
    if turn.usage.output_tokens == 0:
        return "empty", (
            "the server generated no token (0 out): a full context that leaves no room to "
            "write, or a chat format that ends the turn at once"
        )
    if turn.stop_reason == "tool_use":
        return "empty", (
            "the server announced tool calls but returned none it could parse (a chat format "
            "without tool calling, or malformed call syntax)"
        )
    return "empty", "the model wrote only whitespace or stopped at once"


def turn_stats(turn: ModelTurn) -> TurnStats:
    """The record of one turn (no latency when the model did not time it)."""
    issue, cause = classify_turn(turn)
    return TurnStats(
        latency_s=None if turn.latency_s is None else round(turn.latency_s, 4),
        input_tokens=turn.usage.prompt_tokens,
        output_tokens=turn.usage.output_tokens,
        finish_reason=turn.finish_reason,
        retries=turn.retries,
        issue=issue,
        cause=cause,
    )


def _call_key(call: ToolCall) -> tuple[str, str]:
    arguments = (
        json.dumps(call.arguments, sort_keys=True)
        if call.arguments is not None
        else str(call.raw_arguments)
    )
    return call.name, arguments


def count_repeats(transcript: Sequence[Message]) -> int:
    """Assistant turns whose tool calls repeat the previous assistant turn's exactly (same
    tools, same arguments, same order): a model stuck in a loop shows here."""
    repeats = 0
    previous: list[tuple[str, str]] | None = None
    for message in transcript:
        if message.role != "assistant":
            continue
        calls = [_call_key(c) for c in message.tool_calls]
        if calls and calls == previous:
            repeats += 1
        previous = calls
    return repeats


def last_turn_cause(transcript: Sequence[Message]) -> str | None:
    """Why the last assistant turn was empty or truncated, as a clause; None when it was an
    ordinary turn (or was not recorded)."""
    for message in reversed(transcript):
        if message.role == "assistant":
            stats = message.turn
            if stats is None or stats.issue is None:
                return None
            return f"its last turn was {stats.issue}: {stats.cause}"
    return None


def turn_issue_counts(transcript: Sequence[Message]) -> dict[str, int]:
    """How many turns of a run were empty and how many truncated (the record's
    ``turn_issues``)."""
    counts = {"empty": 0, "truncated": 0}
    for message in transcript:
        if message.turn is not None and message.turn.issue is not None:
            counts[message.turn.issue] += 1
    return counts
