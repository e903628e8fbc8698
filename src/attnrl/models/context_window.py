"""The up-front context check of a self-hosted OpenAI-compatible server.

A request larger than the server's context is refused and the run is recorded as
``context_overflow`` (counted). Where the server says how long its context is, the batch says
so before its first request: how many runs' first requests will not fit, counted by the
server's own tokenizer where it has an endpoint for it (else a labelled estimate).

What servers report, read off their sources:

* llama.cpp's ``llama-server``: ``GET /props`` -> ``default_generation_settings.n_ctx``, a
  slot's runtime context (``/v1/models`` ``meta.n_ctx_train`` is the training context, not a
  limit); ``POST /v1/chat/completions/input_tokens`` counts a chat request as the server
  would template it, tools included. The prompt alone must fit (``n_tokens >= n_ctx`` is
  refused); ``max_tokens`` is not counted against it.
* vLLM: ``GET /v1/models`` -> ``data[].max_model_len``; ``POST /tokenize`` with the messages
  and tools -> ``count``. The prompt plus ``max_tokens`` must fit.
* Servers listing ``data[].context_length`` (OpenRouter's shape): the prompt is estimated.
* llama-cpp-python 0.3.36 (``/v1/models`` has only the id, no ``/props``): not checked.

Probing is cheap and never fatal: one short try per endpoint, no retry; whatever goes wrong
says "not checked" and why. The key goes only into the ``Authorization`` header; a base
URL's query is kept on every endpoint, its user information is not sent (urllib cannot), and
the URL is shown only redacted (:func:`~attnrl.models.credentials.redact_url`).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from attnrl.models.credentials import redact_url

__all__ = [
    "CHARS_PER_TOKEN",
    "ContextCheck",
    "PromptSize",
    "ServerContext",
    "check_context",
    "estimate_tokens",
    "probe_context",
    "server_root",
]

PROBE_TIMEOUT_S = 5.0
"""One try per endpoint, this long at most: the check must never hold the batch up."""

CHARS_PER_TOKEN = 2.0
"""The estimate's rate (characters of the messages' and tools' JSON per token) when the server
cannot count. Numbers tokenize densely: gemma-3 counted 1.9-2.2 characters a token on the
largest procedural prompts (7,932 characters: 3,612 tokens with llama-server's template, 4,154
with llama-cpp-python's function-calling one), 4.1-4.4 on the seed prompt's prose. The dense
end errs toward warning of an overflow that may not happen, never toward missing one."""

Counter = Literal["llama.cpp", "vllm"]


@dataclass(frozen=True)
class ServerContext:
    """The context length as the server reports it, or why it is not known."""

    tokens: int | None
    source: str = ""
    """Where it was read, e.g. ``llama.cpp GET /props``."""
    counter: Counter | None = None
    """The server's own token-counting endpoint, when it has one."""
    counts_output: bool = False
    """Whether ``max_tokens`` counts against the context (vLLM) or only the prompt does."""
    reason: str | None = None
    """Why ``tokens`` is None: not reported, or what went wrong asking."""


@dataclass(frozen=True)
class PromptSize:
    """The first request of some runs (same instance, same prompt) in tokens."""

    run_ids: tuple[int, ...]
    tokens: int
    exact: bool
    """Counted by the server's tokenizer (else estimated: :func:`check_context` says how)."""


def server_root(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port``: where ``/props`` and ``/tokenize``
    live."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _endpoint(base_url: str, path: str, *, at_root: bool) -> str:
    """The URL of endpoint ``path`` at the server root (:func:`server_root`) or under
    ``base_url`` itself, with ``base_url``'s query and without its user information."""
    try:
        parts = urllib.parse.urlsplit(base_url)
    except ValueError:
        raise _ProbeError(f"{redact_url(base_url)}: not a URL") from None
    prefix = parts.path.rstrip("/")
    if at_root and prefix.endswith("/v1"):
        prefix = prefix[: -len("/v1")]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, prefix + path, parts.query, ""))


class _ProbeError(Exception):
    """One endpoint could not be asked (its text is the reason, without server text)."""


def _http_json(url: str, api_key: str | None, body: Any = None) -> Any:
    """GET (or POST ``body``) ``url`` once; the JSON answer, None for a 404/405 (no such
    endpoint), :class:`_ProbeError` for anything else. Its text names the URL redacted and
    the kind of failure only: an exception's own text may quote the key or the URL."""
    data = None if body is None else json.dumps(body).encode()
    what = f"{'GET' if body is None else 'POST'} {redact_url(url)}"
    try:
        request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            raw = response.read(4_000_000)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 405, 501):
            return None
        raise _ProbeError(f"{what}: HTTP {exc.code}") from None
    except TimeoutError:
        raise _ProbeError(f"{what}: timed out after {PROBE_TIMEOUT_S:g}s") from None
    except (urllib.error.URLError, OSError) as exc:
        cause = getattr(exc, "reason", exc)
        raise _ProbeError(f"{what}: {type(cause).__name__}") from None
    except ValueError as exc:  # a bad header value or URL: its text may hold the key
        raise _ProbeError(f"{what}: {type(exc).__name__}") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise _ProbeError(f"{what}: the answer is not JSON") from None


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _model_entry(listing: object, model: str) -> Mapping[str, Any] | None:
    """The ``/v1/models`` entry of ``model`` (or the only one: local servers serve one model
    under any name)."""
    data = listing.get("data") if isinstance(listing, Mapping) else None
    if not isinstance(data, list):
        return None
    entries = [e for e in data if isinstance(e, Mapping)]
    named = [e for e in entries if e.get("id") == model]
    if named:
        return named[0]
    return entries[0] if len(entries) == 1 else None


