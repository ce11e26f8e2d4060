"""The misgeneralization study: checked on agents whose preference is known, on a scene
with no confound, against the Session's own runs; trained agents in lanes, recordings and
the command line."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ALL_COLOURS, door_scene

from agents.store import build_agent, read_agents_file
from simulator import misgen
from simulator.cli import main
from simulator.recording import Recording, record, verify
from simulator.scene import SCENES_DIR, Scene
from simulator.session import Session
from simulator.training import TrainRequest, save, train_scene
from simulator.worlds import make_agent


@pytest.fixture(scope="module")
def red_door():
    return Scene.load("red_door")


def test_wilson_interval():
    lo, hi = misgen.wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert misgen.wilson(0, 10)[0] == 0.0 and misgen.wilson(10, 10)[1] == pytest.approx(1.0)


def test_told_agents_score_where_their_objective_says(red_door):
    episodes = misgen.draw_episodes(red_door, "deploy", 200, 1)
    red = misgen.measure(red_door, make_agent("search", "reach:red"), episodes)
    door = misgen.measure(red_door, make_agent("search", "reach:door"), episodes)
    assert red.fraction("proxy") > 0.95 and red.fraction("base") < 0.05
    assert door.fraction("base") > 0.95
    assert 0.9 < door.efficiency <= 1.0  # the search takes (near) shortest paths
    null = misgen.measure(red_door, make_agent("null", "reach:door"), episodes)
    assert null.fraction("nothing") == 1.0 and null.capability == 0.0


def test_study_matches_the_sessions_own_copies(red_door):
    agent = red_door.lane_agent_group(0)[0]  # the shipped trained REINFORCE agent
    assert agent.name == "policy" and agent.trained
    episodes = misgen.draw_episodes(red_door, "deploy", 64, 5)
    result = misgen.measure(red_door, agent, episodes)
    session = Session(red_door, seed=5, distribution="deploy", n_copies=64, agents=[[agent]])
    session.run()
    outcomes = misgen.classify(red_door, episodes, session.lanes[0].state)
    assert [int(np.sum(outcomes == i)) for i in range(4)] == [
        result.counts[o] for o in misgen.OUTCOMES]


def test_without_a_confound_trained_agents_reach_the_door():
    scene = door_scene("varied_door", ALL_COLOURS, ALL_COLOURS, seed=3)
    trained = train_scene(scene, TrainRequest(("reinforce", "bc"), 3, 0, None))
    episodes = misgen.draw_episodes(scene, "deploy", 300, 2)
    for tr in trained:
        for i in range(3):
            spec = make_agent("null", "reach:door")
            spec = type(spec)("policy", spec.objective, tr.params[i], world="maze")
            r = misgen.measure(scene, spec, episodes)
            assert r.fraction("base") >= 0.9, (tr.learner, i, r.counts)


def test_a_trained_agents_actions_never_read_the_objective(red_door):
    ends = []
    for objective in ("reach:door", "reach:red", "reach:green_key"):
        agents = [[build_agent(lane.agent, objective, "maze", red_door.content_hash,
                               str(SCENES_DIR)) for lane in red_door.model.lanes[:3]]]
        session = Session(red_door, distribution="deploy", n_copies=32,
                          agents=[[a] for a in agents[0]])
        session.run()
        ends.append([lane.state.as_dict() for lane in session.lanes])
    for other in ends[1:]:
        for a, b in zip(ends[0], other, strict=True):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def test_recording_with_trained_agents_verifies(red_door, tmp_path):
    path = tmp_path / "trained.h5"
    record(red_door, path, episodes=1, distribution="deploy", handle_signals=False)
    with Recording.open(path) as rec:
        assert all(check.ok for check in verify(rec))
        names = {a["name"] for ep in rec for a in ep.agents}
        assert {"policy", "search"} <= names


def test_train_and_misgen_commands(tmp_path):
    out = tmp_path / "agents.h5"
    runner = CliRunner()
    res = runner.invoke(main, ["train", "colour_vs_shape", "--learner", "reinforce,pile",
                               "--agents", "3", "--episodes", "64", "--mix", "0,0.5",
                               "-o", str(out)])
    assert res.exit_code == 0, res.output
    groups = read_agents_file(out).groups
    assert set(groups) == {"reinforce", "pile", "reinforce_mix0.5", "pile_mix0.5"}
    res = runner.invoke(main, ["misgen", str(out), "--episodes", "50", "--json"])
    assert res.exit_code == 0, res.output
    import json

    data = json.loads(res.output[res.output.index("{"):])
    assert len(data["agents"]) == 12 * 2  # deploy and the train sanity row
    assert {g["distribution"] for g in data["groups"]} == {"deploy", "train"}
    res = runner.invoke(main, ["misgen", str(out), "--episodes", "20", "--csv", "--no-sanity"])
    assert res.exit_code == 0 and res.output.count("\n") >= 13


@pytest.mark.parametrize("args, message", [
    (["train", "red_door", "--learner", "ppo"], "unknown learner 'ppo'"),
    (["train", "thermostat"], "learners train on maze"),
    (["train", "red_door", "--mix", "1.5"], "--mix: 1.5 is not between 0 and 1"),
    (["train", "red_door", "--distribution", "nowhere"], "no distribution 'nowhere'"),
])
def test_bad_training_requests_are_one_line(args, message, tmp_path):
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "x.h5")])
    assert res.exit_code == 2 and message in res.output
    assert res.output.strip().count("\n") == 0
    assert not (tmp_path / "x.h5").exists()


def test_bad_agents_files_are_one_line_and_lose_nothing(tmp_path):
    shipped = SCENES_DIR / "red_door.agents.h5"
    good = tmp_path / "good.h5"
    shutil.copy(shipped, good)
    before = good.read_bytes()
    runner = CliRunner()
    # A file that exists is not overwritten without --force.
    res = runner.invoke(main, ["train", "red_door", "--agents", "1", "-o", str(good)])
    assert res.exit_code == 2 and "exists" in res.output and good.read_bytes() == before
    # Agents trained on another scene.
    res = runner.invoke(main, ["misgen", str(good), "colour_vs_shape"])
    assert res.exit_code == 2 and "trained on scene 'red_door'" in res.output
    # A corrupt file, and a file that is HDF5 but not an agents file.
    bad = tmp_path / "bad.h5"
    bad.write_bytes(before[: len(before) // 2])
    res = runner.invoke(main, ["misgen", str(bad)])
    assert res.exit_code == 2 and "bad.h5" in res.output
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something"
    res = runner.invoke(main, ["misgen", str(other)])
    assert res.exit_code == 2 and "not a steersim agents file" in res.output
    # A lane naming an agent that does not exist, or a file of another scene.
    res = runner.invoke(main, ["run", "red_door", "--agent", f"trained:{good}#99"])
    assert res.exit_code == 2 and "not #99" in res.output
    text = (SCENES_DIR / "colour_vs_shape.toml").read_text().replace(
        'agent = "search"\nlabel = "reference: search told reach:gem"',
        f'agent = "trained:{good}#0"', 1)
    scene_file = tmp_path / "mismatch.toml"
    scene_file.write_text(text)
    res = runner.invoke(main, ["run", str(scene_file)])
    assert res.exit_code == 2 and "content hash" in res.output
    assert good.read_bytes() == before


def test_saved_agents_round_trip(tmp_path):
    scene = Scene.load("red_door", build_lanes=False)
    req = TrainRequest(("reward_search", "pile"), 2, 1, 32)
    trained = train_scene(scene, req)
    path = save(tmp_path / "a.h5", scene, req, trained)
    back = read_agents_file(path)
    np.testing.assert_array_equal(back.groups["reward_search"].masks, trained[0].masks)
    np.testing.assert_array_equal(back.groups["pile"].rules[1], trained[1].rules[1])
    spec = build_agent(f"trained:{path}#reward_search/1", "reach:door", "maze",
                       scene.content_hash)
    assert spec.name == "search" and spec.policy_objective is not None
    np.testing.assert_array_equal(spec.policy_objective, trained[0].masks[1])
