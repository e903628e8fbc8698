"""Model names (``<provider>/<model id>``) to :class:`~attnrl.models.base.Model` instances.

A provider's module (and its SDK, seconds to import under load) is imported only when one of
its models is built: choosing a model, checking credentials and ``--help`` import none."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from attnrl.models.base import (
    ANTHROPIC_API_KEY_ENV,
    OPENAI_API_KEY_ENV,
    SIMULATED_NAME,
    Model,
    ModelSource,
    SharedModel,
)
from attnrl.models.credentials import check_base_url, read_api_key, read_base_url
from attnrl.models.deprecation import DEFAULT_MODEL
from attnrl.models.retry import RetryPolicy
from attnrl.models.simulated import Plan, SimulatedAgents
from attnrl.task import Task

__all__ = [
    "DEFAULT_MODEL",
    "ModelOptions",
    "Provider",
    "api_key_available",
    "credentials_hint",
    "make_model",
    "model_source",
    "split_model_name",
]


@dataclass(frozen=True)
class ModelOptions:
    """Everything :func:`make_model` passes to a provider besides the model id."""

    base_url: str | None = None
    max_tokens: int = 4096
    temperature: float | None = None
    retry: RetryPolicy | None = None
    timeout_s: float = 120.0
    cache_prompt: bool = True
    """Anthropic: mark requests for prompt caching (``--no-cache-prompt`` turns it off);
    OpenAI-compatible servers cache on their own."""


@dataclass(frozen=True)
class Provider:
    """How to build a provider's models and whether it can run here.

    ``factory(model_id, options)`` builds the model; ``key_available(base_url)`` says whether
    its credentials are configured (without calling anything), raising
    :class:`~attnrl.models.base.ModelConfigError` for a key or base URL that cannot be used.
    """

    factory: Callable[[str, ModelOptions], Model]
    key_available: Callable[[str | None], bool]
    usage: str
    credentials: str
    """What to set when credentials are missing, in the user's words."""


def _anthropic_ready(base_url: str | None) -> bool:
    if base_url:
        check_base_url(base_url)
    return read_api_key(ANTHROPIC_API_KEY_ENV) is not None


def _openai_ready(base_url: str | None) -> bool:
    url = read_base_url(base_url)
    return read_api_key(OPENAI_API_KEY_ENV) is not None or url is not None


def _sdk_factory(module: str, cls_name: str) -> Callable[[str, ModelOptions], Model]:
    """A provider factory passing the common options to the SDK-backed model class
    ``cls_name`` of ``attnrl.models.<module>``, imported on first use."""

    def make(model_id: str, options: ModelOptions) -> Model:
        cls = getattr(importlib.import_module(f"attnrl.models.{module}"), cls_name)
        common: dict[str, Any] = {
            "base_url": options.base_url,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "timeout_s": options.timeout_s,
            "retry": options.retry,
        }
        if module == "anthropic":
            common["cache_prompt"] = options.cache_prompt
        model: Model = cls(model_id, **common)
        return model

    return make


_PROVIDERS: dict[str, Provider] = {
    "anthropic": Provider(
        factory=_sdk_factory("anthropic", "AnthropicModel"),
        key_available=_anthropic_ready,
        usage=f"anthropic/<model> (e.g. {DEFAULT_MODEL}; needs {ANTHROPIC_API_KEY_ENV})",
        credentials=f"set {ANTHROPIC_API_KEY_ENV}",
    ),
    "openai": Provider(
        factory=_sdk_factory("openai", "OpenAIModel"),
        key_available=_openai_ready,
        usage=(
            "openai/<model> (OpenAI or any OpenAI-compatible server: needs OPENAI_API_KEY, "
            "or a base URL for a local server)"
        ),
        credentials=f"set {OPENAI_API_KEY_ENV}, or pass --base-url for a local "
        "OpenAI-compatible server",
    ),
    # ---- providers without a network API (e.g. the offline `simulated` agents) go here ----
}


def split_model_name(name: str) -> tuple[str, str]:
    """``"anthropic/claude-sonnet-5-5"`` -> ``("anthropic", "claude-sonnet-5-5")``.

    The model id may itself contain ``/`` (``openai/Qwen/Qwen3-8B``). Raises ValueError for
    an unknown provider or an empty model id, naming the accepted forms.
    """
    provider, sep, model_id = name.partition("/")
    if not sep or provider not in _PROVIDERS or not model_id.strip():
        accepted = "; ".join(p.usage for p in _PROVIDERS.values())
        what = "unknown provider" if provider not in _PROVIDERS else "empty model id"
        if not sep:
            what = "no provider prefix"
        raise ValueError(f"bad model name {name!r} ({what}); accepted forms: {accepted}")
    return provider, model_id.strip()


def make_model(
    name: str,
    *,
    base_url: str | None = None,
    max_tokens: int = 4096,
    temperature: float | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 120.0,
) -> Model:
    """The model named ``<provider>/<model id>``.

    Raises ValueError for a malformed name and
    :class:`~attnrl.models.base.ModelConfigError` when its credentials are missing.
    """
    options = ModelOptions(
        base_url=base_url,
        max_tokens=max_tokens,
        temperature=temperature,
        retry=retry,
        timeout_s=timeout_s,
    )
    return _make(name, options)


def _make(name: str, options: ModelOptions) -> Model:
    provider, model_id = split_model_name(name)
    return _PROVIDERS[provider].factory(model_id, options)


def model_source(
    name: str,
    task: Task,
    *,
    runs: int,
    seed: int | None = None,
    simulated_delay_s: float = 0.0,
    options: ModelOptions | None = None,
    task_for_run: Callable[[int], Task] | None = None,
    simulated_plans: Sequence[Plan] | None = None,
) -> ModelSource:
    """The models of a batch of ``runs`` on ``task``: the offline simulated agents (their
    plans seeded by ``seed``) or one shared provider model. Build it inside the event loop
    that uses it (the SDK clients bind to it). ``task_for_run`` gives each simulated run its
    instance (a task family; provider models read the instance from the prompt);
    ``simulated_plans`` replaces the seed's mix (e.g. :class:`SkillModel` plans)."""
    if name == SIMULATED_NAME:
        return SimulatedAgents(
            task,
            runs,
            seed,
            delay_s=simulated_delay_s,
            plans=simulated_plans,
            task_for_run=task_for_run,
        )
    return SharedModel(_make(name, options or ModelOptions()))


def api_key_available(name: str, *, base_url: str | None = None) -> bool:
    """Whether :func:`make_model` has credentials for ``name`` (its provider's key variable
    is set, or, for ``openai/``, a base URL is given or set): decides whether to fall back
    to the offline simulated agents. Raises ValueError for a malformed name and
    :class:`~attnrl.models.base.ModelConfigError` for a key or base URL that is set but cannot
    be used (:mod:`attnrl.models.credentials`), before anything is sent."""
    provider, _ = split_model_name(name)
    return _PROVIDERS[provider].key_available(base_url)


def credentials_hint(name: str) -> str:
    """What to set for ``name``'s credentials (``set ANTHROPIC_API_KEY``...)."""
    provider, _ = split_model_name(name)
    return _PROVIDERS[provider].credentials
