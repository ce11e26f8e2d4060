"""The race stepped on a worker thread (Qt-free): the same run, bit for bit, as stepping on
the caller's thread; perturbations land at a step boundary and are logged; views are copies
the worker never touches; stop() leaves the race quiet; a failing step is reported."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from simulator.gui.race import LaneChoice, MemberChoice, Race
from simulator.gui.stepper import StepWorker
from simulator.scene import Scene

N_COPIES = 64  # small ensembles: the tests check behaviour, not speed


def _race() -> Race:
    scene = Scene.load("walled_maze")
    objective = scene.model.base_objective
    return Race(scene, [LaneChoice([MemberChoice(agent, objective)], n_copies=N_COPIES)
                        for agent in ("thermostat", "heuristic", "random")])


def _run_on_worker(race: Race, worker: StepWorker, n_steps: int) -> None:
    """Owe ``n_steps`` steps one request at a time and wait until they are taken."""
    done = threading.Event()
    target = worker.steps_taken + n_steps
    worker.on_step = lambda _taken: done.set() if worker.steps_taken >= target else None
    worker.request(n_steps, n_steps)
    assert done.wait(60.0)
    worker.stop()


def test_worker_run_equals_caller_run_with_the_same_perturbation():
    direct, threaded = _race(), _race()
    worker = StepWorker(kernel_threads=1)
    try:
        worker.set_race(threaded)
        direct.step(3)
        _run_on_worker(threaded, worker, 3)
        # A click while playing: logged under the lock, at the race's clock.
        with worker.lock:
            logged = threaded.perturb("draw_wall", params={"row": 4, "col": 1})
        direct.perturb("draw_wall", params={"row": 4, "col": 1})
        assert {ev.step for ev in logged} == {3}
        direct.step(5)
        _run_on_worker(threaded, worker, 5)
    finally:
        worker.close()
    assert threaded.step_index == direct.step_index == 8
    assert [(ev.kind, ev.step, ev.lane) for ev in threaded.events] == \
        [(ev.kind, ev.step, ev.lane) for ev in direct.events]
    for a, b in zip(direct.lanes, threaded.lanes, strict=True):
        for name, values in a.state.as_dict().items():
            assert np.array_equal(values, getattr(b.state, name)), name
        for name in ("H", "F", "OP"):
            assert np.array_equal(a.tracker.series(a.index, name),
                                  b.tracker.series(b.index, name))
        assert np.all(b.state.cell[:, 4, 1] == 1)  # the wall is in every copy


def test_views_are_copies_and_stop_leaves_the_race_quiet():
    race = _race()
    worker = StepWorker(kernel_threads=1)
    try:
        worker.set_race(race)
        first = worker.latest
        assert first is not None and first.step == 0 and first.has_plots
        before = first.lanes[1].state.agent_pos.copy()
        _run_on_worker(race, worker, 4)
        assert np.array_equal(first.lanes[1].state.agent_pos, before)  # untouched
        view = worker.latest
        assert view.step == 4 and view is not first
        for shown, run in zip(view.lanes, race.lanes, strict=True):
            assert np.array_equal(shown.state.agent_pos, run.state.agent_pos)
            # The maze grid is drawn from copy 0 only: copy 0's, repeated, not copied.
            assert np.array_equal(shown.state.cell[5], run.state.cell[0])
            assert shown.state.cell.shape == run.state.cell.shape
        worker.request(1000, 1000)
        worker.stop()
        now = race.step_index
        assert worker.idle and now < 1000
        threading.Event().wait(0.05)
        assert race.step_index == now  # nothing owed: the race stays put
        assert worker.request(5, 2) == 2  # beyond the cap, steps are dropped, not owed
        worker.stop()
    finally:
        worker.close()


def test_a_failing_step_is_reported_and_the_worker_goes_on():
    race = _race()
    worker = StepWorker(kernel_threads=1)
    calls = []
    try:
        worker.set_race(race)

        def broken(n_steps: int = 1) -> int:
            calls.append(n_steps)
            raise RuntimeError("agent exploded")

        race.step = broken  # type: ignore[method-assign]
        done = threading.Event()
        worker.on_step = lambda _taken: done.set()
        worker.request(3, 3)
        assert done.wait(10.0)
        worker.stop()
        assert calls == [1]  # the owed steps were dropped after the failure
        assert worker.error is not None and "agent exploded" in str(worker.error[0])
        assert "Traceback" in worker.error[1]
    finally:
        worker.close()


@pytest.mark.parametrize("scene_name", ["thermostat", "ball_push"])
def test_views_of_other_worlds_copy_every_field(scene_name):
    race = Race(Scene.load(scene_name))
    race.step(1)
    view = race.view()
    for shown, run in zip(view.lanes, race.lanes, strict=True):
        for name, values in run.state.as_dict().items():
            copied = getattr(shown.state, name)
            assert np.array_equal(copied, values) and not np.shares_memory(copied, values)
