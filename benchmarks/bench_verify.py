"""Verifications per second: a correct, a failed and a malformed submission.

Target (issue 2): >= 50,000/s on a 2-core machine; the seed's verifier, which recomputed
the reference with Python loops on every call, managed about 7,000/s.
Run: python benchmarks/bench_verify.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from attnrl.task import load_task
from attnrl.tasks.attention.bugs import bug_by_name


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
    print(f"{'submission':42} {'verifications/s (per CPU-second)':>34}")
    for name, answer in cases.items():
        print(f"{name:42} {rate(lambda a=answer: task.grade(a)):34,.0f}")


if __name__ == "__main__":
    main()
