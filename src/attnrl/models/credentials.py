"""API keys and base URLs, checked where they are read and never shown.

A key goes into an HTTP header: whitespace (a pasted newline), a control character or a
non-ASCII character makes the HTTP library fail deep inside a request, with the key in the
exception text. :func:`check_api_key` refuses such a key up front, naming where it came from
and never echoing it.

A base URL must be ``http(s)://HOST[:PORT][/PATH]`` (:func:`check_base_url`); it may carry
credentials (``http://user:secret@host/v1``, ``...?api-key=secret``), so wherever it is shown
or stored it is :func:`redact_url`-ed: the user information and every query value become
:data:`REDACTED`.

No SDK is imported here (choosing a model and ``--help`` import none).
"""

from __future__ import annotations

import os
import urllib.parse

from attnrl.models.base import OPENAI_BASE_URL_ENV, ModelConfigError

__all__ = [
    "MIN_SECRET",
    "REDACTED",
    "check_api_key",
    "check_base_url",
    "read_api_key",
    "read_base_url",
    "redact_url",
    "resolve_api_key",
    "url_secrets",
]

MIN_SECRET = 4
"""The shortest URL part :func:`url_secrets` reports."""

REDACTED = "REDACTED"
"""What replaces a URL's user information and query values when it is shown or stored."""


def check_api_key(key: str, source: str) -> str:
    """``key`` if it can go into an HTTP header; else a :class:`ModelConfigError` naming
    ``source`` (``OPENAI_API_KEY``...) and what is wrong, never the key."""
    if any(c.isspace() for c in key):
        what = "whitespace (a trailing newline?)"
    elif not key.isascii():
        what = "a non-ASCII character"
    elif not key.isprintable():
        what = "a control character"
    else:
        return key
    raise ModelConfigError(
        f"{source} holds {what}, which cannot go into an HTTP header (the key is not shown); "
        f"set {source} again to the key alone"
    )


def read_api_key(env: str) -> str | None:
    """The key in the environment variable ``env`` (None when unset or empty), checked by
    :func:`check_api_key`."""
    key = os.environ.get(env)
    return check_api_key(key, env) if key else None


def resolve_api_key(explicit: str | None, env: str) -> str | None:
    """``explicit`` (a model's ``api_key`` argument) if given, else ``$env``; checked by
    :func:`check_api_key` either way."""
    return check_api_key(explicit, "api_key") if explicit is not None else read_api_key(env)


def check_base_url(url: str, source: str = "--base-url") -> str:
    """``url`` if it is ``http(s)://HOST[:PORT][/PATH]`` with a valid port; else a
    :class:`ModelConfigError` naming ``source`` and showing the URL redacted."""
    shown = redact_url(url)
    fix = f"give {source} as http(s)://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8000/v1"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when out of 0-65535 or not a number
    except ValueError:
        raise ModelConfigError(f"{source} {shown!r} has an invalid port; {fix}") from None
    if parts.scheme not in ("http", "https"):
        what = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ModelConfigError(f"{source} {shown!r} has {what}; {fix}")
    if not parts.hostname:
        raise ModelConfigError(f"{source} {shown!r} has no host; {fix}")
    if port == 0:
        raise ModelConfigError(f"{source} {shown!r} has port 0; {fix}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ModelConfigError(f"{source} {shown!r} holds whitespace or a control character")
    return url


def read_base_url(explicit: str | None, source: str = "--base-url") -> str | None:
    """The base URL in force: ``explicit`` (named ``source`` in errors) or
    ``$OPENAI_BASE_URL``, checked by :func:`check_base_url`; None when neither is set."""
    if explicit:
        return check_base_url(explicit, source)
    env = os.environ.get(OPENAI_BASE_URL_ENV)
    return check_base_url(env, OPENAI_BASE_URL_ENV) if env else None


def _split(url: str) -> urllib.parse.SplitResult | None:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError:
        return None


def redact_url(url: str) -> str:
    """``url`` with its user information and every query value replaced by
    :data:`REDACTED` (``http://REDACTED@host:1/v1?api-key=REDACTED``); anything else as is."""
    parts = _split(url)
    if parts is None:
        return url.split("@")[-1] if "@" in url else url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{urllib.parse.quote(k)}={REDACTED}" for k, _ in pairs) or REDACTED
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str | None) -> tuple[str, ...]:
    """What :func:`redact_url` hides in ``url`` (its user information, the password, or the
    user name when there is no password, and the query values; raw and decoded), to scrub from
    any text that might quote it. Values shorter than :data:`MIN_SECRET` are left out: no
    credential is that short, and scrubbing ``u`` would garble every message."""
    parts = _split(url) if url else None
    if parts is None:
        return ()
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, sep, password = userinfo.partition(":")
        found += [userinfo, password if sep else user]
    for raw in parts.query.split("&"):
        found.append(raw.partition("=")[2])
    for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        found.append(value)
    found += [urllib.parse.unquote(s) for s in found]
    return tuple(sorted({s for s in found if len(s) >= MIN_SECRET}, key=len, reverse=True))
