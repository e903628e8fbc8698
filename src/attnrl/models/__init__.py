"""Model providers behind one async interface (see :mod:`attnrl.models.base`)."""
