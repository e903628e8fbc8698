"""Renders a spec into the model's prompt and the two tool descriptions.

Every sentence about the computation is generated from the spec's knobs, in the same
order and with the same conventions as :func:`.reference.forward`, so the prompt
cannot contradict the grader (the seed's prompt did, four times).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attnrl.sandbox.limits import SandboxLimits
from attnrl.task.tools import (
    PYTHON_TOOL,
    SUBMIT_TOOL,
    ToolSpec,
    python_tool,
    submit_tool,
    tool_lines,
)
from attnrl.tasks.attention.answer_size import answer_decimals
from attnrl.tasks.attention.grading import PassRule, pass_rules
from attnrl.tasks.attention.spec import ANSWER_MASK_FLAG, Matrix, TaskSpec

__all__ = ["PYTHON_TOOL", "SUBMIT_TOOL", "grading_rules", "render_prompt", "tool_specs"]


def _fmt_number(x: float) -> str:
    return repr(float(x))


def _fmt_matrix(m: Matrix) -> str:
    return "[" + ", ".join("[" + ", ".join(_fmt_number(x) for x in row) + "]" for row in m) + "]"


def _cols(start: int, stop: int) -> str:
    return f"{start}:{stop}"


def _mask_lines(spec: TaskSpec) -> list[str]:
    kind = spec.mask.kind
    if kind == "none":
        return ["   - No mask: every query attends to every key."]
    sees = {
        "causal": "keys j <= i (itself and earlier tokens)",
        "reverse_causal": "keys j >= i (itself and later tokens)",
        "sliding_window": f"keys j with i - {spec.mask.window} < j <= i "
        f"(itself and the {spec.mask.window - 1 if spec.mask.window else 0} tokens before it)",
    }[kind]
    return [
        f"   - Mask: query i may attend only to {sees}. Set A_h[i, j] = -inf wherever "
        f"{spec.mask.masked_condition}, before the softmax (not 0: -inf, so those weights "
        "become exactly 0).",
    ]


def _steps(spec: TaskSpec) -> list[str]:
    lines: list[str] = []
    step = 1
    if spec.position_encoding:
        lines.append(
            f"{step}. Position encoding: Q_pos = Q + pos_emb, K_pos = K + pos_emb, "
            "V_pos = V + pos_emb (element-wise)."
        )
    else:
        lines.append(
            f"{step}. No position encoding: Q_pos = Q, K_pos = K, V_pos = V (pos_emb is not used)."
        )
    step += 1
    source = "V_pos" if spec.value_source == "v_pos" else "Q_pos"
    lines.append(
        f"{step}. Heads: {len(spec.heads)} head{'s' if len(spec.heads) > 1 else ''}, each reading "
        "column slices (0-based, end-exclusive, as numpy's a:b):"
    )
    for h, head in enumerate(spec.heads, start=1):
        qk, v = _cols(*head.qk), _cols(*head.v)
        lines.append(
            f"   - Head {h}: Q{h} = Q_pos[:, {qk}], K{h} = K_pos[:, {qk}], V{h} = {source}[:, {v}] "
            f"(d_k = {head.d_k}, d_v = {head.d_v})"
        )
    step += 1
    lines.append(f"{step}. Attention, for each head h separately:")
    lines.append(
        "   - Scores: A_h[i, j] = (Q_h[i] . K_h[j]) / sqrt(d_k), where d_k is that head's "
        "Q/K width given above."
    )
    lines.extend(_mask_lines(spec))
    lines.append(
        "   - Softmax over keys, row by row: W_h[i, :] = softmax(A_h[i, :]), so each row of W_h "
        "sums to 1. Subtract the row max before exponentiating."
    )
    lines.append(f"   - Output: O_h = W_h @ V_h, shape ({spec.n_tokens}, d_v).")
    step += 1
    heads = ", ".join(f"O{h}" for h in range(1, len(spec.heads) + 1))
    concat = f"concatenate([{heads}], axis=1)" if len(spec.heads) > 1 else "O1"
    if spec.residual:
        lines.append(
            f"{step}. Output with residual: final_output = Q_pos + {concat}, "
            f"shape ({spec.n_tokens}, {spec.concat_width})."
        )
    else:
        lines.append(
            f"{step}. Concatenation, in head order, nothing padded: final_output = {concat}, "
            f"shape ({spec.n_tokens}, {spec.concat_width})."
        )
    if spec.layer_norm:
        step += 1
        lines.append(
            f"{step}. Layer norm of each row of final_output, no learned scale or shift: "
            "layer_normalized_output[i] = (x - mean(x)) / sqrt(var(x) + 1e-8) with x = "
            "final_output[i] and var the population variance (numpy's default)."
        )
    return lines


def _answer_lines(spec: TaskSpec) -> list[str]:
    names = {
        "position_encoded_queries": "Q_pos",
        "final_output": "final_output",
        "layer_normalized_output": "layer_normalized_output",
    }
    lines = []
    for c in spec.components():
        if c.kind == "weights":
            what = f"W{c.head}"
        elif c.head is not None:
            what = f"O{c.head}"
        else:
            what = names[c.key]
        lines.append(f'- "{c.key}": {what}, shape {c.shape}')
    if spec.masked:
        lines.append(f'- "{ANSWER_MASK_FLAG}": true if you applied the mask above (a JSON boolean)')
    return lines


def _and(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _rule_line(rule: PassRule) -> str:
    """One passing outcome, stated exactly as the grader applies it."""
    needs = []
    if rule.all_of:
        needs.append(_and(rule.all_of) + " within tolerance")
    groups = [g[0] if len(g) == 1 else "(" + " and ".join(g) + ")" for g in rule.any_of]
    if len(groups) == 1:
        needs.append(f"{groups[0]} within tolerance")
    elif groups:
        needs.append("at least one of " + " or ".join(groups) + " within tolerance")
    if rule.mask_flag:
        needs.append(f"{ANSWER_MASK_FLAG} true")
    name = {"full_success": "Full success", "partial_success": "Partial success"}[rule.outcome]
    credit = "full credit" if rule.outcome == "full_success" else "partial credit"
    return f"- {name} ({credit}, reward {rule.reward:g}) needs {_and(needs)}."


def grading_rules(spec: TaskSpec) -> list[str]:
    """The policy's rules, rendered from :func:`~attnrl.tasks.attention.grading.pass_rules`."""
    rules = pass_rules(spec)
    strict = ["Every listed component must be within tolerance to pass."]
    return [
        "Grading:" if spec.policy != "strict" else "Grading: " + strict[0],
        *(_rule_line(r) for r in rules),
        "- Anything else earns reward 0.",
    ]


