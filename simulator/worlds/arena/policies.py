"""Arena policies, compiled, and the arena's objectives and agent parameters.

Every policy sees one copy (views of that copy's arrays) and steers one pusher body with a
thrust action ``(ax, ay)`` in the unit disc (the engine multiplies by the scene's thrust).
Shapes: pos, vel (B, 2) float64; radius, mass, restitution, friction (B,) float64;
role (B,) int8; wall_kind (NW,) int8; wall (NW, 5) float64; goal (G, 4) float64;
goal_code (G,) int32; objective (3,) int32 = (ball ordinal, goal index, goal name code);
agent_params (N_AGENT_PARAMS,) float64; rules (R, RULE_WIDTH) int32.

The three archetypes share one geometric idea — to push a ball toward a goal, be *behind*
it on the goal–ball line — and differ in how they use it:

- ``thermostat``: one feedback loop. The error is the ball-to-goal vector; the set point for
  the pusher is a point behind the ball, pressed into it in proportion to the error.
  No memory, no model: from in front of the ball it drives straight through it.
- ``heuristic``: a rule table (data, see :data:`DEFAULT_ARENA_RULES`) over a few features
  (behind, aligned, blocked, ...) choosing a reflex (approach, push, go around, recover).
- ``search``: best-first tree search over discretised thrusts, each child simulated by the
  engine's own :func:`~simulator.worlds.arena.kernels.world_step`.
"""

from __future__ import annotations

import math
import re
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
from simulator.core.rng import STREAM_AGENT, rand_uniform
from simulator.worlds.arena.kernels import (
    P_CELL,
    P_THRUST,
    ROLE_BALL,
    alloc_scratch,
    box_distance,
    clearance,
    find_goal,
    goal_name_code,
    nth_body,
    wall_distance,
    world_step,
)

# --- objectives ------------------------------------------------------------------------
_GOAL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class ArenaObjective:
    """Ball ``ball`` (ordinal among the balls) inside goal region ``goal``.

    ``goal`` is a goal name, a goal index as text, or ``any`` (the first goal). Text form:
    ``goal:left``, ``goal:0``, ``goal:left:ball1``.
    """

    goal: str = "any"
    ball: int = 0

    @property
    def text(self) -> str:
        return f"goal:{self.goal}" + (f":ball{self.ball}" if self.ball else "")

    def as_array(self) -> np.ndarray:
        """(3,) int32: ball ordinal, goal index (-1: by name), goal name code (0: any)."""
        if self.goal.isdigit():
            return np.array([self.ball, int(self.goal), 0], np.int32)
        code = 0 if self.goal == "any" else goal_name_code(self.goal)
        return np.array([self.ball, -1, code], np.int32)


