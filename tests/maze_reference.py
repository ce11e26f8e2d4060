"""A plain-Python/NumPy reference of the maze rules, written from the rules' description
rather than from the kernels, to check :mod:`simulator.worlds.maze.kernels` and the maze driver."""

from __future__ import annotations

import numpy as np

from simulator.core.rng import (
    STREAM_AGENT,
    STREAM_NOISE,
    STREAM_NOISE_ACTION,
    rand_int,
    rand_uniform,
)

MOVES = {0: (0, 0), 1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}
WALL, LAVA = 1, 2


def ref_transition(cell, obj_kind, obj_pos, obj_reward, row, col, action, step_reward,
                   hazard_reward):
    """(row, col, reward, terminated, slot) after one step of one copy."""
    dr, dc = MOVES[int(action)]
    nr, nc = row + dr, col + dc
    height, width = cell.shape
    if not (0 <= nr < height and 0 <= nc < width) or cell[nr, nc] == WALL:
        nr, nc = row, col
    if cell[nr, nc] == LAVA:
        return nr, nc, step_reward + hazard_reward, True, -1
    for k in range(len(obj_kind)):
        if obj_kind[k] >= 0 and obj_pos[k, 0] == nr and obj_pos[k, 1] == nc:
            return nr, nc, step_reward + obj_reward[k], True, k
    return nr, nc, step_reward, False, -1


def ref_random_rollout(state: dict[str, np.ndarray], e: int, seed: int, n_steps: int,
                       params: np.ndarray) -> dict[str, object]:
    """Copy ``e`` of ``state`` driven by the random agent with slip noise, no events."""
    cell = state["cell"][e]
    row, col = (int(v) for v in state["agent_pos"][e])
    t, ret, status, reached = int(state["t"][e]), float(state["ret"][e]), 0, -1
    noise = float(state["noise"][e])
    for _ in range(n_steps):
        action = rand_int(seed, e, t, STREAM_AGENT, 5)
        if noise > 0 and rand_uniform(seed, e, t, STREAM_NOISE) < noise:
            action = rand_int(seed, e, t, STREAM_NOISE_ACTION, 5)
        row, col, reward, terminated, slot = ref_transition(
            cell, state["obj_kind"][e], state["obj_pos"][e], state["obj_reward"][e], row, col,
            action, params[0], params[1])
        ret += reward
        t += 1
        if terminated:
            status, reached = 1, slot
            break
        if t >= params[2]:
            status = 2
            break
    return {"row": row, "col": col, "t": t, "ret": ret, "status": status, "reached": reached}
