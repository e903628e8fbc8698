"""How big the answer is, and the budget it must fit.

A solver submits every intermediate as JSON through a tool call; the numbers travel twice, out
of ``python_expression`` (output cut at 10,000 characters) and into ``submit_answer`` (inside a
response of at most 4,096 tokens by default). An answer that does not fit makes the reward
unreachable whatever the solver computed. So:

- :func:`answer_decimals`: the decimals the tolerances need, the fewest ``d`` whose rounding
  error (at most ``0.5 * 10**-d``) is at most a quarter of the smallest tolerance; the prompt
  tells the solver to round to them and shows the compact form of :func:`answer_text`.
- :func:`answer_numbers` and :func:`size_estimate`: the count of numbers, and a token estimate
  (4 tokens a number up to 3 decimals, one more per 3 further decimals, plus the keys: both
  BPEs group digits by three, so ``-1.23,`` and ``-12.345,`` cost about 4 tokens; measured
  with cl100k and o200k in ``tests/tasks/attention/test_answer_size.py``, which also checks that the
  estimate bounds the real count).
- :data:`ANSWER_TOKEN_BUDGET`: ``procedural`` redraws a candidate whose estimate exceeds it,
  and refuses a config whose smallest instance does. The test measures the real answers with a
  real tokenizer (cl100k and o200k) and checks they stay within :data:`RESPONSE_SHARE` of
  :data:`RESPONSE_TOKENS` and of the tool output cut.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from attnrl.task.lengths import openai_token_counter
from attnrl.task.tools import RESPONSE_SHARE, RESPONSE_TOKENS
from attnrl.tasks.attention.spec import TaskSpec, Tolerances

__all__ = [
    "ANSWER_TOKEN_BUDGET",
    "RESPONSE_SHARE",
    "RESPONSE_TOKENS",
    "answer_decimals",
    "answer_numbers",
    "answer_tokens",
    "answer_text",
    "decimals_for",
    "numbers_for",
    "openai_token_counter",
    "size_estimate",
]

ANSWER_TOKEN_BUDGET = 2900
"""Largest :func:`size_estimate` of a drawn instance (a little under 75% of 4,096, since the
estimate is an estimate: the test holds the real count to :data:`RESPONSE_SHARE`)."""
_KEY_TOKENS = 12
"""Tokens of one key and its brackets (``"head1_attention_weights":[[...]]``), rounded up."""


def decimals_for(tol: Tolerances, layer_norm: bool = False) -> int:
    """The fewest decimals whose rounding error is at most a quarter of the smallest tolerance
    (``layer_norm``: the layer-normalized output's, a tenth of the outputs', counts too)."""
    smallest = min(tol.position, tol.weights, tol.outputs)
    if layer_norm:
        smallest = min(smallest, tol.layer_norm)
    return max(1, math.ceil(math.log10(2.0 / smallest) - 1e-9))


def answer_decimals(spec: TaskSpec) -> int:
    """:func:`decimals_for` the spec's tolerances."""
    return decimals_for(spec.tolerances, spec.layer_norm)


def numbers_for(
    tokens: int, d_model: int, heads: int, *, position: bool = True, layer_norm: bool = False
) -> int:
    """Numbers in an answer of this structure (the head value widths sum to ``d_model``)."""
    matrices = int(position) + 2 + int(layer_norm)  # Q_pos, head outputs, final, layer norm
    return tokens * d_model * matrices + heads * tokens * tokens


def answer_numbers(spec: TaskSpec) -> int:
    """How many numbers the answer holds."""
    return sum(c.shape[0] * c.shape[1] for c in spec.components())


def size_estimate(numbers: int, decimals: int, keys: int) -> int:
    """Estimated tokens of the compact answer (see the module docstring)."""
    per_number = 4 + max(0, math.ceil(decimals / 3) - 1)
    return numbers * per_number + keys * _KEY_TOKENS


def _rounded(value: Any, decimals: int) -> Any:
    if isinstance(value, list):
        return np.round(np.asarray(value, dtype=np.float64), decimals).tolist()
    return value


def answer_text(spec: TaskSpec, answer: dict[str, Any]) -> str:
    """``answer`` as the prompt suggests writing it: numbers rounded to
    :func:`answer_decimals`, compact JSON."""
    decimals = answer_decimals(spec)
    rounded = {k: _rounded(v, decimals) for k, v in answer.items()}
    return json.dumps(rounded, separators=(",", ":"))


def answer_tokens(
    specs: Iterable[TaskSpec], count_tokens: Callable[[str], int] | None = None
) -> tuple[float, int, str]:
    """``(median, max, unit)`` of the reference answers' sizes as :func:`answer_text` writes
    them: real tokens with ``count_tokens``, else :func:`size_estimate` (unit ``~tokens``)."""
    from attnrl.tasks.attention.reference import forward, submission

    sizes = []
    for spec in specs:
        if count_tokens is None:
            decimals = answer_decimals(spec)
            sizes.append(size_estimate(answer_numbers(spec), decimals, len(spec.answer_keys())))
        else:
            sizes.append(count_tokens(answer_text(spec, submission(spec, forward(spec)))))
    if not sizes:
        raise ValueError("answer_tokens needs at least one instance")
    return float(statistics.median(sizes)), max(sizes), "tokens" if count_tokens else "~tokens"
