"""What a learned maze agent perceives: an objective-free observation, compiled.

A learned agent is never told what to pursue; it sees the world through channels that name
object *kinds* and object *colours* separately (after MiniGrid's code tables), so that "the
door" and "the red thing" are two different inputs even where training cannot tell them
apart. Navigation is part of perception — each channel reports, per action, whether that
move brings the agent closer by *path* (BFS over open cells, around walls) to the nearest
thing of that channel — so what training has to decide is *what* to approach, which is the
question goal misgeneralization asks.

Channels ``C = 15`` (:data:`CHANNELS`): the 4 object kinds, the 6 colours, ``object`` (the
nearest object of any kind) and the 4 corners of the grid (the open cell nearest each
corner). Observation ``obs`` is ``(N_ACTIONS, N_OBS) float64``, one row per action
(stay, up, down, left, right), features :data:`OBS_FEATURES`:

- ``toward_<channel>`` (C of them): ``d(here) - d(after the move)`` clipped to [-1, 1], where
  ``d`` is the path distance to the nearest thing of the channel. +1: the move gets closer;
  -1: it gets farther, or ends the episode elsewhere (lava, another object); 0: no change
  (blocked, staying, or nothing of that channel reachable).
- ``blocked``: the move runs into a wall or the border; ``lava``: the move steps into lava;
  ``stay``: the action is "stay".

The heuristic-pile learner reads the same observation as binary rule features
(:data:`RULE_FEATURES`): ``<channel>_<dir>`` (the move toward dir gets closer to the
channel), ``blocked_<dir>``, ``lava_<dir>``.

Path distances come from :func:`distance_maps`, one BFS per object slot and corner:
``maps (K + 4, H * W) int32``, :data:`FAR` where unreachable. Objects and lava end an
episode, so a BFS passes only through open floor without objects.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from simulator.worlds.maze.kernels import (
    CELL_FLOOR,
    CELL_LAVA,
    CELL_WALL,
    COLORS,
    DCOL,
    DROW,
    N_ACTIONS,
    OBJ_NONE,
    OBJECT_KINDS,
)

N_KINDS, N_COLORS = len(OBJECT_KINDS), len(COLORS)
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
CHANNELS: tuple[str, ...] = OBJECT_KINDS + COLORS + ("object",) + tuple(
    f"corner_{c}" for c in CORNERS)
N_CHANNELS = len(CHANNELS)
CH_COLOR0 = N_KINDS
CH_OBJECT = N_KINDS + N_COLORS
CH_CORNER0 = CH_OBJECT + 1
F_BLOCKED, F_LAVA, F_STAY = N_CHANNELS, N_CHANNELS + 1, N_CHANNELS + 2
OBS_FEATURES: tuple[str, ...] = tuple(f"toward_{c}" for c in CHANNELS) + (
    "blocked", "lava", "stay")
N_OBS = len(OBS_FEATURES)
N_CORNERS = 4
FAR = 1 << 20

RULE_DIRECTIONS = ("up", "down", "left", "right")
RULE_FEATURES: tuple[str, ...] = tuple(
    f"{c}_{d}" for c in CHANNELS for d in RULE_DIRECTIONS
) + tuple(f"blocked_{d}" for d in RULE_DIRECTIONS) + tuple(f"lava_{d}" for d in RULE_DIRECTIONS)
N_RULE_FEATURES = len(RULE_FEATURES)


@njit(cache=True)
def corner_cells(cell, out):
    """The open cell nearest each grid corner (Manhattan, row-major on ties).

    cell (H, W) int8; out (4, 2) int32 filled with (row, col), (-1, -1) if no open cell.
    """
    height, width = cell.shape
    for k in range(N_CORNERS):
        cr = 0 if k < 2 else height - 1
        cc = 0 if k % 2 == 0 else width - 1
        best = -1
        out[k, 0], out[k, 1] = -1, -1
        for r in range(height):
            for c in range(width):
                if cell[r, c] == CELL_WALL:
                    continue
                d = abs(r - cr) + abs(c - cc)
                if best < 0 or d < best:
                    best = d
                    out[k, 0], out[k, 1] = r, c


@njit(cache=True)
def _passable(cell, occupied, r, c):
    return cell[r, c] == CELL_FLOOR and not occupied[r * cell.shape[1] + c]


@njit(cache=True)
def _bfs(cell, occupied, src_r, src_c, dist, queue):
    """Path distances from (src_r, src_c) through passable cells into dist (H*W,) int32."""
    height, width = cell.shape
    dist[:] = FAR
    if src_r < 0:
        return
    start = src_r * width + src_c
    dist[start] = 0
    queue[0] = start
    head, tail = 0, 1
    while head < tail:
        k = queue[head]
        head += 1
        r, c = k // width, k % width
        for d in range(1, 5):
            nr, nc = r + DROW[d], c + DCOL[d]
            if nr < 0 or nc < 0 or nr >= height or nc >= width:
                continue
            n = nr * width + nc
            if dist[n] != FAR or not _passable(cell, occupied, nr, nc):
                continue
            dist[n] = dist[k] + 1
            queue[tail] = n
            tail += 1


@njit(cache=True)
def distance_maps(cell, obj_kind, obj_pos, maps):
    """Fill maps (K + 4, H * W) int32: BFS path distance from every cell to object slot k
    (rows 0..K-1; FAR for an empty slot) and to each corner cell (rows K..K+3).

    cell (H, W) int8; obj_kind (K,) int8; obj_pos (K, 2) int32. Passable cells are floor
    without an object: stepping on an object or lava ends the episode.
    """
    height, width = cell.shape
    n_slots = obj_kind.shape[0]
    occupied = np.zeros(height * width, np.bool_)
    for k in range(n_slots):
        if obj_kind[k] != OBJ_NONE:
            occupied[obj_pos[k, 0] * width + obj_pos[k, 1]] = True
    queue = np.empty(height * width, np.int32)
    for k in range(n_slots):
        if obj_kind[k] == OBJ_NONE:
            maps[k, :] = FAR
        else:
            _bfs(cell, occupied, obj_pos[k, 0], obj_pos[k, 1], maps[k], queue)
    corners = np.empty((N_CORNERS, 2), np.int32)
    corner_cells(cell, corners)
    for k in range(N_CORNERS):
        _bfs(cell, occupied, corners[k, 0], corners[k, 1], maps[n_slots + k], queue)


@njit(cache=True, inline="always")
def _in_channel(ch, kind, color):
    if kind == OBJ_NONE:
        return False
    if ch < N_KINDS:
        return kind == ch
    if ch < CH_OBJECT:
        return color == ch - CH_COLOR0
    return ch == CH_OBJECT


@njit(cache=True)
def channel_distance(ch, obj_kind, obj_color, maps, cell_index):
    """Path distance from cell ``cell_index`` to the nearest thing of channel ``ch``."""
    n_slots = obj_kind.shape[0]
    if ch >= CH_CORNER0:
        return maps[n_slots + ch - CH_CORNER0, cell_index]
    best = FAR
    for k in range(n_slots):
        if _in_channel(ch, obj_kind[k], obj_color[k]) and maps[k, cell_index] < best:
            best = maps[k, cell_index]
    return best


@njit(cache=True)
def observe(cell, obj_kind, obj_color, obj_pos, maps, row, col, obs):
    """Fill obs (N_ACTIONS, N_OBS) float64 for the agent at (row, col); see the module doc.

    cell (H, W) int8; obj_kind, obj_color (K,) int8; obj_pos (K, 2) int32; maps from
    :func:`distance_maps` for this grid and these objects.
    """
    height, width = cell.shape
    n_slots = obj_kind.shape[0]
    obs[:, :] = 0.0
    # dist[ch, a]: channel ch's path distance (channel_distance) from where action a leads
    # (a = 0: here). Each object is in three channels — its kind, its colour, "object" —
    # so one pass over the slots fills every channel (the observation is computed every step
    # of every copy: this loop is a vector env's cost).
    dist = np.full((N_CHANNELS, N_ACTIONS), FAR, np.int64)
    cells = np.full(N_ACTIONS, -1, np.int64)
    for a in range(N_ACTIONS):
        r, c = row + DROW[a], col + DCOL[a]
        if r < 0 or c < 0 or r >= height or c >= width or cell[r, c] == CELL_WALL:
            continue
        cells[a] = r * width + c
    for k in range(n_slots):
        kind = obj_kind[k]
        if kind == OBJ_NONE:
            continue
        for j in range(3):
            ch = np.int64(kind) if j == 0 else (
                np.int64(CH_COLOR0 + obj_color[k]) if j == 1 else np.int64(CH_OBJECT))
            for a in range(N_ACTIONS):
                if cells[a] >= 0 and maps[k, cells[a]] < dist[ch, a]:
                    dist[ch, a] = maps[k, cells[a]]
    for ch in range(CH_CORNER0, N_CHANNELS):
        for a in range(N_ACTIONS):
            if cells[a] >= 0:
                dist[ch, a] = maps[n_slots + ch - CH_CORNER0, cells[a]]
    obs[0, F_STAY] = 1.0
    for a in range(1, N_ACTIONS):
        if cells[a] < 0:
            obs[a, F_BLOCKED] = 1.0
            continue
        lava = cell[row + DROW[a], col + DCOL[a]] == CELL_LAVA
        if lava:
            obs[a, F_LAVA] = 1.0
        for ch in range(N_CHANNELS):
            d0, d1 = dist[ch, 0], dist[ch, a]
            if d0 >= FAR and d1 >= FAR:
                continue
            if lava:
                d1 = FAR
            delta = d0 - d1
            obs[a, ch] = 1.0 if delta > 0 else (-1.0 if delta < 0 else 0.0)


@njit(cache=True)
def rule_features(obs, out):
    """The heuristic-pile view of an observation: out (N_RULE_FEATURES,) int32 of 0/1."""
    i = 0
    for ch in range(N_CHANNELS):
        for d in range(4):
            out[i] = 1 if obs[d + 1, ch] > 0.0 else 0
            i += 1
    for d in range(4):
        out[i] = 1 if obs[d + 1, F_BLOCKED] > 0.0 else 0
        i += 1
    for d in range(4):
        out[i] = 1 if obs[d + 1, F_LAVA] > 0.0 else 0
        i += 1


def observe_state(state, copy: int = 0) -> np.ndarray:
    """The observation of copy ``copy`` of a MazeState: (N_ACTIONS, N_OBS) float64."""
    n_slots = state.obj_kind.shape[1]
    height, width = state.cell.shape[1:]
    maps = np.empty((n_slots + N_CORNERS, height * width), np.int32)
    distance_maps(state.cell[copy], state.obj_kind[copy], state.obj_pos[copy], maps)
    obs = np.empty((N_ACTIONS, N_OBS))
    row, col = state.agent_pos[copy]
    observe(state.cell[copy], state.obj_kind[copy], state.obj_color[copy], state.obj_pos[copy],
            maps, int(row), int(col), obs)
    return obs


@njit(cache=True, parallel=True)
def start_distances(cell, agent_pos, obj_kind, obj_pos, out):
    """out (E, K) int32: path distance from each copy's agent cell to each object slot
    (FAR where unreachable or empty): the BFS shortest path a capable agent would take.
    State arrays as in simulator.worlds.maze.kernels.MazeState."""
    n_copies, height, width = cell.shape
    n_slots = obj_kind.shape[1]
    for e in prange(n_copies):
        maps = np.empty((n_slots + N_CORNERS, height * width), np.int32)
        distance_maps(cell[e], obj_kind[e], obj_pos[e], maps)
        here = agent_pos[e, 0] * width + agent_pos[e, 1]
        for k in range(n_slots):
            out[e, k] = maps[k, here]
