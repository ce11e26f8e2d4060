"""Maze policies, compiled. Every function sees one copy: views of that copy's arrays.

Shapes: cell (H, W) int8; obj_kind, obj_color (K,) int8; obj_pos (K, 2) int32;
obj_reward (K,) float64; objective (2,) int32 = (kind, colour), -1 for any;
agent_params (N_AGENT_PARAMS,) float64; rules (R, RULE_WIDTH) int32.
"""

import numpy as np
from numba import njit

from agents.registry import (
    AGENT_HEURISTIC,
    AGENT_LEARNED_PILE,
    AGENT_POLICY,
    AGENT_RANDOM,
    AGENT_SEARCH,
    AGENT_THERMOSTAT,
    OBJECTIVE_MASK,
)
from agents.rules import RULE_WIDTH, first_rule
from simulator.core.rng import STREAM_AGENT, rand_int
from simulator.worlds.maze.kernels import (
    ACT_DOWN,
    ACT_LEFT,
    ACT_RIGHT,
    ACT_STAY,
    ACT_UP,
    CELL_LAVA,
    CELL_WALL,
    COLORS,
    DCOL,
    DROW,
    OBJ_NONE,
    object_at,
    transition,
)
from simulator.worlds.maze.learned import observe_now, pile_act, policy_act
from simulator.worlds.maze.rules import N_FEATURES

N_COLORS = len(COLORS)


@njit(cache=True, inline="always")
def matches(kind, color, objective):
    """Whether an object of (kind, colour) satisfies the objective.

    objective (2,) int32 (kind, colour; -1 for any) or, for a learned objective, a mask:
    ``objective[0] == OBJECTIVE_MASK`` and ``objective[2 + kind * N_COLORS + colour]`` != 0
    for every (kind, colour) the agent's reward model predicts rewarding.
    """
    if kind == OBJ_NONE:
        return False
    if objective[0] == OBJECTIVE_MASK:
        return objective[2 + kind * N_COLORS + color] != 0
    return (objective[0] < 0 or objective[0] == kind) and (
        objective[1] < 0 or objective[1] == color
    )


@njit(cache=True)
def nearest_target(obj_kind, obj_color, obj_pos, objective, row, col):
    """Slot and Manhattan distance of the nearest matching object; (-1, -1) if none."""
    best, best_dist = -1, -1
    for k in range(obj_kind.shape[0]):
        if matches(obj_kind[k], obj_color[k], objective):
            dist = abs(obj_pos[k, 0] - row) + abs(obj_pos[k, 1] - col)
            if best < 0 or dist < best_dist:
                best, best_dist = k, dist
    return best, best_dist


@njit(cache=True)
def thermostat_act(obj_kind, obj_color, obj_pos, objective, row, col):
    """One feedback loop on one sensed error: the offset to the nearest matching object.

    Steps along the axis with the larger error (rows on a tie). No memory and no model of
    walls: behind a wall it pushes into the wall forever, which is the point.
    """
    k, _ = nearest_target(obj_kind, obj_color, obj_pos, objective, row, col)
    if k < 0:
        return ACT_STAY
    d_row = obj_pos[k, 0] - row
    d_col = obj_pos[k, 1] - col
    if d_row != 0 and abs(d_row) >= abs(d_col):
        return ACT_DOWN if d_row > 0 else ACT_UP
    if d_col != 0:
        return ACT_RIGHT if d_col > 0 else ACT_LEFT
    return ACT_STAY


@njit(cache=True)
def maze_features(cell, obj_kind, obj_color, obj_pos, objective, row, col, out):
    """Fill out (N_FEATURES,) int32 with the local features the rule table reads."""
    out[:] = 0
    k, _ = nearest_target(obj_kind, obj_color, obj_pos, objective, row, col)
    if k >= 0:
        out[0] = np.sign(obj_pos[k, 1] - col)
        out[1] = np.sign(obj_pos[k, 0] - row)
        out[14] = 1
    height, width = cell.shape
    for d in range(4):
        r, c = row + DROW[d + 1], col + DCOL[d + 1]
        if r < 0 or c < 0 or r >= height or c >= width or cell[r, c] == CELL_WALL:
            out[2 + d] = 1
            continue
        if cell[r, c] == CELL_LAVA:
            out[6 + d] = 1
        slot = object_at(obj_kind, obj_pos, r, c)
        if slot >= 0 and matches(obj_kind[slot], obj_color[slot], objective):
            out[10 + d] = 1


@njit(cache=True)
def heuristic_act(cell, obj_kind, obj_color, obj_pos, objective, rules, row, col):
    """First rule of the table whose conditions hold; returns (action, rule index or -1)."""
    features = np.empty(N_FEATURES, np.int32)
    maze_features(cell, obj_kind, obj_color, obj_pos, objective, row, col, features)
    i = first_rule(rules, rules.shape[0], features)
    if i >= 0:
        return rules[i, RULE_WIDTH - 1], i
    return ACT_STAY, -1


