"""Reading a submission, the same way for every task: size limits, JSON text or an object,
and the errors a malformed one gets.

A policy can submit anything, so every task's grader starts here: :func:`parse_submission`
gives a dict within :data:`MAX_SUBMISSION_BYTES` or raises :class:`InvalidSubmission`, whose
message the grader turns into an ``invalid`` grade (reward 0). One measure for every path, so
an answer gets the same grade as an object or as its JSON text.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from attnrl.task.grade import Category

__all__ = [
    "MAX_SUBMISSION_BYTES",
    "MAX_SUBMISSION_TEXT",
    "InvalidSubmission",
    "canonical_size",
    "check_size",
    "json_error",
    "json_kind",
    "parse_submission",
]

MAX_SUBMISSION_BYTES = 1_000_000
"""The answer size limit, one for every path: the UTF-8 bytes of the answer's canonical JSON
encoding (``separators=(",", ":")``, non-ASCII as is). An answer over it is ``invalid``
(format), whether it came as an object or as JSON text, so the same answer gets the same
grade either way (see :func:`canonical_size`)."""
MAX_SUBMISSION_TEXT = 16 * MAX_SUBMISSION_BYTES
"""Work guard only: JSON text longer than this (characters or bytes) is not parsed at all.
An answer within the limit exceeds it only when padded 16-fold with whitespace."""


class InvalidSubmission(Exception):
    """The submission is malformed; carries the message, its category and (for a shape
    problem) the key and the shape found. Graders turn it into an ``invalid`` grade."""

    def __init__(
        self,
        message: str,
        category: Category = "format",
        key: str | None = None,
        found_shape: tuple[int, ...] | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.category: Category = category
        self.key = key
        self.found_shape = found_shape


def json_kind(value: Any) -> str:
    """What ``value`` is in JSON's words (messages never show Python type names)."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, int | float | np.number):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "not JSON data"


def json_error(exc: Exception) -> str:
    text = str(exc)
    if "integer string conversion" in text:  # CPython's int-size guard, in plain words
        return "a number has more digits than the limit (4,300)"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    return text[:200]


def _jsonable(value: Any) -> Any:
    """What an object the JSON encoder does not know counts as (numpy arrays and scalars,
    accepted from Python callers, as their lists/numbers; anything else as its text)."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else str(value)


def canonical_size(answer: Any) -> int:
    """The UTF-8 bytes of ``answer``'s canonical JSON encoding, the measure of
    :data:`MAX_SUBMISSION_BYTES`; RecursionError for a value nested too deeply to encode."""
    text = json.dumps(answer, separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    return len(text.encode("utf-8", "surrogatepass"))


def check_size(answer: dict[str, Any]) -> None:
    """:class:`InvalidSubmission` when ``answer`` is over :data:`MAX_SUBMISSION_BYTES`
    (measured with :func:`canonical_size`), or too deep to encode."""
    try:
        size = canonical_size(answer)
    except (RecursionError, ValueError) as exc:
        reason = json_error(exc)
        raise InvalidSubmission(f"submission cannot be encoded as JSON: {reason}") from None
    if size > MAX_SUBMISSION_BYTES:
        raise InvalidSubmission(
            f"submission is {size:,} bytes as canonical JSON; the limit is {MAX_SUBMISSION_BYTES:,}"
        )


BOM = "\ufeff"
"""A byte-order mark, which some editors write before UTF-8 text: not part of the answer."""


def parse_submission(raw: Any, *, sized: bool = True) -> dict[str, Any]:
    """A dict, or a JSON string (or bytes) of one, within the size limit (measured the same
    way for both: :func:`check_size`), else :class:`InvalidSubmission`. A leading byte-order
    mark is dropped, as ``attnrl verify`` drops it from a file. ``sized=False`` leaves the
    size to the caller (the grader skips the encoding when a bound settles it)."""
    if type(raw) is dict and not sized:  # the common case, checked first: nothing to parse
        return raw
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_SUBMISSION_TEXT:
            raise InvalidSubmission(
                f"submission is {len(raw):,} bytes of text, not parsed; an answer is at most "
                f"{MAX_SUBMISSION_BYTES:,} bytes as canonical JSON (the limit is "
                f"{MAX_SUBMISSION_BYTES:,})"
            )
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSubmission(
                f"submission is not UTF-8 text (invalid byte at offset {exc.start})"
            ) from None
    if isinstance(raw, str):
        if raw.startswith(BOM):  # as a file read as text says it: every path grades alike
            raw = raw[1:]
        if len(raw) > MAX_SUBMISSION_TEXT:
            raise InvalidSubmission(
                f"submission is {len(raw):,} characters of text, not parsed; an answer is at "
                f"most {MAX_SUBMISSION_BYTES:,} bytes as canonical JSON (the limit is "
                f"{MAX_SUBMISSION_BYTES:,})"
            )
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidSubmission(f"submission is not valid JSON: {json_error(exc)}") from None
    if not isinstance(raw, dict):
        raise InvalidSubmission(f"submission must be a JSON object, got {json_kind(raw)}")
    if sized:
        check_size(raw)
    return raw
