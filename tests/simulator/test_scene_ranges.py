"""Every float in a scene is finite and inside a stated range (issue 19, item 5: a NaN room
temperature hung a run; an arena of 1e300 m, an infinite thrust or a body of radius 1e-12
ran for 90 s without an answer; ``dt = inf`` said "use dt <= nan s")."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.scene import Scene, SceneError

THERMOSTAT = Scene.load("thermostat").text
BALL_PUSH = Scene.load("ball_push").text
WALLED_MAZE = Scene.load("walled_maze").text


def _sub(text: str, pattern: str, new: str) -> str:
    out, n = re.subn(pattern, new, text, count=1, flags=re.MULTILINE)
    assert n == 1, pattern
    return out


ROOM = r"^room = \[12\.0, 17\.0\]"
FINITE = "Input should be a finite number"
# (scene text, pattern, replacement, what the error says)
EDITS = [
    (THERMOSTAT, ROOM, "room = [nan, 17.0]", f"distributions.cold.room[0]: {FINITE}"),
    (THERMOSTAT, ROOM, "room = [12.0, inf]", f"distributions.cold.room[1]: {FINITE}"),
    (THERMOSTAT, ROOM, "room = [12.0, 5000.0]",
     "distributions.cold.room[1]: Input should be less than or equal to 200"),
    (THERMOSTAT, r"^dt = 1\.0", "dt = inf", f"thermal.dt: {FINITE}"),
    (THERMOSTAT, r"^dt = 1\.0", "dt = nan", f"thermal.dt: {FINITE}"),
    (THERMOSTAT, r"^params = \{ delta = -3\.0 \}", "params = { delta = nan }",
     "perturbations[2]"),
    (BALL_PUSH, r"^size = \[8\.0, 6\.0\]", "size = [1e300, 6.0]",
     "distributions.train.size: width and height must be positive and at most 1000 m"),
    (BALL_PUSH, r"^thrust = 6\.0", "thrust = inf", f"arena.thrust: {FINITE}"),
    (BALL_PUSH, r"radius = 0\.25", "radius = 1e-12",
     "distributions.train.bodies[0].radius: Input should be greater than or equal to 0.01"),
    (BALL_PUSH, r"mass = 0\.5", "mass = nan", f"bodies[1].mass: {FINITE}"),
    (WALLED_MAZE, r"budget = 2000", "budget = nan",
     "search agent: budget = nan must be a finite number"),
    (WALLED_MAZE, r"^step = -0\.01", "step = -inf", f"rewards.step: {FINITE}"),
]
FAST_TINY_BODY = _sub(_sub(_sub(BALL_PUSH, r"^max_speed = 4\.0", "max_speed = 1000.0"),
                           r"^dt = 0\.05", "dt = 1.0"), r"radius = 0\.25", "radius = 0.01")
CASES = [(_sub(text, pattern, new), message) for text, pattern, new, message in EDITS] + [
    (FAST_TINY_BODY, "arena.max_speed: 1000 m/s over dt 1 s needs 200,000 substeps")]


@pytest.mark.parametrize("text, message", CASES)
def test_non_finite_or_out_of_range_scene_floats_are_one_line_scene_errors(text, message):
    with pytest.raises(SceneError) as err:
        Scene.from_text(text)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_cli_on_a_nan_room_exits_2_with_one_line_and_runs_nothing(tmp_path):
    path = tmp_path / "nan_room.toml"
    path.write_text(CASES[0][0])
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "room[0]" in lines[0], result.output


def test_a_big_arena_of_many_small_bodies_is_refused_before_allocating_its_grid():
    text = _sub(BALL_PUSH, r"^size = \[8\.0, 6\.0\]", "size = [1000.0, 1000.0]")
    text = _sub(text, r"radius = 0\.25,", "radius = 0.01,")
    text = _sub(text, r"radius = 0\.4, mass = 0\.5,", "radius = 0.01, mass = 0.5, count = 20,")
    text = _sub(text, r"^max_speed = 4\.0", "max_speed = 0.1")
    with pytest.raises(SceneError, match="broadphase cells"):
        Scene.from_text(text)