@njit(cache=True)
def _heap_push(heap_key, heap_node, size, key, node):
    i = size
    heap_key[i] = key
    heap_node[i] = node
    while i > 0:
        parent = (i - 1) // 2
        if heap_key[parent] <= heap_key[i]:
            break
        heap_key[parent], heap_key[i] = heap_key[i], heap_key[parent]
        heap_node[parent], heap_node[i] = heap_node[i], heap_node[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(heap_key, heap_node, size):
    node = heap_node[0]
    size -= 1
    heap_key[0] = heap_key[size]
    heap_node[0] = heap_node[size]
    i = 0
    while True:
        left, right, low = 2 * i + 1, 2 * i + 2, i
        if left < size and heap_key[left] < heap_key[low]:
            low = left
        if right < size and heap_key[right] < heap_key[low]:
            low = right
        if low == i:
            break
        heap_key[low], heap_key[i] = heap_key[i], heap_key[low]
        heap_node[low], heap_node[i] = heap_node[i], heap_node[low]
        i = low
    return node, size


@njit(cache=True)
def search_act(cell, obj_kind, obj_color, obj_pos, obj_reward, objective, row, col, budget,
               max_depth, params, expanded_out):
    """Best-first tree search over the engine's own :func:`transition`.

    Nodes are agent cells (the grid does not change within a plan), ordered by depth plus
    Manhattan distance to the nearest matching object; reaching a matching object is the
    utility, hazards and other objects are dead ends. Expands at most ``budget`` nodes to
    at most ``max_depth`` steps and returns the first action of the best plan found —
    toward the goal if one was found, else toward the expanded node nearest the target.

    ``expanded_out``: (H*W,) bool, or empty; when not empty, the cells of the nodes
    expanded are set True in it (row * W + col) — the GUI's "what the search looked at".

    Returns (action, nodes_expanded, world_steps).
    """
    mark = expanded_out.shape[0] > 0
    height, width = cell.shape
    n_max = height * width
    seen = np.zeros(n_max, np.bool_)
    node_row = np.empty(n_max, np.int32)
    node_col = np.empty(n_max, np.int32)
    node_depth = np.empty(n_max, np.int32)
    node_first = np.empty(n_max, np.int32)
    heap_key = np.empty(n_max, np.float64)
    heap_node = np.empty(n_max, np.int32)

    goal, dist = nearest_target(obj_kind, obj_color, obj_pos, objective, row, col)
    if goal < 0:
        return ACT_STAY, 0, 0
    node_row[0], node_col[0], node_depth[0], node_first[0] = row, col, 0, ACT_STAY
    seen[row * width + col] = True
    n_nodes = 1
    size = _heap_push(heap_key, heap_node, 0, float(dist), 0)
    best_node, best_dist = 0, dist
    expanded = 0
    world_steps = 0
    while size > 0 and expanded < budget:
        node, size = _heap_pop(heap_key, heap_node, size)
        expanded += 1
        if mark:
            expanded_out[node_row[node] * width + node_col[node]] = True
        depth = node_depth[node]
        if depth >= max_depth:
            continue
        for action in range(1, 5):
            r, c, _, terminated, slot = transition(
                cell, obj_kind, obj_pos, obj_reward, node_row[node], node_col[node], action,
                params,
            )
            world_steps += 1
            if seen[r * width + c]:
                continue
            seen[r * width + c] = True
            first = action if node == 0 else node_first[node]
            if terminated:
                if slot >= 0 and matches(obj_kind[slot], obj_color[slot], objective):
                    return first, expanded, world_steps
                continue  # lava or an object it does not want: a dead end
            node_row[n_nodes], node_col[n_nodes] = r, c
            node_depth[n_nodes], node_first[n_nodes] = depth + 1, first
            _, d = nearest_target(obj_kind, obj_color, obj_pos, objective, r, c)
            if d < best_dist:
                best_node, best_dist = n_nodes, d
            size = _heap_push(heap_key, heap_node, size, float(depth + 1 + d), n_nodes)
            n_nodes += 1
    return node_first[best_node], expanded, world_steps


@njit(cache=True, inline="always")
def act(agent_code, agent_params, rules, objective, cell, obj_kind, obj_color, obj_pos,
        obj_reward, row, col, seed, copy, t, params):
    """Dispatch to the agent's policy. Returns (action, rule_fired, nodes_expanded, world_steps).

    ``rule_fired`` is -1 for agents without rules; ``nodes_expanded`` is 0 without search.
    """
    if agent_code == AGENT_RANDOM:
        return rand_int(seed, copy, t, STREAM_AGENT, 5), -1, 0, 0
    if agent_code == AGENT_THERMOSTAT:
        return thermostat_act(obj_kind, obj_color, obj_pos, objective, row, col), -1, 0, 0
    if agent_code == AGENT_HEURISTIC:
        action, rule = heuristic_act(cell, obj_kind, obj_color, obj_pos, objective, rules, row,
                                     col)
        return action, rule, 0, 0
    if agent_code == AGENT_SEARCH:
        action, nodes, steps = search_act(
            cell, obj_kind, obj_color, obj_pos, obj_reward, objective, row, col,
            int(agent_params[0]), int(agent_params[1]), params, np.empty(0, np.bool_),
        )
        return action, -1, nodes, steps
    if agent_code == AGENT_POLICY:
        obs = observe_now(cell, obj_kind, obj_color, obj_pos, row, col)
        return policy_act(agent_params, obs, seed, copy, t), -1, 0, 0
    if agent_code == AGENT_LEARNED_PILE:
        obs = observe_now(cell, obj_kind, obj_color, obj_pos, row, col)
        action, rule = pile_act(rules, obs)
        return action, rule, 0, 0
    return ACT_STAY, -1, 0, 0
