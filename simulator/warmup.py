"""Knowing whether numba must compile before the first frame, so front ends can say so.

The first run on a machine compiles every kernel (tens of seconds); later runs load them
from numba's on-disk cache in well under a second. A front end calls :func:`needs_compile`
before building its first Session and shows a notice or a progress bar if it is True.
"""

from __future__ import annotations

import os
from importlib import import_module

# The kernels a first frame of each world needs, as (module, function) pairs.
_KERNELS = {
    "maze": [("simulator.drivers.maze", "maze_rollout"), ("simulator.worlds.maze", "draw_initial")],
    "arena": [("simulator.drivers.arena", "arena_rollout"),
              ("simulator.worlds.arena", "draw_initial")],
}


def needs_compile(world: str = "maze") -> bool:
    """True when the on-disk cache holds no compiled version of the world's main kernels."""
    for module, name in _KERNELS.get(world, []):
        dispatcher = getattr(import_module(module), name)
        cache = getattr(dispatcher, "_cache", None)
        index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
        if index is None or not os.path.exists(index):
            return True
    return False
