"""The prompt and tool descriptions are rendered from the spec and never contradict it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from attnrl.task import load_task
from attnrl.tasks.attention.prompt import render_prompt, tool_specs
from attnrl.tasks.attention.spec import MaskSpec, TaskSpec, Tolerances

GOLDEN = Path(__file__).parent / "golden" / "seed_prompt.txt"

VARIANTS: dict[str, TaskSpec] = {
    "seed": load_task("seed-doc").spec,
    "seed-text": load_task("seed-doc-text").spec,
    "no-mask": load_task("seed-doc", mask=MaskSpec("none")).spec,
    "window": load_task("seed-doc", mask=MaskSpec("sliding_window", 2)).spec,
    "strict-tight": load_task(
        "seed-doc", policy="strict", tolerances=Tolerances(0.01, 0.02, 0.03)
    ).spec,
    "no-pos-residual-ln": load_task(
        "seed-doc", position_encoding=False, residual=True, layer_norm=True
    ).spec,
}


def test_seed_prompt_matches_golden_file() -> None:
    assert render_prompt(VARIANTS["seed"]) == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_prompt_states_every_knob_as_the_spec_says(name: str) -> None:
    spec = VARIANTS[name]
    text = render_prompt(spec)
    # the seed prompt's contradictions must never come back
    for phrase in ("zero out", "pad O2", "pad with zeros", "gradient"):
        assert phrase not in text.lower()
    source = "V_pos" if spec.value_source == "v_pos" else "Q_pos"
    wrong_source = "Q_pos" if source == "V_pos" else "V_pos"
    for h, head in enumerate(spec.heads, start=1):
        assert f"V{h} = {source}[:, {head.v[0]}:{head.v[1]}]" in text
        assert f"V{h} = {wrong_source}[" not in text
        assert f"Q{h} = Q_pos[:, {head.qk[0]}:{head.qk[1]}]" in text
        assert f"(d_k = {head.d_k}, d_v = {head.d_v})" in text
    if spec.masked:
        assert f"-inf wherever {spec.mask.masked_condition}," in text
    else:
        assert "No mask" in text and "-inf" not in text
    for key in spec.answer_keys():
        assert f'"{key}"' in text
    for c in spec.components():
        assert f'"{c.key}": ' in text and f"shape {c.shape}" in text
    tol = spec.tolerances
    ln = f", layer_normalized_output {tol.layer_norm:g}" if spec.layer_norm else ""
    assert f"attention weights {tol.weights:g}, outputs {tol.outputs:g}{ln}." in text
    assert (f"position encoding {tol.position:g}" in text) == spec.position_encoding
    assert ("Q_pos + concatenate" in text) == spec.residual
    assert ("layer_normalized_output" in text) == spec.layer_norm
    assert ("pos_emb = [[" in text) == spec.position_encoding
    assert ("partial credit" in text) == (spec.policy != "strict")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_tool_descriptions_match_the_answer_format(name: str) -> None:
    spec = VARIANTS[name]
    python, submit = tool_specs(spec)
    assert python.name == "python_expression"
    assert python.parameters["required"] == ["expression"]
    assert "stateless" in python.description and "np" in python.description
    answer_schema = submit.parameters["properties"]["answer"]
    assert answer_schema["required"] == list(spec.answer_keys())
    assert set(answer_schema["properties"]) == set(spec.answer_keys())
    for key in spec.answer_keys():
        assert key in submit.description
    json.dumps([python.parameters, submit.parameters])


def test_inputs_in_prompt_parse_back_to_the_spec() -> None:
    spec = VARIANTS["seed"]
    text = render_prompt(spec)
    for name, matrix in (("Q", spec.q), ("K", spec.k), ("V", spec.v), ("pos_emb", spec.pos_emb)):
        line = re.search(rf"^{name} = (.*)$", text, re.M)
        assert line is not None
        assert json.loads(line.group(1)) == [list(r) for r in matrix]
