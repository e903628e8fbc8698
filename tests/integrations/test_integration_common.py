"""The shared adapter core: finding the submission in a completion, and from a row's info
to its grader."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnrl.integrations import _extract
from attnrl.integrations._common import (
    build_rows,
    build_tasks,
    grade_completion,
    resolve_info,
    reward_for,
    task_for,
)
from attnrl.integrations._extract import (
    NO_SUBMISSION,
    completion_text,
    extract_submission,
    unwrap_submission,
)
from attnrl.task import Task, load_task
from attnrl.task.dataset import dataset_row


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    return load_task("seed-doc").reference()


# -- extraction ------------------------------------------------------------------------------


def test_bare_object_in_prose_with_stray_braces(ref: dict[str, Any]) -> None:
    text = f"Heads {{Q1, K1}} and {{'a': 1}} first. Answer: {json.dumps(ref)} -- done {{"
    assert extract_submission(text) == ref


def test_strings_with_braces_and_nested_objects(ref: dict[str, Any]) -> None:
    answer = ref | {"note": 'a } tricky { string " with quotes', "meta": {"a": {"b": [1]}}}
    text = f"prefix }} {{ {json.dumps(answer)} suffix"
    assert extract_submission(text) == answer


def test_last_object_wins(ref: dict[str, Any]) -> None:
    draft = ref | {"final_output": [[0.0] * 3] * 4}
    text = f"Draft: {json.dumps(draft)}\nFinal: {json.dumps(ref)}"
    assert extract_submission(text) == ref
    assert extract_submission(f"{json.dumps(ref)} then {json.dumps(draft)}") == draft


def test_fenced_blocks(ref: dict[str, Any]) -> None:
    assert extract_submission(f"```json\n{json.dumps(ref, indent=2)}\n```") == ref
    assert extract_submission(f"```JSON\n{json.dumps(ref)}\n```\nok") == ref
    # An unparseable final json block is graded as what it is, not skipped for a draft.
    broken = '{"position_encoded_queries": [[1.1, 0.5'
    text = f"draft {json.dumps(ref)}\n```json\n{broken}\n```"
    assert extract_submission(text) == broken
    assert reward_for(text) == 0.0
    # A later bare object still wins over an earlier broken block.
    assert extract_submission(f"```json\n{broken}\n```\n{json.dumps(ref)}") == ref


def test_answer_wrapper_and_tool_calls(ref: dict[str, Any]) -> None:
    assert extract_submission(json.dumps({"answer": ref})) == ref
    as_string = json.dumps({"answer": json.dumps(ref)})
    assert extract_submission(as_string) == json.dumps(ref)  # parsed by the grader
    assert reward_for(as_string, info=dataset_row(load_task("seed-doc"))["info"]) == 1.0
    hermes = {"name": "submit_answer", "arguments": {"answer": ref}}
    python = {"name": "python_expression", "arguments": {"expression": "print({1: 2})"}}
    text = f"<tool_call>\n{json.dumps(hermes)}\n</tool_call>\n<tool_call>{json.dumps(python)}"
    assert extract_submission(text) == ref  # the later python call is not an answer
    openai_style = {
        "type": "function",
        "function": {"name": "submit_answer", "arguments": json.dumps({"answer": ref})},
    }
    assert extract_submission(json.dumps(openai_style)) == ref
    assert extract_submission(json.dumps(python)) is NO_SUBMISSION


def test_complete_objects_inside_a_broken_one(ref: dict[str, Any]) -> None:
    text = '{"status": "done", "result": ' + json.dumps({"answer": ref}) + ', "oops": }'
    assert extract_submission(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        '{"x": ' * 40_000,  # unterminated, and deeper than json can recurse
        '{"x": ' * 20_000 + "1" + "}" * 20_000,
        '{"a": [' * 30_000,
        '{"a": [1, {"b": "' * 15_000,
        "{" * 200_000,
        "{'a': 1} " * 20_000,
        '{"}' * 30_000,  # each start fails at once, far into the text
        '{"\\' * 30_000,
        '{"a"}' * 20_000,
        '{"a": "\\u12' * 10_000,  # an escape cut short, where a window could end
        '{"a": tru' * 10_000,
        '{"k": "' + "x" * 50_000,  # a string that never ends
    ],
)
def test_degenerate_completions_take_linear_time(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linear, proved by counting (never a wall time): the characters the JSON decoder reads
    and scans for a failure's line number, and those the closed-object scan reads, stay within
    three times the text's length, and the windows decoded within a fixed multiple of it (a
    retry at every brace, or a decode that fails far into the text, would touch a number
    quadratic in it: thousands of times the length at these sizes)."""
    decoder = _CountingDecoder()
    scans: list[int] = []
    closed_objects = _extract._closed_objects

    def counted(text: str, start: int, stop: int) -> list[tuple[int, Any]]:
        scans.append(stop - start)
        return closed_objects(text, start, stop)

    monkeypatch.setattr(_extract, "_DECODER", decoder)
    monkeypatch.setattr(_extract, "_closed_objects", counted)
    extract_submission(text)
    assert decoder.read + sum(scans) <= 3 * len(text), (decoder.read, sum(scans))
    assert decoder.strings <= _extract._WINDOW * decoder.calls + 20 * len(text)
    assert decoder.calls <= len(text)


