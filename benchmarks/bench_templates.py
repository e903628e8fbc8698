"""Answers that guess the attention weights without Q and K, outside the catalogue: how often
does one earn reward, per ladder rung?

Procedural instances are drawn until every catalogued bug and cheap answer misses the
tolerances (``attnrl audit --ladder`` counts those: never paid). A template that is not in
the catalogue (a blend of two catalogued cheap weights, or a recency or first-token weighting)
can still land inside the tolerances where an instance's true attention happens to be close
to it. Each template below is submitted with everything else computed right
(:func:`attnrl.tasks.attention.reference.with_weights`) on the instances of seeds
``0..N-1`` of each rung, and graded by the real grader. Prints, per rung, the templates that
were paid and on how many instances, and how many instances any template paid.

Run: python benchmarks/bench_templates.py [--rungs 0,1,2,4] [--seeds 1000]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from attnrl.tasks.attention.grading import Grader
from attnrl.tasks.attention.ladder import LADDER
from attnrl.tasks.attention.procedural import ProceduralConfig, draw
from attnrl.tasks.attention.reference import submission, with_weights

Template = Callable[[np.ndarray], np.ndarray]
"""Weights ``(n, n)`` from the mask's visible pattern alone (no Q, no K)."""


def _uniform(visible: np.ndarray) -> np.ndarray:
    seen = visible.astype(float)
    out: np.ndarray = seen / seen.sum(axis=1, keepdims=True)
    return out


def blend(alpha: float) -> Template:
    """``alpha`` x identity + (1 - alpha) x uniform over the visible keys."""
    return lambda visible: alpha * np.eye(len(visible)) + (1 - alpha) * _uniform(visible)


def recency(decay: float) -> Template:
    """Weight ``decay ** distance`` on each visible key, normalised."""

    def weights(visible: np.ndarray) -> np.ndarray:
        i, j = np.indices(visible.shape)
        raw = visible * decay ** np.clip(i - j, 0, None)
        out: np.ndarray = raw / raw.sum(axis=1, keepdims=True)
        return out

    return weights


def first_token(share: float) -> Template:
    """``share`` on the first key (when visible), the rest uniform."""

    def weights(visible: np.ndarray) -> np.ndarray:
        raw = (1 - share) * _uniform(visible)
        raw[:, 0] += share * visible[:, 0]
        out: np.ndarray = raw / raw.sum(axis=1, keepdims=True)
        return out

    return weights


TEMPLATES: dict[str, Template] = {
    **{f"blend {a / 100:.2f}": blend(a / 100) for a in range(50, 100, 2)},
    **{f"recency {d}": recency(d) for d in (0.2, 0.35, 0.5, 0.65, 0.8, 1.5, 2.0)},
    **{f"first token {s}": first_token(s) for s in (0.2, 0.4, 0.6)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rungs", default="0,1,2,4", help="ladder rungs (0,1,2,4)")
    parser.add_argument("--seeds", type=int, default=1000, help="instances per rung (1000)")
    args = parser.parse_args()
    print(f"{len(TEMPLATES)} templates (no Q, no K), seeds 0..{args.seeds - 1} of each rung")
    for rung in (int(r) for r in args.rungs.split(",")):
        specs = [draw(s, ProceduralConfig(**LADDER[rung])).spec for s in range(args.seeds)]
        graders = [Grader(spec) for spec in specs]
        paid_any: set[int] = set()
        for name, template in TEMPLATES.items():
            paid = []
            for seed, (spec, grader) in enumerate(zip(specs, graders, strict=True)):
                visible = spec.mask.visible(spec.n_tokens)
                answer = submission(spec, with_weights(spec, [template(visible)] * len(spec.heads)))
                if grader.grade(answer).reward > 0:
                    paid.append(seed)
            if paid:
                paid_any.update(paid)
                print(f"  rung {rung}: {name} paid on {len(paid)}/{args.seeds} (seeds {paid[:6]})")
        share = f"{len(paid_any)}/{args.seeds} ({len(paid_any) / args.seeds:.1%})"
        print(f"rung {rung}: paid by at least one template on {share}")


if __name__ == "__main__":
    main()
