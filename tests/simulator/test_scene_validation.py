"""Bad scene files are rejected with one line naming the file and field, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.scene import Scene, SceneError, shipped_scenes

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
name = "t"
world = "maze"
base_objective = "reach:goal"
[[lanes]]
agent = "search"
[distributions.default]
map = '''
#####
#A.G#
#####
'''
legend = { G = { kind = "goal", color = "green" } }
"""

BAD = [
    ("not toml [", "not valid TOML"),
    (GOOD.replace('agent = "search"', 'agent = "oracle"'), "lanes[0].agent: unknown agent"),
    (GOOD.replace('world = "maze"', 'world = "ocean"'), "world: unknown world 'ocean'"),
    (GOOD.replace('base_objective = "reach:goal"', 'base_objective = "reach:moon"'),
     "base_objective: objective 'reach:moon': unknown word 'moon'"),
    (GOOD.replace("#A.G#", "#A.G"), "distributions.default.map: every row must have"),
    (GOOD.replace("#A.G#", "#A.X#"), "unknown character 'X'"),
    (GOOD.replace("#A.G#", "#..G#"), "no agent 'A'"),
    (GOOD.replace('color = "green"', 'color = "mauve"'), "unknown colour 'mauve'"),
    (GOOD.replace('agent = "search"', 'agent = "search"\nparams = { budget = 0 }'),
     "lanes[0]: search agent: budget and depth must be at least 1"),
    (GOOD + "horizon = -3\n", "horizon"),
    (GOOD.replace('name = "t"', 'name = "t"\ncolour = "x"'), "colour: Extra inputs"),
    (GOOD + '[[perturbations]]\nstep = 2\nkind = "explode"\n', "perturbations[0].kind"),
    (GOOD.replace("map = '''", "generator = \"maze\"\nsize = [8, 9]\nagent = \"random\"\n"
                  "map = '''"), "size: rows and cols must be odd"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_scene_rejected_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SceneError) as info:
        Scene.load(path)
    line = str(info.value)
    assert line.startswith(str(path)) and message in line and "\n" not in line


def test_good_scene_loads():
    scene = Scene.from_text(GOOD)
    assert scene.layouts["default"].shape == (3, 5)


def test_every_shipped_scene_is_valid():
    assert {"red_door", "walled_maze", "open_room"} <= set(shipped_scenes())
    for name in shipped_scenes():
        Scene.load(name)


@pytest.mark.parametrize("case", ["bad_field", "missing_file"])
def test_cli_bad_scene_exit_2_one_line_no_traceback(tmp_path, case):
    if case == "bad_field":
        path = tmp_path / "bad.toml"
        path.write_text(BAD[1][0])
    else:
        path = tmp_path / "nope.toml"
    out = subprocess.run([sys.executable, "-m", "simulator", "run", str(path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], out.stderr
    assert "Traceback" not in out.stderr
