"""What an agent outside the engine perceives of the maze, batched over a lane's copies:
``(E, 5, 18)`` float32, the learned agents' objective-free observation
(:mod:`simulator.worlds.maze.observe`): per action (stay, up, down, left, right) the 15
``toward_<channel>`` features and ``blocked``, ``lava``, ``stay``; values in [-1, 1].
The same for an external Python policy in a lane (agents/external.py) and for the
Gymnasium / PettingZoo envs (simulator/envs/). An action is one integer 0..4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from simulator.worlds.maze.kernels import N_ACTIONS
from simulator.worlds.maze.observe import N_CORNERS, N_OBS, distance_maps, observe

ACTION_WIDTH = 1
N_DISCRETE = N_ACTIONS  # actions are integers 0..N_DISCRETE-1
ACTION_LOW, ACTION_HIGH = 0.0, float(N_ACTIONS - 1)
# One agent per lane: an env copy needs none of the scene's other lanes' agents.
SOLO = True


@njit(cache=True, parallel=True)
def maze_observations(cell, agent_pos, obj_kind, obj_color, obj_pos, maps, refresh, out):
    """Fill out (E, N_ACTIONS, N_OBS) float32 with every copy's observation.

    maps (E, K + 4, H * W) int32: each copy's distance maps, recomputed where refresh (E,)
    bool is set (a maze's grid and objects do not change within an episode unless a
    perturbation changes them, so an env computes them once per episode). State arrays as
    in :class:`~simulator.worlds.maze.kernels.MazeState`.
    """
    for e in prange(cell.shape[0]):
        if refresh[e]:
            distance_maps(cell[e], obj_kind[e], obj_pos[e], maps[e])
        observe(cell[e], obj_kind[e], obj_color[e], obj_pos[e], maps[e], agent_pos[e, 0],
                agent_pos[e, 1], out[e])


def scratch(state: Any) -> np.ndarray:
    """Scratch distance maps for every copy of a MazeState: (E, K + 4, H * W) int32, kept
    between :func:`observe_copies` calls so unchanged copies need no new BFS."""
    n_copies, height, width = state.cell.shape
    return np.empty((n_copies, state.obj_kind.shape[1] + N_CORNERS, height * width), np.int32)


def observation_shape(state: Any) -> tuple[int, ...]:
    return (N_ACTIONS, N_OBS)


def observation_bounds(state: Any) -> tuple[np.ndarray, np.ndarray]:
    shape = observation_shape(state)
    return np.full(shape, -1, np.float32), np.full(shape, 1, np.float32)


def observe_copies(state: Any, maps: np.ndarray | None = None,
                   refresh: np.ndarray | None = None) -> np.ndarray:
    """Every copy's observation, (E, 5, 18) float32. ``maps`` from :func:`scratch` kept
    between calls and ``refresh`` (E,) bool, the copies whose maps must be recomputed;
    without them every copy's are."""
    n_copies = state.n_copies
    out = np.empty((n_copies, *observation_shape(state)), np.float32)
    if maps is None:
        maps, refresh = scratch(state), np.ones(n_copies, np.bool_)
    maze_observations(state.cell, state.agent_pos, state.obj_kind, state.obj_color,
                      state.obj_pos, maps, refresh, out)
    return out
