"""The arena world: 2-D rigid circles — pushers driven by thrust, and balls — in a walled box
with goal regions.

State is struct-of-arrays with a leading ensemble axis ``E`` (copies), see
:class:`ArenaState`. Every physical rule lives once, in :func:`world_step` (and its
body-parallel twin :func:`world_step_wide`, which calls the very same per-body helpers): the
ensemble rollout, the tree search and the tests' NumPy reference describe the same step.

Physics, per substep of length ``h = dt / substeps``:

1. Integrate (semi-implicit Euler): ``v += h F / m``, then linear drag as its exact decay
   ``v *= exp(-friction h)`` (stable for any ``h``), then clamp the speed to ``max_speed``;
   ``x += h v``.
2. Broadphase: bodies are binned into a uniform grid of cells no smaller than the largest
   diameter (cell lists, a counting sort), so a body is tested only against the 3 x 3 cells
   around it — O(n) rather than O(n^2) for 1000 circles. Below :data:`GRID_MIN_BODIES`
   bodies all pairs are tested directly (cheaper than building cells).
3. Contacts, resolved by impulses: for an approaching pair (normal relative speed
   ``v_n < 0``) the impulse ``P = -(1 + e) v_n / (1/m_i + 1/m_j)`` along the contact normal
   with ``e = e_i e_j`` (Chipmunk's rule; ``e = 1`` is elastic), then the overlap is
   projected out in proportion to inverse mass (centre of mass unchanged). Walls and the
   box are immovable (``e = e_i e_wall``; overlap removed in full).

Contacts are resolved Jacobi-style: every body *gathers* the response of all its contacts
from the positions and velocities at the start of the resolution, and writes only its own
row. The pair formula is exactly antisymmetric in floating point (negated normal, same
``v_n``, commutative sums), so momentum is conserved to rounding; a single two-body
collision is exact; and a body's result cannot depend on the order threads visit bodies —
so the step is the same with 1 or N threads, in the per-copy or the body-parallel kernel.

Anti-tunnelling (no swept tests): speeds are clamped to ``max_speed`` after forces and after
contacts, and ``substeps = ceil(max_speed dt / (MAX_TRAVEL r_min))`` with
``MAX_TRAVEL = 1/2`` (see :func:`substeps_for`), so no body moves more than half the
smallest radius per substep. A body that ends a substep clear of a wall therefore cannot
cross even a zero-thickness wall in the next one, and two circles cannot pass through each
other (their relative path per substep is shorter than the sum of their radii).

Time convention (as in the maze): ``t`` counts completed steps. At step ``t`` the events
logged for ``t`` are applied first, then the agents choose thrusts on what they see, then
:func:`world_step` moves the world to ``t + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from simulator.core.rng import STREAM_INIT, rand_uniform
from simulator.core.state import (  # noqa: F401  (the kernels' status codes)
    STATUS_RUNNING,
    STATUS_TERMINATED,
    STATUS_TRUNCATED,
    StateArrays,
)

# --- code tables ---------------------------------------------------------------------
ROLE_PUSHER, ROLE_BALL = 0, 1
ROLE_NAMES = ("pusher", "ball")
WALL_NONE, WALL_SEGMENT, WALL_BOX = -1, 0, 1
WALL_KINDS = ("segment", "box")

MAX_AGENTS = 4  # agents per lane: the per-agent counters in the state have this width

# Perturbation kinds; an event is (step, kind, target, params[4]). ``target`` is a body
# (-1: every body, for impulse and the set_* kinds) or a goal (move_goal). params:
#   impulse (jx, jy) N s; drag (x, y, speed); teleport (x, y); wind (fx, fy) N on every
#   body; set_mass (kg); set_friction (1/s); set_restitution; set_noise (std, N);
#   move_goal (x, y) new centre.
EVENT_KINDS = (
    "impulse",
    "drag",
    "teleport",
    "wind",
    "set_mass",
    "set_friction",
    "set_restitution",
    "set_noise",
    "move_goal",
)
EVENT_TO_IDX = {name: i for i, name in enumerate(EVENT_KINDS)}
(
    EV_IMPULSE,
    EV_DRAG,
    EV_TELEPORT,
    EV_WIND,
    EV_SET_MASS,
    EV_SET_FRICTION,
    EV_SET_RESTITUTION,
    EV_SET_NOISE,
    EV_MOVE_GOAL,
) = range(len(EVENT_KINDS))
N_EVENT_PARAMS = 4

# Scalar rule parameters, packed in a float64 array so kernels take one argument.
#   dt (s), substeps, max_speed (m/s), thrust (N at |action| = 1), wall restitution,
#   horizon (steps), broadphase cell size (m), pair overlap correction (fraction per substep)
(P_DT, P_SUBSTEPS, P_MAX_SPEED, P_THRUST, P_WALL_RESTITUTION, P_HORIZON, P_CELL,
 P_CORRECTION) = range(8)
N_PARAMS = 8

MAX_TRAVEL = 0.5  # the most a body may move per substep, as a fraction of the smallest radius
GRID_MIN_BODIES = 17  # from this many bodies on, cell lists beat testing all pairs
MIN_MASS = 1e-6

# Columns of the per-body work array (B, N_WORK) float64 a step uses as scratch.
W_FX, W_FY, W_INV_MASS, W_DECAY, W_DVX, W_DVY, W_DPX, W_DPY = range(8)
N_WORK = 8

# Counter streams of the per-body force noise: one per body and component, far from the
# small stream numbers in simulator.core.rng so they never coincide.
_STREAM_FORCE_NOISE = 1 << 32


@dataclass
class ArenaState(StateArrays):
    """Struct-of-arrays state of ``E`` arenas with ``B`` bodies, ``NW`` walls, ``G`` goals.

    Attributes
    ----------
    pos : (E, B, 2) float64          body centre, m (x right, y up; the box spans [0, box])
    vel : (E, B, 2) float64          velocity, m/s
    radius : (E, B) float64          m
    mass : (E, B) float64            kg
    restitution : (E, B) float64     in [0, 1]; a contact's is the product of both sides'
    friction : (E, B) float64        linear drag rate, 1/s: dv/dt = -friction v
    role : (E, B) int8               ROLE_PUSHER (driven by an agent) or ROLE_BALL
    wall_kind : (E, NW) int8         WALL_SEGMENT, WALL_BOX or WALL_NONE
    wall : (E, NW, 5) float64        x0, y0, x1, y1, half thickness (a segment is a capsule;
                                     a box spans [x0, x1] x [y0, y1], padded)
    goal : (E, G, 4) float64         goal region x0, y0, x1, y1
    goal_code : (E, G) int32         the goal's name code (see :func:`goal_name_code`)
    box : (E, 2) float64             the arena's width and height, m
    wind : (E, 2) float64            force on every body, N
    noise : (E,) float64             std of a random force on every body, N, per step
    held : (E, MAX_AGENTS) int32     completed steps after which agent a's objective held
    ret : (E, MAX_AGENTS) float64    return of agent a (minus metre-steps from its goal)
    t : (E,) int32                   completed steps
    status : (E,) int8               running / truncated (an arena never terminates)
    """

    pos: np.ndarray
    vel: np.ndarray
    radius: np.ndarray
    mass: np.ndarray
    restitution: np.ndarray
    friction: np.ndarray
    role: np.ndarray
    wall_kind: np.ndarray
    wall: np.ndarray
    goal: np.ndarray
    goal_code: np.ndarray
    box: np.ndarray
    wind: np.ndarray
    noise: np.ndarray
    held: np.ndarray
    ret: np.ndarray
    t: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, n_copies: int, n_bodies: int, n_walls: int, n_goals: int) -> ArenaState:
        """Allocate ``n_copies`` arenas of resting unit balls at the origin, no walls."""
        e, b = n_copies, n_bodies
        return cls(
            pos=np.zeros((e, b, 2)),
            vel=np.zeros((e, b, 2)),
            radius=np.ones((e, b)),
            mass=np.ones((e, b)),
            restitution=np.ones((e, b)),
            friction=np.zeros((e, b)),
            role=np.full((e, b), ROLE_BALL, np.int8),
            wall_kind=np.full((e, n_walls), WALL_NONE, np.int8),
            wall=np.zeros((e, n_walls, 5)),
            goal=np.zeros((e, n_goals, 4)),
            goal_code=np.zeros((e, n_goals), np.int32),
            box=np.ones((e, 2)),
            wind=np.zeros((e, 2)),
            noise=np.zeros(e),
            held=np.zeros((e, MAX_AGENTS), np.int32),
            ret=np.zeros((e, MAX_AGENTS)),
            t=np.zeros(e, np.int32),
            status=np.zeros(e, np.int8),
        )

    @property
    def n_bodies(self) -> int:
        return self.pos.shape[1]


def goal_name_code(name: str) -> int:
    """A goal name's int32 code: stable across processes (CRC-32), never 0 (0 = unnamed).

    Objectives name goals (``goal:left``) without seeing the scene; the state carries each
    goal's code, so the kernels match names without strings.
    """
    import zlib

    return (zlib.crc32(name.encode()) & 0x7FFFFFFF) | 1


def substeps_for(dt: float, max_speed: float, min_radius: float) -> int:
    """The fewest substeps that keep every body's travel per substep at most
    ``MAX_TRAVEL * min_radius`` at ``max_speed`` (the anti-tunnelling rule)."""
    return max(1, math.ceil(max_speed * dt / (MAX_TRAVEL * min_radius) - 1e-9))


def pack_params(dt: float, substeps: int, max_speed: float, thrust: float,
                wall_restitution: float, horizon: int, cell: float,
                correction: float = 0.8) -> np.ndarray:
    """The (N_PARAMS,) float64 rule vector."""
    out = np.zeros(N_PARAMS)
    out[P_DT], out[P_SUBSTEPS], out[P_MAX_SPEED] = dt, substeps, max_speed
    out[P_THRUST], out[P_WALL_RESTITUTION], out[P_HORIZON] = thrust, wall_restitution, horizon
    out[P_CELL], out[P_CORRECTION] = cell, correction
    return out


# --- geometry helpers ------------------------------------------------------------------
@njit(cache=True, inline="always")
def _clamp(x, low, high):
    return low if x < low else (high if x > high else x)


@njit(cache=True, inline="always")
def wall_distance(px, py, vx, vy, kind, x0, y0, x1, y1, half):
    """Signed distance (m) from a point to one wall's surface (negative inside it) and the
    unit normal (nx, ny) pointing from the wall to the point.

    A circle of radius r at (px, py) overlaps the wall by ``r - distance`` when positive.
    A point exactly on a segment takes the segment normal facing against the velocity
    (vx, vy): it came from that side. A WALL_NONE slot is infinitely far.
    """
    if kind == WALL_SEGMENT:
        ex, ey = x1 - x0, y1 - y0
        l2 = ex * ex + ey * ey
        s = 0.0 if l2 == 0.0 else _clamp(((px - x0) * ex + (py - y0) * ey) / l2, 0.0, 1.0)
        dx, dy = px - (x0 + s * ex), py - (y0 + s * ey)
        d2 = dx * dx + dy * dy
        if d2 > 0.0:
            d = math.sqrt(d2)
            return d - half, dx / d, dy / d
        if l2 == 0.0:
            return -half, 1.0, 0.0
        length = math.sqrt(l2)
        nx, ny = -ey / length, ex / length
        if nx * vx + ny * vy > 0.0:
            nx, ny = -nx, -ny
        return -half, nx, ny
    if kind == WALL_BOX:
        dx = px - _clamp(px, x0, x1)
        dy = py - _clamp(py, y0, y1)
        d2 = dx * dx + dy * dy
        if d2 > 0.0:
            d = math.sqrt(d2)
            return d - half, dx / d, dy / d
        # Inside the box: out through the nearest side.
        best, nx, ny = px - x0, -1.0, 0.0
        if x1 - px < best:
            best, nx, ny = x1 - px, 1.0, 0.0
        if py - y0 < best:
            best, nx, ny = py - y0, 0.0, -1.0
        if y1 - py < best:
            best, nx, ny = y1 - py, 0.0, 1.0
        return -best - half, nx, ny
    return np.inf, 1.0, 0.0


@njit(cache=True)
def clearance(px, py, r, wall_kind, wall, box_w, box_h):
    """The deepest overlap (m) of a circle at (px, py) of radius r with the box sides and the
    walls; <= 0 when it fits. wall_kind (NW,) int8; wall (NW, 5) float64."""
    worst = max(r - px, px + r - box_w, r - py, py + r - box_h)
    for w in range(wall_kind.shape[0]):
        dist, _, _ = wall_distance(px, py, 0.0, 0.0, wall_kind[w], wall[w, 0], wall[w, 1],
                                   wall[w, 2], wall[w, 3], wall[w, 4])
        worst = max(worst, r - dist)
    return worst


# --- the per-body pieces of one step (shared by the serial and the parallel kernels) ------
@njit(cache=True, inline="always")
def _gauss_pair(seed, copy, step, body):
    """Two independent standard normals for a body's force noise (Box-Muller), keyed by
    (seed, copy, step, stream of the body): no generator state, any visiting order."""
    u1 = rand_uniform(seed, copy, step, _STREAM_FORCE_NOISE + 2 * body)
    u2 = rand_uniform(seed, copy, step, _STREAM_FORCE_NOISE + 2 * body + 1)
    rad = math.sqrt(-2.0 * math.log(1.0 - u1))
    return rad * math.cos(2.0 * math.pi * u2), rad * math.sin(2.0 * math.pi * u2)


@njit(cache=True, inline="always")
def _prepare_body(i, mass, friction, thrust, wind, noise_std, seed, copy, step, h, work):
    """Forces held over the step (thrust + wind + noise), inverse mass and drag decay."""
    fx = thrust[i, 0] + wind[0]
    fy = thrust[i, 1] + wind[1]
    if noise_std > 0.0:
        gx, gy = _gauss_pair(seed, copy, step, i)
        fx += noise_std * gx
        fy += noise_std * gy
    work[i, W_FX] = fx
    work[i, W_FY] = fy
    work[i, W_INV_MASS] = 1.0 / mass[i]
    work[i, W_DECAY] = math.exp(-friction[i] * h)
    work[i, W_DVX] = 0.0
    work[i, W_DVY] = 0.0
    work[i, W_DPX] = 0.0
    work[i, W_DPY] = 0.0


@njit(cache=True, inline="always")
def _clamp_speed(vel, i, vmax):
    vx, vy = vel[i, 0], vel[i, 1]
    s2 = vx * vx + vy * vy
    if s2 > vmax * vmax:
        k = vmax / math.sqrt(s2)
        vel[i, 0] = vx * k
        vel[i, 1] = vy * k


@njit(cache=True, inline="always")
def _settle_body(i, pos, vel, work, vmax):
    """Apply the contact response gathered in the last resolution, then clamp the speed."""
    vel[i, 0] += work[i, W_DVX]
    vel[i, 1] += work[i, W_DVY]
    pos[i, 0] += work[i, W_DPX]
    pos[i, 1] += work[i, W_DPY]
    work[i, W_DVX] = 0.0
    work[i, W_DVY] = 0.0
    work[i, W_DPX] = 0.0
    work[i, W_DPY] = 0.0
    _clamp_speed(vel, i, vmax)


@njit(cache=True, inline="always")
def _move_body(i, pos, vel, work, h, vmax):
    """The previous substep's contact response, then one semi-implicit Euler substep."""
    _settle_body(i, pos, vel, work, vmax)
    im = work[i, W_INV_MASS]
    decay = work[i, W_DECAY]
    vel[i, 0] = (vel[i, 0] + h * work[i, W_FX] * im) * decay
    vel[i, 1] = (vel[i, 1] + h * work[i, W_FY] * im) * decay
    _clamp_speed(vel, i, vmax)
    pos[i, 0] += h * vel[i, 0]
    pos[i, 1] += h * vel[i, 1]


