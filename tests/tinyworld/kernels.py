"""The tiny world's state, its one transition rule, its events and its initial states.

A copy is a line of ``length`` cells with the agent at ``pos`` and a goal at ``goal``.
Actions: 0 stay, 1 left, 2 right (a move off the line stays put). Reaching the goal ends
the episode (terminated) with reward 1; every step also costs the scene's step reward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from simulator.core.rng import (
    STREAM_INIT,
    STREAM_NOISE,
    STREAM_NOISE_ACTION,
    rand_int,
    rand_uniform,
)
from simulator.core.state import STATUS_RUNNING, STATUS_TERMINATED, STATUS_TRUNCATED, StateArrays

ACT_STAY, ACT_LEFT, ACT_RIGHT = range(3)
N_ACTIONS = 3
EVENT_KINDS = ("teleport", "move_goal", "set_noise")
EV_TELEPORT, EV_MOVE_GOAL, EV_SET_NOISE = range(len(EVENT_KINDS))
N_EVENT_PARAMS = 1  # (pos,) or (p,)
P_STEP_REWARD, P_HORIZON = range(2)
N_PARAMS = 2
MAX_LENGTH = 64


@dataclass
class TinyState(StateArrays):
    """``E`` lines.

    pos : (E,) int32      the agent's cell
    goal : (E,) int32     the goal's cell
    length : (E,) int32   cells on the line
    noise : (E,) float64  slip probability
    ret : (E,) float64    return so far
    t : (E,) int32        completed steps
    status : (E,) int8    STATUS_*
    """

    pos: np.ndarray
    goal: np.ndarray
    length: np.ndarray
    noise: np.ndarray
    ret: np.ndarray
    t: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, n_copies: int) -> TinyState:
        i32 = lambda: np.zeros(n_copies, np.int32)  # noqa: E731
        return cls(i32(), i32(), i32(), np.zeros(n_copies), np.zeros(n_copies), i32(),
                   np.zeros(n_copies, np.int8))


@njit(cache=True, inline="always")
def transition(pos, goal, length, action, params):
    """One step from ``pos``: (new pos, reward, terminated)."""
    if action == ACT_LEFT and pos > 0:
        pos -= 1
    elif action == ACT_RIGHT and pos < length - 1:
        pos += 1
    reached = pos == goal
    return pos, params[P_STEP_REWARD] + (1.0 if reached else 0.0), reached


@njit(cache=True, inline="always")
def slip(action, noise, seed, e, step):
    """With probability ``noise`` the action is replaced by a uniformly random one."""
    if noise > 0.0 and rand_uniform(seed, e, step, STREAM_NOISE) < noise:
        return rand_int(seed, e, step, STREAM_NOISE_ACTION, N_ACTIONS)
    return action


@njit(cache=True)
def apply_event(e, kind, p, pos, goal, length, noise):
    """Apply one perturbation to copy ``e``; p (N_EVENT_PARAMS,) float64 (checked in Python)."""
    if kind == EV_TELEPORT:
        pos[e] = min(int(p[0]), length[e] - 1)
    elif kind == EV_MOVE_GOAL:
        goal[e] = min(int(p[0]), length[e] - 1)
    elif kind == EV_SET_NOISE:
        noise[e] = p[0]


@njit(cache=True, parallel=True)
def draw_initial(dist, seed, pos, goal, length, noise, ret, t, status):
    """Copy e from (seed, e): dist (5,) float64 = (length, start lo, start hi, goal, noise)."""
    for e in prange(pos.shape[0]):
        length[e] = int(dist[0])
        lo, hi = int(dist[1]), int(dist[2])
        pos[e] = lo + rand_int(seed, e, 0, STREAM_INIT, hi - lo + 1)
        goal[e], noise[e] = int(dist[3]), dist[4]
        ret[e], t[e], status[e] = 0.0, 0, STATUS_RUNNING


__all__ = ["STATUS_RUNNING", "STATUS_TERMINATED", "STATUS_TRUNCATED", "TinyState"]
