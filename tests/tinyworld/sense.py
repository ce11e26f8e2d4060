"""What an agent outside the engine perceives of the tiny world: ``(E, 3)`` float32 —
its cell, the goal's cell, the line's length. An action is one integer 0..2."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyworld.kernels import N_ACTIONS

ACTION_WIDTH = 1
N_DISCRETE = N_ACTIONS
ACTION_LOW, ACTION_HIGH = 0.0, float(N_ACTIONS - 1)
SOLO = True


def scratch(state: Any) -> None:
    return None


def observation_shape(state: Any) -> tuple[int, ...]:
    return (3,)


def observation_bounds(state: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(3, np.float32), np.full(3, 64, np.float32)


def observe_copies(state: Any, maps: Any = None, refresh: Any = None) -> np.ndarray:
    return np.stack([state.pos, state.goal, state.length], axis=1).astype(np.float32)
