"""Paging through a recording's states: what replay, the presenter and the reel use to
step through an episode without one HDF5 read per field per frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.recording.reader import Episode

BLOCK_STEPS = 64  # state rows read at a time
MAX_BLOCKS = 8  # blocks kept per pager


class StatePager:
    """Copy 0's states of one episode, read a block of steps at a time and kept for a
    few blocks: :meth:`at` costs one read per field per ``block_steps`` steps."""

    def __init__(self, episode: Episode, block_steps: int = BLOCK_STEPS,
                 max_blocks: int = MAX_BLOCKS):
        self.episode = episode
        self.n_steps = episode.n_steps
        self.block_steps = block_steps
        self.max_blocks = max_blocks
        self._blocks: dict[int, dict[str, np.ndarray]] = {}

    def at(self, t: int) -> dict[str, np.ndarray]:
        """field -> copy 0's value at step ``t`` (clamped to 0..n_steps)."""
        t = min(max(t, 0), self.n_steps)
        start = t - t % self.block_steps
        block = self._blocks.get(start)
        if block is None:
            if len(self._blocks) >= self.max_blocks:
                self._blocks.clear()
            stop = min(start + self.block_steps, self.n_steps + 1)
            block = self._blocks[start] = self.episode.state_rows(start, stop)
        return {name: rows[t - start] for name, rows in block.items()}

    def world_state(self, state_type: Any, t: int) -> Any:
        """The state at step ``t`` as ``state_type`` with one copy (E = 1)."""
        return state_type(**{name: value[None] for name, value in self.at(t).items()})
