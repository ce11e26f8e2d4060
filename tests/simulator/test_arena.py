"""The arena's physics against the physics: conservation laws, no tunnelling, a plain NumPy
reference; perturbations through one path; determinism; scenes and the command line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from arena_reference import ref_world_step
from helpers import state_digest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.core.errors import UserError
from simulator.scene import Scene, SceneError
from simulator.session import Session
from simulator.worlds.arena import kernels as arena

ROOT = Path(__file__).resolve().parents[2]

# Conservation tolerances, relative to the pair's momentum scale sum(m |v|) and to its
# kinetic energy: the impulse is exactly antisymmetric, so only m * (1/m) rounding remains.
MOMENTUM_RTOL = 1e-12
ENERGY_RTOL = 1e-9


class Bodies:
    """Bare physics for tests: B bodies in a box, stepped by the engine's world_step."""

    def __init__(self, pos, vel, radius, mass, restitution=1.0, friction=0.0, box=(100.0, 100.0),
                 walls=(), dt=0.05, max_speed=50.0, substeps=None, wall_restitution=1.0):
        n = len(pos)
        self.pos = np.array(pos, float).reshape(n, 2)
        self.vel = np.array(vel, float).reshape(n, 2)
        self.radius = np.broadcast_to(np.asarray(radius, float), (n,)).copy()
        self.mass = np.broadcast_to(np.asarray(mass, float), (n,)).copy()
        self.restitution = np.broadcast_to(np.asarray(restitution, float), (n,)).copy()
        self.friction = np.broadcast_to(np.asarray(friction, float), (n,)).copy()
        self.box = box
        self.wall_kind = np.array([k for k, _ in walls], np.int8)
        self.wall = np.array([g for _, g in walls], float).reshape(len(walls), 5)
        if substeps is None:
            substeps = arena.substeps_for(dt, max_speed, float(self.radius.min()))
        cell = 2.0 * float(self.radius.max())
        self.params = arena.pack_params(dt, substeps, max_speed, 1.0, wall_restitution, 10**6,
                                        cell, 0.8)
        self.force = np.zeros((n, 2))
        self.scratch = arena.alloc_scratch(n, box[0], box[1], cell)
        self.t = 0

    def step(self, n_steps=1):
        for _ in range(n_steps):
            arena.world_step(self.params, 0, 0, self.t, self.pos, self.vel, self.radius,
                             self.mass, self.restitution, self.friction, self.force,
                             np.zeros(2), 0.0, self.wall_kind, self.wall, self.box[0],
                             self.box[1], *self.scratch)
            self.t += 1

    def momentum(self):
        return (self.mass[:, None] * self.vel).sum(axis=0)

    def energy(self):
        return 0.5 * float((self.mass * (self.vel ** 2).sum(axis=1)).sum())


def _pair(m1, m2, r1, r2, speed, offset, angle, restitution=1.0):
    """Body 1 moving at ``speed`` toward body 2 (moving slower toward it) with impact
    parameter ``offset`` (fraction of r1 + r2), in the middle of a big empty box."""
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    centre = np.array([50.0, 50.0])
    reach = r1 + r2
    p1 = centre - direction * (reach + 0.3)
    p2 = centre + normal * offset * reach
    return Bodies([p1, p2], [direction * speed, -direction * 0.3 * speed], [r1, r2], [m1, m2],
                  restitution)


# --- conservation ------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(m1=st.floats(0.1, 10.0), m2=st.floats(0.1, 10.0), r1=st.floats(0.1, 1.0),
       r2=st.floats(0.1, 1.0), speed=st.floats(0.5, 5.0), offset=st.floats(-0.95, 0.95),
       angle=st.floats(0.0, 2.0 * math.pi))
def test_elastic_collision_conserves_momentum_and_energy(m1, m2, r1, r2, speed, offset, angle):
    bodies = _pair(m1, m2, r1, r2, speed, offset, angle)
    p0, k0 = bodies.momentum(), bodies.energy()
    v0 = bodies.vel.copy()
    bodies.step(60)
    assert not np.allclose(bodies.vel, v0), "the bodies must actually collide"
    scale = float((bodies.mass * np.hypot(*v0.T)).sum())
    assert np.all(np.abs(bodies.momentum() - p0) <= MOMENTUM_RTOL * scale)
    assert abs(bodies.energy() - k0) <= ENERGY_RTOL * k0