@njit(cache=True, inline="always")
def _pair_response(i, j, pos, vel, radius, restitution, work, correction):
    """Body i's share of its contact with body j: (dvx, dvy, dpx, dpy).

    Exactly antisymmetric: j's call computes the negated normal, the same normal speed
    and the same impulse, so the pair's momentum change is zero up to m * (1/m) rounding.
    """
    dx = pos[j, 0] - pos[i, 0]
    dy = pos[j, 1] - pos[i, 1]
    reach = radius[i] + radius[j]
    d2 = dx * dx + dy * dy
    if d2 >= reach * reach:
        return 0.0, 0.0, 0.0, 0.0
    imi = work[i, W_INV_MASS]
    w_sum = imi + work[j, W_INV_MASS]
    if d2 > 0.0:
        d = math.sqrt(d2)
        nx, ny = dx / d, dy / d
    else:  # coincident centres: a fixed, antisymmetric choice
        d = 0.0
        nx, ny = (1.0 if i < j else -1.0), 0.0
    vn = (vel[j, 0] - vel[i, 0]) * nx + (vel[j, 1] - vel[i, 1]) * ny
    # i receives -P n with P = -(1 + e) vn / w_sum >= 0 when approaching (vn < 0).
    k = 0.0
    if vn < 0.0:
        k = (1.0 + restitution[i] * restitution[j]) * vn / w_sum * imi
    c = correction * (reach - d) / w_sum * imi
    return k * nx, k * ny, -c * nx, -c * ny


