"""Every perturbation parameter has a stated range; outside it the Session refuses the event
with one UserError naming kind, parameter and range, and logs nothing (issue 19, item 5)."""

from __future__ import annotations

import math

import pytest

from simulator.core.errors import UserError
from simulator.scene import Scene
from simulator.session import Session
from tests.helpers import state_digest

SCENES = {"maze": "walled_maze", "thermal": "thermostat", "arena": "ball_push"}


@pytest.fixture(scope="module")
def sessions() -> dict[str, Session]:
    return {world: Session(Scene.load(name)) for world, name in SCENES.items()}


def _refused(session: Session, kind: str, target: int = -1, params: dict | None = None,
             match: str | None = None, **kwargs) -> str:
    """Assert ``perturb`` raises one line and changes neither the log nor any state."""
    before = ([len(lane.events) for lane in session.lanes],
              [state_digest(lane.state) for lane in session.lanes])
    with pytest.raises(UserError) as err:
        session.perturb(kind, target, params, **kwargs)
    text = str(err.value)
    assert "\n" not in text and text.startswith(kind), text
    if match:
        assert match in text, text
    after = ([len(lane.events) for lane in session.lanes],
             [state_digest(lane.state) for lane in session.lanes])
    assert after == before
    return text


# A target >= 2**31 used to be logged, then every step raised OverflowError while packing.
@pytest.mark.parametrize("world, kind, params", [
    ("maze", "move_object", {"row": 1, "col": 1}),
    ("maze", "recolor_object", {"color": "blue"}),
    ("maze", "set_noise", {"p": 0.1}),
    ("maze", "teleport", {"row": 1, "col": 1}),
    ("thermal", "open_window", {}),
    ("thermal", "cool", {"row": 2, "col": 2}),
    ("arena", "impulse", {"jx": 1.0, "jy": 0.0}),
])
def test_a_target_beyond_int32_is_refused_and_the_session_keeps_stepping(
        sessions, world, kind, params):
    session = sessions[world]
    _refused(session, kind, 2**31, params, match="target = 2147483648 must be a whole number")
    _refused(session, kind, -2, params, match="target = -2")
    session.step(1, trace=False)


@pytest.mark.parametrize("kind, params, match", [
    ("set_noise", {"p": math.nan}, "p = nan must be a finite number in [0, 1]"),
    ("set_noise", {"p": 5}, "p = 5 must be a finite number in [0, 1]"),
    ("set_noise", {"p": math.inf}, "p = inf"),
    ("teleport", {"row": math.nan, "col": 1}, "row = nan must be a whole number"),
    ("teleport", {"row": 1e300, "col": 1}, "row = 1e+300"),
    ("teleport", {"row": 1.5, "col": 1}, "row = 1.5 must be a whole number"),
    ("teleport", {"row": -1, "col": 1}, "row = -1"),
    ("teleport", {"row": 1, "col": 200}, "outside the grid"),
    ("add_object", {"row": 1, "col": 1, "kind": 99, "color": "red"}, "kind = 99"),
    ("add_object", {"row": 1, "col": 1, "kind": "key", "color": -7}, "color = -7"),
    ("add_object", {"row": 1, "col": 1, "kind": "key", "color": "red", "reward": math.inf},
     "reward = inf"),
    ("draw_wall", {"row": True, "col": 1}, "row = True"),
])
def test_maze_parameters_out_of_range_are_refused(sessions, kind, params, match):
    _refused(sessions["maze"], kind, -1, params, match=match)


def test_maze_targets_beyond_the_object_slots_are_refused(sessions):
    session = sessions["maze"]
    n_slots = session.lanes[0].state.obj_kind.shape[1]
    _refused(session, "remove_object", n_slots, {}, match=f"no object slot {n_slots}")


@pytest.mark.parametrize("kind, target, params, match", [
    ("kick_room", -1, {"delta": 1e12}, "delta = 1000000000000.0 must be a finite number in"
                                       " [-50, 50] K"),
    ("kick_room", -1, {"delta": math.nan}, "delta = nan"),
    ("shift_outside", -1, {"delta": -math.inf}, "delta = -inf"),
    ("heat", -1, {"row": 2, "col": 2, "amount": 1e6}, "amount = 1000000.0"),
    ("heat", -1, {"row": 2, "col": 400}, "outside the room"),
    ("set_noise", -1, {"sigma": 100.0}, "sigma = 100.0"),
    ("open_window", 7, {}, "no window 7"),
])
def test_thermal_parameters_out_of_range_are_refused(sessions, kind, target, params, match):
    _refused(sessions["thermal"], kind, target, params, match=match)


@pytest.mark.parametrize("kind, target, params, match", [
    ("teleport", 0, {"x": math.nan, "y": 1.0}, "x = nan"),
    ("teleport", 0, {"x": 1e300, "y": 1.0}, "x = 1e+300"),
    ("teleport", 0, {"x": 500.0, "y": 1.0}, "outside the arena"),
    ("impulse", 0, {"jx": math.inf, "jy": 0.0}, "jx = inf"),
    ("impulse", 99, {"jx": 1.0, "jy": 0.0}, "no body 99"),
    ("move_goal", 9, {"x": 1.0, "y": 1.0}, "no goal 9"),
    ("set_restitution", -1, {"restitution": 2.0}, "restitution = 2.0"),
    ("set_noise", -1, {"std": -1.0}, "std = -1.0"),
    ("wind", -1, {"fx": 1e9, "fy": 0.0}, "fx = 1000000000.0"),
])
def test_arena_parameters_out_of_range_are_refused(sessions, kind, target, params, match):
    _refused(sessions["arena"], kind, target, params, match=match)


def test_steps_and_copies_beyond_int32_are_refused(sessions):
    session = sessions["maze"]
    _refused(session, "set_noise", -1, {"p": 0.1}, step=2**31, match="step = 2147483648")
    _refused(session, "set_noise", -1, {"p": 0.1}, copy=1, match="copy = 1")


def test_values_at_the_edges_of_their_ranges_are_accepted():
    session = Session(Scene.load("walled_maze"))
    height, width = session.lanes[0].state.cell.shape[1:]
    session.perturb("set_noise", params={"p": 1.0})
    session.perturb("teleport", params={"row": height - 1, "col": width - 1})
    session.perturb("add_object", params={"row": 1, "col": 1, "kind": 3, "color": 5})
    session.step(2, trace=False)
    thermal = Session(Scene.load("thermostat"))
    thermal.perturb("kick_room", params={"delta": -50.0})
    thermal.step(2, trace=False)


def test_a_scene_perturbation_off_the_grid_is_a_scene_error(tmp_path):
    text = Scene.load("walled_maze").text + (
        '\n[[perturbations]]\nstep = 1\nkind = "draw_wall"\nparams = { row = 300, col = 1 }\n')
    path = tmp_path / "off_grid.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=r"off_grid.toml: perturbations\[\d+\]: draw_wall: "):
        Session(Scene.load(path))
