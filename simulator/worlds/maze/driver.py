"""The maze driver: fused lane kernel (world step + agent policy + perturbations), event
encoding and outcome description for the maze world.

One kernel call advances every copy of a lane's ensemble by up to ``n_steps`` steps without
returning to Python; each copy runs its own loop, so a copy's trajectory depends only on
(seed, copy index, event log).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from agents.external import external_actions
from agents.registry import AGENT_EXTERNAL, AGENT_SEARCH, AgentSpec
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
from simulator.worlds.maze import kernels as maze
from simulator.worlds.maze.kernels import (
    STATUS_RUNNING,
    MazeState,
    apply_event,
    episode_status,
    slip,
    transition,
)
from simulator.worlds.maze.policies import act, matches, nearest_target, search_act
from simulator.worlds.maze.scene import object_slots


@njit(cache=True, parallel=True, nogil=True)
def maze_rollout(n_steps, seed, params, agent_code, agent_params, rules, objective,
                 ev_step, ev_kind, ev_target, ev_params, ev_copy,
                 cell, agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret,
                 reached, noise,
                 tr_action, tr_reward, tr_rule, tr_nodes, world_steps, ext_action):
    """Advance every running copy by up to ``n_steps`` steps, in place.

    Per step of copy e: apply the events logged for (t[e], e), let the agent act, maybe
    replace the action by slip noise, apply :func:`transition`. A copy that terminates or
    is truncated stops and stays as it is.

    Events (n_events,): ev_step int32 (sorted ascending), ev_kind int32, ev_target int32,
    ev_params (n_events, N_EVENT_PARAMS) float64, ev_copy int32 (-1: every copy).
    State arrays as in :class:`MazeState`. Traces are (n_steps, E) — action int8, reward
    float64, rule int16, nodes int32 — or (0, E) to skip tracing; world_steps (E,) int64
    accumulates the search's simulated steps. ext_action (E,) int64: each copy's action
    for an external agent (``AGENT_EXTERNAL``; one step per call), else (0,).
    """
    n_copies = cell.shape[0]
    trace = tr_action.shape[0] > 0
    for e in prange(n_copies):
        # The copy's scalars live in registers for the whole loop and are written back once:
        # this, not the arithmetic, is what the ensemble's throughput depends on.
        cell_e, kind_e, color_e = cell[e], obj_kind[e], obj_color[e]
        pos_e, reward_e = obj_pos[e], obj_reward[e]
        row, col = agent_pos[e, 0], agent_pos[e, 1]
        step, status_e, ret_e = t[e], status[e], ret[e]
        reached_e, noise_e = reached[e], noise[e]
        searched = 0
        i_ev = first_event_at(ev_step, step)  # events before are in this copy's past
        for s in range(n_steps):
            if status_e != STATUS_RUNNING:
                break
            if event_due(ev_step, i_ev, step):
                agent_pos[e, 0], agent_pos[e, 1] = row, col
                while event_due(ev_step, i_ev, step):
                    if event_hits(ev_copy, i_ev, e):
                        apply_event(e, ev_kind[i_ev], ev_target[i_ev], ev_params[i_ev], cell,
                                    agent_pos, obj_kind, obj_color, obj_pos, obj_reward, noise)
                    i_ev += 1
                row, col, noise_e = agent_pos[e, 0], agent_pos[e, 1], noise[e]
            if agent_code == AGENT_EXTERNAL:
                action, rule, nodes, steps = ext_action[e], -1, 0, 0
            else:
                action, rule, nodes, steps = act(
                    agent_code, agent_params, rules, objective, cell_e, kind_e, color_e,
                    pos_e, reward_e, row, col, seed, e, step, params,
                )
            searched += steps
            action = slip(action, noise_e, seed, e, step)
            row, col, reward, terminated, slot = transition(
                cell_e, kind_e, pos_e, reward_e, row, col, action, params
            )
            ret_e += reward
            step += 1
            status_e, reached_e = episode_status(terminated, slot, step, params)
            if trace:
                tr_action[s, e] = action
                tr_reward[s, e] = reward
                tr_rule[s, e] = rule
                tr_nodes[s, e] = nodes
        agent_pos[e, 0], agent_pos[e, 1] = row, col
        t[e], status[e], ret[e], reached[e] = step, status_e, ret_e, reached_e
        world_steps[e] += searched


# Every maze event kind: its named parameters and their slots in the kernels' vector
# (``apply_event`` reads them there), in EV_* code order.
_CELL = (("row", 0), ("col", 1))
# Every parameter's range. Rows and columns are checked against the grid itself by
# check_event; here only what any maze allows (int32 cells, a map at most this large).
MAX_GRID = 4096
_RANGES = {
    "row": ParamRange(0, MAX_GRID - 1, integer=True),
    "col": ParamRange(0, MAX_GRID - 1, integer=True),
    "kind": ParamRange(0, len(maze.OBJECT_KINDS) - 1, integer=True),
    "color": ParamRange(0, len(maze.COLORS) - 1, integer=True),
    "reward": ParamRange(-1000.0, 1000.0),
    "p": ParamRange(0.0, 1.0),
}
EVENTS = EventTable(
    kinds={
        "teleport": event_kind(*_CELL),
        "draw_wall": event_kind(*_CELL),
        "erase_wall": event_kind(*_CELL),
        "place_hazard": event_kind(*_CELL),
        "remove_hazard": event_kind(*_CELL),
        "add_object": event_kind(*_CELL, ("kind", 2), ("color", 3), ("reward", 4, 1.0)),
        "move_object": event_kind(*_CELL, target="object slot"),
        "recolor_object": event_kind(("color", 2), target="object slot"),
        "remove_object": event_kind(target="object slot"),
        "set_noise": event_kind(("p", 2)),
    },
    ranges=_RANGES,
    n_params=maze.N_EVENT_PARAMS,
    fill={4: 1.0},  # an added object's reward unless given (every vector has carried it)
    codes={"kind": maze.OBJECT_KINDS, "color": maze.COLORS},
)
assert EVENTS.event_kinds == maze.EVENT_KINDS


def check_event(state: MazeState, kind: str, target: int, vec: tuple[float, ...]) -> None:
    """UserError if an encoded maze event does not fit ``state``'s grid or object slots."""
    height, width = state.cell.shape[1:]
    if "row" in EVENTS.kinds[kind].names and not (vec[0] < height and vec[1] < width):
        raise UserError(f"{kind}: ({vec[0]:.0f}, {vec[1]:.0f}) is outside the grid"
                        f" (rows 0..{height - 1}, cols 0..{width - 1})")
    n_slots = state.obj_kind.shape[1]
    if (EVENTS.kinds[kind].target or kind == "add_object") and target >= n_slots:
        raise UserError(f"{kind}: no object slot {target} (slots 0..{n_slots - 1})")


