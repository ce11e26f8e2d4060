"""Thermal agents: objectives, parameters and compiled policies that set a heater's power.

Every agent of a thermal lane controls one heater (or cooler) — ``heater`` in its
parameters, numbered in the scene legend's order — and pursues an objective
``hold:<low>..<high>`` on one sensor (``hold:20..22`` reads sensor 0,
``hold:sensor1:18..19`` sensor 1). Its action is the heater's power fraction in [0, 1].

The policies see one copy: ``pad`` (H + 2, W + 2) float64 is that copy's temperature grid
with the outdoor ring (see :func:`simulator.worlds.thermal.kernels.world_step`); sensor_pos (NS, 2)
int32; sensor_prev (NS,) float64; heater_watts, heater_power (NH,) float64; window_open
(NW,) int8; objective (3,) float64 = (sensor, low, high); agent_params (N_AGENT_PARAMS,)
float64 laid out as the AP_* slots below; rules (R, RULE_WIDTH) int32.
No policy keeps memory between steps: the thermostat's hysteresis reads whether its heater
is on, and the heuristic's trend reads the sensor's previous reading — both world state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from agents.registry import (
    AGENT_HEURISTIC,
    AGENT_RANDOM,
    AGENT_SEARCH,
    AGENT_THERMOSTAT,
    N_AGENT_PARAMS,
)
from agents.rules import RULE_WIDTH, compile_rules, first_rule
from simulator.core.errors import UserError
from simulator.core.rng import STREAM_AGENT, rand_int
from simulator.worlds.thermal.kernels import (
    DAY_END,
    DAY_START,
    MAX_AGENTS,
    band_distance,
    hour_of_day,
    outside_temperature,
    world_step,
)

# --- objectives --------------------------------------------------------------------------


@dataclass(frozen=True)
class ThermalObjective:
    """Hold sensor ``sensor``'s reading inside [low, high] °C."""

    sensor: int
    low: float
    high: float

    @property
    def text(self) -> str:
        where = "" if self.sensor == 0 else f"sensor{self.sensor}:"
        return f"hold:{where}{self.low:g}..{self.high:g}"

    def as_array(self) -> np.ndarray:
        """(3,) float64: sensor, low, high."""
        return np.array([self.sensor, self.low, self.high], np.float64)

    def holds(self, reading: np.ndarray) -> np.ndarray:
        """Whether readings (any shape) lie in the band."""
        return (reading >= self.low) & (reading <= self.high)


def parse_thermal_objective(text: str) -> ThermalObjective:
    """Parse ``hold:<low>..<high>`` or ``hold:sensor<k>:<low>..<high>`` (°C).

    Raises UserError with a message naming what is wrong.
    """
    usage = "must look like 'hold:20..22' or 'hold:sensor1:18..19'"
    parts = text.strip().split(":")
    if parts[0] != "hold" or len(parts) not in (2, 3):
        raise UserError(f"objective {text!r} {usage}")
    sensor = 0
    if len(parts) == 3:
        name = parts[1].strip()
        if not name.startswith("sensor") or not name[6:].isdigit():
            raise UserError(f"objective {text!r}: {name!r} is not a sensor (sensor0, sensor1, ...)")
        sensor = int(name[6:])
    low_text, dots, high_text = parts[-1].partition("..")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise UserError(f"objective {text!r} {usage}") from None
    if not dots or not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UserError(f"objective {text!r}: the band needs low < high")
    return ThermalObjective(sensor, low, high)


# --- parameters --------------------------------------------------------------------------
# Slots of the agent parameter vector.
AP_HEATER, AP_LEVELS, AP_SET_POINT, AP_HYSTERESIS, AP_DEPTH, AP_BUDGET, AP_STRIDE = range(7)

_ALLOWED = {
    "null": ("heater",),
    "random": ("heater", "levels"),
    "thermostat": ("heater", "set_point", "hysteresis"),
    "heuristic": ("heater", "rules"),
    "search": ("heater", "levels", "depth", "budget", "stride"),
    "external": ("heater",),
}
# Defaults: search looks depth * stride = 36 steps ahead (about the heater-to-sensor lag of
# the shipped rooms) over `levels` power levels, holding each choice for `stride` steps; the
# budget caps the nodes (a full tree is levels + levels^2 + ... = 39; pruning expands fewer).
THERMAL_DEFAULTS = {"heater": 0, "levels": 3, "depth": 3, "budget": 200, "stride": 12}

