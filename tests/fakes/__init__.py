"""Reusable test doubles (importable once ``tests/`` is on ``sys.path``)."""
