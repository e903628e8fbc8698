"""``attnrl dataset``: rows that rebuild their task, JSONL and Hugging Face, atomic writes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from attnrl.cli import main
from attnrl.task.dataset import dataset_row, task_from_info
from attnrl.tasks.attention.procedural import ProceduralConfig, procedural_spec
from attnrl.tasks.attention.spec import MaskSpec


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_row(row: dict[str, Any]) -> Any:
    """The row's info rebuilds a task whose reference is the row's answer; returns the task."""
    assert set(row) == {"prompt", "answer", "info"}
    task = task_from_info(row["info"])
    assert task.reference() == json.loads(row["answer"])
    assert row["prompt"] == [{"role": "user", "content": task.prompt}]
    assert task.grade(row["answer"]).outcome == "full_success"
    return task


def test_jsonl_round_trip(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, stdout, _ = _run(
        capsys, "dataset", "--preset", "procedural", "--n", "6", "--seed", "7", "--out", str(out)
    )
    assert code == 0
    assert "wrote 6 rows (procedural, seeds 7..12)" in stdout
    rows = _read_jsonl(out)
    assert len(rows) == 6
    tasks = [_check_row(row) for row in rows]
    assert [t.spec.seed for t in tasks] == list(range(7, 13))
    assert [t.spec for t in tasks] == [procedural_spec(s) for s in range(7, 13)]
    assert len({t.content_hash for t in tasks}) == 6
    assert not [p for p in tmp_path.iterdir() if p.name != "rows.jsonl"]  # no temp files left
    assert out.stat().st_mode & 0o644 == 0o644  # not mkstemp's private 0600


def test_jsonl_is_deterministic_and_seed_defaults_to_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert _run(capsys, "dataset", "--preset", "procedural", "--n", "3", "--out", str(a))[0] == 0
    args = ("--preset", "procedural", "--n", "3", "--seed", "0", "--out", str(b))
    assert _run(capsys, "dataset", *args)[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_knob_flags_apply_to_every_row(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "knobs.jsonl"  # parent directories are created
    code, _, _ = _run(
        capsys,
        "dataset",
        "--preset",
        "procedural",
        "--n",
        "4",
        "--seed",
        "100",
        "--out",
        str(out),
        "--heads",
        "1",
        "--mask",
        "window:2",
        "--no-position-encoding",
        "--residual",
        "--layer-norm",
        "--policy",
        "lenient",
        "--tolerance-scale",
        "0.5",
        "--tokens",
        "5-6",
        "--d-model",
        "4",
    )
    assert code == 0
    config = ProceduralConfig(
        heads=(1, 1),
        tokens=(5, 6),
        d_model=(4, 4),
        mask=MaskSpec("sliding_window", 2),
        position_encoding=False,
        residual=True,
        layer_norm=True,
        policy="lenient",
        tolerance_scale=0.5,
    )
    for seed, row in zip(range(100, 104), _read_jsonl(out), strict=True):
        task = _check_row(row)
        assert task.spec == procedural_spec(seed, config)
        assert len(task.spec.heads) == 1 and task.spec.layer_norm and task.spec.residual


def test_fixed_preset_takes_one_row_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "seed.jsonl"
    code, _, err = _run(capsys, "dataset", "--preset", "seed-doc", "--n", "3", "--out", str(out))
    assert code == 2 and "single fixed instance" in err and "--preset procedural" in err
    assert not out.exists()
    code, stdout, _ = _run(
        capsys,
        "dataset",
        "--preset",
        "seed-doc",
        "--n",
        "1",
        "--out",
        str(out),
        "--policy",
        "strict",
    )
    assert code == 0 and "the fixed instance" in stdout
    (row,) = _read_jsonl(out)
    task = _check_row(row)
    assert (
        task.spec.preset == "seed-doc" and task.spec.policy == "strict" and task.spec.seed is None
    )
    code, _, err = _run(
        capsys, "dataset", "--preset", "seed-doc", "--n", "1", "--seed", "4", "--out", str(out)
    )
    assert code == 2 and "takes no seed" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "0"], "argument --n: expected 1 <= N"),
        (["--n", "two"], "argument --n: expected an integer"),
        (["--n", "2", "--format", "csv"], "argument --format: invalid choice"),
        (["--n", "2", "--mask", "causal:3"], "argument --mask"),
    ],
)
def test_malformed_flags_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    out = tmp_path / "x.jsonl"
    with pytest.raises(SystemExit) as exc:
        main(["dataset", "--preset", "procedural", "--out", str(out), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_required_flags_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dataset", "--preset", "procedural", "--n", "2"])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err


def test_failure_mid_write_keeps_the_old_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "keep.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    calls = {"n": 0}

    def flaky(task: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return dataset_row(task)

    monkeypatch.setattr("attnrl.task.dataset.dataset_row", flaky)
    code, _, err = _run(capsys, "dataset", "--preset", "procedural", "--n", "5", "--out", str(out))
    assert code == 2 and "cannot write" in err and "disk full" in err
    assert out.read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]


def test_bad_knob_leaves_the_old_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "keep.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    argv = ["dataset", "--preset", "procedural", "--n", "2", "--out", str(out)]
    code, _, err = _run(capsys, *argv, "--tolerance-scale", "5")
    assert code == 2 and "--tolerance-scale must be in" in err
    code, _, err = _run(capsys, *argv, "--seed", "-1")
    assert code == 2 and "--seed must be >= 0" in err
    assert out.read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]


def test_jsonl_out_must_not_be_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(
        capsys, "dataset", "--preset", "procedural", "--n", "1", "--out", str(tmp_path)
    )
    assert code == 2 and "is a directory" in err


def test_hf_round_trip_and_replace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    argv = ["dataset", "--preset", "procedural", "--n", "4", "--seed", "20", "--format", "hf"]
    code, stdout, err = _run(capsys, *argv, "--out", str(out))
    assert code == 0 and "wrote 4 rows" in stdout
    assert "Saving the dataset" not in err  # no progress bars on stderr
    loaded = datasets.load_from_disk(str(out))
    assert loaded.num_rows == 4 and set(loaded.column_names) == {"prompt", "answer", "info"}
    tasks = [_check_row(dict(row)) for row in loaded]
    assert [t.spec.seed for t in tasks] == [20, 21, 22, 23]
    assert os.stat(out).st_mode & 0o755 == 0o755  # not mkdtemp's private 0700

    # An existing saved dataset is replaced (only after the new one is complete).
    code, _, _ = _run(capsys, *argv[:4], "2", *argv[5:], "--out", str(out), "--heads", "1")
    assert code == 0
    replaced = datasets.load_from_disk(str(out))
    assert replaced.num_rows == 2
    assert all(len(_check_row(dict(row)).spec.heads) == 1 for row in replaced)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]

    # A directory that is not a dataset is never replaced, nor a file.
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("precious", encoding="utf-8")
    code, _, err = _run(capsys, *argv, "--out", str(other))
    assert code == 2 and "not a saved dataset" in err
    assert (other / "keep.txt").read_text(encoding="utf-8") == "precious"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    code, _, err = _run(capsys, *argv, "--out", str(a_file))
    assert code == 2 and "is a file" in err


def test_hf_without_datasets_names_the_extra(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    out = tmp_path / "hf"
    code, _, err = _run(
        capsys, "dataset", "--preset", "procedural", "--n", "2", "--format", "hf", "--out", str(out)
    )
    assert code == 2
    assert "pip install 'attnrl[hf]'" in err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("policy", ["seed-doc", "seed"])
def test_a_row_cannot_give_another_preset_the_seed_docs_grader(policy: str) -> None:
    """The seed document's grader pays partial credit for one head's weights with no output
    computed: a row (or saved run, or card) whose spec asks for it on ``procedural`` is
    refused where every spec is built, not only where presets and knobs are applied ("seed"
    is its old name in saved specs). Through the adapters' reward too: never paid."""
    from attnrl import load_task
    from attnrl.integrations._common import reward_for

    info = json.loads(dataset_row(load_task("procedural", seed=0))["info"])
    info["spec"]["policy"] = policy
    del info["spec_hash"]
    with pytest.raises(ValueError, match="grades only the seed-doc presets"):
        task_from_info(info)
    with pytest.raises(ValueError, match="seed-doc presets"):
        reward_for('{"final_output": [[0]]}', None, info)
    seed_doc = json.loads(dataset_row(load_task("seed-doc"))["info"])
    assert task_from_info(seed_doc).spec.policy == "seed-doc"  # where it belongs


def test_out_through_a_symlink_to_stdout_writes_the_pipe(tmp_path: Path) -> None:
    """``--out LINK`` where LINK -> /proc/self/fd/1 (as /dev/stdout is): the rows go to the
    process's stdout pipe, and the symlink is still a symlink (it was once replaced by a file)."""
    import subprocess

    link = tmp_path / "mystdout"
    link.symlink_to("/proc/self/fd/1")
    proc = subprocess.run(
        [sys.executable, "-m", "attnrl", "dataset", "--preset", "procedural", "--n", "2"]
        + ["--out", str(link)],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith(b"{")]
    assert len(rows) == 2 and all(_check_row(row) for row in rows)
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
