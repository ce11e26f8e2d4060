"""The GUI's race (Qt-free): one Session with per-lane ensembles, fair starts,
perturbations through the Session's log, ensembles sized to the frame budget, and lanes
bit-identical to a headless Session of the same scene, seed and events."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.core.errors import UserError
from simulator.gui.race import LaneChoice, MemberChoice, Race
from simulator.scene import SCENES_DIR as ROOT_SCENES
from simulator.scene import Scene
from simulator.worlds import world


def test_lanes_start_identical_with_their_own_ensemble_sizes():
    scene = Scene.load("walled_maze")
    race = Race(scene)
    assert [run.n_copies for run in race.lanes] == [4096, 4096, 512]
    first = race.lanes[0].state
    for run in race.lanes[1:]:
        assert np.array_equal(run.state.agent_pos[0], first.agent_pos[0])
        assert np.array_equal(run.state.cell[:512], first.cell[:512])
    assert "search" in race.lanes[2].ensemble_note


def test_perturb_logs_in_every_lane_or_nowhere():
    race = Race(Scene.load("walled_maze"), )
    events = race.perturb("draw_wall", params={"row": 4, "col": 1})
    assert [ev.lane for ev in events] == [0, 1, 2]
    assert race.pending(1) == [("draw_wall", {"row": 4, "col": 1, "target": -1})]
    with pytest.raises(UserError):
        race.perturb("draw_wall", params={"row": 4})
    with pytest.raises(UserError):
        race.perturb("teleport", params={"row": 1, "col": 1}, lanes=[7])
    assert len(race.events) == 3
    race.step(1)
    assert race.pending(1) == []
    assert all(run.state.cell[0, 4, 1] == 1 for run in race.lanes)
    assert race.step_index == race.session.step_index == 1


def test_a_scene_perturbation_for_one_lane_hits_only_that_lane():
    text = Scene.load("walled_maze").text + (
        '\n[[perturbations]]\nstep = 1\nkind = "draw_wall"\nlanes = [1]\n'
        'params = { row = 4, col = 1 }\n')
    race = Race(Scene.from_text(text), )
    race.step(2)
    assert [int(run.state.cell[0, 4, 1]) for run in race.lanes] == [0, 1, 0]
    assert [ev.lane for ev in race.events] == [1]


def test_ensemble_sizes_follow_world_and_agent_cost():
    thermal = ROOT_SCENES / "thermostat.toml"
    if thermal.exists():
        race = Race(Scene.load(thermal))
        sizes = {run.agents[0].name: run.n_copies for run in race.lanes}
        assert sizes["search"] < sizes["thermostat"] <= world("maze").copies[0]
    lanes = [LaneChoice([MemberChoice("search", "reach:goal")], n_copies=300)]
    race = Race(Scene.load("open_room"), lanes)
    assert race.lanes[0].n_copies == 300 and "set by you" in race.lanes[0].ensemble_note


def test_bad_agent_parameters_name_the_lane():
    lanes = [LaneChoice([MemberChoice("search", "reach:goal", {"budget": "lots"})])]
    with pytest.raises(UserError, match="lane 1"):
        Race(Scene.load("open_room"), lanes, )


def _assert_same_states(a, b, copies: int | None = None) -> None:
    for name, values in a.as_dict().items():
        other = getattr(b, name)
        n = copies or len(values)
        assert np.array_equal(values[:n], other[:n]), name


def test_lanes_equal_a_headless_session_and_its_one_copy_replica():
    """Same scene + seed + events ⇒ bit-identical trajectories: the race's lanes against a
    headless Session built from scratch, and copy 0 against the recorder's replica."""
    from simulator.session import Session

    scene = Scene.load("walled_maze")
    race = Race(scene, seed=11, distribution="anywhere")
    race.step(3)
    race.perturb("draw_wall", params={"row": 4, "col": 1})
    race.step(2)
    race.perturb("teleport", params={"row": 1, "col": 1}, lanes=[2])
    race.step(20)
    headless = Session(scene, seed=11, distribution="anywhere",
                       n_copies=[run.n_copies for run in race.lanes],
                       agents=[run.agents for run in race.lanes])
    for ev in race.events:
        if ev.source == "user":
            headless.lanes[ev.lane].log(ev)
    replica = race.session.replica(n_copies=1)
    replica.mirror_events(race.session, [len(lane.events) for lane in replica.lanes])
    for _ in range(25):
        headless.step(1)
        replica.step(1)
    assert headless.step_index == replica.step_index == race.step_index == 25
    for run, lane, one in zip(race.lanes, headless.lanes, replica.lanes, strict=True):
        _assert_same_states(run.state, lane.state)
        _assert_same_states(run.state, one.state, copies=1)


def test_a_recording_started_mid_run_replays_and_resimulates(tmp_path):
    """R mid-run records from step 0 through the CLI's recorder; the replay's Session
    reads those states back, and stepped from scratch it re-simulates them bit for bit."""
    from simulator.gui.record import GuiRecorder
    from simulator.gui.replay import Replay
    from simulator.recording import Recording, verify
    from simulator.session import Session

    race = Race(Scene.load("walled_maze"), [LaneChoice([MemberChoice(agent, "reach:goal")],
                                                       n_copies=16)
                                            for agent in ("thermostat", "search")])
    shown = [[run.state.as_dict()["agent_pos"][:1].copy() for run in race.lanes]]
    for _ in range(2):
        race.step(1)
        shown.append([run.state.agent_pos[:1].copy() for run in race.lanes])
    recorder = GuiRecorder(race, tmp_path / "mid.h5")
    race.perturb("draw_wall", params={"row": 4, "col": 1})
    for _ in range(5):
        race.step(1)
        recorder.follow(race)
        shown.append([run.state.agent_pos[:1].copy() for run in race.lanes])
    path = recorder.close(race)
    with Recording.open(path) as rec:
        assert all(check.ok for check in verify(rec))
        assert [len(ep.metrics()["F"]) for ep in rec] == [8, 8]  # the ensemble's metrics
    replay = Replay.open(str(path))
    try:
        assert replay.n_steps == 7 and not replay.live
        for t in (0, 2, 7):
            replay.seek(t)
            view = replay.view()
            assert view.step == t == replay.session.step_index
            for lane, want in zip(view.lanes, shown[t], strict=True):
                assert np.array_equal(lane.state.agent_pos, want)
        fresh = Session.from_recording(replay.scene, replay.lanes)
        fresh.step(7)
        for lane, run in zip(fresh.lanes, race.lanes, strict=True):
            for name, values in lane.state.as_dict().items():
                assert np.array_equal(values, getattr(run.state, name)[:1]), name
    finally:
        replay.close()
