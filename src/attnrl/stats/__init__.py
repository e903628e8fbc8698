"""Statistics of many runs: summaries, intervals and band verdicts."""
