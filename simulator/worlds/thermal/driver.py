"""The thermal driver: fused lane kernel (heat diffusion + every agent's policy +
perturbations), event encoding, outcomes and the metrics hooks for the thermal world.

One kernel call advances every copy of a lane's ensemble by up to ``n_steps`` steps without
returning to Python; each copy runs its own loop, so a copy's trajectory depends only on
(seed, copy index, event log). A lane may hold several agents (up to MAX_AGENTS), each
controlling its own heater: dueling thermostats share one room.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from agents.external import external_actions
from agents.registry import AGENT_EXTERNAL, AgentSpec, ObjectiveLike
from simulator.core.driver import DriverBase, EventArrays, Outcome, StepTrace
from simulator.core.errors import UserError
from simulator.core.events import (
    EventTable,
    ParamRange,
    event_due,
    event_hits,
    event_kind,
    first_event_at,
)
from simulator.core.state import status_name
from simulator.worlds import parse_objective
from simulator.worlds.thermal import kernels as thermal
from simulator.worlds.thermal.kernels import (
    MAX_AGENTS,
    P_DT,
    STATUS_RUNNING,
    ThermalState,
    apply_event,
    band_distance,
    build_model,
    episode_status,
    noise_kelvin,
    outside_temperature,
    set_boundary,
    world_step,
)
from simulator.worlds.thermal.policies import AP_HEATER, ThermalObjective, act
from simulator.worlds.thermal.scene import ThermalModel, parse_room, physics_params


@njit(cache=True, parallel=True, nogil=True)
def thermal_rollout(n_steps, seed, params, agent_code, agent_params, rules, n_rules,
                    objective, ev_step, ev_kind, ev_target, ev_params, ev_copy,
                    temp, cell, tag, sensor_pos, sensor_prev, heater_watts, heater_power,
                    energy, window_open, outside_offset, hour0, noise, held, ret, t, status,
                    tr_action, tr_reward, tr_rule, tr_nodes, tr_heater, world_steps,
                    ext_action):
    """Advance every running copy by up to ``n_steps`` steps, in place.

    Per step of copy e: apply the events logged for (t[e], e); every agent chooses its
    heater's power on the same pre-step world (simultaneous moves, in agent order); the
    world takes one :func:`world_step`; each agent's objective is scored on the result.
    A copy truncated at the horizon stops and stays as it is.

    Agents (A,): agent_code int64; agent_params (A, N_AGENT_PARAMS) float64; rules
    (A, R, RULE_WIDTH) int32 with n_rules (A,) int64 valid rows; objective (A, 3) float64.
    Events (n_events,): ev_step int32 (sorted ascending), ev_kind int32, ev_target int32,
    ev_params (n_events, N_EVENT_PARAMS) float64, ev_copy int32 (-1: every copy).
    State arrays as in :class:`ThermalState`. Traces are (n_steps, E, A) — action (power)
    float64, reward float64, rule int16, nodes int32, heater (on after acting) int8 — or
    (0, E, A) to skip tracing; world_steps (E,) int64 accumulates the search's steps.
    ext_action (E, A) float64: the power of each external agent (``AGENT_EXTERNAL``; one
    step per call), else (0, A).
    """
    n_copies, height, width = temp.shape
    n_agents = agent_code.shape[0]
    trace = tr_action.shape[0] > 0
    dt = params[P_DT]
    for e in prange(n_copies):
        gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open = build_model(
            cell[e], tag[e], heater_watts[e], params)
        # Temperatures live in a padded work grid for the whole loop (the ring is the
        # outdoor air) and are written back to the state only around events and at the end.
        a = np.empty((height + 2, width + 2))
        b = np.empty((height + 2, width + 2))
        a[1:-1, 1:-1] = temp[e]
        power = np.empty(n_agents)
        step, status_e = t[e], status[e]
        searched = 0
        i_ev = first_event_at(ev_step, step)  # events before are in this copy's past
        for s in range(n_steps):
            if status_e != STATUS_RUNNING:
                break
            if event_due(ev_step, i_ev, step):
                temp[e] = a[1:-1, 1:-1]
                rebuild = False
                while event_due(ev_step, i_ev, step):
                    if event_hits(ev_copy, i_ev, e):
                        changed = apply_event(e, ev_kind[i_ev], ev_target[i_ev], ev_params[i_ev],
                                              temp, cell, tag, window_open, outside_offset,
                                              noise)
                        rebuild = rebuild or changed
                    i_ev += 1
                a[1:-1, 1:-1] = temp[e]
                if rebuild:
                    gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open = build_model(
                        cell[e], tag[e], heater_watts[e], params)
            t_out = outside_temperature(params, hour0[e], outside_offset[e], step)
            set_boundary(a, dirichlet_open, t_out)  # agents see open windows at t_out
            for ag in range(n_agents):
                if agent_code[ag] == AGENT_EXTERNAL:
                    p, rule, nodes, steps = ext_action[e, ag], -1, 0, 0
                else:
                    p, rule, nodes, steps = act(
                        agent_code[ag], ag, agent_params[ag], rules[ag, :n_rules[ag]],
                        objective[ag], a, gx, gy, dtc, air, heat_cells, heat_gain,
                        dirichlet_open, sensor_pos[e], sensor_prev[e], heater_watts[e],
                        heater_power[e], window_open[e], t_out, hour0[e], outside_offset[e],
                        seed, e, step, params)
                power[ag] = min(max(p, 0.0), 1.0)
                searched += steps
                if trace:
                    tr_rule[s, e, ag] = rule
                    tr_nodes[s, e, ag] = nodes
            for ag in range(n_agents):
                heater = int(agent_params[ag, AP_HEATER])
                if heater >= 0:  # -1: a null agent in a room without its heater
                    heater_power[e, heater] = power[ag]
            for k in range(sensor_pos.shape[1]):
                sensor_prev[e, k] = a[sensor_pos[e, k, 0] + 1, sensor_pos[e, k, 1] + 1]
            world_step(a, b, gx, gy, dtc, air, heat_cells, heat_gain, dirichlet_open,
                       heater_power[e], t_out, noise_kelvin(noise[e], seed, e, step))
            a, b = b, a
            for h in range(heater_watts.shape[1]):
                energy[e, h] += abs(heater_watts[e, h]) * heater_power[e, h] * dt
            step += 1
            for ag in range(n_agents):
                k = int(objective[ag, 0])
                reading = a[sensor_pos[e, k, 0] + 1, sensor_pos[e, k, 1] + 1]
                miss = band_distance(reading, objective[ag, 1], objective[ag, 2])
                if miss == 0.0:
                    held[e, ag] += 1
                ret[e, ag] -= miss
                if trace:
                    tr_action[s, e, ag] = power[ag]
                    tr_reward[s, e, ag] = -miss
                    tr_heater[s, e, ag] = 1 if power[ag] > 0.0 else 0
            status_e = episode_status(step, params)
        temp[e] = a[1:-1, 1:-1]
        t[e], status[e] = step, status_e
        world_steps[e] += searched


# Every thermal event kind: its named parameters, their slots in the kernels' vector and
# defaults, in EV_* code order. Windows take ``target`` = window index (-1: every window);
# heat / cool a brush (row, col, radius in cells, amount in K: 'cool' subtracts);
# shift_outside and kick_room a ``delta`` in K; set_noise ``sigma`` in K per step.
_BRUSH = (("row", 0), ("col", 1), ("radius", 2, 1.5), ("amount", 3, 3.0))
# Every parameter's range. A kick of 50 K is already far beyond any weather or heater a
# room meets in a step (a winter night is some 20 K below a heated room), so larger ones can
# only be typos; the bound also keeps every repeated kick a fuzz sequence can chain far from
# absolute zero. The brush centre is checked against the room itself by check_event.
MAX_KICK = 50.0  # K
MAX_NOISE = 5.0  # K per step
_RANGES = {
    "row": ParamRange(0.0, 511.0, unit="cells"),
    "col": ParamRange(0.0, 511.0, unit="cells"),
    "radius": ParamRange(0.0, 1024.0, unit="cells"),
    "amount": ParamRange(0.0, MAX_KICK, unit="K"),
    "delta": ParamRange(-MAX_KICK, MAX_KICK, unit="K"),
    "sigma": ParamRange(0.0, MAX_NOISE, unit="K per step"),
}
EVENTS = EventTable(
    kinds={
        "open_window": event_kind(),
        "close_window": event_kind(),
        "heat": event_kind(*_BRUSH),
        "cool": event_kind(*_BRUSH),
        "shift_outside": event_kind(("delta", 3)),
        "kick_room": event_kind(("delta", 3)),
        "set_noise": event_kind(("sigma", 3)),
    },
    ranges=_RANGES,
    n_params=thermal.N_EVENT_PARAMS,
)
assert EVENTS.event_kinds == thermal.EVENT_KINDS


def check_event(state: ThermalState, kind: str, target: int, vec: tuple[float, ...]) -> None:
    """UserError if an encoded thermal event does not fit ``state``'s room or windows."""
    height, width = state.temp.shape[1:]
    if kind in ("heat", "cool") and not (vec[0] <= height - 1 and vec[1] <= width - 1):
        raise UserError(f"{kind}: ({vec[0]:g}, {vec[1]:g}) is outside the room"
                        f" (rows 0..{height - 1}, cols 0..{width - 1})")
    n_windows = state.window_open.shape[1]
    if kind in ("open_window", "close_window") and target >= n_windows:
        raise UserError(f"{kind}: no window {target} (the room has {n_windows};"
                        " -1: every window)")


