"""Isolated execution of model-written Python (see :mod:`attnrl.sandbox.base`)."""
