"""The model-request flags ``run`` and ``calibrate`` share (one definition, so a calibration
asks the model exactly what a run would): base URL, output limit, temperature, retries,
first backoff and the request timeout."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from attnrl.cli.common import at_least, positive_number, seconds, temperature

if TYPE_CHECKING:
    from attnrl.models.registry import ModelOptions

__all__ = ["DEFAULT_TIMEOUT_S", "add_model_arguments", "model_options"]

DEFAULT_TIMEOUT_S = 600.0
"""Long enough for a slow local turn (91 s seen at concurrency 2 on 2 cores): a request the
client abandons keeps a single-slot server busy, delaying every request behind it."""

_timeout = positive_number("seconds", "a positive number of seconds")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base-url``, ``--max-tokens``, ``--temperature``, ``--retries``, ``--retry-delay``
    and ``--timeout``."""
    parser.add_argument(
        "--base-url", default=None, help="provider base URL (OpenAI-compatible servers)"
    )
    parser.add_argument(
        "--max-tokens", type=at_least(1), default=4096, help="max tokens per model turn"
    )
    parser.add_argument(
        "--temperature", type=temperature, default=None, help="sampling temperature"
    )
    parser.add_argument(
        "--retries",
        type=at_least(0),
        default=6,
        help="retries of a failed model request (default 6; 0 = never retry)",
    )
    parser.add_argument(
        "--retry-delay", type=seconds, default=1.0, help="first backoff in seconds (default 1)"
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up on one model request after SECONDS (default {DEFAULT_TIMEOUT_S:g}; "
        "a timed-out request is retried). A local server that answers one request at a "
        "time keeps working on an abandoned one: keep this above its slowest turn at your "
        "--concurrency",
    )


def model_options(args: argparse.Namespace, *, cache_prompt: bool = True) -> ModelOptions:
    """The :class:`~attnrl.models.registry.ModelOptions` these flags ask for (ValueError for
    an impossible retry policy)."""
    from attnrl.models.registry import ModelOptions
    from attnrl.models.retry import RetryPolicy

    retry = RetryPolicy(
        max_attempts=args.retries + 1,
        initial_delay_s=args.retry_delay,
        max_delay_s=max(30.0, args.retry_delay),
    )
    return ModelOptions(
        base_url=args.base_url,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        retry=retry,
        timeout_s=args.timeout,
        cache_prompt=cache_prompt,
    )