def _model(scene: Any) -> ThermalModel:
    return getattr(scene, "physics", None) or ThermalModel()


def _as_objective(objective: str | ObjectiveLike) -> ThermalObjective:
    obj = parse_objective(objective, "thermal") if isinstance(objective, str) else objective
    if not isinstance(obj, ThermalObjective):
        raise UserError(f"{obj.text!r} is not a thermal objective")
    return obj


class ThermalDriver(DriverBase):
    """The thermal world behind the :class:`~simulator.core.driver.WorldDriver` interface."""

    kind = "thermal"
    events = EVENTS
    state_type = ThermalState

    def params(self, scene: Any) -> np.ndarray:
        """The scene's physics as the kernels take them, (N_PARAMS,) float64."""
        return physics_params(_model(scene), scene.model.horizon)

    def initial_state(self, scene: Any, distribution: str, n_copies: int,
                      seed: int) -> ThermalState:
        """``n_copies`` independent draws from the scene's distribution (copy e from (seed, e))."""
        model = _model(scene)
        room = parse_room(model.map, model.legend)
        height, width = room.shape
        state = ThermalState.empty(n_copies, height, width, len(room.sensors),
                                   len(room.watts), room.n_windows)
        s = state
        thermal.draw_initial(room.cell, room.tag, room.fixed_temp, room.sensors, room.watts,
                             room.window_default, scene.layouts[distribution].dist_params,
                             seed, self.params(scene), s.temp, s.cell, s.tag, s.sensor_pos,
                             s.sensor_prev, s.heater_watts, s.heater_power, s.energy,
                             s.window_open, s.outside_offset, s.hour0, s.noise, s.held, s.ret,
                             s.t, s.status)
        return state

    def _agent_params(self, state: ThermalState, agents: list[AgentSpec]) -> np.ndarray:
        """Validate a lane's agents against the room → (A, N_AGENT_PARAMS) float64.

        Every agent but ``null`` needs its own existing heater. A null agent controls
        nothing (heater -1 in the kernel): heaters start off, so the heater it names stays
        off unless another agent drives it — and any number of null agents may share one,
        as the metrics' all-null baseline lanes do."""
        if not 1 <= len(agents) <= MAX_AGENTS:
            raise UserError(f"a thermal lane holds 1 to {MAX_AGENTS} agents, not {len(agents)}")
        n_heaters, n_sensors = state.heater_watts.shape[1], state.sensor_pos.shape[1]
        heaters: list[int] = []
        out = np.stack([a.params for a in agents])
        for i, agent in enumerate(agents):
            obj = _as_objective(agent.objective)
            if not 0 <= obj.sensor < n_sensors:
                raise UserError(f"{agent.label}: no sensor {obj.sensor} (the room has"
                                f" {n_sensors})")
            heater = int(agent.params[AP_HEATER])
            if agent.name == "null":
                out[i, AP_HEATER] = -1
                continue
            if not 0 <= heater < n_heaters:
                raise UserError(f"{agent.label}: no heater {heater} (the room has {n_heaters})")
            if heater in heaters:
                raise UserError(f"{agent.label}: heater {heater} already has a controller")
            heaters.append(heater)
        return out

    def advance(self, state: ThermalState, agents: list[AgentSpec], events: EventArrays,
                params: np.ndarray, seed: int, n_steps: int, trace: bool = True,
                out: StepTrace | None = None,
                actions: np.ndarray | None = None) -> StepTrace:
        """Advance ``state`` in place by up to ``n_steps`` steps; returns the per-step trace
        (``out`` refilled if given; ``actions`` for external agents: see
        WorldDriver.advance)."""
        agent_params = self._agent_params(state, agents)
        n_copies, n_agents = state.n_copies, len(agents)
        n_rules = np.array([len(a.rules) for a in agents], np.int64)
        width = agents[0].rules.shape[1]
        rules = np.zeros((n_agents, max(1, int(n_rules.max())), width), np.int32)
        for i, agent in enumerate(agents):
            rules[i, :len(agent.rules)] = agent.rules
        rows = n_steps if trace else 0
        if out is not None and trace:
            action, reward, world_steps = out.action, out.reward, out.world_steps
            rule, nodes = out.internals["rule"], out.internals["nodes"]
            heater = out.internals["heater"]
            world_steps[:] = 0
        else:
            out = None
            action = np.full((rows, n_copies, n_agents), np.nan)
            reward = np.zeros((rows, n_copies, n_agents))
            rule = np.full((rows, n_copies, n_agents), -1, np.int16)
            nodes = np.zeros((rows, n_copies, n_agents), np.int32)
            heater = np.full((rows, n_copies, n_agents), -1, np.int8)
            world_steps = np.zeros(n_copies, np.int64)
        s = state
        codes = np.array([a.code for a in agents], np.int64)
        objectives = np.stack([_as_objective(a.objective).as_array() for a in agents])
        for step, ext in external_actions(self.kind, state, agents, n_steps, actions):
            r = slice(step, step + 1) if ext.shape[0] else slice(0, rows)
            thermal_rollout(
                1 if ext.shape[0] else n_steps, seed, params, codes, agent_params, rules,
                n_rules, objectives,
                events.step, events.kind, events.target, events.params, events.copy,
                s.temp, s.cell, s.tag, s.sensor_pos, s.sensor_prev, s.heater_watts,
                s.heater_power, s.energy, s.window_open, s.outside_offset, s.hour0, s.noise,
                s.held, s.ret, s.t, s.status,
                action[r], reward[r], rule[r], nodes[r], heater[r], world_steps,
                np.ascontiguousarray(ext[:, :, 0]),
            )
        if out is not None:
            return out
        return StepTrace(action=action, reward=reward,
                         internals={"rule": rule, "nodes": nodes, "heater": heater},
                         world_steps=world_steps)

    def check_event(self, state: ThermalState, kind: str, target: int,
                    vec: tuple[float, ...]) -> None:
        check_event(state, kind, target, vec)

    # --- reporting and metrics ---------------------------------------------------------
    def readings(self, scene: Any, state: ThermalState) -> np.ndarray:
        """(E, S) float64: every sensor's reading, °C."""
        rows, cols = state.sensor_pos[..., 0], state.sensor_pos[..., 1]
        copies = np.arange(state.n_copies)[:, None]
        return state.temp[copies, rows, cols]

    def projection(self, scene: Any, state: ThermalState) -> np.ndarray:
        """(E, 1) float64: the reading of the sensor the base objective watches, °C — the
        coordinate that matters; other sensors drift with the weather whatever an agent does
        and would only dilute the entropy."""
        sensor = _as_objective(scene.model.base_objective).sensor
        return self.readings(scene, state)[:, sensor:sensor + 1]

    def bins(self, scene: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The projection's binning: (lows (1,), highs (1,), n_bins (1,) int64).

        The range runs from the coldest to the warmest temperature the scene
        can start in or let in (initial draws, the outdoor schedule, reservoirs), widened
        by 2 K, in 0.5 K bins.
        """
        model = _model(scene)
        room = parse_room(model.map, model.legend)
        temps = [t for _, t in model.outside.schedule]
        temps += [float(x) for x in room.fixed_temp[np.isfinite(room.fixed_temp)]]
        offsets = [0.0]
        for layout in scene.layouts.values():
            p = layout.dist_params
            temps += [p[0], p[1]] + ([p[2], p[3]] if np.isfinite(p[2]) else [])
            offsets += [p[4], p[5]]
        low = np.floor(min(min(temps), min(temps) + min(offsets)) - 2.0)
        high = np.ceil(max(max(temps), max(temps) + max(offsets)) + 2.0)
        n_bins = int(np.ceil((high - low) / 0.5))
        return np.array([low]), np.array([high]), np.array([n_bins], np.int64)

    def in_target(self, scene: Any, state: ThermalState,
                  objective: str | ObjectiveLike) -> np.ndarray:
        """(E,) bool: the objective's sensor reads inside its band now."""
        obj = _as_objective(objective)
        return obj.holds(self.readings(scene, state)[:, obj.sensor])

    def score(self, scene: Any, state: ThermalState,
              objective: str | ObjectiveLike) -> np.ndarray:
        """(E,) float64, higher is better: minus the reading's distance from the band (K)."""
        obj = _as_objective(objective)
        reading = self.readings(scene, state)[:, obj.sensor]
        return -np.maximum(0.0, np.maximum(obj.low - reading, reading - obj.high))

    def outcomes(self, scene: Any, state: ThermalState, copy: int, agents: list[AgentSpec],
                 lane: int, history: Any | None = None) -> list[Outcome]:
        """Per agent: its objective and the base objective held *now* (achieved), and the
        fraction of completed steps after which its objective held."""
        status = status_name(state.status[copy])
        steps = int(state.t[copy])
        reading = self.readings(scene, state)[copy]
        base = _as_objective(scene.model.base_objective)
        out = []
        for i, agent in enumerate(agents):
            obj = _as_objective(agent.objective)
            held = int(state.held[copy, i])
            fraction = held / steps if steps else 0.0
            heater = int(agent.params[AP_HEATER])
            has_heater = 0 <= heater < state.energy.shape[1]
            energy_kwh = float(state.energy[copy, heater]) / 3.6e6 if has_heater else 0.0
            detail = f"{reading[obj.sensor]:.1f}°C held {fraction:.0%}"
            out.append(Outcome(
                lane, i, agent.name, obj.text, status, steps, float(state.ret[copy, i]),
                detail, bool(obj.holds(reading[obj.sensor])),
                bool(base.holds(reading[base.sensor])), fraction,
                {"sensor_temperature": float(reading[obj.sensor]), "held_steps": held,
                 "heater": heater, "energy_kwh": energy_kwh},
            ))
        return out


DRIVER = ThermalDriver()