@pytest.mark.parametrize("restitution", [0.0, 0.5, 0.8])
def test_inelastic_collision_keeps_momentum_and_obeys_newtons_restitution(restitution):
    """Head on: the normal relative speed after is ``e`` times that before; energy drops."""
    e_body = math.sqrt(restitution)  # a contact's restitution is the product of both sides
    bodies = Bodies([[40.0, 50.0], [42.0, 50.0]], [[3.0, 0.0], [-1.0, 0.0]], [0.5, 0.5],
                    [1.0, 3.0], e_body)
    p0, k0 = bodies.momentum(), bodies.energy()
    bodies.step(40)
    separating = bodies.vel[1, 0] - bodies.vel[0, 0]
    assert separating == pytest.approx(restitution * 4.0, abs=1e-12)
    assert np.allclose(bodies.momentum(), p0, rtol=0, atol=1e-12)
    assert bodies.energy() < k0 or restitution == 1.0


def test_equal_masses_swap_velocities_head_on():
    """The textbook case, as a scripted expectation: a moving ball stops, the resting one
    leaves with its velocity."""
    bodies = Bodies([[40.0, 50.0], [42.0, 50.0]], [[2.0, 0.0], [0.0, 0.0]], 0.5, 1.0)
    bodies.step(40)
    assert bodies.vel[0] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert bodies.vel[1] == pytest.approx([2.0, 0.0], abs=1e-12)


def test_gas_in_free_space_conserves_momentum_and_energy():
    """Forty elastic bodies colliding many times among themselves (cells, Jacobi contacts),
    never reaching the walls."""
    rng = np.random.default_rng(1)
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(8)), -1).reshape(-1, 2)
    pos = 45.0 + grid * 1.1 + rng.uniform(-0.05, 0.05, (40, 2))
    vel = rng.normal(0.0, 1.0, (40, 2))
    bodies = Bodies(pos, vel, rng.uniform(0.3, 0.5, 40), rng.uniform(0.5, 2.0, 40))
    p0, k0 = bodies.momentum(), bodies.energy()
    scale = float((bodies.mass * np.hypot(*vel.T)).sum())
    bodies.step(40)
    moved = np.abs(bodies.vel - vel).max()
    assert moved > 0.1, "the gas must collide"
    assert np.all(np.abs(bodies.momentum() - p0) <= 1e-12 * scale)
    # Several bodies touching at once are resolved together from the same velocities
    # (Jacobi), which is exact for pairs only: the gas keeps its energy within 1%.
    assert bodies.energy() == pytest.approx(k0, rel=1e-2)


# --- no tunnelling -----------------------------------------------------------------------
THIN_WALL = [(arena.WALL_SEGMENT, (5.0, 0.0, 5.0, 10.0, 0.0))]  # zero thickness


def _fast_at_thin_wall(angle, y, substeps=None):
    body = Bodies([[2.0, y]], [[20.0 * math.cos(angle), 20.0 * math.sin(angle)]], 0.1, 1.0,
                  box=(10.0, 10.0), walls=THIN_WALL, max_speed=20.0, substeps=substeps)
    body.force[0] = (1000.0 * math.cos(angle), 1000.0 * math.sin(angle))  # keeps it at max
    xs = []
    for _ in range(40):
        body.step()
        xs.append(body.pos[0, 0])
    return np.array(xs)


@settings(max_examples=40, deadline=None)
@given(angle=st.floats(-1.2, 1.2), y=st.floats(2.0, 8.0))
def test_no_tunnelling_through_a_thin_wall_at_max_speed(angle, y):
    """A body of the smallest radius driven into a zero-thickness wall at the speed limit
    never gets across: max_speed dt = 1 m per step, 10 times its radius."""
    xs = _fast_at_thin_wall(angle, y)
    assert np.all(xs <= 5.0 - 0.1 + 1e-9)


def test_without_substeps_the_same_body_tunnels():
    """The test above can fail: with one substep the body jumps the wall."""
    assert _fast_at_thin_wall(0.0, 5.0, substeps=1).max() > 5.0