@njit(cache=True, inline="always")
def _cell_of(x, inv_cell, n_cells):
    k = int(math.floor(x * inv_cell)) if x > 0.0 else 0
    return n_cells - 1 if k >= n_cells else k


@njit(cache=True, inline="always")
def _resolve_body(i, use_grid, pos, vel, radius, restitution, work, wall_kind, wall, box_w,
                  box_h, wall_e, correction, grid_start, grid_body, n_cx, n_cy, inv_cell):
    """Gather body i's response to all its contacts into its work row (reads only)."""
    dvx = dvy = dpx = dpy = 0.0
    if use_grid:
        cx = _cell_of(pos[i, 0], inv_cell, n_cx)
        cy = _cell_of(pos[i, 1], inv_cell, n_cy)
        gx_lo, gx_hi = max(cx - 1, 0), min(cx + 1, n_cx - 1)
        for gy in range(max(cy - 1, 0), min(cy + 2, n_cy)):
            # The three cells of a grid row are contiguous in the cell lists: one run.
            for k in range(grid_start[gy * n_cx + gx_lo], grid_start[gy * n_cx + gx_hi + 1]):
                j = grid_body[k]
                if j != i:
                    a, b, p, q = _pair_response(i, j, pos, vel, radius, restitution, work,
                                                correction)
                    dvx += a
                    dvy += b
                    dpx += p
                    dpy += q
    else:
        for j in range(pos.shape[0]):
            if j != i:
                a, b, p, q = _pair_response(i, j, pos, vel, radius, restitution, work,
                                            correction)
                dvx += a
                dvy += b
                dpx += p
                dpy += q
    px, py, r = pos[i, 0], pos[i, 1], radius[i]
    vx, vy = vel[i, 0], vel[i, 1]
    e = restitution[i] * wall_e
    for w in range(wall_kind.shape[0]):
        dist, nx, ny = wall_distance(px, py, vx, vy, wall_kind[w], wall[w, 0], wall[w, 1],
                                     wall[w, 2], wall[w, 3], wall[w, 4])
        pen = r - dist
        if pen > 0.0:
            vn = vx * nx + vy * ny
            if vn < 0.0:
                dvx -= (1.0 + e) * vn * nx
                dvy -= (1.0 + e) * vn * ny
            dpx += pen * nx
            dpy += pen * ny
    # The box: four immovable half-planes.
    if px < r:
        if vx < 0.0:
            dvx -= (1.0 + e) * vx
        dpx += r - px
    elif px > box_w - r:
        if vx > 0.0:
            dvx -= (1.0 + e) * vx
        dpx -= px - (box_w - r)
    if py < r:
        if vy < 0.0:
            dvy -= (1.0 + e) * vy
        dpy += r - py
    elif py > box_h - r:
        if vy > 0.0:
            dvy -= (1.0 + e) * vy
        dpy -= py - (box_h - r)
    work[i, W_DVX] = dvx
    work[i, W_DVY] = dvy
    work[i, W_DPX] = dpx
    work[i, W_DPY] = dpy


