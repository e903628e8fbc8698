"""The two walks every tool call's arguments get on the trainers' hot path: the depth
check (:func:`attnrl.harness.tools.nested_too_deep`) and the repeat digest
(``call_digest``). Both take shortcuts for rows of numbers; these properties hold them to
the plain definitions: the recursive depth, and "the same canonical JSON"."""

from __future__ import annotations

import json
from collections import OrderedDict
from enum import IntEnum
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnrl.harness.tools import MAX_ARGUMENT_DEPTH, nested_too_deep
from attnrl.integrations._tool_session import call_digest

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


def parsed(value: Any) -> Any:
    """``value`` as a trainer hands it over: parsed from the model's JSON."""
    return json.loads(json.dumps(value))


def depth(value: Any) -> int:
    """The plain recursive definition: how many dicts/lists/tuples deep ``value`` nests."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


class Key(str):
    pass


class Small(IntEnum):
    ONE = 1


class Rows(list):  # type: ignore[type-arg]
    pass


def disguised(value: Any, draw: Any) -> Any:
    """The same JSON as ``value``, other Python: keys reordered, subclasses of the JSON
    types (numpy floats, str and int subclasses, OrderedDict, tuples)."""
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        kind = draw(st.sampled_from([dict, OrderedDict]))
        return kind((Key(k), disguised(value[k], draw)) for k in keys)
    if isinstance(value, list):
        items = [disguised(v, draw) for v in value]
        return draw(st.sampled_from([list, tuple, Rows]))(items)
    if type(value) is float and draw(st.booleans()):
        return np.float64(value)
    if value == 1 and type(value) is int and draw(st.booleans()):
        return Small.ONE
    if type(value) is str and draw(st.booleans()):
        return Key(value)
    return value


@SETTINGS
@given(json_values, st.integers(0, 6))
def test_depth_check_is_the_recursive_depth(value: Any, limit: int) -> None:
    assert nested_too_deep(value, limit) == (depth(value) > limit)


@SETTINGS
@given(json_values, st.integers(0, 6), st.data())
def test_depth_check_sees_through_subclasses(value: Any, limit: int, data: Any) -> None:
    """A dict or list subclass is still nested: the row-of-numbers shortcut skips only the
    exact scalar types."""
    other = disguised(parsed(value), data.draw)
    assert nested_too_deep(other, limit) == (depth(other) > limit)


def test_depth_check_answers_at_any_depth() -> None:
    deep: Any = 1.0
    for _ in range(200_000):
        deep = [deep]
    assert nested_too_deep({"answer": deep})
    assert not nested_too_deep({"answer": [[1.0] * 10_000] * 100})
    assert nested_too_deep([[[1]]], 2) and not nested_too_deep([[[1]]], 3)


@SETTINGS
@given(json_values, json_values)
def test_digests_agree_exactly_when_canonical_json_does(a: Any, b: Any) -> None:
    a, b = parsed({"answer": a}), parsed({"answer": b})
    same_json = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (call_digest("submit_answer", a) == call_digest("submit_answer", b)) == same_json
    assert call_digest("submit_answer", a) != call_digest("python_expression", a)


@SETTINGS
@given(json_values, st.data())
def test_a_call_digests_alike_however_its_json_is_held(value: Any, data: Any) -> None:
    """Key order, JSON text or dict, numpy floats and subclasses: the same call."""
    arguments = parsed({"expression": "x", "answer": value})
    digest = call_digest("submit_answer", arguments)
    assert call_digest("submit_answer", json.dumps(arguments)) == digest
    assert call_digest("submit_answer", disguised(arguments, data.draw)) == digest


def test_digest_of_what_json_cannot_hold_never_raises() -> None:
    deep: Any = 1
    for _ in range(MAX_ARGUMENT_DEPTH * 100):
        deep = [deep]
    assert call_digest("submit_answer", {"answer": deep}) == call_digest(
        "submit_answer", {"answer": [[deep]]}
    )  # both too deep to encode: one "unencodable" digest, as a repeat counter wants
    mixed = {1: "a", "b": 2}
    assert call_digest("submit_answer", mixed) == call_digest("submit_answer", {"x": object()})
    int_keys = {1: [1.0], 2: [2.0]}  # a Python caller's dict: JSON's rules, keys as text
    assert call_digest("submit_answer", int_keys) != call_digest("submit_answer", {1: [1.0]})
    assert call_digest("python_expression", "not json") != call_digest(
        "python_expression", "not json either"
    )