def _fast_at_small_ball(substeps=None):
    # 2 m per step at the speed limit, 20 times the small ball's radius.
    bodies = Bodies([[2.0, 5.0], [7.0, 5.0]], [[40.0, 0.0], [0.0, 0.0]], [0.5, 0.1],
                    [1.0, 0.1], box=(40.0, 10.0), max_speed=40.0, substeps=substeps)
    bodies.force[0] = (1000.0, 0.0)
    for _ in range(6):
        bodies.step()
    return bodies


def test_no_tunnelling_through_a_small_ball_at_max_speed():
    bodies = _fast_at_small_ball()
    assert bodies.vel[1, 0] > 1.0, "the small ball must have been hit"
    assert bodies.pos[1, 0] > bodies.pos[0, 0]


def test_without_substeps_the_fast_body_passes_through_the_small_ball():
    bodies = _fast_at_small_ball(substeps=1)
    assert bodies.pos[0, 0] > bodies.pos[1, 0] and bodies.vel[1, 0] == 0.0


def test_substeps_keep_travel_per_substep_within_half_the_smallest_radius():
    for dt, vmax, r in [(0.05, 4.0, 0.25), (1 / 60, 10.0, 0.5), (0.1, 30.0, 0.05)]:
        n = arena.substeps_for(dt, vmax, r)
        assert vmax * dt / n <= arena.MAX_TRAVEL * r + 1e-12
        assert n == 1 or vmax * dt / (n - 1) > arena.MAX_TRAVEL * r


# --- the kernel against the plain reference -----------------------------------------------
@settings(max_examples=60, deadline=None)
@given(m1=st.floats(0.1, 10.0), m2=st.floats(0.1, 10.0), speed=st.floats(0.5, 8.0),
       offset=st.floats(-0.95, 0.95), angle=st.floats(0.0, 2.0 * math.pi),
       e=st.floats(0.0, 1.0), friction=st.floats(0.0, 2.0), fx=st.floats(-5.0, 5.0))
def test_two_body_step_matches_numpy_reference(m1, m2, speed, offset, angle, e, friction, fx):
    """Two bodies near a box wall and a wall segment, with drag and a force on one: every
    step of the kernel equals the reference's step from the same state."""
    bodies = _pair(m1, m2, 0.4, 0.3, speed, offset, angle, e)
    bodies.pos += np.array([-46.0, -46.0])  # near the box's corner
    bodies.box = (12.0, 12.0)
    walls = [(arena.WALL_SEGMENT, (0.0, 6.0, 8.0, 6.5, 0.05)),
             (arena.WALL_BOX, (7.0, 1.0, 8.0, 2.0, 0.0))]
    bodies.wall_kind = np.array([k for k, _ in walls], np.int8)
    bodies.wall = np.array([g for _, g in walls], float)
    bodies.friction[:] = friction
    bodies.force[0] = (fx, -fx)
    params = {"dt": 0.05, "substeps": bodies.params[arena.P_SUBSTEPS], "max_speed": 50.0,
              "wall_restitution": 1.0, "correction": 0.8}
    for _ in range(30):
        want_pos, want_vel = ref_world_step(
            params, bodies.pos, bodies.vel, bodies.radius, bodies.mass, bodies.restitution,
            bodies.friction, bodies.force, [(k, np.array(g)) for k, g in walls], bodies.box)
        bodies.step()
        assert np.allclose(bodies.pos, want_pos, rtol=0, atol=1e-12)
        assert np.allclose(bodies.vel, want_vel, rtol=0, atol=1e-12)


def test_cell_lists_find_the_same_contacts_as_all_pairs():
    """Sixty bodies (the broadphase grid is in use) against the all-pairs reference."""
    rng = np.random.default_rng(4)
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(10)), -1).reshape(-1, 2)
    pos = 1.0 + grid * 1.0 + rng.uniform(-0.1, 0.1, (60, 2))
    bodies = Bodies(pos, rng.normal(0, 2.0, (60, 2)), rng.uniform(0.3, 0.45, 60),
                    rng.uniform(0.5, 2.0, 60), 0.9, 0.2, box=(8.0, 11.0))
    assert bodies.pos.shape[0] >= arena.GRID_MIN_BODIES
    params = {"dt": 0.05, "substeps": bodies.params[arena.P_SUBSTEPS], "max_speed": 50.0,
              "wall_restitution": 1.0, "correction": 0.8}
    contacts = 0
    for _ in range(5):
        want_pos, want_vel = ref_world_step(
            params, bodies.pos, bodies.vel, bodies.radius, bodies.mass, bodies.restitution,
            bodies.friction, bodies.force, [], bodies.box)
        before = bodies.vel.copy()
        bodies.step()
        contacts += int((np.abs(bodies.vel - before * np.exp(-0.2 * 0.05)) > 1e-9).any(1).sum())
        # Only the summation order of a body's contacts differs: rounding.
        assert np.allclose(bodies.pos, want_pos, rtol=0, atol=1e-10)
        assert np.allclose(bodies.vel, want_vel, rtol=0, atol=1e-10)
    assert contacts > 10