@njit(cache=True)
def grid_shape(box_w, box_h, cell):
    """Cells along x and y of the broadphase grid over a box_w x box_h box."""
    return max(1, int(math.ceil(box_w / cell))), max(1, int(math.ceil(box_h / cell)))


@njit(cache=True)
def _build_grid(pos, inv_cell, n_cx, n_cy, grid_start, grid_body, grid_fill):
    """Cell lists by counting sort: bodies of cell c are grid_body[grid_start[c]:
    grid_start[c + 1]], in index order (so the neighbour order is deterministic).

    grid_start (C + 1,) int32; grid_body (B,) int32; grid_fill (C,) int32 scratch."""
    n_cells = n_cx * n_cy
    grid_start[:] = 0
    for i in range(pos.shape[0]):
        c = _cell_of(pos[i, 1], inv_cell, n_cy) * n_cx + _cell_of(pos[i, 0], inv_cell, n_cx)
        grid_start[c + 1] += 1
    for c in range(n_cells):
        grid_start[c + 1] += grid_start[c]
        grid_fill[c] = grid_start[c]
    for i in range(pos.shape[0]):
        c = _cell_of(pos[i, 1], inv_cell, n_cy) * n_cx + _cell_of(pos[i, 0], inv_cell, n_cx)
        grid_body[grid_fill[c]] = i
        grid_fill[c] += 1