_JSON_PIECES = st.sampled_from(
    [
        '{"',
        '"',
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\n",
        "\\",
        "\\u",
        "12",
        "1e",
        "-",
        "0",
        "a",
        "tru",
        "true",
        "null",
        "NaN",
        "-Infinity",
        "\\ud83d\\ude00",
        "\\n",
        "\x00",
    ]
)


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(_JSON_PIECES, max_size=60), window=st.integers(1, 24))
def test_a_windowed_decode_is_the_whole_texts_decode(pieces: list[str], window: int) -> None:
    """At every object start, the decode of growing windows gives what ``raw_decode`` of the
    whole text gives: the same value and end, or a failure at the same position (windows
    shrunk so that they end inside every kind of token)."""
    text = "".join(pieces)
    for pos in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            expected: Any = json.JSONDecoder().raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            expected = ("failed", exc.pos)
        except RecursionError:  # pragma: no cover - 60 pieces nest too little
            continue
        try:
            got: Any = _extract._decode_at(text, pos, window)
        except _extract._DecodeFailed as failed:
            got = ("failed", failed.pos)
        assert repr(got) == repr(expected), (text, pos)


class _CountingDecoder(json.JSONDecoder):
    """The extractor's decoder, counting the characters each ``raw_decode`` reads (to the
    failure position, or, past the recursion limit, to the end of the text: an upper bound),
    plus, on a failure, those before it in its string (:class:`json.JSONDecodeError` counts
    their newlines for its line number); and the lengths of the strings it is given."""

    read = 0
    strings = 0
    calls = 0

    def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
        self.calls += 1
        self.strings += len(s)
        try:
            value, end = super().raw_decode(s, idx)
        except json.JSONDecodeError as exc:
            self.read += exc.pos - idx + 1 + exc.pos
            raise
        except RecursionError:
            self.read += len(s) - idx
            raise
        self.read += end - idx
        return value, end


def test_unwrap_keeps_the_answer_itself(ref: dict[str, Any]) -> None:
    with_answer_key = ref | {"answer": 42}
    assert unwrap_submission(with_answer_key) == with_answer_key
    assert unwrap_submission([1, 2]) == [1, 2]


def test_nothing_to_grade() -> None:
    for text in ("", "no json here", "{not json}", "[1, 2, 3]", "{" * 500):
        assert extract_submission(text) is NO_SUBMISSION
    grade = grade_completion("I give up.")
    assert (grade.reward, grade.outcome, grade.category) == (0.0, "invalid", "no_submission")


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_extraction_never_raises(text: str) -> None:
    extract_submission(text)
    assert 0.0 <= reward_for(text) <= 1.0


_PROSE = st.text(st.characters(blacklist_characters="{}`"), max_size=80)


@settings(max_examples=60, deadline=None)
@given(before=_PROSE, after=_PROSE, fenced=st.booleans())
def test_submission_survives_any_prose(
    ref: dict[str, Any], before: str, after: str, fenced: bool
) -> None:
    body = json.dumps(ref)
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"{before}{body}{after}"
    assert extract_submission(text) == ref


