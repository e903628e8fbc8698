"""Model retirement, from the locked ``anthropic`` SDK's own deprecation table.

The SDK ships ``anthropic._data.DEPRECATED_MODELS`` (model id -> end-of-life date, e.g.
``"November 30th, 2026"``) and the list of model ids it knows (``anthropic.types.ModelParam``,
newest first). A run is checked before any API call: a model in the table is warned about with
its date; one whose date has come is refused, naming the newest non-deprecated model of its
family, unless a custom base URL is in use (that server decides what it still serves).
"""

from __future__ import annotations

import re
import typing
from datetime import UTC, date, datetime

from attnrl.models.base import ModelConfigError

__all__ = [
    "DEFAULT_MODEL",
    "deprecated_models",
    "end_of_life",
    "known_models",
    "replacement",
    "retirement_notice",
]

DEFAULT_MODEL = "anthropic/claude-sonnet-5-5"
"""The newest Sonnet id the locked anthropic SDK (2.14.0) lists and does not mark deprecated,
chosen on 2026-12-01 (the seed's ``claude-sonnet-4-5`` reached end of life on 2026-11-30);
``tests/models/test_deprecation.py`` fails when the SDK's table lists it."""

_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")


def deprecated_models() -> dict[str, str]:
    """The SDK's table: model id -> end-of-life date as the SDK writes it."""
    try:
        from anthropic._data import DEPRECATED_MODELS
    except ImportError:  # an SDK without the table: nothing is known to be retired
        return {}
    return dict(DEPRECATED_MODELS)


def known_models() -> list[str]:
    """The model ids the SDK lists, in its order (newest first)."""
    from anthropic.types import ModelParam

    for arg in typing.get_args(ModelParam):
        ids = typing.get_args(arg)
        if ids and all(isinstance(i, str) for i in ids):
            return list(ids)
    return []


def end_of_life(model_id: str) -> date | None:
    """When ``model_id`` reaches end of life per the SDK (None if it is not deprecated)."""
    text = deprecated_models().get(model_id)
    if text is None:
        return None
    return datetime.strptime(_ORDINAL.sub(r"\1", text), "%B %d, %Y").date()


def _family(model_id: str) -> str | None:
    match = re.match(r"claude-([a-z]+)", model_id)
    return match.group(1) if match else None


def replacement(model_id: str) -> str | None:
    """The newest model id of the same family (sonnet, opus, haiku...) that the SDK lists and
    does not mark deprecated."""
    family, retired = _family(model_id), deprecated_models()
    for candidate in known_models():
        if _family(candidate) == family and candidate not in retired:
            return candidate
    return None


def retirement_notice(
    model_id: str, *, custom_base_url: bool = False, today: date | None = None
) -> str | None:
    """A warning for a deprecated ``model_id`` (None if it is not); raises
    :class:`ModelConfigError` once its end-of-life date has come, unless ``custom_base_url``
    (a gateway or local server may still serve it: then a warning)."""
    eol = end_of_life(model_id)
    if eol is None:
        return None
    today = today or datetime.now(UTC).date()
    new = replacement(model_id)
    use = f"; use --model anthropic/{new}" if new else ""
    if today >= eol:
        text = f"anthropic/{model_id} reached end of life on {eol.isoformat()} (anthropic SDK)"
        if not custom_base_url:
            raise ModelConfigError(text + use)
        alternative = f" (or use --model anthropic/{new})" if new else ""
        return text + f"; trying it anyway at the custom base URL{alternative}"
    return f"anthropic/{model_id} is deprecated: end of life on {eol.isoformat()}{use}"
