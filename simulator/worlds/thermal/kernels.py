"""The thermal world: heat diffusing through a room of air, walls and windows on a 2-D grid.

State is struct-of-arrays with a leading ensemble axis ``E`` (copies), see
:class:`ThermalState`. Every physical rule lives once, in :func:`world_step` (built from
:func:`build_model`): the ensemble rollout, the tree search and the tests' NumPy reference
all describe the same step.

Physics (finite volumes, explicit Euler in time — "FTCS"). Each cell is a box of side
``dx`` and height ``h`` (the room's ceiling height) of one material with conductivity ``k``
(W/(m K)) and volumetric heat capacity ``rho_c`` (J/(m^3 K)), so it holds heat capacity
``C = rho_c dx^2 h`` (J/K). Two neighbouring cells exchange heat through their shared face
``dx * h`` across two half cells in series (Fourier's law), conductance

    G_ab = 1 / (1/(2 k_a h) + 1/(2 k_b h))                  (W/K; the dx cancels)

and a cell on the grid's edge loses heat to the outdoor air through its half cell and the
outside surface film ``film`` (W/(m^2 K)): ``G_out = 1 / (1/(2 k h) + 1/(film dx h))``.
One step of length ``dt``:

    T_i' = T_i + dt / C_i * sum_j G_ij (T_j - T_i) + dt * P_i / C_i + noise_i

Stability: the update is a convex combination of the old temperatures — so it can neither
grow nor oscillate (discrete maximum principle) — iff ``dt * sum_j G_ij / C_i <= 1`` for
every cell. For uniform air this is the textbook FTCS bound ``alpha dt / dx^2 <= 1/4`` in
2-D (``alpha = k / rho_c``). :func:`stability_number` gives the bound's left side for every
material; the scene loader refuses a ``dt`` that breaks it.

Open windows and reservoirs are Dirichlet cells (infinite capacity, ``dt / C = 0``): an open
window holds the outdoor temperature (the opening lets outdoor air in; it conducts like
air), a reservoir keeps its own temperature (a heated neighbour, the ground). A closed
window is glazing: a solid cell with its own conductivity.

Time convention (as in the maze): ``t`` counts completed steps. At step ``t`` the events
logged for ``t`` are applied first, then the agents set their heaters' power on what they
see, then :func:`world_step` moves the world to ``t + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from simulator.core.rng import STREAM_INIT, STREAM_NOISE, rand_uniform
from simulator.core.state import (  # noqa: F401  (the kernels' status codes)
    STATUS_RUNNING,
    STATUS_TERMINATED,
    STATUS_TRUNCATED,
    StateArrays,
)

# --- code tables ---------------------------------------------------------------------
CELL_AIR, CELL_WALL, CELL_WINDOW, CELL_OPEN_WINDOW, CELL_RESERVOIR = range(5)
CELL_NAMES = ("air", "wall", "window", "open_window", "reservoir")
N_KINDS = len(CELL_NAMES)
NO_TAG = -1

MAX_AGENTS = 4  # agents per lane: the per-agent counters in the state have this width

# Perturbation kinds; an event is (step, kind, target, params[4]) with params
# (row, col, radius, amount): ``amount`` is the brush's kelvins, the shift of the outside
# or of the room, or the noise's standard deviation. ``target`` is a window index (-1: all).
EVENT_KINDS = (
    "open_window",
    "close_window",
    "heat",
    "cool",
    "shift_outside",
    "kick_room",
    "set_noise",
)
EVENT_TO_IDX = {name: i for i, name in enumerate(EVENT_KINDS)}
(
    EV_OPEN_WINDOW,
    EV_CLOSE_WINDOW,
    EV_HEAT,
    EV_COOL,
    EV_SHIFT_OUTSIDE,
    EV_KICK_ROOM,
    EV_SET_NOISE,
) = range(len(EVENT_KINDS))
N_EVENT_PARAMS = 4

# Rule parameters, packed in a float64 vector so kernels take one argument:
#   scalars, then per material kind (k h in W/K, dt / C in K/J, G_out in W/K),
#   then the outdoor schedule: MAX_SCHEDULE hours, then MAX_SCHEDULE temperatures (°C).
P_DT, P_HORIZON, P_DAY_LENGTH, P_N_SCHEDULE = range(4)
P_KIND = 4
KIND_KH, KIND_DTC, KIND_GOUT = range(3)
MAX_SCHEDULE = 24
P_SCHED_HOUR = P_KIND + 3 * N_KINDS
P_SCHED_TEMP = P_SCHED_HOUR + MAX_SCHEDULE
N_PARAMS = P_SCHED_TEMP + MAX_SCHEDULE

# Heuristic features read the time of day: night is outside [DAY_START, DAY_END) hours.
DAY_START, DAY_END = 7.0, 19.0
_SQRT3 = np.sqrt(3.0)


@dataclass
class ThermalState(StateArrays):
    """Struct-of-arrays state of ``E`` rooms of ``H x W`` cells with ``NS`` sensors, ``NH``
    heaters (or coolers) and ``NW`` windows.

    Attributes
    ----------
    temp : (E, H, W) float64          cell temperature, °C
    cell : (E, H, W) int8             material kind (CELL_*)
    tag : (E, H, W) int8              heater index on heater cells, window index on window
                                      cells, -1 elsewhere
    sensor_pos : (E, NS, 2) int32     sensor (row, col)
    sensor_prev : (E, NS) float64     each sensor's reading one step earlier (its trend)
    heater_watts : (E, NH) float64    rated power, W; negative for a cooler
    heater_power : (E, NH) float64    power fraction in [0, 1] the controlling agent set
    energy : (E, NH) float64          energy each heater has used so far, J
    window_open : (E, NW) int8        1 where the window is open
    outside_offset : (E,) float64     shift of the outdoor temperature from the schedule, K
    hour0 : (E,) float64              time of day at t = 0, hours
    noise : (E,) float64              std of the room's random heat fluctuation, K per step
    held : (E, MAX_AGENTS) int32      completed steps after which agent a's objective held
    ret : (E, MAX_AGENTS) float64     return of agent a (minus kelvin-steps out of band)
    t : (E,) int32                    completed steps
    status : (E,) int8                running / truncated (a room never terminates)
    """

    temp: np.ndarray
    cell: np.ndarray
    tag: np.ndarray
    sensor_pos: np.ndarray
    sensor_prev: np.ndarray
    heater_watts: np.ndarray
    heater_power: np.ndarray
    energy: np.ndarray
    window_open: np.ndarray
    outside_offset: np.ndarray
    hour0: np.ndarray
    noise: np.ndarray
    held: np.ndarray
    ret: np.ndarray
    t: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, n_copies: int, height: int, width: int, n_sensors: int, n_heaters: int,
              n_windows: int) -> ThermalState:
        """Allocate ``n_copies`` rooms of air at 0 °C with everything off."""
        e = n_copies
        return cls(
            temp=np.zeros((e, height, width), np.float64),
            cell=np.zeros((e, height, width), np.int8),
            tag=np.full((e, height, width), NO_TAG, np.int8),
            sensor_pos=np.zeros((e, n_sensors, 2), np.int32),
            sensor_prev=np.zeros((e, n_sensors), np.float64),
            heater_watts=np.zeros((e, n_heaters), np.float64),
            heater_power=np.zeros((e, n_heaters), np.float64),
            energy=np.zeros((e, n_heaters), np.float64),
            window_open=np.zeros((e, n_windows), np.int8),
            outside_offset=np.zeros(e, np.float64),
            hour0=np.zeros(e, np.float64),
            noise=np.zeros(e, np.float64),
            held=np.zeros((e, MAX_AGENTS), np.int32),
            ret=np.zeros((e, MAX_AGENTS), np.float64),
            t=np.zeros(e, np.int32),
            status=np.zeros(e, np.int8),
        )



# --- material constants → conductances -------------------------------------------------
def pack_params(dt: float, horizon: int, day_length: float, cell_size: float, height: float,
                film: float, conductivity: np.ndarray, heat_capacity: np.ndarray,
                schedule: list[tuple[float, float]]) -> np.ndarray:
    """The (N_PARAMS,) float64 rule vector from physical constants.

    conductivity, heat_capacity : (N_KINDS,) float64, W/(m K) and J/(m^3 K) per CELL_*
    (the Dirichlet kinds' capacities are ignored). schedule : (hour, °C) points of the
    outdoor temperature over one day, linearly interpolated and periodic.
    """
    out = np.zeros(N_PARAMS)
    out[P_DT], out[P_HORIZON], out[P_DAY_LENGTH] = dt, horizon, day_length
    for k in range(N_KINDS):
        kh = conductivity[k] * height
        cap = heat_capacity[k] * cell_size * cell_size * height
        dirichlet = k in (CELL_OPEN_WINDOW, CELL_RESERVOIR)
        out[P_KIND + 3 * k + KIND_KH] = kh
        out[P_KIND + 3 * k + KIND_DTC] = 0.0 if dirichlet else dt / cap
        g_film = film * cell_size * height
        out[P_KIND + 3 * k + KIND_GOUT] = (
            0.0 if kh <= 0.0 or g_film <= 0.0 else 1.0 / (1.0 / (2.0 * kh) + 1.0 / g_film)
        )
    points = sorted((h % 24.0, temp) for h, temp in schedule)
    if not 1 <= len(points) <= MAX_SCHEDULE:
        raise ValueError(f"the outdoor schedule needs 1 to {MAX_SCHEDULE} points")
    out[P_N_SCHEDULE] = len(points)
    for i, (h, temp) in enumerate(points):
        out[P_SCHED_HOUR + i] = h
        out[P_SCHED_TEMP + i] = temp
    return out


@njit(cache=True, inline="always")
def face_conductance(params, kind_a, kind_b):
    """G between two cells of kinds a and b, W/K: two half cells in series (Fourier)."""
    ka = params[P_KIND + 3 * kind_a + KIND_KH]
    kb = params[P_KIND + 3 * kind_b + KIND_KH]
    if ka <= 0.0 or kb <= 0.0:
        return 0.0
    return 2.0 * ka * kb / (ka + kb)


def stability_number(params: np.ndarray, kinds: set[int] | None = None) -> dict[int, float]:
    """Per non-Dirichlet kind a, ``dt / C_a * 4 * max_b G_ab`` (b over ``kinds`` and the
    outside): a bound on ``dt * sum_j G_ij / C_i`` for any cell of kind a, which must be
    at most 1 for the explicit scheme to be stable (see the module docstring)."""
    kinds = set(range(N_KINDS)) if kinds is None else set(kinds)
    out = {}
    for a in sorted(kinds):
        dtc = params[P_KIND + 3 * a + KIND_DTC]
        if dtc == 0.0:
            continue
        g_max = params[P_KIND + 3 * a + KIND_GOUT]
        for b in kinds:
            g_max = max(g_max, face_conductance(params, a, b))
        out[a] = dtc * 4.0 * g_max
    return out


# --- outdoor temperature ---------------------------------------------------------------
@njit(cache=True, inline="always")
def hour_of_day(params, hour0, step):
    """Time of day (hours in [0, 24)) after ``step`` steps from ``hour0``."""
    hour = hour0 + step * params[P_DT] * 24.0 / params[P_DAY_LENGTH]
    return hour - 24.0 * np.floor(hour / 24.0)


@njit(cache=True)
def schedule_temperature(params, hour):
    """The schedule's outdoor temperature at ``hour``: piecewise linear, periodic over a day."""
    n = int(params[P_N_SCHEDULE])
    hours = params[P_SCHED_HOUR:P_SCHED_HOUR + n]
    temps = params[P_SCHED_TEMP:P_SCHED_TEMP + n]
    if n == 1:
        return temps[0]
    if hour < hours[0] or hour >= hours[n - 1]:  # the segment wrapping past midnight
        h_a, h_b = hours[n - 1], hours[0] + 24.0
        h = hour if hour >= hours[n - 1] else hour + 24.0
        return temps[n - 1] + (temps[0] - temps[n - 1]) * (h - h_a) / (h_b - h_a)
    for i in range(n - 1):
        if hour < hours[i + 1]:
            return temps[i] + (temps[i + 1] - temps[i]) * (hour - hours[i]) / (
                hours[i + 1] - hours[i])
    return temps[n - 1]


@njit(cache=True)
def outside_temperature(params, hour0, offset, step):
    """Outdoor temperature (°C) seen at the start of step ``step``."""
    return schedule_temperature(params, hour_of_day(params, hour0, step)) + offset


# --- the one transition rule -----------------------------------------------------------
@njit(cache=True)
def build_model(cell, tag, heater_watts, params):
    """Precompute one copy's step operator from its materials (rebuilt when a window opens).

    cell, tag (H, W) int8; heater_watts (NH,) float64. Returns
    gx (H, W + 1) float64   conductance of the face left of cell (i, j), W/K (column W: the
                            right edge); edge faces couple to the outside
    gy (H + 1, W) float64   conductance of the face above cell (i, j), W/K
    dtc (H, W) float64      dt / C, K/J; 0 for Dirichlet cells
    air (H, W) float64      1.0 on air cells (noise and room kicks act there), else 0.0
    heat_cells (n, 3) int32 (row, col, heater) of every heater cell
    heat_gain (n,) float64  K per step at full power at that cell: dt * watts / (n_h C)
    dirichlet_open (m, 2) int32  (row, col) of open-window cells (they hold the outdoor
                            temperature)
    """
    height, width = cell.shape
    gx = np.zeros((height, width + 1))
    gy = np.zeros((height + 1, width))
    dtc = np.zeros((height, width))
    air = np.zeros((height, width))
    n_heaters = heater_watts.shape[0]
    per_heater = np.zeros(n_heaters, np.int64)
    n_heat, n_open = 0, 0
    for i in range(height):
        for j in range(width):
            kind = cell[i, j]
            dtc[i, j] = params[P_KIND + 3 * kind + KIND_DTC]
            gout = params[P_KIND + 3 * kind + KIND_GOUT]
            gx[i, j] = gout if j == 0 else face_conductance(params, cell[i, j - 1], kind)
            gy[i, j] = gout if i == 0 else face_conductance(params, cell[i - 1, j], kind)
            if j == width - 1:
                gx[i, width] = gout
            if i == height - 1:
                gy[height, j] = gout
            if kind == CELL_AIR:
                air[i, j] = 1.0
                if 0 <= tag[i, j] < n_heaters:
                    per_heater[tag[i, j]] += 1
                    n_heat += 1
            elif kind == CELL_OPEN_WINDOW:
                n_open += 1
    heat_cells = np.empty((n_heat, 3), np.int32)
    heat_gain = np.empty(n_heat)
    dirichlet_open = np.empty((n_open, 2), np.int32)
    n_heat, n_open = 0, 0
    for i in range(height):
        for j in range(width):
            kind = cell[i, j]
            if kind == CELL_AIR and 0 <= tag[i, j] < n_heaters:
                h = tag[i, j]
                heat_cells[n_heat, 0], heat_cells[n_heat, 1], heat_cells[n_heat, 2] = i, j, h
                heat_gain[n_heat] = heater_watts[h] / per_heater[h] * dtc[i, j]
                n_heat += 1
            elif kind == CELL_OPEN_WINDOW:
                dirichlet_open[n_open, 0], dirichlet_open[n_open, 1] = i, j
                n_open += 1
    return gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open


@njit(cache=True, inline="always")
def set_boundary(pad, dirichlet_open, t_out):
    """Write the outdoor temperature into the ghost ring and the open-window cells.

    pad (H + 2, W + 2) float64: temperatures with a one-cell ring standing for the outdoor
    air around the grid.
    """
    hp, wp = pad.shape
    for j in range(wp):
        pad[0, j] = t_out
        pad[hp - 1, j] = t_out
    for i in range(1, hp - 1):
        pad[i, 0] = t_out
        pad[i, wp - 1] = t_out
    for k in range(dirichlet_open.shape[0]):
        pad[dirichlet_open[k, 0] + 1, dirichlet_open[k, 1] + 1] = t_out


@njit(cache=True, inline="always")
def world_step(src, dst, gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open,
               heater_power, t_out, noise_dt):
    """One explicit step of one copy: ``src`` → ``dst`` (padded (H + 2, W + 2) float64).

    Conduction through every face (see the module docstring), heater power
    ``heater_power`` (NH,) float64 in [0, 1] at each heater's cells, the outdoor air
    ``t_out`` (°C) in the ghost ring and open windows, and a uniform random heat
    fluctuation ``noise_dt`` (K) on the air. Model arrays as returned by :func:`build_model`.
    ``src``'s ring is overwritten; ``dst``'s ring is left stale (the next step sets it).
    """
    set_boundary(src, dirichlet_open, t_out)
    height, width = dtc.shape
    for i in range(height):
        for j in range(width):
            tc = src[i + 1, j + 1]
            flow = (gx[i, j] * (src[i + 1, j] - tc) + gx[i, j + 1] * (src[i + 1, j + 2] - tc)
                    + gy[i, j] * (src[i, j + 1] - tc) + gy[i + 1, j] * (src[i + 2, j + 1] - tc))
            dst[i + 1, j + 1] = tc + dtc[i, j] * flow + noise_dt * air[i, j]
    for k in range(heat_cells.shape[0]):
        dst[heat_cells[k, 0] + 1, heat_cells[k, 1] + 1] += (
            heat_gain[k] * heater_power[heat_cells[k, 2]])


@njit(cache=True, inline="always")
def noise_kelvin(noise, seed, copy, step):
    """The room's random heat fluctuation this step: uniform, zero mean, std ``noise`` (K).

    One counter-based draw per copy and step: (seed, copy, step, STREAM_NOISE).
    """
    if noise <= 0.0:
        return 0.0
    return noise * _SQRT3 * (2.0 * rand_uniform(seed, copy, step, STREAM_NOISE) - 1.0)


@njit(cache=True, inline="always")
def band_distance(reading, low, high):
    """How far (K) a reading lies outside [low, high]; 0 inside."""
    if reading < low:
        return low - reading
    if reading > high:
        return reading - high
    return 0.0


@njit(cache=True, inline="always")
def episode_status(t, params):
    """Truncated at the horizon, else running (a room has no terminal state)."""
    return STATUS_TRUNCATED if t >= params[P_HORIZON] else STATUS_RUNNING


@njit(cache=True, parallel=True)
def step_ensemble(n_steps, seed, params, temp, cell, tag, heater_watts, heater_power,
                  hour0, outside_offset, noise, t):
    """Advance every copy by ``n_steps`` world steps with heaters held at their power.

    No agents, events or counters: the bare physics, for tests and the cell-update
    benchmark. Arrays as in :class:`ThermalState`; ``temp`` and ``t`` change in place.
    """
    n_copies, height, width = temp.shape
    for e in prange(n_copies):
        gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open = build_model(
            cell[e], tag[e], heater_watts[e], params)
        a = np.empty((height + 2, width + 2))
        b = np.empty((height + 2, width + 2))
        a[1:-1, 1:-1] = temp[e]
        step = t[e]
        for _ in range(n_steps):
            t_out = outside_temperature(params, hour0[e], outside_offset[e], step)
            world_step(a, b, gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open,
                       heater_power[e], t_out, noise_kelvin(noise[e], seed, e, step))
            a, b = b, a
            step += 1
        temp[e] = a[1:-1, 1:-1]
        t[e] = step


# --- perturbations -------------------------------------------------------------------
@njit(cache=True)
def apply_event(e, kind, target, p, temp, cell, tag, window_open, outside_offset, noise):
    """Apply one perturbation to copy ``e``. The only path by which anything but the agents
    changes the world: user clicks, scene schedules and noise settings all come here.

    p (N_EVENT_PARAMS,) float64 = (row, col, radius, amount). Returns True if the copy's
    materials changed (a window opened or closed), so its step operator must be rebuilt.
    Missing windows and off-grid brushes are ignored rather than raised: validation of user
    input happens in Python before the event is logged.
    """
    height, width = temp.shape[1], temp.shape[2]
    if kind == EV_OPEN_WINDOW or kind == EV_CLOSE_WINDOW:
        opening = kind == EV_OPEN_WINDOW
        n_windows = window_open.shape[1]
        for w in range(n_windows):
            if target < 0 or target == w:
                window_open[e, w] = 1 if opening else 0
        changed = False
        for i in range(height):
            for j in range(width):
                c = cell[e, i, j]
                if (c == CELL_WINDOW or c == CELL_OPEN_WINDOW) and (
                        target < 0 or tag[e, i, j] == target):
                    new = CELL_OPEN_WINDOW if opening else CELL_WINDOW
                    changed = changed or c != new
                    cell[e, i, j] = new
        return changed
    if kind == EV_HEAT or kind == EV_COOL:
        row, col, radius = p[0], p[1], p[2]
        amount = p[3] if kind == EV_HEAT else -p[3]
        for i in range(height):
            for j in range(width):
                c = cell[e, i, j]
                if c == CELL_OPEN_WINDOW or c == CELL_RESERVOIR:
                    continue
                if (i - row) ** 2 + (j - col) ** 2 <= radius * radius:
                    temp[e, i, j] += amount
    elif kind == EV_SHIFT_OUTSIDE:
        outside_offset[e] += p[3]
    elif kind == EV_KICK_ROOM:
        for i in range(height):
            for j in range(width):
                if cell[e, i, j] == CELL_AIR:
                    temp[e, i, j] += p[3]
    elif kind == EV_SET_NOISE:
        noise[e] = max(p[3], 0.0)
    return False


# --- initial-state distributions -----------------------------------------------------
# A distribution is packed into arrays so one compiled kernel draws all copies at once:
#   cell, tag (H, W) int8         the room's materials and heater/window indices
#   fixed_temp (H, W) float64     a reservoir's temperature (NaN elsewhere)
#   sensors (NS, 2) int32         sensor cells
#   watts (NH,) float64           heater ratings (negative: coolers)
#   window_default (NW,) int8     windows open unless the distribution draws them
#   dist_params (11,) float64     room lo, hi; walls lo, hi (NaN: as the room);
#                                 outside offset lo, hi; start hour lo, hi;
#                                 window open probability (NaN: the room's default); noise
N_DIST_PARAMS = 10


@njit(cache=True, inline="always")
def _uniform(seed, e, draw, low, high):
    return low + (high - low) * rand_uniform(seed, e, draw, STREAM_INIT)


@njit(cache=True, parallel=True)
def draw_initial(cell_t, tag_t, fixed_temp, sensors, watts, window_default, dist_params,
                 seed, params, temp, cell, tag, sensor_pos, sensor_prev, heater_watts,
                 heater_power, energy, window_open, outside_offset, hour0, noise, held, ret,
                 t, status):
    """Fill every copy with an independent draw from the distribution (heaters off).

    Copy ``e`` depends only on (seed, e): draws are keyed by counters, not a shared stream.
    Room air is uniform at one temperature drawn per copy; walls and closed windows at
    another (or the same); open windows at the outdoor temperature. Shapes as in
    :class:`ThermalState` and the distribution packing above.
    """
    n_copies, height, width = temp.shape
    n_windows = window_open.shape[1]
    for e in prange(n_copies):
        room = _uniform(seed, e, 0, dist_params[0], dist_params[1])
        walls = room
        if not np.isnan(dist_params[2]):
            walls = _uniform(seed, e, 1, dist_params[2], dist_params[3])
        outside_offset[e] = _uniform(seed, e, 2, dist_params[4], dist_params[5])
        hour0[e] = _uniform(seed, e, 3, dist_params[6], dist_params[7])
        noise[e] = dist_params[9]
        for w in range(n_windows):
            if np.isnan(dist_params[8]):
                window_open[e, w] = window_default[w]
            else:
                u = rand_uniform(seed, e, 100 + w, STREAM_INIT)
                window_open[e, w] = 1 if u < dist_params[8] else 0
        t_out = outside_temperature(params, hour0[e], outside_offset[e], 0)
        for i in range(height):
            for j in range(width):
                c = cell_t[i, j]
                tag[e, i, j] = tag_t[i, j]
                if c == CELL_WINDOW or c == CELL_OPEN_WINDOW:
                    c = CELL_OPEN_WINDOW if window_open[e, tag_t[i, j]] else CELL_WINDOW
                cell[e, i, j] = c
                if c == CELL_AIR:
                    temp[e, i, j] = room
                elif c == CELL_RESERVOIR:
                    temp[e, i, j] = fixed_temp[i, j]
                elif c == CELL_OPEN_WINDOW:
                    temp[e, i, j] = t_out
                else:
                    temp[e, i, j] = walls
        for k in range(sensors.shape[0]):
            sensor_pos[e, k, 0] = sensors[k, 0]
            sensor_pos[e, k, 1] = sensors[k, 1]
            sensor_prev[e, k] = temp[e, sensors[k, 0], sensors[k, 1]]
        for h in range(watts.shape[0]):
            heater_watts[e, h] = watts[h]
            heater_power[e, h] = 0.0  # every heater starts off
            energy[e, h] = 0.0
        held[e, :] = 0
        ret[e, :] = 0.0
        t[e] = 0
        status[e] = STATUS_RUNNING
