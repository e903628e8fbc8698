"""How long dataset rows are, in characters and in a named tokenizer's tokens.

Trainers cut prompts and completions at a token budget (verl ``data.max_prompt_length`` /
``max_response_length``, TRL ``max_completion_length``, OpenRLHF ``--data.max_len``); a budget
below the answer's length makes every completion unparseable and the reward always 0. These
figures say what the budget must hold:

- ``prompt``: the text of the row's chat messages (a chat template adds its own few tokens);
- ``answer``: the row's ``answer`` column, the reference as stored (float64 ``repr``);
- ``answer_4dp``: the same submission with every number rounded to 4 decimals, a form that
  still passes every tolerance (rounding moves a value by at most 5e-5; the smallest
  tolerance, the layer-normalized output's 0.02 x the lowest scale 0.01, is 4x that). The
  prompt asks for fewer decimals where the tolerances allow
   (:mod:`attnrl.tasks.attention.answer_size`).

Characters bound tokens from above for this ASCII text under any BPE tokenizer (every token is
at least one byte). Tokens are counted with a tokenizer the user names by path: a
``tokenizer.json`` (Hugging Face ``tokenizers``) or a model directory holding one; nothing is
ever downloaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FIELDS",
    "LengthSummary",
    "count_tokens_with",
    "length_stats",
    "load_tokenizer",
    "row_texts",
]

FIELDS = ("prompt", "answer", "answer_4dp")
"""The measured texts of a row, in report order."""

_DECIMALS = 4


@dataclass(frozen=True)
class LengthSummary:
    """Lengths of one field over the rows."""

    field: str
    """One of :data:`FIELDS`."""
    unit: str
    """``chars`` or ``tokens``."""
    min: int
    median: float
    p95: int
    """The 95th percentile (nearest rank)."""
    max: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "unit": self.unit,
            "min": self.min,
            "median": self.median,
            "p95": self.p95,
            "max": self.max,
        }


def _round_numbers(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, list):
            return [_round_numbers(v) for v in value]
        if isinstance(value, dict):
            return {k: _round_numbers(v) for k, v in value.items()}
        return value
    return round(float(value), _DECIMALS)


def row_texts(row: dict[str, Any]) -> dict[str, str]:
    """The measured texts of one dataset row (see :data:`FIELDS`)."""
    prompt = "\n".join(str(m.get("content", "")) for m in row["prompt"])
    answer = str(row["answer"])
    compact = json.dumps(_round_numbers(json.loads(answer)), separators=(",", ":"))
    return {"prompt": prompt, "answer": answer, "answer_4dp": compact}


def _summary(field: str, unit: str, values: Sequence[int]) -> LengthSummary:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    median = float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    p95 = ordered[max(0, math.ceil(0.95 * n) - 1)]
    return LengthSummary(field, unit, ordered[0], median, p95, ordered[-1])


def length_stats(
    rows: Iterable[dict[str, Any]], count_tokens: Callable[[str], int] | None = None
) -> list[LengthSummary]:
    """Character (and, with ``count_tokens``, token) lengths of each field over ``rows``."""
    texts = [row_texts(r) for r in rows]
    if not texts:
        raise ValueError("no rows to measure")
    out = [_summary(f, "chars", [len(t[f]) for t in texts]) for f in FIELDS]
    if count_tokens is not None:
        out += [_summary(f, "tokens", [count_tokens(t[f]) for t in texts]) for f in FIELDS]
    return out


def load_tokenizer(name: str | Path) -> Any:
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` or a directory holding one.

    ValueError names the problem and the fix (missing file, missing package)."""
    path = Path(name).expanduser()
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise ValueError(
            f"tokenizer {str(name)!r} not found: give a tokenizer.json file or a local model "
            "directory that holds one (nothing is downloaded)"
        )
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ValueError(
            "counting tokens needs the tokenizers package: pip install 'attnrl[tokens]'"
        ) from None
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises its own Exception subclass for bad files
        raise ValueError(f"{file} is not a tokenizers tokenizer.json: {exc}") from None


def count_tokens_with(tokenizer: Any) -> Callable[[str], int]:
    """A token counter for ``tokenizer`` (no special tokens added)."""

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def openai_token_counter() -> Callable[[str], int] | None:
    """Tokens of a text, the larger of cl100k and o200k (``bpe-openai`` ships both, nothing
    is downloaded); None when the package is not installed."""
    import warnings

    with warnings.catch_warnings():
        # bpe-openai 0.1.4 loads its tables with importlib.resources.open_binary (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import bpe_openai
        except ImportError:
            return None
        encodings = [bpe_openai.get_encoding(name) for name in ("cl100k_base", "o200k_base")]

    def count(text: str) -> int:
        return max(len(e.encode(text)) for e in encodings)

    return count