@njit(cache=True)
def alloc_scratch(n_bodies, box_w, box_h, cell):
    """Scratch for one copy's steps: work (B, N_WORK) float64 and the cell lists
    grid_start (C + 1,), grid_body (B,), grid_fill (C,) int32 (empty below
    GRID_MIN_BODIES bodies, where all pairs are tested)."""
    work = np.zeros((n_bodies, N_WORK))
    if n_bodies < GRID_MIN_BODIES:
        n_cells = 0
    else:
        n_cx, n_cy = grid_shape(box_w, box_h, cell)
        n_cells = n_cx * n_cy
    return (work, np.zeros(n_cells + 1, np.int32), np.zeros(n_bodies, np.int32),
            np.zeros(max(n_cells, 1), np.int32))


# --- the one transition rule ---------------------------------------------------------
@njit(cache=True)
def world_step(params, seed, copy, step, pos, vel, radius, mass, restitution, friction,
               thrust, wind, noise_std, wall_kind, wall, box_w, box_h, work, grid_start,
               grid_body, grid_fill):
    """One step of one copy, in place: ``params[P_SUBSTEPS]`` substeps of
    integrate → broadphase → gather contact responses (see the module docstring).

    pos, vel (B, 2) float64; radius, mass, restitution, friction (B,) float64;
    thrust (B, 2) float64 force, N, held over the step; wind (2,) float64 N;
    noise_std float (N): the std of a Gaussian force per body and axis drawn from
    (seed, copy, step); wall_kind (NW,) int8; wall (NW, 5) float64; box_w, box_h floats;
    scratch from :func:`alloc_scratch`. Serial: the ensemble parallelises over copies.
    """
    n = pos.shape[0]
    n_sub = int(params[P_SUBSTEPS])
    h = params[P_DT] / n_sub
    vmax, wall_e = params[P_MAX_SPEED], params[P_WALL_RESTITUTION]
    correction = params[P_CORRECTION]
    use_grid = n >= GRID_MIN_BODIES
    n_cx, n_cy = grid_shape(box_w, box_h, params[P_CELL])
    inv_cell = 1.0 / params[P_CELL]
    for i in range(n):
        _prepare_body(i, mass, friction, thrust, wind, noise_std, seed, copy, step, h, work)
    for _ in range(n_sub):
        for i in range(n):
            _move_body(i, pos, vel, work, h, vmax)
        if use_grid:
            _build_grid(pos, inv_cell, n_cx, n_cy, grid_start, grid_body, grid_fill)
        for i in range(n):
            _resolve_body(i, use_grid, pos, vel, radius, restitution, work, wall_kind, wall,
                          box_w, box_h, wall_e, correction, grid_start, grid_body, n_cx, n_cy,
                          inv_cell)
    for i in range(n):
        _settle_body(i, pos, vel, work, vmax)