def probe_context(base_url: str, model: str, api_key: str | None = None) -> ServerContext:
    """Ask the server at ``base_url`` (an OpenAI-compatible ``.../v1``) its context length for
    ``model``: llama.cpp's ``/props``, then ``/v1/models`` (vLLM's ``max_model_len``,
    llama.cpp's ``meta.n_ctx``, ``context_length``). Never raises."""
    errors: list[str] = []
    try:
        props = _http_json(_endpoint(base_url, "/props", at_root=True), api_key)
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        n_ctx = _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None
        if n_ctx is not None:
            return ServerContext(n_ctx, "llama.cpp GET /props", "llama.cpp")
    except _ProbeError as exc:
        errors.append(str(exc))
    try:
        models = _http_json(_endpoint(base_url, "/models", at_root=False), api_key)
        entry = _model_entry(models, model)
    except _ProbeError as exc:
        errors.append(str(exc))
        entry = None
    if entry is not None:
        meta = entry.get("meta")
        if (tokens := _positive(entry.get("max_model_len"))) is not None:
            return ServerContext(tokens, "vLLM GET /v1/models", "vllm", counts_output=True)
        if isinstance(meta, Mapping) and (tokens := _positive(meta.get("n_ctx"))) is not None:
            return ServerContext(tokens, "llama.cpp GET /v1/models", "llama.cpp")
        if (tokens := _positive(entry.get("context_length"))) is not None:
            return ServerContext(tokens, "GET /v1/models context_length")
    if errors:
        return ServerContext(None, reason="; ".join(errors))
    return ServerContext(None, reason="the server does not report its context length")


COUNT_LIMIT = 64
"""At most this many distinct first requests are counted by the server, the longest first; a
batch of thousands of procedural runs would otherwise wait on thousands of requests."""


def _prompt_chars(body: Mapping[str, Any]) -> int:
    return len(json.dumps([body.get("messages"), body.get("tools")], ensure_ascii=False))


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """A chat request's prompt tokens estimated from its messages' and tools' JSON."""
    return math.ceil(_prompt_chars(body) / CHARS_PER_TOKEN)


def _count(server: ServerContext, base_url: str, body: Mapping[str, Any], key: str | None) -> int:
    """The server's own count of ``body``'s prompt (:class:`_ProbeError` if it cannot)."""
    if server.counter == "llama.cpp":
        url = _endpoint(base_url, "/v1/chat/completions/input_tokens", at_root=True)
        answer = _http_json(url, key, dict(body))
        count = _positive(answer.get("input_tokens")) if isinstance(answer, dict) else None
    elif server.counter == "vllm":
        url = _endpoint(base_url, "/tokenize", at_root=True)
        wanted = {"model", "messages", "tools"}
        request = {k: v for k, v in body.items() if k in wanted} | {"add_generation_prompt": True}
        answer = _http_json(url, key, request)
        count = _positive(answer.get("count")) if isinstance(answer, dict) else None
    else:
        raise _ProbeError("the server has no token-counting endpoint")
    if count is None:
        raise _ProbeError(f"POST {redact_url(url)}: no count in the answer")
    return count


