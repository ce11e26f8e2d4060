"""What an agent from outside the engine perceives, batched over a lane's copies.

One observation per world kind, the same for an external Python policy in a lane
(agents/external.py) and for the Gymnasium / PettingZoo envs (simulator/envs/), so a
policy trained on an env runs unchanged in a lane. All float32, leading copy axis ``E``:

- **maze** ``(E, 5, 18)``: the learned agents' objective-free observation
  (:mod:`agents.observe`): per action (stay, up, down, left, right) the 15
  ``toward_<channel>`` features and ``blocked``, ``lava``, ``stay``; values in [-1, 1].
- **thermal** ``(E, NS + NH + NW)``: every sensor's reading (°C), every heater's power
  fraction in [0, 1] (after the last step), every window open (1) or shut (0), in the scene
  legend's order.
- **arena** ``(E, 4 B)``: every body's position (x, y in m; B bodies in the scene's order)
  then every body's velocity (vx, vy in m/s), flattened body by body.

Actions, per copy and agent (:data:`ACTION_WIDTH` numbers): maze an integer 0..4 (stay, up,
down, left, right); thermal the heater's power fraction (the kernel clips it to [0, 1]);
arena the thrust (ax, ay) (the kernel saturates it to the unit disc).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from agents.observe import N_CORNERS, N_OBS, distance_maps, observe
from simulator.worlds.maze import N_ACTIONS

ACTION_WIDTH = {"maze": 1, "thermal": 1, "arena": 2}


@njit(cache=True, parallel=True)
def maze_observations(cell, agent_pos, obj_kind, obj_color, obj_pos, maps, refresh, out):
    """Fill out (E, N_ACTIONS, N_OBS) float32 with every copy's observation.

    maps (E, K + 4, H * W) int32: each copy's distance maps, recomputed where refresh (E,)
    bool is set (a maze's grid and objects do not change within an episode unless a
    perturbation changes them, so an env computes them once per episode). State arrays as
    in :class:`~simulator.worlds.maze.MazeState`.
    """
    for e in prange(cell.shape[0]):
        if refresh[e]:
            distance_maps(cell[e], obj_kind[e], obj_pos[e], maps[e])
        observe(cell[e], obj_kind[e], obj_color[e], obj_pos[e], maps[e], agent_pos[e, 0],
                agent_pos[e, 1], out[e])


def maze_maps(state: Any) -> np.ndarray:
    """Scratch distance maps for every copy of a MazeState: (E, K + 4, H * W) int32."""
    n_copies, height, width = state.cell.shape
    return np.empty((n_copies, state.obj_kind.shape[1] + N_CORNERS, height * width), np.int32)


def observation_shape(world: str, state: Any) -> tuple[int, ...]:
    """One copy's observation shape (see the module docstring)."""
    if world == "maze":
        return (N_ACTIONS, N_OBS)
    if world == "thermal":
        return (state.sensor_pos.shape[1] + state.heater_power.shape[1]
                + state.window_open.shape[1],)
    return (4 * state.pos.shape[1],)


def observation_bounds(world: str, state: Any) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float32 arrays of one copy's observation shape."""
    shape = observation_shape(world, state)
    if world == "maze":
        return np.full(shape, -1, np.float32), np.full(shape, 1, np.float32)
    # Finite, loose bounds: no physical reading leaves them (absolute zero up to a furnace;
    # an arena's metres and metres per second).
    if world == "thermal":
        low, high = np.full(shape, -273.15, np.float32), np.full(shape, 1e4, np.float32)
        n_sensors = state.sensor_pos.shape[1]
        low[n_sensors:], high[n_sensors:] = 0.0, 1.0
        return low, high
    return np.full(shape, -1e6, np.float32), np.full(shape, 1e6, np.float32)


def observe_copies(world: str, state: Any, maps: np.ndarray | None = None,
                   refresh: np.ndarray | None = None) -> np.ndarray:
    """Every copy's observation, (E, *observation_shape) float32.

    maze only: ``maps`` from :func:`maze_maps` kept between calls and ``refresh`` (E,) bool,
    the copies whose maps must be recomputed; without them every copy's are.
    """
    n_copies = state.n_copies
    out = np.empty((n_copies, *observation_shape(world, state)), np.float32)
    if world == "maze":
        if maps is None:
            maps, refresh = maze_maps(state), np.ones(n_copies, np.bool_)
        maze_observations(state.cell, state.agent_pos, state.obj_kind, state.obj_color,
                          state.obj_pos, maps, refresh, out)
    elif world == "thermal":
        rows, cols = state.sensor_pos[:, :, 0], state.sensor_pos[:, :, 1]
        readings = state.temp[np.arange(n_copies)[:, None], rows, cols]
        np.concatenate([readings, state.heater_power, state.window_open], axis=1, out=out,
                       casting="unsafe")
    else:
        np.concatenate([state.pos.reshape(n_copies, -1), state.vel.reshape(n_copies, -1)],
                       axis=1, out=out, casting="unsafe")
    return out