@njit(cache=True, parallel=True)
def world_step_wide(params, seed, copy, step, pos, vel, radius, mass, restitution, friction,
                    thrust, wind, noise_std, wall_kind, wall, box_w, box_h, work, grid_start,
                    grid_body, grid_fill):
    """:func:`world_step` with the per-body phases spread over threads: for one or a few
    copies of many bodies (the 1000-circle arena). The same helpers in the same per-body
    order, so the result is bit-identical to :func:`world_step` for any thread count."""
    n = pos.shape[0]
    n_sub = int(params[P_SUBSTEPS])
    h = params[P_DT] / n_sub
    vmax, wall_e = params[P_MAX_SPEED], params[P_WALL_RESTITUTION]
    correction = params[P_CORRECTION]
    use_grid = n >= GRID_MIN_BODIES
    n_cx, n_cy = grid_shape(box_w, box_h, params[P_CELL])
    inv_cell = 1.0 / params[P_CELL]
    for k in range(n_sub):
        # Every parallel loop ends in a barrier, and a barrier is what costs when another
        # process holds a core: the step's preparation rides with the first substep's move.
        for i in prange(n):
            if k == 0:
                _prepare_body(i, mass, friction, thrust, wind, noise_std, seed, copy, step, h,
                              work)
            _move_body(i, pos, vel, work, h, vmax)
        if use_grid:
            _build_grid(pos, inv_cell, n_cx, n_cy, grid_start, grid_body, grid_fill)
        for i in prange(n):
            _resolve_body(i, use_grid, pos, vel, radius, restitution, work, wall_kind, wall,
                          box_w, box_h, wall_e, correction, grid_start, grid_body, n_cx, n_cy,
                          inv_cell)
    for i in prange(n):
        _settle_body(i, pos, vel, work, vmax)


@njit(cache=True, parallel=True)
def step_ensemble(n_steps, seed, params, pos, vel, radius, mass, restitution, friction,
                  wall_kind, wall, box, wind, noise, t):
    """Advance every copy by ``n_steps`` world steps with no thrust: the bare physics, for
    tests and the body-step benchmark. Arrays as in :class:`ArenaState`; pos, vel and t
    change in place."""
    n_copies, n_bodies = pos.shape[0], pos.shape[1]
    for copy in prange(n_copies):
        # One integer type for copy and step (prange counts in uint64, t is int32), so
        # world_step compiles once for every caller.
        e = np.int64(copy)
        work, grid_start, grid_body, grid_fill = alloc_scratch(n_bodies, box[e, 0], box[e, 1],
                                                               params[P_CELL])
        thrust = np.zeros((n_bodies, 2))
        step = np.int64(t[e])
        for _ in range(n_steps):
            world_step(params, seed, e, step, pos[e], vel[e], radius[e], mass[e],
                       restitution[e], friction[e], thrust, wind[e], noise[e], wall_kind[e],
                       wall[e], box[e, 0], box[e, 1], work, grid_start, grid_body, grid_fill)
            step += 1
        t[e] = step


@njit(cache=True)
def step_wide(n_steps, seed, params, pos, vel, radius, mass, restitution, friction,
              wall_kind, wall, box, wind, noise, t):
    """:func:`step_ensemble` copy by copy, each step parallel over bodies (few copies of
    many bodies). Bit-identical to :func:`step_ensemble`."""
    n_copies, n_bodies = pos.shape[0], pos.shape[1]
    for copy in range(n_copies):
        e = np.int64(copy)
        work, grid_start, grid_body, grid_fill = alloc_scratch(n_bodies, box[e, 0], box[e, 1],
                                                               params[P_CELL])
        thrust = np.zeros((n_bodies, 2))
        step = np.int64(t[e])
        for _ in range(n_steps):
            world_step_wide(params, seed, e, step, pos[e], vel[e], radius[e], mass[e],
                            restitution[e], friction[e], thrust, wind[e], noise[e],
                            wall_kind[e], wall[e], box[e, 0], box[e, 1], work, grid_start,
                            grid_body, grid_fill)
            step += 1
        t[e] = step