# The heuristic pile's features, read in the device's own direction so one table serves a
# heater and a cooler: "my side" of the band is the side this device can fix (below the band
# for a heater, above it for a cooler).
THERMAL_FEATURES = (
    "need",           # 1: out of band on my side; -1: out on the other side; 0: in band
    "far",            # out of band by more than the band's width
    "edge",           # in band, in the half on my side
    "drift",          # 1: the reading moves toward my side; -1: away; 0: steady
    "on",             # my device is running
    "window",         # some window is open
    "night",          # outside [7 h, 19 h)
    "outside_helps",  # the outdoor air pushes the way my device does
)
N_THERMAL_FEATURES = len(THERMAL_FEATURES)
THERMAL_ACTIONS = ("off", "half", "full", "keep")
TACT_OFF, TACT_HALF, TACT_FULL, TACT_KEEP = range(4)
# A reading's change below this (K per step) counts as steady, not as a trend.
DRIFT_DEADBAND = 1e-4

DEFAULT_THERMAL_RULES: tuple[str, ...] = (
    "need=1 -> full",
    "need=-1 -> off",
    # Heading for my edge of the band: act before the reading leaves it.
    "edge & drift=1 -> full",
    # Cold nights at my edge: a trickle of power instead of waiting for the drift.
    "edge & night & !outside_helps -> half",
    # Already moving away from my edge: coast; an open window to helpful air does my job.
    "on & drift=-1 -> off",
    "window & outside_helps -> off",
    "-> keep",
)


def thermal_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                               tuple[str, ...]]:
    """Validate a thermal agent's parameters → (params vector, rule table, rule text).

    heater (index, all agents); thermostat: set_point (°C, default the band's centre),
    hysteresis (K, default half the band's width); random/search: levels (power levels,
    >= 2); search: depth, budget (nodes), stride (steps each choice is held);
    heuristic: rules (list of rule text, see agents/rules.py and THERMAL_FEATURES).
    """
    allowed = _ALLOWED[name]
    unknown = [key for key in params if key not in allowed]
    if unknown:
        raise UserError(f"{name} agent: unknown parameter(s) {', '.join(unknown)}"
                        f" (takes {', '.join(allowed)})")
    merged: dict[str, Any] = {**THERMAL_DEFAULTS, **params}
    vec = np.full(N_AGENT_PARAMS, np.nan)
    ints = {"heater": 0, "levels": 2, "depth": 1, "budget": 1, "stride": 1}
    for key, lowest in ints.items():
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise UserError(f"{name} agent: {key} must be an integer, not {value!r}")
        if value < lowest:
            raise UserError(f"{name} agent: {key} must be at least {lowest}")
    vec[AP_HEATER], vec[AP_LEVELS] = merged["heater"], merged["levels"]
    vec[AP_DEPTH], vec[AP_BUDGET], vec[AP_STRIDE] = (merged["depth"], merged["budget"],
                                                     merged["stride"])
    if name == "search" and merged["budget"] < merged["depth"]:
        raise UserError("search agent: budget must be at least depth (one full plan)")
    for key, slot in (("set_point", AP_SET_POINT), ("hysteresis", AP_HYSTERESIS)):
        if key in params:
            try:
                vec[slot] = float(params[key])
            except (TypeError, ValueError):
                raise UserError(f"{name} agent: {key} must be a number") from None
    if not np.isnan(vec[AP_HYSTERESIS]) and vec[AP_HYSTERESIS] < 0:
        raise UserError(f"{name} agent: hysteresis must be >= 0")
    rules = np.zeros((0, RULE_WIDTH), np.int32)
    rule_text: tuple[str, ...] = ()
    if name == "heuristic":
        text = params.get("rules")
        if text is not None and (isinstance(text, str) or not all(isinstance(r, str)
                                                                   for r in text)):
            raise UserError("heuristic agent: rules must be a list of rule strings")
        rule_text = tuple(text) if text else DEFAULT_THERMAL_RULES
        rules = compile_rules(rule_text, THERMAL_FEATURES, THERMAL_ACTIONS)
    return vec, rules, rule_text


