"""The harness: the two tools' rules → one run's agent loop → the run directory → many runs."""