# --- goals and objectives --------------------------------------------------------------
@njit(cache=True, inline="always")
def nth_body(role, wanted_role, k):
    """Index of the k-th body (0-based) of role ``wanted_role``, or -1. role (B,) int8."""
    for i in range(role.shape[0]):
        if role[i] == wanted_role:
            if k == 0:
                return i
            k -= 1
    return -1


@njit(cache=True, inline="always")
def find_goal(goal_code, index, code):
    """The goal an objective names: by index (>= 0), else by name code (!= 0), else the
    first goal. goal_code (G,) int32. -1 if there is no such goal."""
    n_goals = goal_code.shape[0]
    if index >= 0:
        return index if index < n_goals else -1
    if code == 0:
        return 0 if n_goals > 0 else -1
    for g in range(n_goals):
        if goal_code[g] == code:
            return g
    return -1


@njit(cache=True, inline="always")
def box_distance(px, py, goal_row):
    """Distance (m) from a point to a goal region goal_row (4,) = x0, y0, x1, y1; 0 inside."""
    dx = max(goal_row[0] - px, 0.0, px - goal_row[2])
    dy = max(goal_row[1] - py, 0.0, py - goal_row[3])
    return math.sqrt(dx * dx + dy * dy)


@njit(cache=True, inline="always")
def objective_distance(objective, pos, role, goal, goal_code):
    """Distance (m) of the objective's ball from its goal region (0 inside), or -1 when the
    copy has no such ball or goal. objective (3,) int32 = ball ordinal, goal index, goal
    name code; pos (B, 2); role (B,); goal (G, 4); goal_code (G,)."""
    b = nth_body(role, ROLE_BALL, objective[0])
    g = find_goal(goal_code, objective[1], objective[2])
    if b < 0 or g < 0:
        return -1.0
    return box_distance(pos[b, 0], pos[b, 1], goal[g])


# --- perturbations -------------------------------------------------------------------
@njit(cache=True)
def apply_event(e, kind, target, p, params, pos, vel, radius, mass, restitution, friction,
                goal, box, wind, noise):
    """Apply one perturbation to copy ``e``. The only path by which anything but the agents
    changes the world: user clicks, scene schedules and noise settings all come here.

    p (N_EVENT_PARAMS,) float64 as listed at EVENT_KINDS. Missing bodies and goals are
    ignored rather than raised: validation of user input happens in Python before the event
    is logged. Speeds stay within max_speed; teleports stay inside the box.
    """
    n_bodies = pos.shape[1]
    vmax = params[P_MAX_SPEED]
    first, last = (0, n_bodies) if target < 0 else (target, min(target + 1, n_bodies))
    if kind == EV_WIND:
        wind[e, 0], wind[e, 1] = p[0], p[1]
    elif kind == EV_SET_NOISE:
        noise[e] = max(p[0], 0.0)
    elif kind == EV_MOVE_GOAL:
        if 0 <= target < goal.shape[1]:
            half_w = 0.5 * (goal[e, target, 2] - goal[e, target, 0])
            half_h = 0.5 * (goal[e, target, 3] - goal[e, target, 1])
            goal[e, target, 0], goal[e, target, 2] = p[0] - half_w, p[0] + half_w
            goal[e, target, 1], goal[e, target, 3] = p[1] - half_h, p[1] + half_h
    elif kind == EV_IMPULSE:
        for i in range(first, last):
            vel[e, i, 0] += p[0] / mass[e, i]
            vel[e, i, 1] += p[1] / mass[e, i]
            _clamp_speed(vel[e], i, vmax)
    elif kind == EV_DRAG:
        if 0 <= target < n_bodies:
            dx, dy = p[0] - pos[e, target, 0], p[1] - pos[e, target, 1]
            dist = math.sqrt(dx * dx + dy * dy)
            # Never past the point within one step, never faster than max_speed.
            speed = min(max(p[2], 0.0), dist / params[P_DT], vmax)
            if dist > 0.0:
                vel[e, target, 0], vel[e, target, 1] = speed * dx / dist, speed * dy / dist
            else:
                vel[e, target, 0], vel[e, target, 1] = 0.0, 0.0
    elif kind == EV_TELEPORT:
        if 0 <= target < n_bodies:
            r = radius[e, target]
            pos[e, target, 0] = _clamp(p[0], r, max(r, box[e, 0] - r))
            pos[e, target, 1] = _clamp(p[1], r, max(r, box[e, 1] - r))
            vel[e, target, 0], vel[e, target, 1] = 0.0, 0.0
    elif kind == EV_SET_MASS:
        for i in range(first, last):
            mass[e, i] = max(p[0], MIN_MASS)
    elif kind == EV_SET_FRICTION:
        for i in range(first, last):
            friction[e, i] = max(p[0], 0.0)
    elif kind == EV_SET_RESTITUTION:
        for i in range(first, last):
            restitution[e, i] = _clamp(p[0], 0.0, 1.0)