# --- compiled policies -------------------------------------------------------------------
@njit(cache=True, inline="always")
def read_sensor(pad, sensor_pos, k):
    """Sensor k's reading (°C) from a padded grid."""
    return pad[sensor_pos[k, 0] + 1, sensor_pos[k, 1] + 1]


@njit(cache=True)
def thermostat_act(agent_params, objective, reading, watts, power):
    """Bang-bang with hysteresis: one feedback loop on one sensor.

    A heater switches on below ``set_point - hysteresis / 2`` and off above
    ``set_point + hysteresis / 2``; between them it keeps its state (read from the world:
    is the heater running?). A cooler mirrors this. Returns the power fraction, 0 or 1.
    """
    low, high = objective[1], objective[2]
    set_point = agent_params[AP_SET_POINT]
    if np.isnan(set_point):
        set_point = 0.5 * (low + high)
    hysteresis = agent_params[AP_HYSTERESIS]
    if np.isnan(hysteresis):
        hysteresis = 0.5 * (high - low)
    on_below = set_point - 0.5 * hysteresis
    off_above = set_point + 0.5 * hysteresis
    on = power > 0.0
    if watts >= 0.0:
        if reading < on_below:
            on = True
        elif reading > off_above:
            on = False
    else:
        if reading > off_above:
            on = True
        elif reading < on_below:
            on = False
    return 1.0 if on else 0.0


@njit(cache=True)
def thermal_features(objective, reading, previous, watts, power, window_open, hour, t_out,
                     out):
    """Fill out (N_THERMAL_FEATURES,) int32 with the features the rule table reads."""
    low, high = objective[1], objective[2]
    direction = 1.0 if watts >= 0.0 else -1.0  # +1: my device raises the temperature
    # How far the reading is out of band on my side (short) and on the other side (over).
    short = (low - reading) if direction > 0 else (reading - high)
    over = (reading - high) if direction > 0 else (low - reading)
    out[:] = 0
    if short > 0.0:
        out[0] = 1
    elif over > 0.0:
        out[0] = -1
    out[1] = 1 if max(short, over) > high - low else 0
    mid = 0.5 * (low + high)
    if out[0] == 0:
        out[2] = 1 if direction * (mid - reading) > 0.0 else 0
    change = direction * (reading - previous)  # > 0: moving the way my device pushes
    if change < -DRIFT_DEADBAND:
        out[3] = 1
    elif change > DRIFT_DEADBAND:
        out[3] = -1
    out[4] = 1 if power > 0.0 else 0
    for w in range(window_open.shape[0]):
        if window_open[w]:
            out[5] = 1
    out[6] = 1 if hour < DAY_START or hour >= DAY_END else 0
    out[7] = 1 if direction * (t_out - reading) > 0.0 else 0


@njit(cache=True)
def heuristic_act(rules, objective, reading, previous, watts, power, window_open, hour, t_out):
    """The first rule that fires sets the power; returns (power, rule index or -1)."""
    features = np.empty(N_THERMAL_FEATURES, np.int32)
    thermal_features(objective, reading, previous, watts, power, window_open, hour, t_out,
                     features)
    i = first_rule(rules, rules.shape[0], features)
    if i < 0:
        return power, -1
    action = rules[i, RULE_WIDTH - 1]
    if action == TACT_OFF:
        return 0.0, i
    if action == TACT_HALF:
        return 0.5, i
    if action == TACT_FULL:
        return 1.0, i
    return power, i


# Search cost per simulated step, in kelvins: distance outside the band, plus a small pull
# toward the band's centre (so plans keep a margin against what the model does not know:
# noise, the other agents) and a smaller price on energy (so ties go to "off").
CENTRE_WEIGHT = 0.05
ENERGY_WEIGHT = 0.002


