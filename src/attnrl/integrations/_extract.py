"""Finding the submission in what a model wrote: a completion's text, or its chat messages.

A text completion's submission is the last JSON object in it: in a fenced ```json block or
bare in the prose, or a ``submit_answer`` tool call written as text (the Hermes/Qwen
``<tool_call>`` form). A chat transcript with real ``submit_answer`` tool calls is an episode:
its first call that carries an answer is the submission, as in ``attnrl run`` and every
tool adapter (docs/episodes.md, rule 1).
"""

from __future__ import annotations

import json
import re
from typing import Any

from attnrl.harness.tools import (  # the harness's own rule, and its sentinel
    NO_SUBMISSION,
    answer_from_submit_arguments,
    nested_too_deep,
    parse_arguments,
)
from attnrl.task.tools import SUBMIT_TOOL

__all__ = [
    "NO_SUBMISSION",
    "completion_text",
    "extract_submission",
    "submission_from_messages",
    "unwrap_submission",
]


_FENCED_JSON = re.compile(r"```[ \t]*json[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)
_DECODER = json.JSONDecoder()
_OBJECT_START = re.compile(r'\{\s*["}]')
"""Where a JSON object can start: ``{`` then a key's quote or ``}`` (skips Python dicts,
set literals and brace floods without a decode attempt)."""
_ANSWER_MARKER = "final_output"
"""Every answer format has this key (see :meth:`TaskSpec.components`): a dict holding it is
the answer itself, never a wrapper around one."""


def _tool_call_parts(obj: dict[str, Any]) -> tuple[str, Any] | None:
    """(name, arguments) when ``obj`` looks like a tool call, in the Hermes/Qwen text form
    ``{"name", "arguments"}`` (or ``"parameters"``) or the OpenAI form ``{"function": {...}}``."""
    function = obj.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        obj = function
    name = obj.get("name")
    if not isinstance(name, str):
        return None
    for key in ("arguments", "parameters"):
        if key in obj:
            return name, obj[key]
    return None


def unwrap_submission(value: Any) -> Any:
    """The answer inside what a model emitted as text: a whole ``submit_answer`` tool call
    (its arguments, as a dict or JSON string), then ``{"answer": ...}`` (its value, as is: a
    string is parsed by the grader, as the harness does), else the value itself (the answer
    dict, or anything else for the grader to judge)."""
    if isinstance(value, dict):
        call = _tool_call_parts(value)
        if call is not None:
            value = call[1]
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except (ValueError, RecursionError):
                    return value
    if isinstance(value, dict) and "answer" in value and _ANSWER_MARKER not in value:
        return value["answer"]
    return value


def _is_other_tool_call(obj: Any) -> bool:
    """A tool call to a tool other than ``submit_answer`` (e.g. a python call): not an answer."""
    if not isinstance(obj, dict):
        return False
    call = _tool_call_parts(obj)
    return call is not None and call[0] != SUBMIT_TOOL


def _candidates(text: str) -> list[tuple[int, Any]]:
    """(position, value) of every top-level JSON object in ``text``, and of every fenced
    ```json block (its raw text when it does not parse), in order of position.

    Linear in the length of the text, even for degenerate ones: when a decode fails at
    position ``f``, the text it consumed is a valid JSON prefix, so the complete objects
    nested in it are read off by :func:`_closed_objects` and scanning resumes at ``f``
    (every other start before ``f`` would fail at ``f`` too) instead of retrying each brace;
    and each decode reads from its own start (:func:`_decode_at`), never the text before it.
    """
    found: list[tuple[int, Any]] = []
    fenced: list[tuple[int, int]] = []
    for match in _FENCED_JSON.finditer(text):
        body = match.group(1).strip()
        fenced.append((match.start(), match.end()))
        try:
            found.append((match.start(), json.loads(body)))
        except (ValueError, RecursionError):
            found.append((match.start(), body))
    pos, spans = 0, iter(fenced)
    span = next(spans, None)
    while (start := _OBJECT_START.search(text, pos)) is not None:
        pos = start.start()
        while span is not None and span[1] <= pos:
            span = next(spans, None)
        if span is not None and span[0] <= pos:
            pos = span[1]
            continue
        try:
            value, end = _decode_at(text, pos)
        except _DecodeFailed as failed:
            found.extend(_closed_objects(text, pos, failed.pos))
            pos = max(failed.pos, pos + 1)
            continue
        except RecursionError:  # nested ~1000 deep: no answer is; skip the whole run
            close = text.find("}", pos)
            pos = close if close != -1 else len(text)
            continue
        found.append((pos, value))
        pos = end
    found.sort(key=lambda item: item[0])
    return found


class _DecodeFailed(Exception):
    def __init__(self, pos: int) -> None:
        self.pos = pos


_WINDOW = 512
"""The first window a decode reads (:func:`_decode_at`); it grows 16-fold while too short."""
_LOOKAHEAD = 16
"""How far past the position it reports a failure at the JSON decoder may have read: a
``\\uXXXX\\uXXXX`` pair or ``-Infinity``, a literal or escape cut short by the window's end."""


def _decode_at(text: str, pos: int, window: int = _WINDOW) -> tuple[Any, int]:
    """``raw_decode(text, pos)``, at a cost linear in what the decode reads.

    A failed ``raw_decode`` builds a :class:`json.JSONDecodeError`, which counts the newlines
    from the start of the string to the failure: on the whole text, a flood of object starts
    that each fail at once (``{"}`` repeated) made that quadratic. So the decode reads a
    window that starts at ``pos``, 16 times longer each time it proves too short. An object
    that closes inside the window is the one the whole text holds; a failure is kept only
    where the whole text would fail alike: short of the window's end by more than the
    decoder looks ahead, and not an unterminated string (reported at its start). Raises
    :class:`_DecodeFailed` with the failure's position in ``text``."""
    while True:
        stop = min(len(text), pos + window)
        piece = text[pos:stop]
        try:
            value, end = _DECODER.raw_decode(piece)
        except json.JSONDecodeError as exc:
            cut_short = exc.pos + _LOOKAHEAD >= len(piece) or exc.msg.startswith("Unterminated")
            if stop == len(text) or not cut_short:
                raise _DecodeFailed(pos + exc.pos) from None
            window *= 16
            continue
        return value, pos + end


def _closed_objects(text: str, start: int, stop: int) -> list[tuple[int, Any]]:
    """The outermost objects that open and close within ``text[start:stop]``, a valid JSON
    prefix that opens an object at ``start`` and never closes it."""
    spans: list[tuple[int, int]] = []
    opened: list[int] = []
    in_string = escaped = False
    for i in range(start, stop):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            opened.append(i)
        elif ch == "}" and opened:
            begin = opened.pop()
            while spans and spans[-1][0] > begin:
                spans.pop()
            spans.append((begin, i + 1))
    out: list[tuple[int, Any]] = []
    for begin, end in spans:
        try:
            out.append((begin, json.loads(text[begin:end])))
        except (ValueError, RecursionError):  # pragma: no cover - a closed valid prefix
            continue
    return out


def extract_submission(text: str) -> Any:
    """The submission in a completion: the last JSON object in ``text``, unwrapped.

    Objects are found in fenced ```json blocks and bare in the text (robust to prose
    around them, nested braces and braces inside strings). A ```json block that does not
    parse counts as a submission of its raw text, so the grader reports it as invalid
    JSON rather than an earlier draft being graded. Tool calls to other tools are skipped.
    Returns :data:`NO_SUBMISSION` when there is nothing to grade.
    """
    for _, value in reversed(_candidates(text)):
        if not _is_other_tool_call(value):
            return unwrap_submission(value)
    return NO_SUBMISSION


def completion_text(completion: Any) -> str:
    """The text of a completion given as a string, or as chat messages (the last assistant
    message's content; content given as a list of parts is joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list | tuple):
        for message in reversed(completion):
            role = _field(message, "role")
            if role in (None, "assistant"):
                return _content_text(_field(message, "content"))
        return ""
    raise TypeError(
        f"a completion must be a string or a list of chat messages, got {type(completion).__name__}"
    )


def _field(message: Any, name: str) -> Any:
    return message.get(name) if isinstance(message, dict) else getattr(message, name, None)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            text = part if isinstance(part, str) else _field(part, "text")
            if isinstance(text, str):
                parts.append(text)
        return "\n".join(parts)
    return str(content)


def submission_from_messages(
    messages: Any, answer_keys: tuple[str, ...] = (), *, keyword_call: bool = False
) -> Any:
    """The answer of a chat completion.

    A transcript with tool calls is a tool episode: its answer is the first
    ``submit_answer`` call that is a submission by the harness's rule
    (:func:`~attnrl.harness.tools.answer_from_submit_arguments`; ``answer_keys`` are the
    task's), which closed the episode, so a later call, which the environment refused, never
    counts; :data:`NO_SUBMISSION` when none was (text the model wrote is never its answer).
    ``keyword_call``: the framework called the tool as ``submit_answer(**arguments)`` (TRL),
    so only arguments that are exactly ``{"answer": ...}`` reached the environment, and only
    the calls of a turn its tool results follow ran at all (TRL leaves the calls of the turn
    past ``max_tool_calling_iterations`` in the completion, never run). Without any tool
    call, the last JSON object of the last assistant message (a text answer)."""
    if not isinstance(messages, list | tuple):
        return extract_submission(completion_text(messages))
    episode = False
    for index, message in enumerate(messages):
        calls = _field(message, "tool_calls") or []
        if calls:
            episode = True
        if keyword_call and calls and not _answered(messages, index):
            continue  # the environment never ran this turn's calls
        for call in calls:
            parts = _tool_call_parts(call if isinstance(call, dict) else _as_dict(call))
            if parts is None or parts[0] != SUBMIT_TOOL:
                continue
            arguments = parse_arguments(parts[1])
            if arguments is None or nested_too_deep(arguments):
                continue  # not a submission: the model was told, the episode stayed open
            if keyword_call and (not isinstance(parts[1], dict) or set(arguments) != {"answer"}):
                continue  # f(**arguments) raised before the environment saw it
            answer = answer_from_submit_arguments(arguments, answer_keys)
            if answer is not NO_SUBMISSION:
                return answer
    return NO_SUBMISSION if episode else extract_submission(completion_text(messages))


def _answered(messages: list[Any] | tuple[Any, ...], index: int) -> bool:
    """Whether tool results follow the turn at ``index``: its calls ran."""
    return index + 1 < len(messages) and _field(messages[index + 1], "role") == "tool"


def _as_dict(obj: Any) -> dict[str, Any]:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        result = dump()
        if isinstance(result, dict):
            return result
    return {k: getattr(obj, k) for k in ("name", "arguments", "function") if hasattr(obj, k)}
