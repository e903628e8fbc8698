"""What prompt caching saves: a scripted 10-turn run priced with and without it.

The first request is the task's prompt plus its tool definitions (tokens estimated as
characters / 4); each turn adds the assistant's turn (400 tokens: code or an answer) and the
tool result (300 tokens). Without caching every turn pays its whole prefix at the input
rate; with attnrl's breakpoint on the last block, each turn reads the previous prefix from
the cache (0.1x) and writes only the new blocks (1.25x), and prefixes under Anthropic's
1,024-token minimum are not cached (see attnrl.stats.cost.scripted_run_usage). Prices:
anthropic/claude-sonnet-4-6 from the published table. Arithmetic only, no API call.
Run: python benchmarks/bench_caching.py
"""

from __future__ import annotations

import json

from attnrl.stats.cost import CHARS_PER_TOKEN, PRICES, scripted_run_usage, usage_cost
from attnrl.task import Task, load_task

MODEL = "anthropic/claude-sonnet-4-6"
TURNS, OUTPUT, RESULT = 10, 400, 300


def prompt_tokens(task: Task) -> int:
    tools = json.dumps(
        [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in task.tools
        ]
    )
    return round((len(task.prompt) + len(tools)) / CHARS_PER_TOKEN)


def main() -> None:
    price = PRICES[MODEL]
    print(f"{MODEL}: {TURNS} turns, +{OUTPUT} output and +{RESULT} tool-result tokens a turn")
    print(
        f"{'task':<32} {'prompt':>7} {'uncached $':>11} {'cached $':>10} {'ratio':>7} "
        f"{'input-only ratio':>17}"
    )
    for label, task in (
        ("seed-doc", load_task("seed-doc")),
        ("procedural seed 0 (defaults)", load_task("procedural", 0)),
        ("procedural 11 tokens, 4 heads", load_task("procedural", 0, heads=4, tokens=11)),
    ):
        prompt = prompt_tokens(task)
        plain = usage_cost(scripted_run_usage(TURNS, prompt, OUTPUT, RESULT, cache=False), price)
        cached = usage_cost(scripted_run_usage(TURNS, prompt, OUTPUT, RESULT, cache=True), price)
        assert plain is not None and cached is not None
        output = TURNS * OUTPUT * price.output / 1e6
        ratio_in = (cached - output) / (plain - output)
        print(
            f"{label:<32} {prompt:>7} {plain:>11.4f} {cached:>10.4f} {cached / plain:>7.2f} "
            f"{ratio_in:>17.2f}"
        )


if __name__ == "__main__":
    main()