def parse_arena_objective(text: str) -> ArenaObjective:
    """Parse ``goal:<name|index|any>[:ball<k>]``; UserError names what is wrong."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or parts[0] != "goal" or not parts[1]:
        raise UserError(f"objective {text!r} must look like 'goal:left', 'goal:0' or"
                        " 'goal:left:ball1'")
    goal = parts[1]
    if not (goal.isdigit() or _GOAL_NAME.match(goal)):
        raise UserError(f"objective {text!r}: {goal!r} is not a goal name or index")
    ball = 0
    if len(parts) == 3:
        match = re.fullmatch(r"ball(\d+)", parts[2])
        if not match:
            raise UserError(f"objective {text!r}: {parts[2]!r} must look like 'ball1'")
        ball = int(match.group(1))
    return ArenaObjective(goal, ball)


# --- agent parameters ------------------------------------------------------------------
# Slots of the (N_AGENT_PARAMS,) float64 vector.
A_GAIN, A_DAMPING, A_PUSH = 0, 1, 2  # thermostat and heuristic
A_BUDGET, A_DEPTH, A_HOLD, A_SHAPING, A_DIRECTIONS = 0, 1, 2, 3, 4  # search

_DEFAULTS: dict[str, dict[str, float]] = {
    # gain: thrust per metre of position error; damping: per m/s of pusher speed;
    # push: how far (m) the set point sits inside the ball per metre of ball-to-goal error.
    "thermostat": {"gain": 3.0, "damping": 1.0, "push": 0.25},
    "heuristic": {"gain": 3.0, "damping": 1.0},
    # budget: node expansions per decision; depth: plies; hold: world steps per ply;
    # shaping: weight of the pusher's distance to the behind-the-ball point in the value;
    # directions: thrust directions per ply (plus coasting).
    "search": {"budget": 40.0, "depth": 3.0, "hold": 3.0, "shaping": 0.3, "directions": 8.0},
}
_SLOTS = {"gain": A_GAIN, "damping": A_DAMPING, "push": A_PUSH, "budget": A_BUDGET,
          "depth": A_DEPTH, "hold": A_HOLD, "shaping": A_SHAPING, "directions": A_DIRECTIONS}

# --- the heuristic pile's vocabulary ------------------------------------------------------
# Features, from the pusher, about the ball its objective names and that ball's goal:
#   has_goal     the objective's ball and goal exist
#   in_goal      the ball is inside the goal region
#   behind       the pusher is on the far side of the ball from the goal
#   aligned      behind, and within half a ball radius of the goal-ball line
#   touching     pusher and ball (nearly) touch
#   side         which side of the goal-ball line the pusher is on: -1 or 1
#   blocked      the point behind the ball is inside a wall (the ball is stuck against it)
#   ball_at_wall the ball touches a wall or the box
#   ball_moving  the ball moves faster than 0.3 m/s
ARENA_FEATURES = ("has_goal", "in_goal", "behind", "aligned", "touching", "side", "blocked",
                  "ball_at_wall", "ball_moving")
(F_HAS_GOAL, F_IN_GOAL, F_BEHIND, F_ALIGNED, F_TOUCHING, F_SIDE, F_BLOCKED, F_BALL_AT_WALL,
 F_BALL_MOVING) = range(len(ARENA_FEATURES))
N_ARENA_FEATURES = len(ARENA_FEATURES)

# Reflexes a rule can fire; each becomes a thrust through a PD law toward its own point.
ARENA_REFLEXES = ("coast", "brake", "approach", "push", "go_around", "recover")
R_COAST, R_BRAKE, R_APPROACH, R_PUSH, R_GO_AROUND, R_RECOVER = range(len(ARENA_REFLEXES))
PUSH_SPEED, PUSH_SLOWDOWN = 1.5, 1.0  # m/s, and 1/s per metre left to the goal
RECOVER_TILT = 0.4  # recover pushes along the wall, tilted off it by atan(0.4) ≈ 22°

DEFAULT_ARENA_RULES: tuple[str, ...] = (
    "!has_goal -> coast",
    "in_goal -> brake",
    # Against a wall the point behind the ball is unreachable: slide in low along the wall.
    "blocked -> recover",
    "aligned -> push",
    "behind -> approach",
    "-> go_around",
)


def arena_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                            tuple[str, ...]]:
    """Validate an arena agent's parameters → (params vector, rule table, rule text)."""
    vec = np.zeros(N_AGENT_PARAMS)
    rules = np.zeros((0, RULE_WIDTH), np.int32)
    rule_text: tuple[str, ...] = ()
    params = dict(params)
    if name == "heuristic":
        text = params.pop("rules", None)
        rule_text = tuple(text) if text else DEFAULT_ARENA_RULES
        rules = compile_rules(rule_text, ARENA_FEATURES, ARENA_REFLEXES)
    defaults = _DEFAULTS.get(name, {})
    if not defaults and params:
        raise UserError(f"{name} agent takes no parameters (got {', '.join(params)})")
    merged = dict(defaults)
    for key, value in params.items():
        if key not in merged:
            raise UserError(f"{name} agent: unknown parameter {key!r}"
                            f" ({', '.join(list(defaults) + (['rules'] if rule_text else []))})")
        try:
            merged[key] = float(value)
        except (TypeError, ValueError):
            raise UserError(f"{name} agent: {key} must be a number, not {value!r}") from None
        if merged[key] < 0:
            raise UserError(f"{name} agent: {key} must not be negative")
    if name == "search":
        if merged["budget"] < 1 or merged["depth"] < 1 or merged["hold"] < 1:
            raise UserError("search agent: budget, depth and hold must be at least 1")
        if not 1 <= merged["directions"] <= 64:
            raise UserError("search agent: directions must be from 1 to 64")
    for key, value in merged.items():
        vec[_SLOTS[key]] = value
    return vec, rules, rule_text