def _tolerance_text(spec: TaskSpec) -> str:
    """The tolerances of the components this spec grades, as the grader applies them."""
    tol = spec.tolerances
    parts = [f"position encoding {tol.position:g}"] if spec.position_encoding else []
    parts += [f"attention weights {tol.weights:g}", f"outputs {tol.outputs:g}"]
    if spec.layer_norm:
        parts.append(f"layer_normalized_output {tol.layer_norm:g}")
    return ", ".join(parts)


def _rounding_line(spec: TaskSpec) -> str:
    """Rounding guidance from the tolerances, so the answer fits the tool output and a response."""
    d = answer_decimals(spec)
    return (
        f"Round every number to {d} decimals (this moves it by at most {0.5 * 10**-d:g}, "
        "far inside the tolerances) and print compact JSON, e.g. "
        f"json.dumps({{k: np.round(m, {d}).tolist(), ...}}, separators=(',', ':')), so the "
        "answer fits the tool output and your reply."
    )


def render_prompt(spec: TaskSpec, limits: SandboxLimits | None = None) -> str:
    """The exact text of the task's user message."""
    lim = limits or SandboxLimits()
    parts = [
        "Implement positional multi-head attention for the fixed inputs below and submit "
        "every intermediate result.",
        "",
        f"## Inputs ({spec.n_tokens} tokens, d_model = {spec.d_model}; row i is token i)",
        f"Q = {_fmt_matrix(spec.q)}",
        f"K = {_fmt_matrix(spec.k)}",
        f"V = {_fmt_matrix(spec.v)}",
    ]
    if spec.position_encoding:
        parts.append(f"pos_emb = {_fmt_matrix(spec.pos_emb)}")
    parts += [
        "",
        "## Algorithm (follow it exactly)",
        *_steps(spec),
        "",
        *tool_lines(lim),
        "",
        "## Answer",
        f"Call {SUBMIT_TOOL} with `answer` set to a JSON object with exactly these keys; "
        "matrices are lists of rows of numbers, with exactly the shapes given:",
        *_answer_lines(spec),
        "",
        "Each matrix is compared element-wise with the reference. Tolerances (max absolute "
        f"error, strictly less than): {_tolerance_text(spec)}.",
        _rounding_line(spec),
        *grading_rules(spec),
    ]
    return "\n".join(parts) + "\n"


def _answer_schema(spec: TaskSpec) -> dict[str, Any]:
    matrix = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    props: dict[str, Any] = {
        c.key: matrix | {"description": f"shape {c.shape}"} for c in spec.components()
    }
    if spec.masked:
        props[ANSWER_MASK_FLAG] = {"type": "boolean"}
    return {"type": "object", "properties": props, "required": list(spec.answer_keys())}


def tool_specs(spec: TaskSpec, limits: SandboxLimits | None = None) -> tuple[ToolSpec, ToolSpec]:
    """The two tools, described from the spec and the sandbox limits."""
    return python_tool(limits), submit_tool(spec.answer_keys(), _answer_schema(spec))