@dataclass(frozen=True)
class ContextCheck:
    """What the check found: the server's context and each prompt's size."""

    server: ServerContext
    prompts: tuple[PromptSize, ...] = ()
    max_tokens: int = 0
    count_error: str | None = None
    """Why the server's tokenizer was not (fully) used, when it was not."""

    def _needed(self, size: PromptSize) -> int:
        return size.tokens + (self.max_tokens if self.server.counts_output else 0)

    def _over(self, size: PromptSize) -> bool:
        limit = self.server.tokens
        if limit is None:
            return False
        # llama.cpp refuses a prompt of n_ctx tokens; vLLM takes prompt + max_tokens == limit
        return self._needed(size) > limit if self.server.counts_output else size.tokens >= limit

    @property
    def runs(self) -> int:
        return sum(len(p.run_ids) for p in self.prompts)

    @property
    def over_runs(self) -> list[int]:
        """The runs whose first request will not fit, in order."""
        return sorted(r for p in self.prompts if self._over(p) for r in p.run_ids)

    @property
    def counted_by(self) -> Literal["server", "estimate", "mixed"]:
        exact = {p.exact for p in self.prompts}
        return "server" if exact == {True} else "estimate" if exact == {False} else "mixed"

    def line(self) -> str:
        """The one up-front line (also the TASK ANALYSIS's)."""
        limit = self.server.tokens
        if limit is None:
            reason = self.server.reason or "unknown"
            if reason == "the server does not report its context length":
                return f"Context: {reason}: not checked"
            return f"Context: not checked ({reason})"
        head = f"Context: the server reports {limit:,} tokens ({self.server.source})"
        if not self.prompts:
            return head
        largest = max(self.prompts, key=self._needed)
        output = (
            f" + {self.max_tokens:,} max tokens, which it counts too"
            if self.server.counts_output
            else ""
        )
        why = self.count_error or "the server has no token-counting endpoint"
        how = {
            "server": "counted by the server",
            "estimate": f"estimated at {CHARS_PER_TOKEN:g} characters a token: {why}",
            "mixed": f"partly estimated: {why}",
        }[self.counted_by]
        size = f"largest {largest.tokens:,} tokens{output}; {how}"
        over = self.over_runs
        if not over:
            return f"{head}; every run's prompt fits ({size})"
        shown = ", ".join(map(str, over[:10])) + (", ..." if len(over) > 10 else "")
        return (
            f"{head}; {len(over)} of {self.runs} runs' prompts exceed it ({size}): still sent "
            f"(runs {shown}), they will be recorded as context_overflow"
        )

    def to_json(self) -> dict[str, Any]:
        """What ``run.json`` keeps (``context``), the line included."""
        sizes = [p.tokens for p in self.prompts]
        return {
            "line": self.line(),
            "checked": self.server.tokens is not None,
            "context_tokens": self.server.tokens,
            "source": self.server.source or None,
            "reason": self.server.reason,
            "counts_max_tokens": self.server.counts_output,
            "max_tokens": self.max_tokens,
            "counted_by": self.counted_by if self.prompts else None,
            "runs": self.runs,
            "largest_prompt": max(sizes) if sizes else None,
            "over": self.over_runs,
        }


def check_context(
    base_url: str,
    model: str,
    requests: Sequence[tuple[tuple[int, ...], Mapping[str, Any]]],
    *,
    max_tokens: int,
    api_key: str | None = None,
) -> ContextCheck:
    """Probe the server, then count each distinct first request (``(run_ids, body)``, the
    body as :mod:`attnrl.models.openai` sends it), the longest first. Counting stops at the
    first failure of the server's endpoint, and the rest are estimated at
    :data:`CHARS_PER_TOKEN`; past :data:`COUNT_LIMIT` the rest are scaled by the largest
    tokens per character counted (all shorter, so the likeliest to overflow were counted).
    The line says which. Never raises: an unexpected failure is "not checked", named by its
    type alone (its text might quote the key)."""
    try:
        return _check_context(base_url, model, requests, max_tokens=max_tokens, api_key=api_key)
    except Exception as exc:  # noqa: BLE001 - the check is advisory, never fatal
        reason = f"the check failed: {type(exc).__name__}"
        return ContextCheck(ServerContext(None, reason=reason), max_tokens=max_tokens)


def _check_context(
    base_url: str,
    model: str,
    requests: Sequence[tuple[tuple[int, ...], Mapping[str, Any]]],
    *,
    max_tokens: int,
    api_key: str | None,
) -> ContextCheck:
    server = probe_context(base_url, model, api_key)
    if server.tokens is None:
        return ContextCheck(server, max_tokens=max_tokens)
    longest_first = sorted(requests, key=lambda request: -_prompt_chars(request[1]))
    sizes: list[PromptSize] = []
    error: str | None = None
    per_char = 0.0  # the largest tokens per character the server counted
    scaled = False  # past COUNT_LIMIT: the rest scaled by per_char
    for run_ids, body in longest_first:
        counting = server.counter is not None and error is None and not scaled
        if counting and len(sizes) < COUNT_LIMIT:
            try:
                tokens = _count(server, base_url, body, api_key)
            except _ProbeError as exc:
                error = f"{exc}; the rest estimated at {CHARS_PER_TOKEN:g} characters a token"
            else:
                sizes.append(PromptSize(run_ids, tokens, True))
                per_char = max(per_char, tokens / max(_prompt_chars(body), 1))
                continue
        elif counting:
            scaled = True
            error = (
                f"the {COUNT_LIMIT} longest counted by the server, the other "
                f"{len(requests) - COUNT_LIMIT} scaled by the largest tokens per character counted"
            )
        chars = _prompt_chars(body)
        tokens = math.ceil(chars * per_char) if scaled else estimate_tokens(body)
        sizes.append(PromptSize(run_ids, tokens, False))
    return ContextCheck(server, tuple(sizes), max_tokens, error)