# --- shared geometry ---------------------------------------------------------------------
@njit(cache=True, inline="always")
def _unit_disc(ax, ay):
    """Clip an action to the unit disc (thrust saturates; it does not grow)."""
    n2 = ax * ax + ay * ay
    if n2 > 1.0:
        n = math.sqrt(n2)
        return ax / n, ay / n
    return ax, ay


@njit(cache=True, inline="always")
def _steer(px, py, vx, vy, tx, ty, gain, damping):
    """PD law toward (tx, ty): thrust ∝ position error, minus velocity damping."""
    return _unit_disc(gain * (tx - px) - damping * vx, gain * (ty - py) - damping * vy)


@njit(cache=True, inline="always")
def _goal_frame(objective, pos, role, goal, goal_code):
    """Ball body, goal index and the unit vector (ux, uy) from the ball to the goal's
    centre, plus that distance; ball or goal -1 when missing."""
    b = nth_body(role, ROLE_BALL, objective[0])
    g = find_goal(goal_code, objective[1], objective[2])
    if b < 0 or g < 0:
        return b, g, 0.0, 0.0, 0.0
    ex = 0.5 * (goal[g, 0] + goal[g, 2]) - pos[b, 0]
    ey = 0.5 * (goal[g, 1] + goal[g, 3]) - pos[b, 1]
    dist = math.sqrt(ex * ex + ey * ey)
    if dist <= 1e-12:
        return b, g, 0.0, 0.0, 0.0
    return b, g, ex / dist, ey / dist, dist


@njit(cache=True, inline="always")
def _clamp_into_box(x, y, r, box_w, box_h):
    """Where a body of radius r can actually be: the set point saturates at the box."""
    return min(max(x, r), box_w - r), min(max(y, r), box_h - r)


# --- thermostat ------------------------------------------------------------------------------
@njit(cache=True)
def thermostat_act(agent_params, objective, me, pos, vel, radius, role, box_w, box_h, goal,
                   goal_code):
    """Proportional control on the ball-to-goal error.

    The error is the vector from the ball to the goal's centre. The pusher's set point is
    the contact point behind the ball on that line, moved into the ball by
    ``push * |error|`` (it presses harder the farther the ball is from the goal); thrust is
    a PD law toward it. The goal region is the thermostat's dead band: with the ball
    inside, the pusher brakes. Returns (ax, ay)."""
    b, g, ux, uy, error = _goal_frame(objective, pos, role, goal, goal_code)
    if b < 0:
        return 0.0, 0.0
    gain, damping = agent_params[A_GAIN], agent_params[A_DAMPING]
    if box_distance(pos[b, 0], pos[b, 1], goal[g]) == 0.0:
        return _unit_disc(-damping * vel[me, 0], -damping * vel[me, 1])
    contact = radius[b] + radius[me]
    depth = min(agent_params[A_PUSH] * error, 0.5 * contact)
    tx = pos[b, 0] - ux * (contact - depth)
    ty = pos[b, 1] - uy * (contact - depth)
    tx, ty = _clamp_into_box(tx, ty, radius[me], box_w, box_h)
    return _steer(pos[me, 0], pos[me, 1], vel[me, 0], vel[me, 1], tx, ty, gain, damping)


# --- heuristic pile ----------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _nearest_wall_normal(px, py, r, wall_kind, wall, box_w, box_h):
    """Unit normal (from the wall to the point) of the wall or box side nearest a circle at
    (px, py) of radius r, and the gap to it (negative when overlapping)."""
    gap, nx, ny = px - r, 1.0, 0.0
    if box_w - r - px < gap:
        gap, nx, ny = box_w - r - px, -1.0, 0.0
    if py - r < gap:
        gap, nx, ny = py - r, 0.0, 1.0
    if box_h - r - py < gap:
        gap, nx, ny = box_h - r - py, 0.0, -1.0
    for w in range(wall_kind.shape[0]):
        dist, wx, wy = wall_distance(px, py, 0.0, 0.0, wall_kind[w], wall[w, 0], wall[w, 1],
                                     wall[w, 2], wall[w, 3], wall[w, 4])
        if dist - r < gap:
            gap, nx, ny = dist - r, wx, wy
    return gap, nx, ny


