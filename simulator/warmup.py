"""Knowing whether numba must compile before the first frame, so front ends can say so.

The first run on a machine compiles every kernel (tens of seconds); later runs load them
from numba's on-disk cache in well under a second. A front end calls :func:`needs_compile`
before building its first Session and shows a notice or a progress bar if it is True.
"""

from __future__ import annotations

import os

from simulator.core.world import load_entry
from simulator.worlds import world as world_kind


def needs_compile(world: str = "maze") -> bool:
    """True when the on-disk cache holds no compiled version of the world's main kernels."""
    for entry in world_kind(world).warmup:
        dispatcher = load_entry(entry)
        cache = getattr(dispatcher, "_cache", None)
        index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
        if index is None or not os.path.exists(index):
            return True
    return False
