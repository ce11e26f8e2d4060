"""What an agent outside the engine perceives of the arena, batched over copies:
``(E, 4 B)`` float32 — every body's position (x, y in m; B bodies in the scene's order)
then every body's velocity (vx, vy in m/s), flattened body by body. An action is the
thrust (ax, ay) (the kernel saturates it to the unit disc).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTION_WIDTH = 2
N_DISCRETE = 0  # continuous actions in [ACTION_LOW, ACTION_HIGH]
ACTION_LOW, ACTION_HIGH = -1.0, 1.0
SOLO = False  # a lane's other pushers act beside the controlled one


def scratch(state: Any) -> None:
    return None  # nothing to keep between calls


def observation_shape(state: Any) -> tuple[int, ...]:
    return (4 * state.pos.shape[1],)


def observation_bounds(state: Any) -> tuple[np.ndarray, np.ndarray]:
    # Finite, loose bounds: no arena's metres and metres per second leave them.
    shape = observation_shape(state)
    return np.full(shape, -1e6, np.float32), np.full(shape, 1e6, np.float32)


def observe_copies(state: Any, maps: Any = None, refresh: Any = None) -> np.ndarray:
    """Every copy's observation, (E, 4 B) float32."""
    n_copies = state.n_copies
    out = np.empty((n_copies, *observation_shape(state)), np.float32)
    np.concatenate([state.pos.reshape(n_copies, -1), state.vel.reshape(n_copies, -1)],
                   axis=1, out=out, casting="unsafe")
    return out