@njit(cache=True)
def arena_features(objective, me, pos, vel, radius, role, wall_kind, wall, box_w, box_h, goal,
                   goal_code, out):
    """Fill out (N_ARENA_FEATURES,) int32 with the features the rule table reads."""
    out[:] = 0
    b, g, ux, uy, _ = _goal_frame(objective, pos, role, goal, goal_code)
    if b < 0:
        return
    out[F_HAS_GOAL] = 1
    out[F_IN_GOAL] = box_distance(pos[b, 0], pos[b, 1], goal[g]) == 0.0
    contact = radius[b] + radius[me]
    qx, qy = pos[me, 0] - pos[b, 0], pos[me, 1] - pos[b, 1]
    along = qx * ux + qy * uy
    lateral = ux * qy - uy * qx
    out[F_BEHIND] = along < -0.5 * contact
    out[F_ALIGNED] = along < -0.5 * contact and abs(lateral) < 0.5 * radius[b]
    out[F_TOUCHING] = qx * qx + qy * qy < (contact + 0.1) ** 2
    out[F_SIDE] = -1 if lateral < 0.0 else 1
    behind_x, behind_y = pos[b, 0] - ux * contact, pos[b, 1] - uy * contact
    out[F_BLOCKED] = clearance(behind_x, behind_y, radius[me], wall_kind, wall, box_w,
                               box_h) > 0.0
    out[F_BALL_AT_WALL] = clearance(pos[b, 0], pos[b, 1], radius[b] + 0.05, wall_kind, wall,
                                    box_w, box_h) > 0.0
    out[F_BALL_MOVING] = vel[b, 0] ** 2 + vel[b, 1] ** 2 > 0.09


@njit(cache=True, inline="always")
def _push_through(px, py, vx, vy, bx, by, ux, uy, ball_radius, dist, gain):
    """Drive through the ball's centre along (ux, uy) at a speed that falls with the
    distance ``dist`` left to the goal (so the ball arrives slowly enough to stay)."""
    dx, dy = bx + ux * ball_radius - px, by + uy * ball_radius - py
    norm = math.sqrt(dx * dx + dy * dy)
    if norm > 0.0:
        dx, dy = dx / norm, dy / norm
    speed = min(PUSH_SPEED, PUSH_SLOWDOWN * dist)
    return _unit_disc(gain * (speed * dx - vx), gain * (speed * dy - vy))


@njit(cache=True)
def reflex_thrust(reflex, agent_params, objective, me, pos, vel, radius, role, wall_kind, wall,
                  box_w, box_h, goal, goal_code):
    """The thrust (ax, ay) of one reflex of the heuristic pile."""
    gain, damping = agent_params[A_GAIN], agent_params[A_DAMPING]
    px, py, vx, vy = pos[me, 0], pos[me, 1], vel[me, 0], vel[me, 1]
    b, _, ux, uy, dist = _goal_frame(objective, pos, role, goal, goal_code)
    if reflex == R_BRAKE:
        return _unit_disc(-damping * vx, -damping * vy)
    if b < 0 or reflex == R_COAST:
        return 0.0, 0.0
    bx, by = pos[b, 0], pos[b, 1]
    contact = radius[b] + radius[me]
    if reflex == R_APPROACH:
        tx, ty = _clamp_into_box(bx - ux * (contact + 0.1), by - uy * (contact + 0.1),
                                 radius[me], box_w, box_h)
        return _steer(px, py, vx, vy, tx, ty, gain, damping)
    if reflex == R_PUSH:
        return _push_through(px, py, vx, vy, bx, by, ux, uy, radius[b], dist, gain)
    if reflex == R_GO_AROUND:
        # A waypoint beside the ball on the pusher's own side, well behind it (so that
        # reaching it makes ``behind`` true and the next rule takes over).
        side = 1.0 if ux * (py - by) - uy * (px - bx) >= 0.0 else -1.0
        reach = contact + 0.3
        tx = bx - side * uy * reach - ux * contact
        ty = by + side * ux * reach - uy * contact
        tx, ty = _clamp_into_box(tx, ty, radius[me], box_w, box_h)
        return _steer(px, py, vx, vy, tx, ty, gain, damping)
    # R_RECOVER: push the ball along the wall toward the goal, tilted off the wall; from a
    # pusher lower than the ball that tilt lifts the ball away from the wall.
    _, nx, ny = _nearest_wall_normal(bx, by, radius[b], wall_kind, wall, box_w, box_h)
    tx_, ty_ = -ny, nx
    along = ux * tx_ + uy * ty_
    s = -1.0 if along < 0.0 else 1.0
    dx, dy = s * tx_ + RECOVER_TILT * nx, s * ty_ + RECOVER_TILT * ny
    norm = math.sqrt(dx * dx + dy * dy)
    dx, dy = dx / norm, dy / norm
    qx, qy = px - bx, py - by
    if qx * dx + qy * dy < -0.5 * contact and abs(dx * qy - dy * qx) < 0.5 * radius[b]:
        return _push_through(px, py, vx, vy, bx, by, dx, dy, radius[b], dist, gain)
    tx, ty = _clamp_into_box(bx - dx * (contact + 0.1), by - dy * (contact + 0.1), radius[me],
                             box_w, box_h)
    return _steer(px, py, vx, vy, tx, ty, gain, damping)


