"""The numpy program a solver of the attention task writes, with or without a catalogued bug.

:meth:`attnrl.tasks.attention.task.AttentionTask.solution_code` gives it: the oracle of an
export and the code the offline simulated agents run through the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from attnrl.tasks.attention.bugs import Bug
from attnrl.tasks.attention.reference import Variant
from attnrl.tasks.attention.spec import TaskSpec

__all__ = ["solution_code"]


def _literal(matrix: Sequence[Sequence[float]]) -> str:
    return json.dumps([list(r) for r in matrix])


def solution_code(spec: TaskSpec, bug: Bug | None = None) -> str:
    """The numpy program an agent with ``bug`` (None: no bug) would write; prints the answer."""
    v = bug.variant if bug else Variant()
    layout = bug.reshape.__name__ if bug and bug.reshape else ""
    heads = [
        (list(h.v), list(h.v)) if v.symmetric_heads else (list(h.qk), list(h.v)) for h in spec.heads
    ]
    pos = spec.position_encoding
    source = spec.value_source if v.value_source == "spec" else v.value_source
    mask = spec.mask
    lines = [
        "import json",
        f"Q = np.array({_literal(spec.q)})",
        f"K = np.array({_literal(spec.k)})",
        f"V = np.array({_literal(spec.v)})",
        f"P = np.array({_literal(spec.pos_emb)})" if pos else "P = np.zeros_like(Q)",
        f"Q_pos = Q{' + P' if v.pos_on_q else ''}",
        f"K_pos = K{' + P' if v.pos_on_k else ''}",
        f"V_pos = V{' + P' if v.pos_on_v else ''}",
        f"values = {'V_pos' if source == 'v_pos' else 'Q_pos'}",
        f"heads = {heads}",
        "n = Q.shape[0]",
        "i_idx, j_idx = np.arange(n)[:, None], np.arange(n)[None, :]",
    ]
    if v.mask == "none" or mask.kind == "none":
        lines.append("visible = np.ones((n, n), dtype=bool)")
    elif v.mask == "causal" or (mask.kind == "causal" and v.mask != "reversed"):
        lines.append("visible = j_idx <= i_idx")
    elif mask.kind == "causal":  # reversed
        lines.append("visible = j_idx >= i_idx")
    elif mask.kind == "reverse_causal":
        lines.append(f"visible = j_idx {'<=' if v.mask == 'reversed' else '>='} i_idx")
    else:
        window = mask.window
        lines.append(f"visible = (j_idx <= i_idx) & (j_idx > i_idx - {window})")
        if v.mask == "reversed":
            lines.append("visible = visible.T")
    scale = {"d_k": "np.sqrt(q.shape[1])", "none": "1.0", "d_model": "np.sqrt(Q.shape[1])"}[v.scale]
    axis = 1 if v.softmax_axis == "keys" else 0
    lines += [
        "def softmax(a, axis):",
        "    e = np.exp(a - np.max(a, axis=axis, keepdims=True))",
        "    return e / e.sum(axis=axis, keepdims=True)" if v.normalize else "    return e",
        "W, O = [], []",
        "for qk, vr in heads:",
        "    q, k = Q_pos[:, qk[0]:qk[1]], K_pos[:, qk[0]:qk[1]]",
        f"    A = q @ k.T / {scale}",
    ]
    if v.mask == "zero_fill":
        lines.append(f"    w = softmax(np.where(visible, A, 0.0), {axis})")
    elif v.mask == "after_softmax":
        lines.append(f"    w = np.where(visible, softmax(A, {axis}), 0.0)")
    elif v.mask == "multiply_inf":
        lines += [
            "    keep = visible.astype(float)",
            "    with np.errstate(invalid='ignore'):",
            f"        w = softmax(A * keep + (-np.inf) * (1 - keep), {axis})",
        ]
    else:
        lines.append(f"    w = softmax(np.where(visible, A, -np.inf), {axis})")
    lines += [
        "    W.append(w)",
        "    O.append(w @ values[:, vr[0]:vr[1]])",
        f"final = np.concatenate(O{'[::-1]' if v.concat_reversed else ''}, axis=1)",
    ]
    if spec.residual and v.residual == "spec":
        lines.append("final = Q_pos + final")
    lines.append("answer = {}")
    if pos:
        lines.append("answer['position_encoded_queries'] = Q_pos.tolist()")
    lines += [
        "for h, w in enumerate(W, start=1):",
        "    answer[f'head{h}_attention_weights'] = w.tolist()",
        "for h, o in enumerate(O, start=1):",
        "    answer[f'head{h}_output'] = o.tolist()",
        "answer['final_output'] = final.tolist()",
    ]
    if spec.layer_norm:
        if v.layer_norm == "skip":
            lines.append("answer['layer_normalized_output'] = final.tolist()")
        else:
            lines += [
                "mu = final.mean(axis=1, keepdims=True)",
                f"var = final.var(axis=1, keepdims=True, ddof={int(v.layer_norm == 'unbiased')})",
                "answer['layer_normalized_output'] = ((final - mu) / np.sqrt(var + 1e-8)).tolist()",
            ]
    if layout == "_flatten_single_columns":
        lines += [
            "for h, (qk, vr) in enumerate(heads, start=1):",
            "    if vr[1] - vr[0] == 1:",
            "        answer[f'head{h}_output'] = O[h - 1][:, 0].tolist()",
        ]
    elif layout == "_pad_narrow_heads":
        lines += [
            "width = max(o.shape[1] for o in O)",
            "O = [np.pad(o, ((0, 0), (0, width - o.shape[1]))) for o in O]",
            "for h, o in enumerate(O, start=1):",
            "    answer[f'head{h}_output'] = o.tolist()",
            "answer['final_output'] = np.concatenate(O, axis=1).tolist()",
        ]
    if spec.masked:
        flag = bug.mask_flag if bug else True
        lines.append(f"answer['causal_mask_applied'] = {flag}")
    # Like a careful model, round only when the full answer would not fit the tool's
    # 10,000-character output (the small seed answers are printed exactly as computed).
    lines += [
        "text = json.dumps(answer)",
        "for digits in (6, 4, 3):",
        "    if len(text) <= 9000:",
        "        break",
        "    r = lambda x: round(x, digits) if isinstance(x, float) else [r(y) for y in x] "
        "if isinstance(x, list) else x",
        "    text = json.dumps({k: r(v) for k, v in answer.items()}, separators=(',', ':'))",
        "print(text)",
    ]
    return "\n".join(lines) + "\n"
