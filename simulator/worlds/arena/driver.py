"""The arena driver: fused lane kernels (perturbations + every agent's policy + physics),
event encoding, outcomes and what the metrics need, for the arena world.

Two rollout kernels share the per-step helpers :func:`_begin_step` (events, agents) and
:func:`_end_step` (scores):

- :func:`arena_rollout` runs copies in parallel, each copy's step serial — for ensembles;
- :func:`arena_rollout_wide` runs copies one after another, each step parallel over bodies
  (:func:`~simulator.worlds.arena.kernels.world_step_wide`) — for a few copies of many bodies.

Both compute every body with the same helpers in the same order, so the choice (made from
ensemble size, body count and thread count) never changes a single bit of the result.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

from agents.external import external_actions
from agents.registry import AGENT_EXTERNAL, AgentSpec
from agents.rules import RULE_WIDTH
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
from simulator.worlds.arena import kernels as arena
from simulator.worlds.arena.kernels import (
    P_CELL,
    P_HORIZON,
    P_THRUST,
    ROLE_BALL,
    ROLE_PUSHER,
    STATUS_RUNNING,
    STATUS_TRUNCATED,
    ArenaState,
    alloc_scratch,
    apply_event,
    objective_distance,
    world_step,
    world_step_wide,
)
from simulator.worlds.arena.policies import act
from simulator.worlds.arena.scene import ArenaModel, bins, physics_params

WIDE_MIN_BODIES = 128  # below this a step is too short to share between threads


@njit(cache=True)
def _begin_step(e, s, step, i_ev, seed, params, codes, agent_params, rules, n_rules,
                objectives, bodies, ev_step, ev_kind, ev_target, ev_params, ev_copy, pos, vel,
                radius, mass, restitution, friction, role, wall_kind, wall, goal, goal_code,
                box, wind, noise, thrust, tr_action, tr_rule, tr_nodes, ext_action):
    """Before copy e's world step ``step``: apply the events logged for it, then let every
    agent set its pusher's thrust (N) in ``thrust`` (B, 2); an external agent's action is
    ``ext_action[e, a]`` ((E, A, 2) float64, one step per call; (0, A, 2) when none).
    Returns (next event index, world steps simulated inside searches)."""
    while event_due(ev_step, i_ev, step):
        if event_hits(ev_copy, i_ev, e):
            apply_event(e, ev_kind[i_ev], ev_target[i_ev], ev_params[i_ev], params, pos, vel,
                        radius, mass, restitution, friction, goal, box, wind, noise)
        i_ev += 1
    thrust[:] = 0.0
    searched = 0
    for a in range(codes.shape[0]):
        if codes[a] == AGENT_EXTERNAL:
            ax, ay, rule, nodes, steps = ext_action[e, a, 0], ext_action[e, a, 1], -1, 0, 0
        else:
            ax, ay, rule, nodes, steps = act(
                codes[a], agent_params[a], rules[a], n_rules[a], objectives[a], bodies[a], a,
                seed, e, step, params, pos[e], vel[e], radius[e], mass[e], restitution[e],
                friction[e], role[e], wall_kind[e], wall[e], box[e, 0], box[e, 1], wind[e],
                goal[e], goal_code[e],
            )
        searched += steps
        norm2 = ax * ax + ay * ay
        if norm2 > 1.0:  # thrust saturates whatever a policy asks
            ax, ay = ax / np.sqrt(norm2), ay / np.sqrt(norm2)
        thrust[bodies[a], 0] += params[P_THRUST] * ax
        thrust[bodies[a], 1] += params[P_THRUST] * ay
        if tr_action.shape[0] > 0:
            tr_action[s, e, a, 0], tr_action[s, e, a, 1] = ax, ay
            tr_rule[s, e, a], tr_nodes[s, e, a] = rule, nodes
    return i_ev, searched


@njit(cache=True)
def _end_step(e, s, step, params, objectives, pos, role, goal, goal_code, held, ret, t, status,
              tr_reward):
    """After copy e's world step that completed ``step`` steps: score every agent — reward
    = minus its ball's distance (m) to its goal; ``held`` counts the steps after which the
    ball was inside — and truncate at the horizon (an arena never terminates)."""
    for a in range(objectives.shape[0]):
        dist = objective_distance(objectives[a], pos[e], role[e], goal[e], goal_code[e])
        reward = -dist if dist >= 0.0 else 0.0
        if dist == 0.0:
            held[e, a] += 1
        ret[e, a] += reward
        if tr_reward.shape[0] > 0:
            tr_reward[s, e, a] = reward
    t[e] = step
    if step >= params[P_HORIZON]:
        status[e] = STATUS_TRUNCATED


@njit(cache=True, parallel=True, nogil=True)
def arena_rollout(n_steps, seed, params, codes, agent_params, rules, n_rules, objectives,
                  bodies, ev_step, ev_kind, ev_target, ev_params, ev_copy, pos, vel, radius,
                  mass, restitution, friction, role, wall_kind, wall, goal, goal_code, box, wind,
                  noise, held, ret, t, status, tr_action, tr_reward, tr_rule, tr_nodes,
                  world_steps, ext_action):
    """Advance every running copy by up to ``n_steps`` steps, in place, copies in parallel.

    Per step of copy e: apply the events logged for (t[e], e), let every agent choose its
    pusher's thrust, take one :func:`~simulator.worlds.arena.kernels.world_step`, score the agents.

    Agents (A,): codes int32, agent_params (A, N_AGENT_PARAMS) float64, rules
    (A, R, RULE_WIDTH) int32 with n_rules (A,) int32 rows in use, objectives (A, 3) int32,
    bodies (A,) int32 (each agent's pusher). Events (n,): ev_step int32 (sorted), ev_kind,
    ev_target, ev_copy int32 (-1: every copy), ev_params (n, N_EVENT_PARAMS) float64.
    State arrays as in :class:`ArenaState`. Traces (S, E, A[, 2]) — action float64 (NaN
    where a copy had stopped), reward float64, rule int16, nodes int32 — or S = 0 to skip;
    world_steps (E,) int64 accumulates the searches' simulated steps. ext_action
    (E, A, 2) float64: external agents' actions for one step (see :func:`_begin_step`).
    """
    n_bodies = pos.shape[1]
    for copy in prange(pos.shape[0]):
        # One integer type for copy and step everywhere (prange counts in uint64, t is
        # int32): each distinct one would compile every kernel below once more.
        e = np.int64(copy)
        work, grid_start, grid_body, grid_fill = alloc_scratch(n_bodies, box[e, 0], box[e, 1],
                                                               params[P_CELL])
        thrust = np.zeros((n_bodies, 2))
        step = np.int64(t[e])
        i_ev = first_event_at(ev_step, step)
        for s in range(n_steps):
            if status[e] != STATUS_RUNNING:
                break
            i_ev, searched = _begin_step(
                e, s, step, i_ev, seed, params, codes, agent_params, rules, n_rules,
                objectives, bodies, ev_step, ev_kind, ev_target, ev_params, ev_copy, pos, vel,
                radius, mass, restitution, friction, role, wall_kind, wall, goal, goal_code,
                box, wind, noise, thrust, tr_action, tr_rule, tr_nodes, ext_action)
            world_steps[e] += searched
            world_step(params, seed, e, step, pos[e], vel[e], radius[e], mass[e],
                       restitution[e], friction[e], thrust, wind[e], noise[e], wall_kind[e],
                       wall[e], box[e, 0], box[e, 1], work, grid_start, grid_body, grid_fill)
            step += 1
            _end_step(e, s, step, params, objectives, pos, role, goal, goal_code, held, ret, t,
                      status, tr_reward)


@njit(cache=True, nogil=True)
def arena_rollout_wide(n_steps, seed, params, codes, agent_params, rules, n_rules, objectives,
                       bodies, ev_step, ev_kind, ev_target, ev_params, ev_copy, pos, vel,
                       radius, mass, restitution, friction, role, wall_kind, wall, goal,
                       goal_code, box, wind, noise, held, ret, t, status, tr_action, tr_reward,
                       tr_rule, tr_nodes, world_steps, ext_action):
    """:func:`arena_rollout` for few copies of many bodies: copies in turn, each step
    parallel over bodies (:func:`~simulator.worlds.arena.kernels.world_step_wide`). Same
    arguments, bit-identical results."""
    n_bodies = pos.shape[1]
    for copy in range(pos.shape[0]):
        e = np.int64(copy)
        work, grid_start, grid_body, grid_fill = alloc_scratch(n_bodies, box[e, 0], box[e, 1],
                                                               params[P_CELL])
        thrust = np.zeros((n_bodies, 2))
        step = np.int64(t[e])
        i_ev = first_event_at(ev_step, step)
        for s in range(n_steps):
            if status[e] != STATUS_RUNNING:
                break
            i_ev, searched = _begin_step(
                e, s, step, i_ev, seed, params, codes, agent_params, rules, n_rules,
                objectives, bodies, ev_step, ev_kind, ev_target, ev_params, ev_copy, pos, vel,
                radius, mass, restitution, friction, role, wall_kind, wall, goal, goal_code,
                box, wind, noise, thrust, tr_action, tr_rule, tr_nodes, ext_action)
            world_steps[e] += searched
            world_step_wide(params, seed, e, step, pos[e], vel[e], radius[e], mass[e],
                            restitution[e], friction[e], thrust, wind[e], noise[e],
                            wall_kind[e], wall[e], box[e, 0], box[e, 1], work, grid_start,
                            grid_body, grid_fill)
            step += 1
            _end_step(e, s, step, params, objectives, pos, role, goal, goal_code, held, ret, t,
                      status, tr_reward)


# Which named parameters each arena event takes, and where they go in the params vector.
# Every arena event kind: its named parameters (all required) in their slots of the
# kernels' vector, in EV_* code order, and what its target names.
_XY = (("x", 0), ("y", 1))
# Every parameter's range. Positions are checked against the arena itself by check_event;
# here only what any arena allows (scenes are at most MAX_SIZE metres across). Forces and
# impulses beyond a few hundred N would exceed max_speed in one step anyway.
MAX_SIZE = 1000.0  # m
_POSITION = ParamRange(0.0, MAX_SIZE, unit="m")
_RANGES = {
    "jx": ParamRange(-1000.0, 1000.0, unit="N s"),
    "jy": ParamRange(-1000.0, 1000.0, unit="N s"),
    "x": _POSITION,
    "y": _POSITION,
    "speed": ParamRange(0.0, 1000.0, unit="m/s"),
    "fx": ParamRange(-1000.0, 1000.0, unit="N"),
    "fy": ParamRange(-1000.0, 1000.0, unit="N"),
    "mass": ParamRange(arena.MIN_MASS, 1e6, unit="kg"),
    "friction": ParamRange(0.0, 10.0),
    "restitution": ParamRange(0.0, 1.0),
    "std": ParamRange(0.0, 100.0, unit="N"),
}
EVENTS = EventTable(
    kinds={
        "impulse": event_kind(("jx", 0), ("jy", 1)),
        "drag": event_kind(*_XY, ("speed", 2), target="body index"),
        "teleport": event_kind(*_XY, target="body index"),
        "wind": event_kind(("fx", 0), ("fy", 1)),
        "set_mass": event_kind(("mass", 0)),
        "set_friction": event_kind(("friction", 0)),
        "set_restitution": event_kind(("restitution", 0)),
        "set_noise": event_kind(("std", 0)),
        "move_goal": event_kind(*_XY, target="goal index"),
    },
    ranges=_RANGES,
    n_params=arena.N_EVENT_PARAMS,
)
assert EVENTS.event_kinds == arena.EVENT_KINDS


def check_event(state: ArenaState, kind: str, target: int, vec: tuple[float, ...]) -> None:
    """UserError if an encoded arena event does not fit ``state``'s box, bodies or goals."""
    width, height = (float(v) for v in state.box[0])
    if "x" in EVENTS.kinds[kind].names and not (vec[0] <= width and vec[1] <= height):
        raise UserError(f"{kind}: ({vec[0]:g}, {vec[1]:g}) is outside the arena"
                        f" [0, {width:g}] x [0, {height:g}]")
    n_bodies, n_goals = state.pos.shape[1], state.goal.shape[1]
    if kind == "move_goal":
        if target >= n_goals:
            raise UserError(f"{kind}: no goal {target} (the arena has {n_goals})")
    elif kind != "wind" and kind != "set_noise" and target >= n_bodies:
        raise UserError(f"{kind}: no body {target} (the arena has {n_bodies})")


def _settings(scene: Any) -> ArenaModel:
    return getattr(scene, "physics", None) or ArenaModel()


class ArenaDriver(DriverBase):
    """The arena world behind the :class:`~simulator.core.driver.WorldDriver` interface."""

    kind = "arena"
    events = EVENTS
    state_type = ArenaState

    def params(self, scene: Any) -> np.ndarray:
        """The scene's rules as the kernels take them, (N_PARAMS,) float64. Also checks that
        every lane fits the arena (enough pushers, goals its objectives name): SceneError
        naming the file and lane."""
        self._check_lanes(scene)
        return physics_params(_settings(scene), scene.layouts, scene.model.horizon)

    def _check_lanes(self, scene: Any) -> None:
        from simulator.core.schema import SceneError

        where = str(scene.path) if scene.path else "<scene>"
        base = parse_objective(scene.model.base_objective, "arena")
        for name, layout in scene.layouts.items():
            problem = _objective_problem(base, layout.goal_names, layout.n_balls)
            if problem:
                raise SceneError(f"{where}: base_objective: {problem} in distribution"
                                 f" {name!r}")
            for i, lane in enumerate(scene.model.lanes):
                members = lane.members()
                if len(members) > layout.n_pushers:
                    raise SceneError(f"{where}: lanes[{i}]: {len(members)} agents but"
                                     f" distribution {name!r} has {layout.n_pushers} pusher(s)")
                for member in members:
                    objective = parse_objective(
                        member.objective or scene.model.base_objective, "arena")
                    problem = _objective_problem(objective, layout.goal_names, layout.n_balls)
                    if problem:
                        raise SceneError(f"{where}: lanes[{i}]: {problem} in distribution"
                                         f" {name!r}")

    def initial_state(self, scene: Any, distribution: str, n_copies: int,
                      seed: int) -> ArenaState:
        """``n_copies`` independent draws from the scene's distribution (copy e from (seed, e))."""
        lay = scene.layouts[distribution]
        state = ArenaState.empty(n_copies, lay.n_bodies, lay.wall_spec.shape[0],
                                 lay.goal_spec.shape[0])
        arena.draw_initial(lay.body_spec, lay.wall_spec, lay.goal_spec, lay.goal_codes,
                           lay.box_size, lay.dist_params, seed, state.pos, state.vel,
                           state.radius, state.mass, state.restitution, state.friction,
                           state.role, state.wall_kind, state.wall, state.goal,
                           state.goal_code, state.box, state.wind, state.noise, state.held,
                           state.ret, state.t, state.status)
        return state

    def advance(self, state: ArenaState, agents: list[AgentSpec], events: EventArrays,
                params: np.ndarray, seed: int, n_steps: int, trace: bool = True,
                out: StepTrace | None = None,
                actions: np.ndarray | None = None) -> StepTrace:
        """Advance ``state`` in place by up to ``n_steps`` steps; returns the per-step trace
        (action (S, E, A, 2) float64 thrust in the unit disc, NaN once a copy stopped;
        ``out`` refilled if given, ``actions`` for external agents: see
        WorldDriver.advance)."""
        n_copies, n_agents = state.n_copies, len(agents)
        pushers = np.flatnonzero(state.role[0] == ROLE_PUSHER).astype(np.int32)
        if n_agents > min(len(pushers), arena.MAX_AGENTS):
            raise UserError(f"this arena has {len(pushers)} pusher(s) for {n_agents} agents")
        n_balls = int(np.sum(state.role[0] == ROLE_BALL))
        goal_names = _goal_names_of(state)
        for agent in agents:
            problem = _objective_problem(agent.objective, goal_names, n_balls)
            if problem:
                raise UserError(f"{agent.label}: {problem}")
        n_rules = np.array([len(agent.rules) for agent in agents], np.int32)
        rules = np.full((n_agents, max(1, int(n_rules.max(initial=0))), RULE_WIDTH), -1,
                        np.int32)
        for a, agent in enumerate(agents):
            rules[a, :len(agent.rules)] = agent.rules
        codes = np.array([agent.code for agent in agents], np.int32)
        agent_params = np.array([agent.params for agent in agents], np.float64)
        agent_params = agent_params.reshape(n_agents, -1)
        objectives = np.array([agent.objective.as_array() for agent in agents], np.int32)
        objectives = objectives.reshape(n_agents, 3)
        rows = n_steps if trace else 0
        if out is not None and trace:
            action, reward, world_steps = out.action, out.reward, out.world_steps
            rule, nodes = out.internals["rule"], out.internals["nodes"]
            world_steps[:] = 0
        else:
            out = None
            action = np.full((rows, n_copies, n_agents, 2), np.nan)
            reward = np.zeros((rows, n_copies, n_agents))
            rule = np.full((rows, n_copies, n_agents), -1, np.int16)
            nodes = np.zeros((rows, n_copies, n_agents), np.int32)
            world_steps = np.zeros(n_copies, np.int64)
        wide = n_copies < numba.get_num_threads() and state.n_bodies >= WIDE_MIN_BODIES
        kernel = arena_rollout_wide if wide else arena_rollout
        for step, ext in external_actions(self.kind, state, agents, n_steps, actions):
            r = slice(step, step + 1) if ext.shape[0] else slice(0, rows)
            kernel(
                1 if ext.shape[0] else n_steps, seed, params, codes, agent_params, rules,
                n_rules, objectives, pushers[:n_agents], events.step, events.kind,
                events.target, events.params, events.copy, state.pos, state.vel,
                state.radius, state.mass, state.restitution, state.friction, state.role,
                state.wall_kind, state.wall, state.goal, state.goal_code, state.box,
                state.wind, state.noise, state.held, state.ret, state.t, state.status,
                action[r], reward[r], rule[r], nodes[r], world_steps, ext,
            )
        if out is not None:
            return out
        return StepTrace(action=action, reward=reward,
                         internals={"rule": rule, "nodes": nodes}, world_steps=world_steps)

    def check_event(self, state: ArenaState, kind: str, target: int,
                    vec: tuple[float, ...]) -> None:
        check_event(state, kind, target, vec)

    def target_where(self, state: ArenaState, copy: int, kind: str,
                     target: int) -> tuple[float, ...] | None:
        """Where the body an event targets stands (x, y m)."""
        if kind != "move_goal" and target < state.pos.shape[1]:
            return tuple(float(v) for v in state.pos[copy, target])
        return None

    def outcomes(self, scene: Any, state: ArenaState, copy: int, agents: list[AgentSpec],
                 lane: int, history: Any | None = None) -> list[Outcome]:
        """Per agent: whether its ball is in its goal now, and for what fraction of the
        completed steps it was."""
        status = status_name(state.status[copy])
        steps = int(state.t[copy])
        base = parse_objective(scene.model.base_objective, "arena")
        base_dist = _distances(state.select(copy), base)[0]
        out = []
        for a, agent in enumerate(agents):
            dist = float(_distances(state.select(copy), agent.objective)[0])
            ball = f"ball {getattr(agent.objective, 'ball', 0)}"
            goal = getattr(agent.objective, "goal", "?")
            detail = f"{ball} in {goal}" if dist == 0.0 else f"{ball} {dist:.2f} m from {goal}"
            held = int(state.held[copy, a])
            out.append(Outcome(
                lane, a, agent.name, agent.objective.text, status, steps,
                float(state.ret[copy, a]), detail, dist == 0.0, bool(base_dist == 0.0),
                held / steps if steps else 0.0,
                {"held_steps": held, "distance": dist, "pusher": a},
            ))
        return out

    # --- what the metrics need (simulator/metrics.py) -----------------------------------
    def projection(self, scene: Any, state: ArenaState) -> np.ndarray:
        """The coordinate that matters: the base objective's ball position, (E, 2) float64."""
        base = parse_objective(scene.model.base_objective, "arena").as_array()
        b = _ball_index(state, int(base[0]))
        return state.pos[:, b, :].astype(np.float64, copy=True)

    def bins(self, scene: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Half-metre bins over the largest arena: lows (2,), highs (2,), n_bins (2,)."""
        return bins(scene.layouts)

    def in_target(self, scene: Any, state: ArenaState, objective: Any) -> np.ndarray:
        """(E,) bool: the objective's ball is inside its goal region."""
        return _distances(state, objective) == 0.0

    def distance(self, scene: Any, state: ArenaState, objective: Any) -> np.ndarray:
        """(E,) float64 distance (m) of the objective's ball from its goal region."""
        return _distances(state, objective)

    def score(self, scene: Any, state: ArenaState, objective: Any) -> np.ndarray:
        """(E,) float64, higher is better: minus the ball's distance to the goal region
        (0 inside)."""
        return -_distances(state, objective)

    def funnel(self, scene: Any, state: ArenaState) -> tuple[np.ndarray, float, float]:
        """The funnel plot's coordinate: the base ball's distance to the base goal (E,),
        and its range (0 to the largest arena's diagonal)."""
        base = parse_objective(scene.model.base_objective, "arena")
        _, highs, _ = bins(scene.layouts)
        return _distances(state, base), 0.0, float(np.hypot(*highs))


@njit(cache=True, parallel=True)
def _distance_kernel(objective, far, pos, role, goal, goal_code, out):
    """out (E,) float64: the objective's ball's distance to its goal (``far`` if missing)."""
    for copy in prange(pos.shape[0]):
        e = np.int64(copy)
        d = objective_distance(objective, pos[e], role[e], goal[e], goal_code[e])
        out[e] = far if d < 0.0 else d


def _distances(state: ArenaState, objective: Any) -> np.ndarray:
    out = np.empty(state.n_copies)
    far = float(np.hypot(*state.box.max(axis=0))) if state.n_copies else 0.0
    _distance_kernel(objective.as_array(), far, state.pos, state.role, state.goal,
                     state.goal_code, out)
    return out


def _ball_index(state: ArenaState, ordinal: int) -> int:
    balls = np.flatnonzero(state.role[0] == ROLE_BALL)
    return int(balls[ordinal]) if ordinal < len(balls) else 0


def _goal_names_of(state: ArenaState) -> dict[int, int]:
    """Goal name code → goal index in copy 0 (names are compared by code in kernels)."""
    return {int(code): g for g, code in enumerate(state.goal_code[0])}


def _objective_problem(objective: Any, goals: Any, n_balls: int) -> str | None:
    """Why ``objective`` cannot be pursued in an arena with these goals (names or codes)
    and ``n_balls`` balls; None if it can."""
    ball, index, code = (int(v) for v in objective.as_array())
    n_goals = len(goals)
    if ball >= n_balls:
        return f"objective {objective.text}: there is no ball {ball} ({n_balls} ball(s))"
    if n_goals == 0:
        return f"objective {objective.text}: the arena has no goals"
    if index >= n_goals:
        return f"objective {objective.text}: there is no goal {index} ({n_goals} goal(s))"
    if index < 0 and code != 0:
        codes = goals if isinstance(goals, dict) else {
            arena.goal_name_code(name): name for name in goals}
        if code not in codes:
            shown = "" if isinstance(goals, dict) else f" (goals: {', '.join(goals)})"
            return f"objective {objective.text}: no goal named {objective.goal!r}{shown}"
    return None


DRIVER = ArenaDriver()