@njit(cache=True)
def search_act(agent_params, objective, pad, gx, gy, dtc, air, heat_cells, heat_gain,
               dirichlet_open, sensor_pos, heater_power, heater, params, hour0, offset, step):
    """Model-predictive tree search over this agent's heater power levels.

    Each tree edge holds one of ``levels`` power levels for ``stride`` world steps of the
    engine's own :func:`world_step` (other heaters held at their current power, no noise,
    the outdoor schedule as it will be); a path is ``depth`` edges. Depth-first branch and
    bound: a path's cost (see CENTRE_WEIGHT) only grows, so a subtree whose cost already
    reaches the best full plan's is cut. Expands at most ``budget`` edges and returns the
    first level of the cheapest full plan.

    Returns (power, nodes_expanded, world_steps).
    """
    n_levels = int(agent_params[AP_LEVELS])
    depth = int(agent_params[AP_DEPTH])
    budget = int(agent_params[AP_BUDGET])
    stride = int(agent_params[AP_STRIDE])
    sensor = int(objective[0])
    low, high = objective[1], objective[2]
    mid, half = 0.5 * (low + high), 0.5 * (high - low)
    sr, sc = sensor_pos[sensor, 0] + 1, sensor_pos[sensor, 1] + 1
    height2, width2 = pad.shape
    stack = np.empty((depth + 1, height2, width2))
    scratch = np.empty((height2, width2))
    stack[0] = pad
    power = heater_power.copy()
    # Try the current level first: the incumbent plan is usually near-best, which makes
    # the bound bite early.
    current = int(round(heater_power[heater] * (n_levels - 1)))
    next_try = np.zeros(depth + 1, np.int64)
    path_cost = np.zeros(depth + 1)
    first_level = current
    best_cost = np.inf
    best_first = current
    nodes = 0
    d = 0
    while d >= 0:
        if next_try[d] >= n_levels or nodes >= budget:
            next_try[d] = 0
            d -= 1
            continue
        k = next_try[d]
        next_try[d] += 1
        level = current if k == 0 else (k - 1 if k - 1 < current else k)
        power[heater] = level / (n_levels - 1)
        a = stack[d + 1]
        a[:] = stack[d]
        b = scratch
        cost = path_cost[d]
        t0 = step + d * stride
        for s in range(stride):
            t_out = outside_temperature(params, hour0, offset, t0 + s)
            world_step(a, b, gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open, power,
                       t_out, 0.0)
            a, b = b, a
            reading = a[sr, sc]
            cost += (band_distance(reading, low, high)
                     + CENTRE_WEIGHT * abs(reading - mid) / max(half, 1e-9)
                     + ENERGY_WEIGHT * power[heater])
        if stride % 2 == 1:  # the last step wrote the scratch buffer
            stack[d + 1] = scratch
        nodes += 1
        if d == 0:
            first_level = level
        if cost >= best_cost:
            continue  # costs only grow along a path: nothing below can win
        if d + 1 == depth:
            best_cost = cost
            best_first = first_level
        else:
            path_cost[d + 1] = cost
            d += 1
            next_try[d] = 0
    return best_first / (n_levels - 1), nodes, nodes * stride


@njit(cache=True, inline="always")
def act(agent_code, agent_index, agent_params, rules, objective, pad, gx, gy, dtc, air,
        heat_cells, heat_gain, dirichlet_open, sensor_pos, sensor_prev, heater_watts,
        heater_power, window_open, t_out, hour0, offset, seed, copy, step, params):
    """Dispatch to the agent's policy. Returns (power, rule_fired, nodes_expanded,
    world_steps); ``rule_fired`` is -1 without rules, ``nodes_expanded`` 0 without search.

    The null agent does not act (the driver gives it no heater): heaters it would control
    stay off — the passive baseline.
    """
    heater = int(agent_params[AP_HEATER])
    sensor = int(objective[0])
    reading = read_sensor(pad, sensor_pos, sensor)
    if agent_code == AGENT_RANDOM:
        n_levels = int(agent_params[AP_LEVELS])
        level = rand_int(seed, copy, step * MAX_AGENTS + agent_index, STREAM_AGENT, n_levels)
        return level / (n_levels - 1), -1, 0, 0
    if agent_code == AGENT_THERMOSTAT:
        power = thermostat_act(agent_params, objective, reading, heater_watts[heater],
                               heater_power[heater])
        return power, -1, 0, 0
    if agent_code == AGENT_HEURISTIC:
        hour = hour_of_day(params, hour0, step)
        power, rule = heuristic_act(rules, objective, reading, sensor_prev[sensor],
                                    heater_watts[heater], heater_power[heater], window_open,
                                    hour, t_out)
        return power, rule, 0, 0
    if agent_code == AGENT_SEARCH:
        power, nodes, steps = search_act(agent_params, objective, pad, gx, gy, dtc, air,
                                         heat_cells, heat_gain, dirichlet_open, sensor_pos,
                                         heater_power, heater, params, hour0, offset, step)
        return power, -1, nodes, steps
    return 0.0, -1, 0, 0