def test_completion_text_forms() -> None:
    class Msg:
        def __init__(self, role: str, content: Any) -> None:
            self.role, self.content = role, content

    assert completion_text("plain") == "plain"
    chat = [
        {"role": "assistant", "content": "first"},
        {"role": "tool", "content": "out"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, "b"]},
    ]
    assert completion_text(chat) == "a\nb"
    assert completion_text([Msg("assistant", "x"), Msg("user", "y")]) == "x"
    assert completion_text({"role": "assistant", "content": None}) == ""
    with pytest.raises(TypeError, match="completion"):
        completion_text(42)


# -- from info to the task -------------------------------------------------------------------


def test_task_for_every_info_form(seed_task: Task) -> None:
    row = dataset_row(seed_task)
    info_dict = json.loads(row["info"])
    forms = [row["info"], info_dict, {"info": row["info"], "index": 0}, {"info": info_dict}]
    tasks = [task_for(form) for form in forms]
    assert all(t.content_hash == seed_task.content_hash for t in tasks)
    assert all(t is tasks[0] for t in tasks), "rebuilt graders are cached by spec hash"
    assert resolve_info({"index": 3}) is None


def test_info_routes_to_its_own_instance(ref: dict[str, Any]) -> None:
    text_task = load_task("seed-doc-text")
    row = dataset_row(text_task)
    expected = text_task.grade(ref)
    assert reward_for(json.dumps(ref), row["answer"], row["info"]) == expected.reward
    assert grade_completion(json.dumps(ref), info=row["info"]).message == expected.message
    assert expected.outcome != "full_success"


def test_without_info_only_the_default_preset() -> None:
    default = load_task()  # procedural, seed 0: never the gameable seed-doc
    ref = default.reference()
    assert reward_for(json.dumps(ref), dataset_row(default)["answer"]) == 1.0
    assert reward_for(json.dumps(ref), ref) == 1.0
    assert reward_for(json.dumps(ref)) == 1.0
    other = dataset_row(load_task("seed-doc"))["answer"]
    with pytest.raises(ValueError, match="pass the row's info"):
        reward_for(json.dumps(ref), other)


def test_bad_info_is_an_operator_error(seed_task: Task) -> None:
    info = json.loads(dataset_row(seed_task)["info"])
    edited = info | {"spec": info["spec"] | {"q": [[9.0, 9.0, 9.0]] * 4}}
    with pytest.raises(ValueError, match="hashes to"):
        task_for(json.dumps(edited))
    with pytest.raises(ValueError, match="not valid JSON"):
        task_for("{oops")
    with pytest.raises(ValueError, match="'spec'"):
        task_for('{"preset": "seed"}')
    with pytest.raises(ValueError, match="dict or a JSON string"):
        task_for(42)
    no_hash = {"spec": info["spec"]}
    assert task_for(no_hash).content_hash == seed_task.content_hash


def test_nan_in_a_completion_is_a_failure() -> None:
    ref = load_task().reference()  # graded without info: the default task
    bad = ref | {"final_output": [[math.nan] * len(row) for row in ref["final_output"]]}
    grade = grade_completion(json.dumps(bad))
    assert (grade.outcome, grade.reward) == ("failure", 0.0)


def test_build_tasks_and_rows() -> None:
    assert [t.name for t in build_tasks("seed-doc")] == ["seed-doc"]
    with pytest.raises(ValueError, match="fixed preset"):
        build_tasks("seed-doc", n=2)
    with pytest.raises(ValueError, match="n must be"):
        build_tasks("seed-doc", n=0)
    rows = build_rows("procedural", n=3, seed=10)
    hashes = {json.loads(r["info"])["spec_hash"] for r in rows}
    assert len(hashes) == 3
    assert build_rows("procedural", n=3, seed=10) == rows


_WITHOUT_EXTRAS = """
import sys
sys.modules["inspect_ai"] = sys.modules["verifiers"] = sys.modules["datasets"] = None
for name in ("inspect", "verifiers"):
    try:
        __import__(f"attnrl.integrations.{name}")
    except ImportError as exc:
        print(exc)
from attnrl.integrations import trl, verl
try:
    trl.load_dataset()
except ImportError as exc:
    print(exc)
print(trl.reward_func(None, ["none"]), verl.compute_score("attnrl", "none"))
"""


def test_missing_extras_say_what_to_install() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "pip install 'attnrl[inspect]'" in lines[0]
    assert "pip install 'attnrl[verifiers]'" in lines[1]
    assert "pip install 'attnrl[hf]'" in lines[2]
    assert lines[3] == "[0.0] 0.0"  # the reward functions need no framework at all
