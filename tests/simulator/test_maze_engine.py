"""The maze kernels against a plain reference, scripted episodes, events and determinism."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import state_digest
from hypothesis import given, settings
from hypothesis import strategies as st
from maze_reference import ref_random_rollout, ref_transition

from simulator.core.state import status_name
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds import make_agent
from simulator.worlds.maze import kernels as maze

ROOT = Path(__file__).resolve().parents[2]
PARAMS = np.array([-0.01, -1.0, 50.0])


# --- the transition rule vs the reference --------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(st.integers(0, 2), min_size=25, max_size=25),
    row=st.integers(0, 4),
    col=st.integers(0, 4),
    action=st.integers(0, 4),
    obj=st.tuples(st.integers(-1, 3), st.integers(0, 4), st.integers(0, 4)),
    reward=st.floats(-5, 5),
)
def test_transition_matches_reference(cells, row, col, action, obj, reward):
    cell = np.array(cells, np.int8).reshape(5, 5)
    cell[row, col] = maze.CELL_FLOOR  # the agent stands on floor
    obj_kind = np.array([obj[0], -1], np.int8)
    obj_pos = np.array([[obj[1], obj[2]], [0, 0]], np.int32)
    obj_reward = np.array([reward, 0.0])
    got = maze.transition(cell, obj_kind, obj_pos, obj_reward, row, col, action, PARAMS)
    want = ref_transition(cell, obj_kind, obj_pos, obj_reward, row, col, action, -0.01, -1.0)
    assert tuple(got[:2]) == want[:2]
    assert got[2] == pytest.approx(want[2])
    assert tuple(got[3:]) == want[3:]


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_ensemble_rollout_matches_reference(noise):
    """A random agent in generated mazes, with slip noise: every copy's end state equals the
    reference re-run of that copy from the same counters."""
    scene = Scene.load("red_door")
    agent = make_agent("random", "reach:door")
    session = Session(scene, seed=3, n_copies=64, agents=[[agent]])
    session.perturb("set_noise", params={"p": noise}, step=0)
    start = {k: v.copy() for k, v in session.lanes[0].state.as_dict().items()}
    start["noise"][:] = noise
    session.run()
    end = session.lanes[0].state
    for e in range(64):
        ref = ref_random_rollout(start, e, 3, 200, session.params)
        assert (end.agent_pos[e, 0], end.agent_pos[e, 1]) == (ref["row"], ref["col"]), e
        assert end.t[e] == ref["t"] and end.status[e] == ref["status"], e
        assert end.reached[e] == ref["reached"] and end.ret[e] == pytest.approx(ref["ret"]), e


# --- scripted episodes with expected returns (ai-safety-gridworlds style) -------------
LAVA_STRIP = """
name = "lava_strip"
world = "maze"
horizon = 30
base_objective = "reach:gem"
[[lanes]]
agent = "null"
[distributions.default]
map = '''
#######
#A.~.G#
#.....#
#.....#
#######
'''
legend = { G = { kind = "gem", color = "blue", reward = 1.0 } }
"""


def play(scene_name: str, actions: str) -> tuple[float, str, int]:
    """Play an action string in copy 0 through the engine's transition; (return, status, t)."""
    scene = Scene.from_text(LAVA_STRIP) if scene_name == "lava_strip" else Scene.load(scene_name)
    session = Session(scene)
    st_ = session.lanes[0].state
    row, col = (int(v) for v in st_.agent_pos[0])
    ret, t, status = 0.0, 0, "running"
    for ch in actions:
        row, col, reward, terminated, _slot = maze.transition(
            st_.cell[0], st_.obj_kind[0], st_.obj_pos[0], st_.obj_reward[0], row, col,
            maze.ACTION_CHARS.index(ch), session.params)
        ret += reward
        t += 1
        status, _ = maze.episode_status(terminated, _slot, t, session.params)
        status = status_name(status)
        if status != "running":
            break
    return round(ret, 6), status, t


