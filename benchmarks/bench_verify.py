"""Verifications per second: a correct, a failed and a malformed submission.

Target (issue 25): 100,000/s on a 2-core machine. Beside it, in the same run, a seed-style
verifier (the reference recomputed with Python loops on every call, as the seed's did, then
each component compared with numpy); the ratio of the two is the figure that survives the
machine's load. Run: python benchmarks/bench_verify.py
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from attnrl.task import load_task
from attnrl.tasks.attention.bugs import bug_by_name
from attnrl.tasks.attention.spec import TaskSpec


def rate(fn: Callable[[], Any], seconds: float = 1.5) -> float:
    """Calls per CPU-second of this process (robust to other load on the machine), over a
    fixed window after a short warm-up; the verifier is single-threaded, so on an idle
    core this equals calls per wall-clock second."""
    for _ in range(200):
        fn()
    n, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        for _ in range(500):
            fn()
        n += 500
    return n / elapsed


def seed_style_verifier(spec: TaskSpec) -> Callable[[dict[str, Any]], bool]:
    """The seed's way: recompute the reference with Python loops on every call (causal
    mask, position encoding, the spec's heads), then compare each component with numpy."""

    def reference() -> dict[str, list[list[float]]]:
        n, d = spec.n_tokens, spec.d_model
        q, k, v = (
            [[m[i][c] + spec.pos_emb[i][c] for c in range(d)] for i in range(n)]
            for m in (spec.q, spec.k, spec.v)
        )
        out: dict[str, list[list[float]]] = {"position_encoded_queries": q}
        final: list[list[float]] = [[] for _ in range(n)]
        for h, head in enumerate(spec.heads, start=1):
            (a, b), (va, vb) = head.qk, head.v
            weights = []
            for i in range(n):
                scores = [
                    sum(q[i][c] * k[j][c] for c in range(a, b)) / math.sqrt(b - a)
                    if j <= i
                    else -math.inf
                    for j in range(n)
                ]
                top = max(scores)
                exps = [math.exp(x - top) if x != -math.inf else 0.0 for x in scores]
                weights.append([e / sum(exps) for e in exps])
            o = [
                [sum(weights[i][j] * v[j][c] for j in range(n)) for c in range(va, vb)]
                for i in range(n)
            ]
            out[f"head{h}_attention_weights"], out[f"head{h}_output"] = weights, o
            for i in range(n):
                final[i].extend(o[i])
        out["final_output"] = final
        return out

    def verify(result: dict[str, Any]) -> bool:
        ref = reference()
        ok = all(
            float(np.max(np.abs(np.asarray(result[key]) - np.asarray(value)))) < 0.1
            for key, value in ref.items()
        )
        return ok and result.get("causal_mask_applied") is True

    return verify


def main() -> None:
    task = load_task("seed-doc")
    correct = task.reference()
    correct_json = json.dumps(correct)
    malformed = {k: v for k, v in correct.items() if k != "final_output"}
    wrong_shape = correct | {"head2_output": [r[0] for r in correct["head2_output"]]}
    failed = bug_by_name("reversed_mask").submission(task.spec)
    cases = {
        "correct (dict)": correct,
        "correct (JSON string)": correct_json,
        "malformed: missing key": malformed,
        "malformed: wrong shape": wrong_shape,
        "failed: reversed mask (with diagnosis)": failed,
    }
    seed = seed_style_verifier(task.spec)
    assert seed(correct) and task.grade(correct).passed
    print(f"{'submission':42} {'verifications/s (per CPU-second)':>34}")
    rates = {}
    for name, answer in cases.items():
        rates[name] = rate(lambda a=answer: task.grade(a))
        print(f"{name:42} {rates[name]:34,.0f}")
    baseline = rate(lambda: seed(correct))
    print(f"{'seed-style verifier, correct (dict)':42} {baseline:34,.0f}")
    ratio = rates["correct (dict)"] / baseline
    print(f"attnrl / seed-style on the correct answer, same run: x{ratio:.1f}")


if __name__ == "__main__":
    main()
