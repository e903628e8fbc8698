"""Row lengths in characters and tokens (``attnrl dataset --stats``), with a local tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attnrl.cli import main
from attnrl.integrations._common import build_rows
from attnrl.task import load_task
from attnrl.task.dataset import dataset_row
from attnrl.task.lengths import (
    count_tokens_with,
    length_stats,
    load_tokenizer,
    row_texts,
)


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE trained on a few rows, saved as tokenizer.json in a model directory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    rows = build_rows("procedural", n=3, seed=0)
    bpe.train_from_iterator([t for r in rows for t in row_texts(r).values()], trainer=trainer)
    out = tmp_path_factory.mktemp("model") / "tokenizer.json"
    bpe.save(str(out))
    return out


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_row_texts_and_the_4_decimal_answer_still_passes() -> None:
    task = load_task("procedural", 3)
    texts = row_texts(dataset_row(task))
    assert texts["prompt"] == task.prompt
    assert json.loads(texts["answer"]) == task.reference()
    assert len(texts["answer_4dp"]) < len(texts["answer"])
    assert task.grade(texts["answer_4dp"]).outcome == "full_success"


def test_char_stats_are_exact() -> None:
    rows = build_rows("procedural", n=5, seed=0)
    prompts = sorted(len(r["prompt"][0]["content"]) for r in rows)
    stats = {(s.field, s.unit): s for s in length_stats(rows)}
    assert set(stats) == {("prompt", "chars"), ("answer", "chars"), ("answer_4dp", "chars")}
    prompt = stats["prompt", "chars"]
    assert (prompt.min, prompt.median, prompt.p95, prompt.max) == (
        prompts[0],
        prompts[2],
        prompts[4],
        prompts[4],
    )
    with pytest.raises(ValueError, match="no rows"):
        length_stats([])


def test_tokens_with_a_named_tokenizer(tokenizer_file: Path) -> None:
    rows = build_rows("procedural", n=4, seed=0)
    tokenizer = load_tokenizer(tokenizer_file.parent)  # a model directory works too
    count = count_tokens_with(tokenizer)
    stats = {(s.field, s.unit): s for s in length_stats(rows, count)}
    answers = [count(row_texts(r)["answer_4dp"]) for r in rows]
    assert stats["answer_4dp", "tokens"].max == max(answers)
    for field in ("prompt", "answer", "answer_4dp"):
        # characters bound tokens from above for this ASCII text
        assert 0 < stats[field, "tokens"].max <= stats[field, "chars"].max


def test_cli_stats_table_and_json(
    capsys: pytest.CaptureFixture[str], tokenizer_file: Path, tmp_path: Path
) -> None:
    code, out, _ = _run(capsys, "dataset", "--preset", "procedural", "--n", "3", "--stats")
    assert code == 0
    assert out.splitlines()[0] == "3 rows of procedural"
    assert "characters bound tokens" in out
    argv = ["dataset", "--preset", "procedural", "--n", "3", "--stats", "--json"]
    code, out, _ = _run(capsys, *argv, "--tokenizer", str(tokenizer_file))
    assert code == 0
    report: dict[str, Any] = json.loads(out)
    expected = length_stats(
        build_rows("procedural", 3, 0), count_tokens_with(load_tokenizer(tokenizer_file))
    )
    assert report == {"rows": 3, "lengths": [s.to_dict() for s in expected]}
    assert list(tmp_path.iterdir()) == []  # --stats writes nothing


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stats", "--tokenizer", "/no/such/tokenizer"], "not found"),
        (["--stats", "--tokenizer", "__FILE__"], "is not a tokenizers tokenizer.json"),
        (["--out", "x.jsonl", "--tokenizer", "t.json"], "go with --stats"),
    ],
)
def test_cli_stats_errors_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    argv = [str(bad) if a == "__FILE__" else a for a in extra]
    code, _, err = _run(capsys, "dataset", "--preset", "procedural", "--n", "2", *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_tokenizers_package_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tokenizer_file: Path
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ValueError, match=r"attnrl\[tokens\]"):
        load_tokenizer(tokenizer_file)