@pytest.mark.parametrize(
    ("scene", "actions", "expected_return", "expected_status"),
    [
        # walled_maze: A at (5,5), goal at (1,5), a wall on row 3 from col 2 to col 8.
        ("walled_maze", "uuuu", -0.04, "running"),  # pushes into the wall: no progress
        ("walled_maze", "lllluuuurrrr", 0.88, "terminated"),  # around the left end
        ("walled_maze", "rrrruuuullll", 0.88, "terminated"),  # around the right end
        ("walled_maze", "llluuuuurrr", -0.11, "running"),  # one column short of the gap
        ("walled_maze", "dddd", -0.04, "running"),  # the border blocks too
        ("lava_strip", "rr", -1.02, "terminated"),  # second step lands in lava
        ("lava_strip", "ddrrrruu", 0.92, "terminated"),  # around the lava to the gem (+1)
        ("lava_strip", "ddrrrruu" "llll", 0.92, "terminated"),  # nothing after the end
    ],
)
def test_scripted_returns(scene, actions, expected_return, expected_status):
    ret, status, _ = play(scene, actions)
    assert (ret, status) == (pytest.approx(expected_return), expected_status)


def test_scripted_truncation_at_horizon():
    ret, status, t = play("walled_maze", "s" * 100)
    assert (status, t) == ("truncated", 60)
    assert ret == pytest.approx(-0.6)


# --- perturbations -------------------------------------------------------------------
def test_events_apply_at_their_step_through_one_path():
    session = Session(Scene.load("walled_maze"), n_copies=3,
                      agents=[[make_agent("null", "reach:goal")]])
    session.perturb("teleport", params={"row": 2, "col": 5}, step=2)
    session.perturb("draw_wall", params={"row": 2, "col": 4}, step=1, copy=1)
    session.perturb("recolor_object", target=0, params={"color": "red"}, step=3)
    session.step(2)
    st_ = session.lanes[0].state
    assert tuple(st_.agent_pos[0]) == (5, 5)  # not yet: teleports at the start of step 2
    assert st_.cell[1, 2, 4] == maze.CELL_WALL and st_.cell[0, 2, 4] == maze.CELL_FLOOR
    session.step(2)
    assert tuple(st_.agent_pos[0]) == (2, 5) and tuple(st_.agent_pos[2]) == (2, 5)
    assert set(st_.obj_color[:, 0]) == {maze.COLOR_TO_IDX["red"]}


def test_bad_perturbation_is_rejected_and_not_logged():
    from simulator.core.errors import UserError

    session = Session(Scene.load("walled_maze"))
    with pytest.raises(UserError, match="teleport: missing parameter"):
        session.perturb("teleport", params={"row": 1})
    with pytest.raises(UserError, match="unknown perturbation"):
        session.perturb("explode")
    assert [ev for ev in session.events if ev.source == "user"] == []


# --- determinism -----------------------------------------------------------------------
def _run_digest(scene: str, n_copies: int, seed: int, copy: int | None = None) -> str:
    session = Session(Scene.load(scene), seed=seed, n_copies=n_copies)
    session.perturb("set_noise", params={"p": 0.2}, step=1)
    session.perturb("draw_wall", params={"row": 3, "col": 3}, step=4)
    session.run()
    state = session.lanes[1].state
    return state_digest(state if copy is None else state.select(copy))


def test_same_seed_same_states_and_different_seed_differs():
    assert _run_digest("red_door", 200, 11) == _run_digest("red_door", 200, 11)
    assert _run_digest("red_door", 200, 11) != _run_digest("red_door", 200, 12)


def test_copy_zero_independent_of_ensemble_size():
    assert _run_digest("red_door", 1, 5, copy=0) == _run_digest("red_door", 1000, 5, copy=0)


def test_independent_of_thread_count():
    code = ("import sys; sys.path.insert(0, 'tests');"
            "from digest_entry import digest; print(digest())")
    digests = set()
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1


# --- headless --------------------------------------------------------------------------
def test_engine_imports_no_gui_and_opens_no_display():
    code = (
        "import sys\n"
        "import simulator, agents\n"
        "import simulator.session, simulator.metrics, simulator.scene\n"
        "import simulator.worlds.maze.driver\n"
        "from simulator.scene import Scene\n"
        "from simulator.session import Session\n"
        "Session(Scene.load('walled_maze')).run()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'shiboken6', 'pygame'))\n"
        "print('BAD' if bad else 'OK', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().startswith("OK"), out.stdout