@njit(cache=True)
def heuristic_act(agent_params, rules, n_rules, objective, me, pos, vel, radius, role,
                  wall_kind, wall, box_w, box_h, goal, goal_code):
    """First rule of the table whose conditions hold → its reflex's thrust.
    Returns (ax, ay, rule index or -1)."""
    features = np.empty(N_ARENA_FEATURES, np.int32)
    arena_features(objective, me, pos, vel, radius, role, wall_kind, wall, box_w, box_h, goal,
                   goal_code, features)
    rule = first_rule(rules, n_rules, features)
    reflex = rules[rule, RULE_WIDTH - 1] if rule >= 0 else R_COAST
    ax, ay = reflex_thrust(reflex, agent_params, objective, me, pos, vel, radius, role,
                           wall_kind, wall, box_w, box_h, goal, goal_code)
    return ax, ay, rule


# --- tree search -------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _value(objective, me, pos, vel, radius, role, goal, goal_code, shaping):
    """How good a simulated state is for the agent (higher is better).

    Ball outside the goal: minus its distance to the goal region, minus ``shaping`` times
    the pusher's distance to the contact point behind the ball (so plies that set up a push
    are worth something before the ball moves). Ball inside: how deep inside it is (m),
    minus half its speed (a ball racing through the goal is about to leave it).
    """
    b, g, ux, uy, _ = _goal_frame(objective, pos, role, goal, goal_code)
    if b < 0:
        return 0.0
    bx, by = pos[b, 0], pos[b, 1]
    outside = box_distance(bx, by, goal[g])
    if outside == 0.0:
        inside = min(bx - goal[g, 0], goal[g, 2] - bx, by - goal[g, 1], goal[g, 3] - by)
        return inside - 0.5 * math.sqrt(vel[b, 0] ** 2 + vel[b, 1] ** 2)
    contact = radius[b] + radius[me]
    dx = pos[me, 0] - (bx - ux * contact)
    dy = pos[me, 1] - (by - uy * contact)
    return -outside - shaping * math.sqrt(dx * dx + dy * dy)


