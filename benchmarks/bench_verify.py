"""Verifications per second: a correct, a failed and a malformed submission.

Target (issue 25): 100,000/s on a 2-core machine. Beside it, in the same run, a seed-style
verifier (the reference recomputed with Python loops on every call, as the seed's did, then
each component compared with numpy); the ratio of the two is the figure that survives the
machine's load. With ``--before REV`` the attention grader's module
(``attnrl/tasks/attention/grading.py``) at that git revision grades the correct answer in the
same turns too, so a change to it is measured as a ratio in one run.
Run: python benchmarks/bench_verify.py [--before REV]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from attnrl.task import load_task
from attnrl.tasks.attention.bugs import bug_by_name
from attnrl.tasks.attention.spec import TaskSpec

REPO = Path(__file__).resolve().parents[1]
GRADING = "src/attnrl/tasks/attention/grading.py"


def rates(fns: dict[str, Callable[[], Any]], seconds: float = 6.0) -> dict[str, float]:
    """Calls per CPU-second of this thread for each function, measured in short batches
    that take turns (so a neighbour's burst of load hits every function alike), as the
    median over the batches; the verifier is single-threaded, so on an idle core this
    equals calls per wall-clock second."""
    batch: dict[str, int] = {}
    for name, fn in fns.items():  # warm-up, and a batch size of ~2 ms each
        start = time.thread_time()
        n = 0
        while time.thread_time() - start < 0.05:
            fn()
            n += 1
        batch[name] = max(1, n // 25)
    per_call: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    deadline = time.thread_time() + seconds
    turn = 0
    while time.thread_time() < deadline or turn < 10:
        for name in order if turn % 2 == 0 else order[::-1]:
            fn, n = fns[name], batch[name]
            start = time.thread_time_ns()
            for _ in range(n):
                fn()
            per_call[name].append((time.thread_time_ns() - start) / n)
        turn += 1
    return {name: 1e9 / statistics.median(times) for name, times in per_call.items()}


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


def grader_at(rev: str, spec: TaskSpec) -> Any:
    """The attention ``Grader`` of ``grading.py`` at git revision ``rev`` (the rest of the
    package as it is now)."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:{GRADING}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"attnrl.tasks.attention._grading_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{GRADING}@{rev}", "exec"), module.__dict__)
    return module.Grader(spec)


def main(before: str | None) -> None:
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
    fns = {name: (lambda a=answer: task.grade(a)) for name, answer in cases.items()}
    seed_name = "seed-style verifier, correct (dict)"
    fns[seed_name] = lambda: seed(correct)
    before_name = f"correct (dict), grading.py at {before}"
    if before:
        old = grader_at(before, task.spec)
        if old.grade(correct) != task.grade(correct):
            raise SystemExit(f"the grader at {before} grades the correct answer differently")
        fns[before_name] = lambda: old.grade(correct)
    measured = rates(fns)
    for name, value in measured.items():
        print(f"{name:42} {value:34,.0f}")
    ratio = measured["correct (dict)"] / measured[seed_name]
    print(f"attnrl / seed-style on the correct answer, same run: x{ratio:.1f}")
    if before:
        change = measured["correct (dict)"] / measured[before_name]
        print(f"this tree / grading.py at {before} on the correct answer, same run: x{change:.2f}")
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"load average after: {load}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="git revision of grading.py to compare against")
    main(parser.parse_args().before)
