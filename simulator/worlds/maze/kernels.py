"""The maze world: a gridworld of floor, walls and hazards with coloured objects.

State is struct-of-arrays with a leading ensemble axis ``E`` (copies), see
:class:`MazeState`. Every rule of the world lives once, in :func:`transition`; the
ensemble kernels, the tree search and the tests' NumPy reference all describe the same
step. Integer code tables follow MiniGrid's ``OBJECT_TO_IDX`` / ``COLOR_TO_IDX``.

Time convention: ``t`` counts completed steps. At step ``t`` the events logged for ``t``
are applied first, then the agent acts on what it sees, then :func:`transition` moves the
world to ``t + 1``.
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
from simulator.core.state import (  # noqa: F401  (the kernels' status codes)
    STATUS_RUNNING,
    STATUS_TERMINATED,
    STATUS_TRUNCATED,
    StateArrays,
)

# --- code tables ---------------------------------------------------------------------
CELL_FLOOR, CELL_WALL, CELL_LAVA = 0, 1, 2
CELL_NAMES = ("floor", "wall", "lava")

OBJ_NONE = -1
OBJECT_KINDS = ("goal", "door", "key", "gem")
OBJECT_TO_IDX = {name: i for i, name in enumerate(OBJECT_KINDS)}

COLORS = ("red", "green", "blue", "yellow", "purple", "grey")
COLOR_TO_IDX = {name: i for i, name in enumerate(COLORS)}
ALL_COLORS_MASK = (1 << len(COLORS)) - 1

ACTIONS = ("stay", "up", "down", "left", "right")
ACTION_CHARS = "sudlr"
ACT_STAY, ACT_UP, ACT_DOWN, ACT_LEFT, ACT_RIGHT = range(5)
N_ACTIONS = 5
# Row/column offsets per action; rows grow downwards as in the ASCII art.
DROW = np.array([0, -1, 1, 0, 0], dtype=np.int32)
DCOL = np.array([0, 0, 0, -1, 1], dtype=np.int32)


# Perturbation kinds; an event is (step, kind, target, params[6]) and params are
# (row, col, kind/colour/probability, colour, reward, unused) as each kind needs.
EVENT_KINDS = (
    "teleport",
    "draw_wall",
    "erase_wall",
    "place_hazard",
    "remove_hazard",
    "add_object",
    "move_object",
    "recolor_object",
    "remove_object",
    "set_noise",
)
EVENT_TO_IDX = {name: i for i, name in enumerate(EVENT_KINDS)}
(
    EV_TELEPORT,
    EV_DRAW_WALL,
    EV_ERASE_WALL,
    EV_PLACE_HAZARD,
    EV_REMOVE_HAZARD,
    EV_ADD_OBJECT,
    EV_MOVE_OBJECT,
    EV_RECOLOR_OBJECT,
    EV_REMOVE_OBJECT,
    EV_SET_NOISE,
) = range(len(EVENT_KINDS))
N_EVENT_PARAMS = 6

# Scalar rule parameters, packed in a float64 array so kernels take one argument.
P_STEP_REWARD, P_HAZARD_REWARD, P_HORIZON = range(3)
N_PARAMS = 3


@dataclass
class MazeState(StateArrays):
    """Struct-of-arrays state of ``E`` maze copies of size ``H x W`` with ``K`` object slots.

    Attributes
    ----------
    cell : (E, H, W) int8       cell code: floor, wall, lava
    agent_pos : (E, 2) int32    agent (row, col)
    obj_kind : (E, K) int8      object kind code, ``-1`` for an empty slot
    obj_color : (E, K) int8     colour code
    obj_pos : (E, K, 2) int32   object (row, col)
    obj_reward : (E, K) float64 terminal reward for stepping onto the object
    t : (E,) int32              completed steps
    status : (E,) int8          running / terminated / truncated
    ret : (E,) float64          return accumulated so far
    reached : (E,) int8         slot of the object that ended the episode, else -1
    noise : (E,) float64        slip probability: chance an action is replaced at random
    """

    cell: np.ndarray
    agent_pos: np.ndarray
    obj_kind: np.ndarray
    obj_color: np.ndarray
    obj_pos: np.ndarray
    obj_reward: np.ndarray
    t: np.ndarray
    status: np.ndarray
    ret: np.ndarray
    reached: np.ndarray
    noise: np.ndarray

    @classmethod
    def empty(cls, n_copies: int, height: int, width: int, n_slots: int) -> MazeState:
        """Allocate a state of ``n_copies`` empty floors with ``n_slots`` empty object slots."""
        e, k = n_copies, n_slots
        return cls(
            cell=np.zeros((e, height, width), np.int8),
            agent_pos=np.zeros((e, 2), np.int32),
            obj_kind=np.full((e, k), OBJ_NONE, np.int8),
            obj_color=np.zeros((e, k), np.int8),
            obj_pos=np.zeros((e, k, 2), np.int32),
            obj_reward=np.zeros((e, k), np.float64),
            t=np.zeros(e, np.int32),
            status=np.zeros(e, np.int8),
            ret=np.zeros(e, np.float64),
            reached=np.full(e, -1, np.int8),
            noise=np.zeros(e, np.float64),
        )



# --- the one transition rule ---------------------------------------------------------
@njit(cache=True, inline="always")
def object_at(obj_kind, obj_pos, row, col):
    """Slot of the live object at (row, col), else -1. obj_kind (K,), obj_pos (K, 2)."""
    for k in range(obj_kind.shape[0]):
        if obj_kind[k] != OBJ_NONE and obj_pos[k, 0] == row and obj_pos[k, 1] == col:
            return k
    return -1


@njit(cache=True, inline="always")
def transition(cell, obj_kind, obj_pos, obj_reward, row, col, action, params):
    """One step of one copy from agent cell (row, col) under ``action``.

    cell (H, W) int8; obj_kind (K,) int8; obj_pos (K, 2) int32; obj_reward (K,) float64;
    params (N_PARAMS,) float64. Pure: reads the world, returns
    ``(new_row, new_col, reward, terminated, reached_slot)``.
    Walls and the border block movement; lava ends the episode with the hazard reward;
    stepping onto any object ends it with that object's reward.
    """
    new_row = row + DROW[action]
    new_col = col + DCOL[action]
    if (
        new_row < 0
        or new_col < 0
        or new_row >= cell.shape[0]
        or new_col >= cell.shape[1]
        or cell[new_row, new_col] == CELL_WALL
    ):
        new_row, new_col = row, col
    reward = params[P_STEP_REWARD]
    if cell[new_row, new_col] == CELL_LAVA:
        return new_row, new_col, reward + params[P_HAZARD_REWARD], True, -1
    k = object_at(obj_kind, obj_pos, new_row, new_col)
    if k >= 0:
        return new_row, new_col, reward + obj_reward[k], True, k
    return new_row, new_col, reward, False, -1


@njit(cache=True, inline="always")
def slip(action, noise, seed, e, step):
    """Slip noise: with probability ``noise`` the action is replaced by a uniform one.

    Keyed by (seed, copy e, step), so a slip never depends on what else drew numbers.
    """
    if noise > 0.0 and rand_uniform(seed, e, step, STREAM_NOISE) < noise:
        return rand_int(seed, e, step, STREAM_NOISE_ACTION, N_ACTIONS)
    return action


@njit(cache=True, inline="always")
def episode_status(terminated, slot, t, params):
    """The episode-end rule after a step that completed step ``t`` (1-based count).

    Returns (status, reached_slot): terminated on an object or hazard, truncated at the
    horizon, else running.
    """
    if terminated:
        return STATUS_TERMINATED, slot
    if t >= params[P_HORIZON]:
        return STATUS_TRUNCATED, -1
    return STATUS_RUNNING, -1


# --- perturbations -------------------------------------------------------------------
@njit(cache=True)
def _free_for_block(cell, agent_pos, obj_kind, obj_pos, e, row, col):
    """A wall or hazard may not be drawn under the agent or an object."""
    if agent_pos[e, 0] == row and agent_pos[e, 1] == col:
        return False
    return object_at(obj_kind[e], obj_pos[e], row, col) < 0


@njit(cache=True)
def apply_event(e, kind, target, p, cell, agent_pos, obj_kind, obj_color, obj_pos,
                obj_reward, noise):
    """Apply one perturbation to copy ``e``. The only path by which anything but the agent
    changes the world: user clicks, scene schedules and noise settings all come here.

    p (N_EVENT_PARAMS,) float64. Out-of-bounds cells, missing slots and moves into walls
    are ignored rather than raised: a kernel cannot raise cheaply, and validation of user
    input happens in Python before the event is logged.
    """
    height, width = cell.shape[1], cell.shape[2]
    row, col = int(p[0]), int(p[1])
    in_bounds = 0 <= row < height and 0 <= col < width
    n_slots = obj_kind.shape[1]
    if kind == EV_TELEPORT:
        if in_bounds and cell[e, row, col] != CELL_WALL:
            agent_pos[e, 0] = row
            agent_pos[e, 1] = col
    elif kind == EV_DRAW_WALL or kind == EV_PLACE_HAZARD:
        if in_bounds and _free_for_block(cell, agent_pos, obj_kind, obj_pos, e, row, col):
            cell[e, row, col] = CELL_WALL if kind == EV_DRAW_WALL else CELL_LAVA
    elif kind == EV_ERASE_WALL:
        if in_bounds and cell[e, row, col] == CELL_WALL:
            cell[e, row, col] = CELL_FLOOR
    elif kind == EV_REMOVE_HAZARD:
        if in_bounds and cell[e, row, col] == CELL_LAVA:
            cell[e, row, col] = CELL_FLOOR
    elif kind == EV_ADD_OBJECT:
        if in_bounds and cell[e, row, col] == CELL_FLOOR:
            slot = target
            if slot < 0:  # first free slot
                for k in range(n_slots):
                    if obj_kind[e, k] == OBJ_NONE:
                        slot = k
                        break
            if 0 <= slot < n_slots:
                obj_kind[e, slot] = int(p[2])
                obj_color[e, slot] = int(p[3])
                obj_pos[e, slot, 0] = row
                obj_pos[e, slot, 1] = col
                obj_reward[e, slot] = p[4]
    elif kind == EV_MOVE_OBJECT:
        if in_bounds and 0 <= target < n_slots and cell[e, row, col] == CELL_FLOOR:
            obj_pos[e, target, 0] = row
            obj_pos[e, target, 1] = col
    elif kind == EV_RECOLOR_OBJECT:
        if 0 <= target < n_slots:
            obj_color[e, target] = int(p[2])
    elif kind == EV_REMOVE_OBJECT:
        if 0 <= target < n_slots:
            obj_kind[e, target] = OBJ_NONE
    elif kind == EV_SET_NOISE:
        noise[e] = min(max(p[2], 0.0), 1.0)


# --- initial-state distributions -----------------------------------------------------
# A distribution is packed into arrays so one compiled kernel draws all copies at once:
#   template (H, W) int8          the map (mode 0) or ignored (mode 1: generated maze)
#   obj_spec (K0, 5) float64      kind, colour mask, reward, row, col  (row < 0: random cell)
#   dist_params (6,) float64      mode, agent_row, agent_col (<0: random), n_hazards,
#                                 braid (fraction of extra wall openings), noise
DIST_MODE_MAP, DIST_MODE_MAZE = 0, 1


@njit(cache=True)
def _pick_color(mask, seed, e, draw):
    n = 0
    for c in range(len(COLORS)):
        if mask & (1 << c):
            n += 1
    k = rand_int(seed, e, draw, STREAM_INIT, n)
    for c in range(len(COLORS)):
        if mask & (1 << c):
            if k == 0:
                return c
            k -= 1
    return 0


@njit(cache=True)
def _passable(cell, obj_kind, obj_pos, e, r, c):
    """Floor without an object: a cell a route can pass through (objects end episodes)."""
    return cell[e, r, c] == CELL_FLOOR and object_at(obj_kind[e], obj_pos[e], r, c) < 0


@njit(cache=True)
def _cuts_route(cell, obj_kind, obj_pos, e, row, col):
    """Whether blocking (row, col) would cut some floor cell or object off the rest.

    A flood fill from one passable cell, with (row, col) treated as blocked, must reach every
    other floor cell; cells holding objects are reached but not passed through, since
    stepping on an object ends the episode. O(H * W); used only to draw initial states.
    """
    height, width = cell.shape[1], cell.shape[2]
    total = 0
    start = -1
    for r in range(height):
        for c in range(width):
            if (r != row or c != col) and cell[e, r, c] == CELL_FLOOR:
                total += 1
                if start < 0 and _passable(cell, obj_kind, obj_pos, e, r, c):
                    start = r * width + c
    if start < 0:
        return False
    seen = np.zeros(height * width, np.bool_)
    queue = np.empty(height * width, np.int32)
    queue[0] = start
    seen[start] = True
    head, tail, n_reached = 0, 1, 1
    while head < tail:
        r, c = queue[head] // width, queue[head] % width
        head += 1
        for d in range(1, 5):
            nr, nc = r + DROW[d], c + DCOL[d]
            if nr < 0 or nc < 0 or nr >= height or nc >= width or (nr == row and nc == col):
                continue
            k = nr * width + nc
            if seen[k] or cell[e, nr, nc] != CELL_FLOOR:
                continue
            seen[k] = True
            n_reached += 1
            if object_at(obj_kind[e], obj_pos[e], nr, nc) < 0:
                queue[tail] = k
                tail += 1
    return n_reached < total


@njit(cache=True)
def _random_free_cell(cell, agent_pos, obj_kind, obj_pos, e, seed, draw, keep_routes=False):
    """A uniformly chosen floor cell holding neither the agent nor an object, or (-1, -1).

    With ``keep_routes`` the cell must not cut any route (rejection sampling, 64 tries,
    then any free cell): objects and lava end the episode, and one dropped in a corridor
    could make the target unreachable — a maze no agent could solve teaches nothing.
    """
    height, width = cell.shape[1], cell.shape[2]
    n_free = 0
    for r in range(height):
        for c in range(width):
            if cell[e, r, c] == CELL_FLOOR and _free_for_block(
                cell, agent_pos, obj_kind, obj_pos, e, r, c
            ):
                n_free += 1
    if n_free == 0:
        return -1, -1
    n_tries = 65 if keep_routes else 1
    for attempt in range(n_tries):
        k = rand_int(seed, e, draw * 128 + attempt, STREAM_INIT, n_free)
        for r in range(height):
            for c in range(width):
                if cell[e, r, c] == CELL_FLOOR and _free_for_block(
                    cell, agent_pos, obj_kind, obj_pos, e, r, c
                ):
                    if k == 0:
                        if attempt == n_tries - 1 or not _cuts_route(cell, obj_kind, obj_pos,
                                                                     e, r, c):
                            return r, c
                    k -= 1
    return -1, -1


@njit(cache=True)
def _carve_maze(cell, e, seed, braid):
    """Recursive-backtracker maze on odd coordinates, then open a ``braid`` fraction of the
    remaining inner walls so there is more than one route (a perfect maze has exactly one,
    which would make every agent's path identical)."""
    height, width = cell.shape[1], cell.shape[2]
    cell[e, :, :] = CELL_WALL
    n_rows, n_cols = (height - 1) // 2, (width - 1) // 2
    visited = np.zeros((n_rows, n_cols), np.bool_)
    stack = np.empty((n_rows * n_cols, 2), np.int32)
    draw = 1000
    start_r = rand_int(seed, e, draw, STREAM_INIT, n_rows)
    start_c = rand_int(seed, e, draw + 1, STREAM_INIT, n_cols)
    draw += 2
    stack[0, 0], stack[0, 1] = start_r, start_c
    top = 1
    visited[start_r, start_c] = True
    cell[e, 2 * start_r + 1, 2 * start_c + 1] = CELL_FLOOR
    neighbours = np.empty(4, np.int32)
    while top > 0:
        r, c = stack[top - 1, 0], stack[top - 1, 1]
        n = 0
        for d in range(4):
            nr, nc = r + DROW[d + 1], c + DCOL[d + 1]
            if 0 <= nr < n_rows and 0 <= nc < n_cols and not visited[nr, nc]:
                neighbours[n] = d
                n += 1
        if n == 0:
            top -= 1
            continue
        d = neighbours[rand_int(seed, e, draw, STREAM_INIT, n)]
        draw += 1
        nr, nc = r + DROW[d + 1], c + DCOL[d + 1]
        cell[e, r + nr + 1, c + nc + 1] = CELL_FLOOR  # the wall between the two cells
        cell[e, 2 * nr + 1, 2 * nc + 1] = CELL_FLOOR
        visited[nr, nc] = True
        stack[top, 0], stack[top, 1] = nr, nc
        top += 1
    if braid > 0.0:
        for r in range(1, height - 1):
            for c in range(1, width - 1):
                if cell[e, r, c] != CELL_WALL:
                    continue
                # Only walls separating two floor cells in a line are candidates.
                vertical = cell[e, r - 1, c] == CELL_FLOOR and cell[e, r + 1, c] == CELL_FLOOR
                horizontal = cell[e, r, c - 1] == CELL_FLOOR and cell[e, r, c + 1] == CELL_FLOOR
                if vertical or horizontal:
                    u = rand_int(seed, e, 100000 + r * width + c, STREAM_INIT, 1 << 20)
                    if u < braid * (1 << 20):
                        cell[e, r, c] = CELL_FLOOR


@njit(cache=True)
def draw_copy(template, obj_spec, dist_params, seed, e, cell, agent_pos, obj_kind, obj_color,
              obj_pos, obj_reward, t, status, ret, reached, noise):
    """Fill copy ``e`` with a draw from the distribution, keyed only by (seed, e).

    Shapes as in :class:`MazeState` and the distribution packing above. The learners call
    this on one-copy arrays (e = 0) with a seed per training episode.
    """
    mode = int(dist_params[0])
    t[e] = 0
    status[e] = STATUS_RUNNING
    ret[e] = 0.0
    reached[e] = -1
    noise[e] = dist_params[5]
    obj_kind[e, :] = OBJ_NONE
    if mode == DIST_MODE_MAZE:
        _carve_maze(cell, e, seed, dist_params[4])
    else:
        cell[e] = template
    # Sentinel off the grid so the agent does not block placements before it is set.
    agent_pos[e, 0] = -1
    agent_pos[e, 1] = -1
    draw = 0
    # Fixed-position objects first, so random ones cannot land on them.
    for pass_fixed in (True, False):
        for k in range(obj_spec.shape[0]):
            fixed = obj_spec[k, 3] >= 0
            if fixed != pass_fixed:
                continue
            if fixed:
                row, col = int(obj_spec[k, 3]), int(obj_spec[k, 4])
            else:
                row, col = _random_free_cell(cell, agent_pos, obj_kind, obj_pos, e, seed,
                                             draw, True)
                draw += 1
                if row < 0:
                    continue
            obj_kind[e, k] = int(obj_spec[k, 0])
            obj_color[e, k] = _pick_color(int(obj_spec[k, 1]), seed, e, draw)
            draw += 1
            obj_pos[e, k, 0] = row
            obj_pos[e, k, 1] = col
            obj_reward[e, k] = obj_spec[k, 2]
    if dist_params[1] >= 0:
        agent_pos[e, 0] = int(dist_params[1])
        agent_pos[e, 1] = int(dist_params[2])
    else:
        row, col = _random_free_cell(cell, agent_pos, obj_kind, obj_pos, e, seed, draw)
        draw += 1
        agent_pos[e, 0] = row
        agent_pos[e, 1] = col
    for _ in range(int(dist_params[3])):
        row, col = _random_free_cell(cell, agent_pos, obj_kind, obj_pos, e, seed, draw,
                                     True)
        draw += 1
        if row >= 0:
            cell[e, row, col] = CELL_LAVA


@njit(cache=True, parallel=True)
def draw_initial(template, obj_spec, dist_params, seed, cell, agent_pos, obj_kind, obj_color,
                 obj_pos, obj_reward, t, status, ret, reached, noise):
    """Fill every copy with an independent draw from the distribution.

    Copy ``e`` depends only on (seed, e): draws are keyed by counters, not a shared stream.
    Shapes as in :class:`MazeState` and the distribution packing above.
    """
    for e in prange(cell.shape[0]):
        draw_copy(template, obj_spec, dist_params, seed, e, cell, agent_pos, obj_kind,
                  obj_color, obj_pos, obj_reward, t, status, ret, reached, noise)
