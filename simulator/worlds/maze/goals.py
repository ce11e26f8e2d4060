"""Candidate goals and their pursuit, compiled: the hypothesis space of what training could
have taught (DESIGN.md, claim 4).

A candidate goal is a set of (kind, colour) pairs — "door", "red", "red door", "door or
red", "any object" — as an objective mask (see
:func:`simulator.worlds.maze.policies.matches`), or a corner of the grid. Pursuing it means
walking a shortest path (BFS, the same maps the learned agents perceive through,
:func:`simulator.worlds.maze.observe.distance_maps`) to the nearest thing it names; ties
between equally short moves go to the lowest action index, so pursuit is deterministic.

Shapes: masks (C, MASK_LEN) int32 (header OBJECTIVE_MASK, 0, then kind * N_COLORS + colour);
corners (C,) int32, -1 for an object goal; state arrays as in
:class:`simulator.worlds.maze.kernels.MazeState` with E copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from simulator.worlds.maze.kernels import (
    CELL_WALL,
    COLORS,
    DCOL,
    DROW,
    N_ACTIONS,
    OBJECT_KINDS,
    P_HORIZON,
    STATUS_RUNNING,
    episode_status,
    transition,
)
from simulator.worlds.maze.observe import CORNERS, FAR, N_CORNERS, distance_maps
from simulator.worlds.maze.policies import matches

N_KINDS, N_COLORS = len(OBJECT_KINDS), len(COLORS)
MASK_LEN = 2 + N_KINDS * N_COLORS
OBJECTIVE_MASK = -2


@dataclass(frozen=True)
class Candidate:
    """One candidate goal: its name, family, (kind, colour) mask and corner (-1: none)."""

    name: str
    family: str
    mask: tuple[int, ...]
    corner: int = -1

    def as_array(self) -> np.ndarray:
        """(MASK_LEN,) int32 objective mask (a corner goal's mask is empty)."""
        out = np.zeros(MASK_LEN, np.int32)
        out[0] = OBJECTIVE_MASK
        out[2:] = self.mask
        return out


def _mask(pairs: set[tuple[int, int]]) -> tuple[int, ...]:
    out = [0] * (N_KINDS * N_COLORS)
    for k, c in pairs:
        out[k * N_COLORS + c] = 1
    return tuple(out)


def candidate_goals(base: tuple[int, int], base_text: str,
                    present: set[tuple[int, int]]) -> list[Candidate]:
    """The hypothesis space for a maze scene: every kind, every colour, every (colour, kind)
    and (kind or colour) pair that occurs in the scene (``present``: its (kind, colour)
    pairs), any object, each corner, and the base objective ``(kind, colour)`` itself
    (-1 for any), first. Duplicates (same mask) keep the first name."""
    every = {(k, c) for k in range(N_KINDS) for c in range(N_COLORS)}
    kinds = sorted({k for k, _ in present})
    colours = sorted({c for _, c in present})
    base_pairs = {(k, c) for k, c in every
                  if (base[0] < 0 or base[0] == k) and (base[1] < 0 or base[1] == c)}
    out = [Candidate(f"{base_text} (base)", "base", _mask(base_pairs))]
    for k in range(N_KINDS):
        out.append(Candidate(f"reach:{OBJECT_KINDS[k]}", "kind",
                             _mask({(k, c) for c in range(N_COLORS)})))
    for c in range(N_COLORS):
        out.append(Candidate(f"reach:{COLORS[c]}", "colour",
                             _mask({(k, c) for k in range(N_KINDS)})))
    for k, c in sorted(present):
        out.append(Candidate(f"reach:{COLORS[c]}_{OBJECT_KINDS[k]}", "kind and colour",
                             _mask({(k, c)})))
    for k in kinds:
        for c in colours:
            pairs = {(k, x) for x in range(N_COLORS)} | {(x, c) for x in range(N_KINDS)}
            out.append(Candidate(f"{OBJECT_KINDS[k]} or {COLORS[c]}", "kind or colour",
                                 _mask(pairs)))
    out.append(Candidate("the nearest object", "any", _mask(every)))
    for i, name in enumerate(CORNERS):
        out.append(Candidate(f"at:{name}", "region", _mask(set()), i))
    seen: set[tuple[tuple[int, ...], int]] = set()
    unique = []
    for cand in out:
        key = (cand.mask, cand.corner)
        if key not in seen:
            seen.add(key)
            unique.append(cand)
    return unique


@njit(cache=True)
def _goal_distance(mask, corner, obj_kind, obj_color, maps, cell_index):
    n_slots = obj_kind.shape[0]
    if corner >= 0:
        return maps[n_slots + corner, cell_index]
    best = FAR
    for k in range(n_slots):
        if matches(obj_kind[k], obj_color[k], mask) and maps[k, cell_index] < best:
            best = maps[k, cell_index]
    return best


@njit(cache=True)
def optimal_moves(mask, corner, obj_kind, obj_color, maps, cell, row, col, out):
    """out (N_ACTIONS,) bool: moves on a shortest path to the goal; all False when the goal
    is unreachable, or reached (a corner goal: standing on it). Returns how many."""
    height, width = cell.shape
    out[:] = False
    d0 = _goal_distance(mask, corner, obj_kind, obj_color, maps, row * width + col)
    if d0 >= FAR or d0 == 0:
        return 0
    n = 0
    for a in range(1, N_ACTIONS):
        r, c = row + DROW[a], col + DCOL[a]
        if r < 0 or c < 0 or r >= height or c >= width or cell[r, c] == CELL_WALL:
            continue
        if _goal_distance(mask, corner, obj_kind, obj_color, maps, r * width + c) == d0 - 1:
            out[a] = True
            n += 1
    return n


@njit(cache=True, parallel=True)
def pursue_goals(masks, corners, base, params, cell, agent_pos, obj_kind, obj_color, obj_pos,
                 obj_reward, reached_out, pos_out, status_out, dense_out):
    """Per copy e and candidate c: pursue the goal from the copy's start with the engine's
    ``transition`` (no slip noise) until the episode ends; and check the dense constraint.

    reached_out (E, C) int8 slot the pursuit ended on (-1 none); pos_out (E, C, 2) int32
    final cell; status_out (E, C) int8; dense_out (E, C) bool: at every state of the
    *base objective's* pursuit (masks' row ``base``), the candidate's optimal moves include
    one of the base objective's (ties allowed). The grid is static within an episode here,
    so the distance maps are computed once per copy.
    """
    n_copies, height, width = cell.shape
    n_slots = obj_kind.shape[1]
    n_cand = masks.shape[0]
    horizon = int(params[P_HORIZON])
    for e in prange(n_copies):
        maps = np.empty((n_slots + N_CORNERS, height * width), np.int32)
        distance_maps(cell[e], obj_kind[e], obj_pos[e], maps)
        moves = np.zeros(N_ACTIONS, np.bool_)
        base_moves = np.zeros(N_ACTIONS, np.bool_)
        path_r = np.empty(horizon + 1, np.int32)
        path_c = np.empty(horizon + 1, np.int32)
        n_path = 0
        for c in range(n_cand):
            row, col = agent_pos[e, 0], agent_pos[e, 1]
            status, slot = STATUS_RUNNING, -1
            for step in range(horizon):
                if c == base:
                    path_r[n_path], path_c[n_path] = row, col
                    n_path += 1
                n = optimal_moves(masks[c], corners[c], obj_kind[e], obj_color[e], maps,
                                  cell[e], row, col, moves)
                action = 0
                if n > 0:
                    for a in range(N_ACTIONS):
                        if moves[a]:
                            action = a
                            break
                row, col, _, terminated, hit = transition(cell[e], obj_kind[e], obj_pos[e],
                                                          obj_reward[e], row, col, action,
                                                          params)
                status, slot = episode_status(terminated, hit, step + 1, params)
                if status != STATUS_RUNNING:
                    break
            reached_out[e, c] = slot
            pos_out[e, c, 0], pos_out[e, c, 1] = row, col
            status_out[e, c] = status
        for c in range(n_cand):
            ok = True
            for s in range(n_path):
                nb = optimal_moves(masks[base], corners[base], obj_kind[e], obj_color[e], maps,
                                   cell[e], path_r[s], path_c[s], base_moves)
                if nb == 0:
                    continue  # nothing graded where the base target is out of reach
                optimal_moves(masks[c], corners[c], obj_kind[e], obj_color[e], maps, cell[e],
                              path_r[s], path_c[s], moves)
                agree = False
                for a in range(N_ACTIONS):
                    if moves[a] and base_moves[a]:
                        agree = True
                if not agree:
                    ok = False
                    break
            dense_out[e, c] = ok
