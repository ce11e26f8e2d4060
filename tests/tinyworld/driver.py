"""The tiny world's driver: the fused lane kernel, its declared events, outcomes and the
metrics hooks (projection, bins, in_target, score)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from agents.external import external_actions
from agents.registry import AGENT_EXTERNAL, AgentSpec
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
from simulator.core.state import STATUS_RUNNING, STATUS_TERMINATED, STATUS_TRUNCATED, status_name
from simulator.worlds import parse_objective
from tinyworld import kernels as tiny
from tinyworld.kernels import TinyState, apply_event, slip, transition
from tinyworld.policies import act


@njit(cache=True, parallel=True, nogil=True)
def tiny_rollout(n_steps, seed, params, agent_code, objective, ev_step, ev_kind, ev_params,
                 ev_copy, pos, goal, length, noise, ret, t, status, tr_action, tr_reward,
                 ext_action):
    """Advance every running copy by up to ``n_steps`` steps, in place: events logged for
    (t[e], e), the agent's action, slip noise, :func:`transition`. State arrays as in
    :class:`TinyState`; traces (n_steps, E) int8 / float64, or (0, E) to skip them;
    ext_action (E,) int64 an external agent's actions (one step per call), else (0,)."""
    trace = tr_action.shape[0] > 0
    for e in prange(pos.shape[0]):
        step = t[e]
        i_ev = first_event_at(ev_step, step)
        for s in range(n_steps):
            if status[e] != STATUS_RUNNING:
                break
            while event_due(ev_step, i_ev, step):
                if event_hits(ev_copy, i_ev, e):
                    apply_event(e, ev_kind[i_ev], ev_params[i_ev], pos, goal, length, noise)
                i_ev += 1
            if agent_code == AGENT_EXTERNAL:
                action = ext_action[e]
            else:
                action = act(agent_code, objective, pos[e], goal[e], seed, e, step)
            action = slip(action, noise[e], seed, e, step)
            pos[e], reward, reached = transition(pos[e], goal[e], length[e], action, params)
            ret[e] += reward
            step += 1
            if reached:
                status[e] = STATUS_TERMINATED
            elif step >= params[tiny.P_HORIZON]:
                status[e] = STATUS_TRUNCATED
            if trace:
                tr_action[s, e], tr_reward[s, e] = action, reward
        t[e] = step


_CELL = ParamRange(0, tiny.MAX_LENGTH - 1, integer=True, unit="cells")
EVENTS = EventTable(
    kinds={"teleport": event_kind(("pos", 0)), "move_goal": event_kind(("pos", 0)),
           "set_noise": event_kind(("p", 0))},
    ranges={"pos": _CELL, "p": ParamRange(0.0, 1.0)},
    n_params=tiny.N_EVENT_PARAMS,
)
assert EVENTS.event_kinds == tiny.EVENT_KINDS


def _objective(text_or_obj: Any) -> Any:
    return parse_objective(text_or_obj, "tiny") if isinstance(text_or_obj, str) else text_or_obj


def _target(state: TinyState, objective: Any) -> np.ndarray:
    cell = int(_objective(objective).as_array()[0])
    return state.goal if cell < 0 else np.full(state.n_copies, cell)


class TinyDriver(DriverBase):
    kind = "tiny"
    events = EVENTS
    state_type = TinyState

    def params(self, scene: Any) -> np.ndarray:
        return np.array([scene.model.rewards.step, scene.model.horizon], np.float64)

    def initial_state(self, scene: Any, distribution: str, n_copies: int,
                      seed: int) -> TinyState:
        s = TinyState.empty(n_copies)
        tiny.draw_initial(scene.layouts[distribution].dist_params, seed, s.pos, s.goal,
                          s.length, s.noise, s.ret, s.t, s.status)
        return s

    def check_event(self, state: TinyState, kind: str, target: int,
                    vec: tuple[float, ...]) -> None:
        length = int(state.length[0])
        if kind in ("teleport", "move_goal") and vec[0] >= length:
            raise UserError(f"{kind}: cell {vec[0]:g} is off the line (cells 0..{length - 1})")

    def event_where(self, state: TinyState, copy: int, kind: str, target: int,
                    vec: tuple[float, ...] | np.ndarray) -> tuple[float, ...] | None:
        return (float(vec[0]),) if kind != "set_noise" else None

    def advance(self, state: TinyState, agents: list[AgentSpec], events: EventArrays,
                params: np.ndarray, seed: int, n_steps: int, trace: bool = True,
                out: StepTrace | None = None,
                actions: np.ndarray | None = None) -> StepTrace:
        if len(agents) != 1:
            raise UserError(f"a tiny lane holds exactly one agent, not {len(agents)}")
        agent = agents[0]
        rows = n_steps if trace else 0
        if out is None or not trace:
            out = StepTrace(np.full((rows, state.n_copies, 1), -1, np.int8),
                            np.zeros((rows, state.n_copies, 1)), {},
                            np.zeros(state.n_copies, np.int64))
        s = state
        for step, ext in external_actions(self.kind, state, agents, n_steps, actions):
            r = slice(step, step + 1) if ext.shape[0] else slice(0, rows)
            tiny_rollout(1 if ext.shape[0] else n_steps, seed, params, agent.code,
                         agent.kernel_objective(), events.step, events.kind, events.params,
                         events.copy, s.pos, s.goal, s.length, s.noise, s.ret, s.t, s.status,
                         out.action[r, :, 0], out.reward[r, :, 0],
                         ext[:, 0, 0].astype(np.int64))
        return out

    def outcomes(self, scene: Any, state: TinyState, copy: int, agents: list[AgentSpec],
                 lane: int, history: Any | None = None) -> list[Outcome]:
        agent = agents[0]
        here = int(state.pos[copy])
        achieved = bool(self.in_target(scene, state, agent.objective)[copy])
        base = bool(self.in_target(scene, state, scene.model.base_objective)[copy])
        return [Outcome(lane, 0, agent.name, agent.objective.text,
                        status_name(state.status[copy]), int(state.t[copy]),
                        float(state.ret[copy]), f"cell {here}", achieved, base,
                        1.0 if achieved else 0.0)]

    # --- what the metrics need (simulator/metrics.py) -----------------------------------
    def projection(self, scene: Any, state: TinyState) -> np.ndarray:
        return state.pos[:, None].astype(np.float64)

    def bins(self, scene: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        length = max(int(lay.dist_params[0]) for lay in scene.layouts.values())
        return np.array([-0.5]), np.array([length - 0.5]), np.array([length], np.int64)

    def in_target(self, scene: Any, state: TinyState, objective: Any) -> np.ndarray:
        return state.pos == _target(state, objective)

    def score(self, scene: Any, state: TinyState, objective: Any) -> np.ndarray:
        return -np.abs(state.pos - _target(state, objective)).astype(np.float64)


DRIVER = TinyDriver()