def test_wide_step_is_bit_identical_to_the_serial_step():
    """The body-parallel kernel (few copies of many bodies) equals the per-copy one."""
    scene = Scene.from_text(MANY)
    session = Session(scene, n_copies=2, seed=3)
    a = session.lanes[0].state
    b = a.copy()
    a.noise[:] = b.noise[:] = 0.5
    for step in (arena.step_ensemble, arena.step_wide):
        s = a if step is arena.step_ensemble else b
        step(30, 3, session.params, s.pos, s.vel, s.radius, s.mass, s.restitution, s.friction,
             s.wall_kind, s.wall, s.box, s.wind, s.noise, s.t)
    assert state_digest(a) == state_digest(b)
    assert not np.array_equal(a.pos, session.initial_state().pos)


# --- perturbations: one path -----------------------------------------------------------------
def _event(state, kind, target, *values, params=None):
    p = np.zeros(arena.N_EVENT_PARAMS)
    p[:len(values)] = values
    params = arena.pack_params(0.05, 2, 4.0, 6.0, 1.0, 100, 0.8) if params is None else params
    arena.apply_event(0, arena.EVENT_TO_IDX[kind], target, p, params, state.pos, state.vel,
                      state.radius, state.mass, state.restitution, state.friction, state.goal,
                      state.box, state.wind, state.noise)


def test_each_event_kind_changes_what_it_names():
    state = Session(Scene.load("ball_push"), n_copies=1).initial_state()
    ball = 1
    mass = state.mass[0, ball]
    _event(state, "impulse", ball, 0.5, -0.25)
    assert state.vel[0, ball] == pytest.approx([0.5 / mass, -0.25 / mass])
    _event(state, "impulse", ball, 100.0, 0.0)  # clamped to max_speed
    assert np.hypot(*state.vel[0, ball]) == pytest.approx(4.0)
    _event(state, "teleport", ball, 3.0, 2.0)
    assert list(state.pos[0, ball]) == [3.0, 2.0] and not state.vel[0, ball].any()
    _event(state, "teleport", ball, -5.0, 99.0)  # kept inside the box
    assert list(state.pos[0, ball]) == [0.4, 6.0 - 0.4]
    _event(state, "drag", ball, 0.4 + 3.0, 5.6 - 2.25, 1.0)
    assert state.vel[0, ball] == pytest.approx([0.8, -0.6])
    _event(state, "wind", -1, 0.3, -0.1)
    assert list(state.wind[0]) == [0.3, -0.1]
    _event(state, "set_mass", ball, 2.0)
    _event(state, "set_friction", -1, 0.1)
    _event(state, "set_restitution", 0, 0.2)
    assert state.mass[0, ball] == 2.0 and np.all(state.friction[0] == 0.1)
    assert state.restitution[0, 0] == 0.2 and state.restitution[0, ball] == 0.8
    _event(state, "set_noise", -1, 0.7)
    assert state.noise[0] == 0.7
    _event(state, "move_goal", 1, 4.0, 3.0)
    assert list(state.goal[0, 1]) == pytest.approx([3.4, 2.0, 4.6, 4.0])