@njit(cache=True)
def search_act(agent_params, objective, me, seed, copy, t, params, pos, vel, radius, mass,
               restitution, friction, wall_kind, wall, box_w, box_h, wind, role, goal,
               goal_code):
    """Best-first tree search over discretised thrusts through the engine's own step.

    A node is a simulated world (every body's position and velocity); its children hold one
    of ``directions`` full-thrust headings, or coast, for ``hold`` world steps of
    :func:`~simulator.worlds.arena.kernels.world_step`. Other pushers are assumed to coast and the
    noise to be zero (the model knows the wind, masses and frictions as they are now).
    The most valuable unexpanded node above the depth limit is expanded next, up to
    ``budget`` expansions; the answer is the first ply toward the best node seen.

    Returns (ax, ay, nodes_expanded, world_steps).
    """
    b = nth_body(role, ROLE_BALL, objective[0])
    if b < 0 or find_goal(goal_code, objective[1], objective[2]) < 0:
        return 0.0, 0.0, 0, 0
    budget, max_depth = int(agent_params[A_BUDGET]), int(agent_params[A_DEPTH])
    hold, shaping = int(agent_params[A_HOLD]), agent_params[A_SHAPING]
    n_dirs = int(agent_params[A_DIRECTIONS])
    n_children = n_dirs + 1
    n_bodies = pos.shape[0]
    n_max = 1 + budget * n_children
    node_pos = np.empty((n_max, n_bodies, 2))
    node_vel = np.empty((n_max, n_bodies, 2))
    node_depth = np.zeros(n_max, np.int32)
    node_first = np.zeros(n_max, np.int32)
    node_value = np.empty(n_max)
    expanded = np.zeros(n_max, np.bool_)
    node_pos[0] = pos
    node_vel[0] = vel
    node_value[0] = _value(objective, me, pos, vel, radius, role, goal, goal_code, shaping)
    work, grid_start, grid_body, grid_fill = alloc_scratch(n_bodies, box_w, box_h,
                                                           params[P_CELL])
    thrust = np.zeros((n_bodies, 2))
    thrust_scale = params[P_THRUST]
    n_nodes, n_expanded, world_steps = 1, 0, 0
    best, best_value = -1, -np.inf
    while n_expanded < budget:
        # The most valuable open node (a linear scan: a few hundred nodes at most).
        parent, parent_value = -1, -np.inf
        for k in range(n_nodes):
            if not expanded[k] and node_depth[k] < max_depth and node_value[k] > parent_value:
                parent, parent_value = k, node_value[k]
        if parent < 0:
            break
        expanded[parent] = True
        n_expanded += 1
        for c in range(n_children):
            k = n_nodes
            n_nodes += 1
            node_pos[k] = node_pos[parent]
            node_vel[k] = node_vel[parent]
            if c < n_dirs:
                angle = 2.0 * math.pi * c / n_dirs
                thrust[me, 0] = thrust_scale * math.cos(angle)
                thrust[me, 1] = thrust_scale * math.sin(angle)
            else:
                thrust[me, 0] = 0.0
                thrust[me, 1] = 0.0
            for s in range(hold):
                world_step(params, seed, copy, t + s, node_pos[k], node_vel[k], radius, mass,
                           restitution, friction, thrust, wind, 0.0, wall_kind, wall, box_w,
                           box_h, work, grid_start, grid_body, grid_fill)
            world_steps += hold
            node_depth[k] = node_depth[parent] + 1
            node_first[k] = c if parent == 0 else node_first[parent]
            node_value[k] = _value(objective, me, node_pos[k], node_vel[k], radius, role, goal,
                                   goal_code, shaping)
            if node_value[k] > best_value:
                best, best_value = k, node_value[k]
    if best < 0:
        return 0.0, 0.0, n_expanded, world_steps
    first = node_first[best]
    if first >= n_dirs:
        return 0.0, 0.0, n_expanded, world_steps
    angle = 2.0 * math.pi * first / n_dirs
    return math.cos(angle), math.sin(angle), n_expanded, world_steps


# --- dispatch ------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def act(agent_code, agent_params, rules, n_rules, objective, me, slot, seed, copy, t, params,
        pos, vel, radius, mass, restitution, friction, role, wall_kind, wall, box_w, box_h,
        wind, goal, goal_code):
    """Dispatch to the agent's policy for pusher body ``me`` (agent ``slot`` of the lane).

    Returns (ax, ay, rule_fired, nodes_expanded, world_steps): the thrust action in the
    unit disc; ``rule_fired`` is -1 for agents without rules; ``nodes_expanded`` and
    ``world_steps`` are 0 without search.
    """
    if agent_code == AGENT_RANDOM:
        stream = STREAM_AGENT + 16 * (slot + 1)
        angle = 2.0 * math.pi * rand_uniform(seed, copy, t, stream)
        mag = rand_uniform(seed, copy, t, stream + 1)
        return mag * math.cos(angle), mag * math.sin(angle), -1, 0, 0
    if agent_code == AGENT_THERMOSTAT:
        ax, ay = thermostat_act(agent_params, objective, me, pos, vel, radius, role, box_w,
                                box_h, goal, goal_code)
        return ax, ay, -1, 0, 0
    if agent_code == AGENT_HEURISTIC:
        ax, ay, rule = heuristic_act(agent_params, rules, n_rules, objective, me, pos, vel,
                                     radius, role, wall_kind, wall, box_w, box_h, goal,
                                     goal_code)
        return ax, ay, rule, 0, 0
    if agent_code == AGENT_SEARCH:
        ax, ay, nodes, steps = search_act(agent_params, objective, me, seed, copy, t, params,
                                          pos, vel, radius, mass, restitution, friction,
                                          wall_kind, wall, box_w, box_h, wind, role, goal,
                                          goal_code)
        return ax, ay, -1, nodes, steps
    return 0.0, 0.0, -1, 0, 0

