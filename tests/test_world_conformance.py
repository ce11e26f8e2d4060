"""Every registered world kind through the contract the Session, recorder and renderer rely
on (as Gymnasium's env checker runs every registered env through its API).

For each kind — the shipped ones in :data:`simulator.worlds.WORLDS` and the test-only tiny
world (tests/tinyworld/, registered below by one line) — on a small scene of that kind: the
scene loads; a Session starts from the initial distribution and steps; every event kind
the driver declares encodes, decodes back to the same parameters, fits a state and is
applied through ``Session.perturb``; a bad event is refused with one clear line; runs are
bit-identical by seed, and copy 0 by ensemble size and numba thread count; the renderer
draws an RGB frame of the asked size headless; ``steersim run``, ``record``, ``inspect``
and ``verify`` work on it and every episode verifies bit for bit; the reel (presenter,
video export) draws its frames.

Adding a world kind adds it here without editing this file (docs/adding-a-world.md).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import state_digest

from simulator.cli import main
from simulator.core.driver import StepTrace
from simulator.core.errors import UserError
from simulator.core.events import EventTable
from simulator.core.state import STATUS_RUNNING
from simulator.recording import Recording
from simulator.reel import Reel
from simulator.render import locate as locate_pixel
from simulator.render import render_ghosts, render_world
from simulator.scene import SCENES_DIR, Scene
from simulator.session import Session
from simulator.worlds import get_driver, register, unregister, world, world_kinds

ROOT = Path(__file__).resolve().parents[1]
TINY = "tiny"
KINDS = (*world_kinds(), TINY)
HORIZON = 10  # steps of every small scene: the contract, not the physics, is under test
N_COPIES = 4  # enough copies for two numba threads to split


@pytest.fixture(scope="module", autouse=True)
def _tiny_world() -> Iterator[None]:
    register(TINY, "tinyworld:WORLD")  # the one registry line adding the tiny world
    yield
    unregister(TINY)


def small_scene_text(kind: str) -> str:
    """A shipped scene of ``kind`` (the first by name), else the ``EXAMPLE_SCENE`` text of
    the module holding the world's scene schema (its ``distribution`` entry point), cut to
    HORIZON steps."""
    shipped = [p for p in sorted(SCENES_DIR.glob("*.toml"))
               if tomllib.loads(p.read_text(encoding="utf-8")).get("world") == kind]
    if shipped:
        text = shipped[0].read_text(encoding="utf-8")
    else:
        schema = world(kind).distribution.partition(":")[0]
        text = world(kind).load(f"{schema}:EXAMPLE_SCENE")  # AttributeError: declare one
    text, n = re.subn(r"(?m)^horizon\s*=\s*\d+", f"horizon = {HORIZON}", text)
    assert n == 1, f"{kind}: the scene names no top-level horizon"
    return text


@pytest.fixture(scope="module")
def scenes(_tiny_world: None) -> dict[str, Scene]:
    return {}


@pytest.fixture(params=KINDS)
def scene(request: pytest.FixtureRequest, scenes: dict[str, Scene]) -> Scene:
    kind = request.param
    if kind not in scenes:
        scenes[kind] = Scene.from_text(small_scene_text(kind))
    return scenes[kind]


def event_table(kind: str) -> EventTable:
    events = getattr(get_driver(kind), "events", None)
    assert isinstance(events, EventTable), f"{kind}: the driver declares no EventTable"
    return events


def valid_params(table: EventTable, kind: str, where: str = "low") -> dict[str, float]:
    """Named parameters for event ``kind`` at each range's low end, middle or high end
    (whole numbers for integer parameters)."""
    out = {}
    for name in table.kinds[kind].names:
        rng = table.ranges[name]
        value = {"low": rng.low, "mid": 0.5 * (rng.low + rng.high), "high": rng.high}[where]
        out[name] = float(math.floor(value)) if rng.integer else value
    return out


def target_for(table: EventTable, kind: str) -> int:
    """0 where the kind names a target (object slot, window, body, goal), else -1."""
    return 0 if table.kinds[kind].target else -1


def all_events(table: EventTable) -> list[tuple[str, int, dict[str, float]]]:
    return [(k, target_for(table, k), valid_params(table, k)) for k in table.event_kinds]


def log_every_event(session: Session) -> None:
    """One event of every kind, at steps 1, 2, ... (the lows of every range)."""
    for i, (kind, target, params) in enumerate(all_events(event_table(session.scene.world))):
        session.perturb(kind, target, params, step=1 + i % (HORIZON - 2))


def with_every_event(text: str, kind: str) -> str:
    """The scene ``text`` with one scheduled perturbation of every event kind appended (the
    lows of every range), so a recording logs and replays them all."""
    tables = []
    for i, (event, target, params) in enumerate(all_events(event_table(kind))):
        inline = ", ".join(f"{name} = {value!r}" for name, value in params.items())
        tables.append(f"[[perturbations]]\nstep = {1 + i % (HORIZON - 2)}\n"
                      f"kind = {event!r}\ntarget = {target}\nparams = {{ {inline} }}\n")
    return text.rstrip() + "\n\n" + "\n".join(tables)


def digests(session: Session) -> list[str]:
    return [state_digest(lane.state) for lane in session.lanes]


# --- scene, reset, step --------------------------------------------------------------------
def test_scene_loads(scene: Scene) -> None:
    assert scene.world in KINDS and scene.model.horizon == HORIZON
    assert scene.distributions and scene.default_distribution in scene.distributions
    again = Scene.from_text(scene.text)
    assert again.content_hash == scene.content_hash
    assert len(scene.lane_agents()) == len(scene.model.lanes) >= 1


def test_reset_draws_the_distribution_and_step_advances(scene: Scene) -> None:
    session = Session(scene, n_copies=N_COPIES)
    driver = session.driver
    assert driver.kind == scene.world and session.step_index == 0
    start = session.lanes[0].state
    assert isinstance(start, driver.state_type)
    assert start.n_copies == N_COPIES
    assert all(arr.shape[0] == N_COPIES for arr in start.as_dict().values())
    assert np.all(start.t == 0) and np.all(start.status == STATUS_RUNNING)
    initial = digests(session)
    assert len(set(initial)) == 1  # every lane starts from the same draw: a fair race

    traces = session.step(3)
    assert session.step_index == 3
    for lane, trace in zip(session.lanes, traces, strict=True):
        assert isinstance(trace, StepTrace)
        assert trace.action.shape[:3] == (3, N_COPIES, len(lane.agents))
        assert trace.reward.shape == (3, N_COPIES, len(lane.agents))
        assert all(v.shape[:3] == (3, N_COPIES, len(lane.agents))
                   for v in trace.internals.values())
        assert np.all(lane.state.t[lane.state.status == STATUS_RUNNING] == 3)
    outcomes = session.outcomes()
    assert len(outcomes) == sum(len(lane.agents) for lane in session.lanes)
    assert {o.status for o in outcomes} <= {"running", "terminated", "truncated"}

    session.run()
    assert session.done and session.step_index == HORIZON
    session.reset()
    assert digests(session) == initial


# --- events --------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["low", "mid", "high"])
def test_every_event_kind_decodes_to_what_was_encoded(scene: Scene, where: str) -> None:
    driver = get_driver(scene.world)
    table = event_table(scene.world)
    assert tuple(driver.event_kinds) == table.event_kinds and table.event_kinds
    for kind in driver.event_kinds:
        params = valid_params(table, kind, where)
        vec = driver.encode_event(kind, target_for(table, kind), params)
        assert len(vec) == driver.n_event_params
        assert all(isinstance(v, float) for v in vec)
        assert driver.decode_event(kind, vec) == params, kind
        assert driver.decode_event(kind, np.array(vec)) == params, kind


def test_every_event_kind_applies_through_the_session(scene: Scene) -> None:
    table = event_table(scene.world)
    for kind, target, params in all_events(table):
        session = Session(scene, n_copies=2)
        vec = session.driver.encode_event(kind, target, params)
        session.driver.check_event(session.lanes[0].state, kind, target, vec)
        where = session.driver.event_where(session.lanes[0].state, 0, kind, target, vec)
        assert where is None or all(math.isfinite(float(x)) for x in where), kind
        logged = session.perturb(kind, target, params, step=1)
        assert len(logged) == len(session.lanes)
        assert all(ev.kind == kind and ev.params == vec for ev in logged)
        session.step(3)
        assert session.step_index == 3, kind
    session = Session(scene, n_copies=2)
    log_every_event(session)
    session.run()
    assert session.done


def test_a_bad_event_is_refused_in_one_line(scene: Scene) -> None:
    session = Session(scene, n_copies=1)
    n_logged = len(session.events)
    table = event_table(scene.world)
    with_params = [k for k in table.event_kinds if table.kinds[k].names]
    assert with_params, f"{scene.world}: no event kind takes a parameter"
    kind = with_params[0]
    name = table.kinds[kind].names[0]
    good = valid_params(table, kind)
    rng = table.ranges[name]
    cases = {
        "unknown kind": ("no_such_event", -1, {}, "no_such_event"),
        "unknown param": (kind, target_for(table, kind), {**good, "bogus": 1.0}, "bogus"),
        "too high": (kind, target_for(table, kind), {**good, name: rng.high + 1.0}, name),
        "too low": (kind, target_for(table, kind), {**good, name: rng.low - 1.0}, name),
        "NaN": (kind, target_for(table, kind), {**good, name: float("nan")}, name),
    }
    for case, (bad_kind, target, params, named) in cases.items():
        with pytest.raises(UserError) as info:
            session.perturb(bad_kind, target, params)
        message = str(info.value)
        assert "\n" not in message and named in message, (case, message)
    assert len(session.events) == n_logged  # nothing was logged


# --- determinism ---------------------------------------------------------------------------
def _run_with_events(scene: Scene, seed: int, n_copies: int = N_COPIES) -> list[str]:
    """Every lane's digest at the start, after the first step (before any event: an event
    such as a teleport can wipe out what the draw made) and at the end."""
    session = Session(scene, seed=seed, n_copies=n_copies)
    log_every_event(session)
    out = digests(session)
    session.step(1)
    out += digests(session)
    session.step(3)
    session.step(HORIZON)
    return out + digests(session)


def test_same_seed_and_events_give_bit_identical_states(scene: Scene) -> None:
    assert _run_with_events(scene, 11) == _run_with_events(scene, 11)


def test_a_copy_does_not_depend_on_the_ensemble_size(scene: Scene) -> None:
    alone = _run_with_events(scene, 9, n_copies=1)
    many = Session(scene, seed=9, n_copies=N_COPIES)
    log_every_event(many)
    copy0 = [state_digest(lane.state.select(0)) for lane in many.lanes]
    many.step(1)
    copy0 += [state_digest(lane.state.select(0)) for lane in many.lanes]
    many.run()
    copy0 += [state_digest(lane.state.select(0)) for lane in many.lanes]
    assert alone == copy0


def test_states_do_not_depend_on_thread_count(scene: Scene) -> None:
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba runs one thread here")
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run_with_events(scene, 5)
        numba.set_num_threads(2)
        two = _run_with_events(scene, 5)
    finally:
        numba.set_num_threads(previous)
    assert one == two


# --- render --------------------------------------------------------------------------------
def test_renders_headless_at_the_asked_size(scene: Scene) -> None:
    session = Session(scene, n_copies=N_COPIES)
    session.step(2)
    state = session.lanes[0].state
    frame = render_world(scene.world, scene, state, copy=1, size=(120, 80))
    assert frame.shape == (80, 120, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 1  # something was drawn
    for theme in ("dark", "projector"):
        assert render_world(scene.world, scene, state, size=(33, 21), theme=theme).shape == (
            21, 33, 3)
    ghosts = render_ghosts(scene.world, scene, state, size=(120, 80))
    assert ghosts.shape == (80, 120, 4) and ghosts.dtype == np.uint8
    for x, y in ((60, 40), (0, 0), (-5, 500)):
        hit = locate_pixel(scene.world, scene, state, (120, 80), x, y)
        assert hit is None or isinstance(hit, tuple)


# --- the command line: run, record, inspect, verify ---------------------------------------
def _scene_file(scene: Scene, tmp_path: Any) -> Any:
    path = tmp_path / f"{scene.world}.toml"
    path.write_text(with_every_event(scene.text, scene.world), encoding="utf-8")
    return path


def test_run_reports_every_agent(scene: Scene, tmp_path: Any) -> None:
    path = _scene_file(scene, tmp_path)
    n_agents = sum(len(lane.members()) for lane in scene.model.lanes)
    text = CliRunner().invoke(main, ["run", str(path), "--ensemble", "2"])
    assert text.exit_code == 0, text.output
    assert text.output.count("  lane ") == n_agents
    as_json = CliRunner().invoke(main, ["run", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["world"] == scene.world and len(report["lanes"]) == n_agents


def test_record_then_verify_matches_bit_for_bit(scene: Scene, tmp_path: Any) -> None:
    path = _scene_file(scene, tmp_path)
    out = tmp_path / f"{scene.world}.h5"
    runner = CliRunner()
    recorded = runner.invoke(main, ["record", str(path), "--episodes", "2", "--ensemble", "2",
                                    "-o", str(out)])
    assert recorded.exit_code == 0, recorded.output
    inspected = runner.invoke(main, ["inspect", str(out), "--json"])
    assert inspected.exit_code == 0, inspected.output
    n_episodes = 2 * len(scene.model.lanes)
    assert len(json.loads(inspected.output)["episodes"]) == n_episodes
    with Recording.open(out) as rec:  # every event kind was logged, and is replayed below
        logged = {ev.kind for ev in rec[0].events()}
    assert logged == set(event_table(scene.world).event_kinds)
    verified = runner.invoke(main, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    assert f"all {n_episodes} episodes match bit for bit" in verified.output
    with Reel.open(out) as reel:  # the presenter's and video export's frames, with flashes
        for t in range(HORIZON + 1):
            assert reel.frame(t, (320, 180)).shape == (180, 320, 3)
            assert all(f.where is None or all(map(math.isfinite, f.where))
                       for lane in range(len(reel.lanes)) for f in reel.flashes(lane, t))


# --- registering a world ---------------------------------------------------------------------
_FRESH = """
from simulator.worlds import register  # a plugin's first line: no import cycle may stop it
register("tiny", "tinyworld:WORLD")
from simulator.scene import Scene
from simulator.session import Session
from tinyworld.scene import EXAMPLE_SCENE
session = Session(Scene.from_text(EXAMPLE_SCENE), n_copies=2)
session.run()
print(session.done, session.lanes[0].state.status.tolist())
"""


def test_a_world_registers_from_a_fresh_interpreter() -> None:
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [tests, str(ROOT), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("True")


# --- the tiny world itself: scripted trajectories (it is a world, not a stub) ---------------
_WALK = """
name = "walk"
world = "tiny"
horizon = 10
base_objective = "reach:goal"
[[lanes]]
agent = "thermostat"
[distributions.default]
length = 8
start = [0, 0]
goal = 7
"""


@pytest.mark.parametrize(("goal_move", "actions", "steps"), [
    (None, [2] * 7, 7),  # right seven times, onto the goal
    (3, [2, 2, 2, 1], 4),  # the goal moves to cell 2 at step 3: back one step
])
def test_tiny_thermostat_walks_to_the_goal(_tiny_world: None, goal_move: int | None,
                                           actions: list[int], steps: int) -> None:
    scene = Scene.from_text(_WALK)
    session = Session(scene)
    if goal_move is not None:
        session.perturb("move_goal", params={"pos": 2}, step=goal_move)
    trace = session.step(HORIZON)[0]
    state = session.lanes[0].state
    assert trace.action[:steps, 0, 0].tolist() == actions
    assert state.t[0] == steps and state.status[0] == 1 and state.pos[0] == state.goal[0]
    assert state.ret[0] == pytest.approx(1.0 + steps * scene.model.rewards.step)