def test_events_apply_at_their_step_and_noise_is_deterministic():
    def run(kind, **params):
        session = Session(Scene.load("ball_push"), n_copies=4, seed=11,
                          agents=[[_null()]] * 3)
        if kind:
            session.perturb(kind, target=1 if kind == "impulse" else -1, params=params, step=5)
        before = [lane.state.copy() for lane in session.lanes]
        session.step(5)
        at_five = session.lanes[0].state.copy()
        session.step(20)
        return before, at_five, session.lanes[0].state

    _, quiet_five, quiet = run(None)
    _, kicked_five, kicked = run("impulse", jx=1.0, jy=0.0)
    assert state_digest(kicked_five) == state_digest(quiet_five)  # nothing before step 5
    assert np.all(kicked.pos[:, 1, 0] > quiet.pos[:, 1, 0])
    _, _, noisy_a = run("set_noise", std=2.0)
    _, _, noisy_b = run("set_noise", std=2.0)
    assert state_digest(noisy_a) == state_digest(noisy_b)
    moved = np.abs(noisy_a.pos - quiet.pos).max(axis=(1, 2))
    assert np.all(moved > 0.01) and len(set(np.round(noisy_a.pos[:, 1, 0], 9))) == 4


@pytest.mark.parametrize(("kind", "target", "params", "message"), [
    ("explode", -1, {}, "unknown perturbation"),
    ("impulse", 1, {"jx": 1.0}, "missing parameter(s) jy"),
    ("teleport", -1, {"x": 1.0, "y": 1.0}, "needs target"),
    ("set_mass", 0, {"mass": 0.0}, r"mass = 0.0 must be a finite number in \[1e-06, 1e\+06\] kg"),
    ("wind", -1, {"fx": "a lot", "fy": 0.0}, "fx = 'a lot' must be a finite number"),
])
def test_bad_perturbation_is_rejected_and_not_logged(kind, target, params, message):
    session = Session(Scene.load("ball_push"), n_copies=1)
    n_before = len(session.events)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        session.perturb(kind, target=target, params=params)
    assert len(session.events) == n_before


# --- determinism ---------------------------------------------------------------------------
MANY = """
name = "many"
world = "arena"
horizon = 40
base_objective = "goal:0"
[[lanes]]
agent = "random"
[distributions.default]
size = [16.0, 16.0]
goals = [{ name = "corner", box = [0.0, 0.0, 3.0, 3.0] }]
bodies = [
    { role = "pusher", radius = 0.3 },
    { role = "ball", radius = 0.3, speed = 2.0, count = 199 },
]
"""


def _null():
    from simulator.worlds import make_agent

    return make_agent("null", "goal:left", "arena")


def test_same_seed_same_states_and_different_seed_differs():
    def digest(seed):
        session = Session(Scene.load("ball_push"), seed=seed, n_copies=16)
        session.perturb("set_noise", params={"std": 0.5}, step=0)
        session.step(40)
        return [state_digest(lane.state) for lane in session.lanes]

    assert digest(4) == digest(4)
    assert digest(4) != digest(5)


def test_copy_zero_independent_of_ensemble_size():
    def first(n):
        session = Session(Scene.load("ball_push"), seed=2, n_copies=n)
        session.perturb("set_noise", params={"std": 0.5}, step=0)
        session.step(60)
        return [state_digest(lane.state.select(0)) for lane in session.lanes]

    assert first(1) == first(64)


DIGEST_CODE = """
import sys
sys.path.insert(0, "tests")
from helpers import state_digest
from simulator.scene import Scene
from simulator.session import Session
MANY = @MANY@
out = []
session = Session(Scene.load("ball_push"), seed=9, n_copies=48)
session.perturb("set_noise", params={"std": 0.5}, step=0)
session.step(80)
out += [state_digest(lane.state) for lane in session.lanes]
many = Session(Scene.from_text(MANY), seed=9, n_copies=1)  # one copy of 200: body-parallel
many.perturb("set_noise", params={"std": 0.5}, step=0)
many.run()
out.append(state_digest(many.lanes[0].state))
print("|".join(out))
"""


def test_independent_of_thread_count():
    digests = []
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        code = DIGEST_CODE.replace("@MANY@", repr(MANY))
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1] and digests[0].count("|") == 3


# --- scenes, outcomes, command line ------------------------------------------------------------
GOOD = """
name = "t"
world = "arena"
base_objective = "goal:left"
[[lanes]]
agent = "thermostat"
[distributions.default]
size = [8.0, 6.0]
goals = [{ name = "left", box = [0.0, 2.0, 1.0, 4.0] }]
bodies = [
    { role = "pusher", radius = 0.25, x = [5.0, 7.0], y = 3.0 },
    { role = "ball", radius = 0.4, x = 4.0, y = 3.0 },
]
"""