class MazeDriver(DriverBase):
    """The maze world behind the :class:`~simulator.core.driver.WorldDriver` interface."""

    kind = "maze"
    events = EVENTS
    state_type = MazeState

    def params(self, scene: Any) -> np.ndarray:
        """The scene's scalar rules as the kernels take them, (N_PARAMS,) float64."""
        out = np.zeros(maze.N_PARAMS)
        out[maze.P_STEP_REWARD] = scene.model.rewards.step
        out[maze.P_HAZARD_REWARD] = scene.model.rewards.hazard
        out[maze.P_HORIZON] = scene.model.horizon
        return out

    def initial_state(self, scene: Any, distribution: str, n_copies: int,
                      seed: int) -> MazeState:
        """``n_copies`` independent draws from the scene's distribution (copy e from (seed, e))."""
        layout = scene.layouts[distribution]
        height, width = layout.shape
        state = MazeState.empty(n_copies, height, width, object_slots(scene))
        maze.draw_initial(layout.template, layout.obj_spec, layout.dist_params, seed,
                          state.cell, state.agent_pos, state.obj_kind, state.obj_color,
                          state.obj_pos, state.obj_reward, state.t, state.status, state.ret,
                          state.reached, state.noise)
        return state

    def advance(self, state: MazeState, agents: list[AgentSpec], events: EventArrays,
                params: np.ndarray, seed: int, n_steps: int, trace: bool = True,
                out: StepTrace | None = None,
                actions: np.ndarray | None = None) -> StepTrace:
        """Advance ``state`` in place by up to ``n_steps`` steps; returns the per-step trace
        (``out`` refilled if given; ``actions`` for an external agent: see
        WorldDriver.advance)."""
        if len(agents) != 1:
            raise UserError(f"a maze lane holds exactly one agent, not {len(agents)}")
        agent = agents[0]
        n_copies = state.n_copies
        rows = n_steps if trace else 0
        if out is not None and trace:
            action, reward = out.action[:, :, 0], out.reward[:, :, 0]
            rule, nodes = out.internals["rule"][:, :, 0], out.internals["nodes"][:, :, 0]
            world_steps = out.world_steps
            world_steps[:] = 0
        else:
            out = None
            action = np.full((rows, n_copies), -1, np.int8)
            reward = np.zeros((rows, n_copies), np.float64)
            rule = np.full((rows, n_copies), -1, np.int16)
            nodes = np.zeros((rows, n_copies), np.int32)
            world_steps = np.zeros(n_copies, np.int64)
        objective = agent.kernel_objective()
        for s, ext in external_actions(self.kind, state, agents, n_steps, actions):
            rows_s = slice(s, s + 1) if ext.shape[0] else slice(0, rows)
            maze_rollout(
                1 if ext.shape[0] else n_steps, seed, params, agent.code, agent.params,
                agent.rules, objective,
                events.step, events.kind, events.target, events.params, events.copy,
                state.cell, state.agent_pos, state.obj_kind, state.obj_color, state.obj_pos,
                state.obj_reward, state.t, state.status, state.ret, state.reached,
                state.noise, action[rows_s], reward[rows_s], rule[rows_s], nodes[rows_s],
                world_steps, ext[:, 0, 0].astype(np.int64),
            )
        if out is not None:
            return out
        # One agent per maze lane: the agent axis is added as a view, not a copy.
        return StepTrace(
            action=action[:, :, None], reward=reward[:, :, None],
            internals={"rule": rule[:, :, None], "nodes": nodes[:, :, None]},
            world_steps=world_steps,
        )

    def check_event(self, state: MazeState, kind: str, target: int,
                    vec: tuple[float, ...]) -> None:
        check_event(state, kind, target, vec)

    def target_where(self, state: MazeState, copy: int, kind: str,
                     target: int) -> tuple[float, ...] | None:
        """The cell of the object an event targets."""
        if EVENTS.kinds[kind].target and target < state.obj_pos.shape[1]:
            row, col = state.obj_pos[copy, target]
            return (float(row), float(col))
        return None

    def outcomes(self, scene: Any, state: MazeState, copy: int, agents: list[AgentSpec],
                 lane: int, history: Any | None = None) -> list[Outcome]:
        agent = agents[0]
        status = status_name(state.status[copy])
        slot = int(state.reached[copy])
        detail: str | None = None
        achieved = achieved_base = False
        if slot >= 0:
            kind, color = state.obj_kind[copy, slot], state.obj_color[copy, slot]
            detail = f"{maze.COLORS[color]} {maze.OBJECT_KINDS[kind]}"
            achieved = bool(matches(kind, color, agent.objective.as_array()))
            base = parse_objective(scene.model.base_objective).as_array()
            achieved_base = bool(matches(kind, color, base))
        elif status == "terminated":
            detail = "lava"
        return [Outcome(lane, 0, agent.name, agent.objective.text, status, int(state.t[copy]),
                        float(state.ret[copy]), detail, achieved, achieved_base,
                        1.0 if achieved else 0.0, {"reached": detail})]


    # --- what the metrics need (simulator/metrics.py) -----------------------------------
    def projection(self, scene: Any, state: MazeState) -> np.ndarray:
        """The coordinate that matters: the agent's cell, (E, 2) float64 (row, col)."""
        return state.agent_pos.astype(np.float64)

    def bins(self, scene: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One bin per grid cell of the scene's largest map: lows (2,), highs (2,), n_bins (2,)."""
        height = max(layout.shape[0] for layout in scene.layouts.values())
        width = max(layout.shape[1] for layout in scene.layouts.values())
        return (np.array([-0.5, -0.5]), np.array([height - 0.5, width - 0.5]),
                np.array([height, width]))

    def in_target(self, scene: Any, state: MazeState, objective: Any) -> np.ndarray:
        """(E,) bool: the copy's episode ended on an object matching ``objective``."""
        return _reach_state(state, objective)[0]

    def distance(self, scene: Any, state: MazeState, objective: Any) -> np.ndarray:
        """(E,) float64 Manhattan distance from the agent to the nearest matching object
        (0 once reached; the grid's half-perimeter when there is none)."""
        return _reach_state(state, objective)[1]

    def score(self, scene: Any, state: MazeState, objective: Any) -> np.ndarray:
        """(E,) float64, higher is better: 1 in the target, else minus the normalised
        distance to it; ending in lava or on a wrong object is the worst outcome (-2)."""
        return _reach_state(state, objective)[2]

    def expanded_cells(self, state: MazeState, agents: list[AgentSpec], params: np.ndarray,
                       copy: int = 0) -> np.ndarray | None:
        """(H, W) bool: the cells a search agent expands from copy ``copy``'s current state
        to choose its next move (the same search the kernel runs), for the GUI's internals
        overlay; None for agents that do not search."""
        agent = agents[0] if len(agents) == 1 else None
        if agent is None or agent.code != AGENT_SEARCH:
            return None
        height, width = state.cell.shape[1:]
        out = np.zeros(height * width, np.bool_)
        row, col = state.agent_pos[copy]
        search_act(state.cell[copy], state.obj_kind[copy], state.obj_color[copy],
                   state.obj_pos[copy], state.obj_reward[copy], agent.kernel_objective(),
                   int(row), int(col), int(agent.params[0]), int(agent.params[1]), params, out)
        return out.reshape(height, width)

    def funnel(self, scene: Any, state: MazeState) -> tuple[np.ndarray, float, float]:
        """The funnel plot's coordinate: distance to the base objective, (E,), and its range."""
        height, width = state.cell.shape[1:]
        base = parse_objective(scene.model.base_objective)
        return self.distance(scene, state, base), 0.0, float(height + width)


@njit(cache=True)
def _reach_kernel(objective, far, agent_pos, obj_kind, obj_color, obj_pos, reached, status,
                  hit, dist, score):
    """Per copy: whether it ended on a matching object, its distance to the nearest one
    (``far`` when there is none) and its score (1 on target; -distance/far while running;
    -2 when it ended in lava or on a wrong object, worse than any distance).

    objective (2,) int32; state arrays as in MazeState; hit, dist, score (E,) outputs.
    """
    # Serial on purpose: a few microseconds of work, where a parallel launch costs more and
    # a descheduled worker thread on a busy machine stalls the whole GUI frame.
    for e in range(agent_pos.shape[0]):
        slot = reached[e]
        hit[e] = slot >= 0 and matches(obj_kind[e, slot], obj_color[e, slot], objective)
        _, d = nearest_target(obj_kind[e], obj_color[e], obj_pos[e], objective,
                              agent_pos[e, 0], agent_pos[e, 1])
        dist[e] = 0.0 if hit[e] else (float(d) if d >= 0 else far)
        if hit[e]:
            score[e] = 1.0
        elif status[e] == maze.STATUS_TERMINATED:
            score[e] = -2.0
        else:
            score[e] = -dist[e] / far


def _reach_state(state: MazeState, objective: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hit (E,) bool, distance (E,) float64, score (E,) float64) of every copy."""
    n = state.n_copies
    height, width = state.cell.shape[1:]
    hit, dist, score = np.empty(n, np.bool_), np.empty(n), np.empty(n)
    _reach_kernel(objective.as_array(), float(height + width), state.agent_pos,
                  state.obj_kind, state.obj_color, state.obj_pos, state.reached, state.status,
                  hit, dist, score)
    return hit, dist, score


DRIVER = MazeDriver()