# --- initial-state distributions -----------------------------------------------------
# A distribution is packed into arrays so one compiled kernel draws all copies at once:
#   body_spec (B, 12) float64   role, radius, mass, restitution, friction,
#                               x_lo, x_hi, y_lo, y_hi (lo == hi: fixed), vx, vy,
#                               speed (a random extra velocity of magnitude U[0, speed] in
#                               a uniformly random direction)
#   wall_spec (NW, 6) float64   kind, x0, y0, x1, y1, half thickness
#   goal_spec (G, 4) float64    x0, y0, x1, y1;   goal_codes (G,) int32
#   box_size (2,) float64       width, height
#   dist_params (3,) float64    noise, wind x, wind y
(B_ROLE, B_RADIUS, B_MASS, B_RESTITUTION, B_FRICTION, B_X_LO, B_X_HI, B_Y_LO, B_Y_HI, B_VX,
 B_VY, B_SPEED) = range(12)
N_BODY_SPEC = 12
PLACEMENT_TRIES = 64


@njit(cache=True, inline="always")
def _uniform(seed, e, draw, low, high):
    if high <= low:
        return low
    return low + (high - low) * rand_uniform(seed, e, draw, STREAM_INIT)


@njit(cache=True)
def _overlaps(pos_e, radius_e, n_placed, x, y, r):
    for j in range(n_placed):
        dx, dy = pos_e[j, 0] - x, pos_e[j, 1] - y
        reach = radius_e[j] + r
        if dx * dx + dy * dy < reach * reach:
            return True
    return False


@njit(cache=True, parallel=True)
def draw_initial(body_spec, wall_spec, goal_spec, goal_codes, box_size, dist_params, seed,
                 pos, vel, radius, mass, restitution, friction, role, wall_kind, wall, goal,
                 goal_code, box, wind, noise, held, ret, t, status):
    """Fill every copy with an independent draw from the distribution.

    Copy ``e`` depends only on (seed, e): draws are keyed by counters, not a shared stream.
    Bodies are placed in order; a random position is redrawn (up to PLACEMENT_TRIES times)
    while it overlaps a body placed before it or a wall, so copies start untangled. Shapes
    as in :class:`ArenaState` and the distribution packing above.
    """
    n_copies, n_bodies = pos.shape[0], pos.shape[1]
    n_walls, n_goals = wall_spec.shape[0], goal_spec.shape[0]
    for copy in prange(n_copies):
        e = np.int64(copy)
        box[e, 0], box[e, 1] = box_size[0], box_size[1]
        noise[e] = dist_params[0]
        wind[e, 0], wind[e, 1] = dist_params[1], dist_params[2]
        for w in range(n_walls):
            wall_kind[e, w] = int(wall_spec[w, 0])
            for c in range(5):
                wall[e, w, c] = wall_spec[w, 1 + c]
        for g in range(n_goals):
            goal_code[e, g] = goal_codes[g]
            for c in range(4):
                goal[e, g, c] = goal_spec[g, c]
        for b in range(n_bodies):
            spec = body_spec[b]
            r = spec[B_RADIUS]
            role[e, b] = int(spec[B_ROLE])
            radius[e, b] = r
            mass[e, b] = spec[B_MASS]
            restitution[e, b] = spec[B_RESTITUTION]
            friction[e, b] = spec[B_FRICTION]
            x, y = spec[B_X_LO], spec[B_Y_LO]
            for attempt in range(PLACEMENT_TRIES):
                draw = 8 * (b * PLACEMENT_TRIES + attempt)
                x = _uniform(seed, e, draw, spec[B_X_LO], spec[B_X_HI])
                y = _uniform(seed, e, draw + 1, spec[B_Y_LO], spec[B_Y_HI])
                fixed = spec[B_X_HI] <= spec[B_X_LO] and spec[B_Y_HI] <= spec[B_Y_LO]
                if fixed or (not _overlaps(pos[e], radius[e], b, x, y, r) and clearance(
                        x, y, r, wall_kind[e], wall[e], box_size[0], box_size[1]) <= 0.0):
                    break
            pos[e, b, 0], pos[e, b, 1] = x, y
            vx, vy = spec[B_VX], spec[B_VY]
            if spec[B_SPEED] > 0.0:
                draw = 8 * (n_bodies * PLACEMENT_TRIES + b)
                speed = _uniform(seed, e, draw, 0.0, spec[B_SPEED])
                angle = _uniform(seed, e, draw + 1, 0.0, 2.0 * math.pi)
                vx += speed * math.cos(angle)
                vy += speed * math.sin(angle)
            vel[e, b, 0], vel[e, b, 1] = vx, vy
        held[e, :] = 0
        ret[e, :] = 0.0
        t[e] = 0
        status[e] = STATUS_RUNNING