BAD_AT_LOAD = [
    (GOOD.replace("x = 4.0", "x = 7.9"), "bodies[1].x: must lie within [0.4, 7.6]"),
    (GOOD.replace('name = "left"', 'name = "Left"'), "goals[0].name"),
    (GOOD.replace("[0.0, 2.0, 1.0, 4.0]", "[0.0, 2.0, 9.0, 4.0]"), "goals[0].box: must lie"),
    (GOOD.replace('role = "ball"', 'role = "puck"'), "bodies[1].role"),
    (GOOD.replace('size = [8.0, 6.0]', 'size = [8.0, 6.0]\nwalls = [{ thickness = 1 }]'),
     "walls[0]: give exactly one of segment"),
    (GOOD + '[arena]\ndt = -1\n', "arena.dt"),
    (GOOD + '[[perturbations]]\nstep = 1\nkind = "impulse"\nparams = { jx = 1 }\n',
     "perturbations[0]: impulse: missing parameter(s) jy"),
    (GOOD.replace('base_objective = "goal:left"', 'base_objective = "left"'),
     "base_objective: objective 'left' must look like"),
]


@pytest.mark.parametrize(("text", "message"), BAD_AT_LOAD)
def test_bad_arena_scene_rejected_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SceneError) as info:
        Scene.load(path)
    line = str(info.value)
    assert line.startswith(str(path)) and message in line and "\n" not in line


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace('agent = "thermostat"', 'agent = "thermostat"\nobjective = "goal:right"'),
     "lanes[0]: objective goal:right: no goal named 'right'"),
    (GOOD.replace('agent = "thermostat"', 'agents = [{ agent = "null" }, { agent = "null" }]'),
     "lanes[0]: 2 agents but distribution 'default' has 1 pusher(s)"),
])
def test_lane_that_does_not_fit_the_arena_is_rejected(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    scene = Scene.load(path)
    with pytest.raises(SceneError) as info:
        Session(scene)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_outcomes_report_each_agent_and_the_fraction_held():
    session = Session(Scene.load("tug_of_war"), n_copies=1)
    traces = session.step(30)
    assert traces[0].action.shape == (30, 1, 2, 2)
    assert traces[0].reward.shape == traces[0].internals["rule"].shape == (30, 1, 2)
    session.run()
    outcomes = session.outcomes()
    assert [(o.lane, o.agent_index) for o in outcomes] == [(i, a) for i in range(3)
                                                            for a in range(2)]
    for out in outcomes:
        state = session.lanes[out.lane].state
        assert out.steps == session.horizon and out.status == "truncated"
        assert out.fraction_of_steps == state.held[0, out.agent_index] / session.horizon
        assert out.achieved_objective == ("in" in out.detail.split())
    left, right = outcomes[0], outcomes[1]
    assert not (left.achieved_objective and right.achieved_objective)


def test_driver_gives_what_the_metrics_need():
    scene = Scene.load("ball_push")
    session = Session(scene, n_copies=8)
    session.run(50)
    driver, state = session.driver, session.lanes[0].state
    objective = session.lanes[0].agent.objective
    points = driver.projection(scene, state)
    assert points.shape == (8, 2) and np.array_equal(points, state.pos[:, 1])
    lows, highs, n_bins = driver.bins(scene)
    assert list(highs) == [8.0, 6.0] and list(n_bins) == [16, 12] and list(lows) == [0, 0]
    score = driver.score(scene, state, objective)
    assert np.array_equal(driver.in_target(scene, state, objective), score == 0.0)
    assert np.all(score <= 0.0)


def test_arena_runs_headless_without_gui_packages():
    code = (
        "import sys\n"
        "from simulator.scene import Scene\n"
        "from simulator.session import Session\n"
        "Session(Scene.load('tug_of_war')).run(20)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'shiboken6', 'pygame'))\n"
        "print('BAD' if bad else 'OK', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().startswith("OK"), out.stdout


def test_cli_run_ball_push_prints_each_agent_and_the_fraction_held():
    out = subprocess.run([sys.executable, "-m", "simulator", "run", "ball_push", "--steps",
                          "200"], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = [line for line in out.stdout.splitlines() if "lane" in line]
    assert len(lines) == 3
    assert all("held" in line and "% of steps" in line for line in lines)
