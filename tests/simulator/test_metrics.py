"""Narrowing metrics: analytic cases, then behaviour in the maze."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.metrics import (
    MetricsTracker,
    basin_map,
    entropy_bits,
    optimization_power,
    recovery_times,
)
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds import make_agent


@pytest.mark.parametrize("n_bins", [1, 2, 8, 64])
def test_uniform_ensemble_over_b_bins_has_log2_b_bits(n_bins):
    points = np.repeat(np.arange(n_bins, dtype=float), 5)[:, None] + 0.5
    h = entropy_bits(points, np.array([0.0]), np.array([float(n_bins)]), np.array([n_bins]))
    assert h == pytest.approx(np.log2(n_bins))


def test_two_dimensional_binning_and_clipping():
    points = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [5.0, 5.0]])  # last one clipped
    h = entropy_bits(points, np.zeros(2), np.ones(2), np.array([2, 2]))
    assert h == pytest.approx(2.0)


def test_op_is_zero_for_the_baseline_itself_and_capped_at_log2_m():
    rng = np.random.default_rng(0)
    baseline = rng.normal(size=1000)
    assert optimization_power(baseline.copy(), baseline) == pytest.approx(0.0, abs=1e-9)
    better = np.full(500, baseline.max() + 1)
    op = optimization_power(better, baseline)
    assert op <= np.log2(1000) + 1e-9
    assert op > np.log2(1000) - 1.5  # all beat every baseline outcome: near the cap
    assert optimization_power(np.full(10, baseline.min() - 1), baseline) < 0


def test_recovery_times():
    f = np.array([0.2, 0.5, 0.9, 0.9, 0.3, 0.4, 0.7, 0.9, 0.9, 0.9])
    # Event at step 4 (F before it: f[3] = 0.9): drops, back at f[7] → 4 steps.
    assert recovery_times(f, [4]) == [(4, 4)]
    assert recovery_times(f, [8]) == [(8, 0)]  # never dropped
    assert recovery_times(np.array([0.9, 0.9, 0.1, 0.1]), [2]) == [(2, None)]


def _tracked(scene_name: str, agents: list[str], n_copies: int = 512,
             distribution: str | None = None, steps: int | None = None):
    scene = Scene.load(scene_name)
    session = Session(scene, n_copies=n_copies, distribution=distribution,
                      agents=[[make_agent(a, scene.model.base_objective)] for a in agents])
    tracker = MetricsTracker(session)
    for _ in range(steps or session.horizon):
        session.step(1, trace=False)
        tracker.update()
    return session, tracker


def test_all_copies_in_target_gives_f_one_and_identical_agent_gives_op_zero():
    _, tracker = _tracked("open_room", ["search", "null"], steps=12)
    assert tracker.series(0, "F")[-1] == 1.0
    assert tracker.series(0, "H")[-1] == pytest.approx(0.0)
    assert tracker.series(0, "H")[0] > 4.0  # started spread over the room
    assert np.allclose(tracker.series(1, "OP"), 0.0, atol=1e-9)  # null vs null baseline
    assert np.allclose(tracker.baseline("F"), 0.0)


def test_misaligned_agent_high_own_op_low_base_op():
    scene = Scene.load("red_door")
    session = Session(scene, n_copies=512, distribution="deploy",
                      agents=[[make_agent("search", "reach:red")]])
    tracker = MetricsTracker(session)
    for _ in range(30):
        session.step(1, trace=False)
        tracker.update()
    assert tracker.series(0, "OP_own")[-1] > 5.0
    assert tracker.series(0, "F_own")[-1] > 0.95
    assert tracker.series(0, "OP")[-1] < 0.5
    assert tracker.series(0, "F")[-1] < 0.05


def test_basin_of_thermostat_smaller_than_search_in_walled_maze():
    scene = Scene.load("walled_maze")
    session = Session(scene, agents=[[make_agent("thermostat", "reach:goal")],
                                     [make_agent("search", "reach:goal")]])
    thermo, search = basin_map(session, 0), basin_map(session, 1)
    assert (thermo == 1).sum() < (search == 1).sum()
    assert (search == 1).sum() == (search >= 0).sum()  # search reaches from every start
    assert thermo[5, 5] == 0 and thermo[1, 1] == 1  # behind the wall vs in the open


def test_metrics_row_for_4096_copies_is_measured():
    """Not a timing test: just that a 4096-copy update produces one row per series."""
    session, tracker = _tracked("walled_maze", ["thermostat"], n_copies=4096,
                                distribution="anywhere", steps=3)
    assert len(tracker.series(0, "H")) == 4 and tracker.funnel(0).shape == (4, 48)


def test_thermal_thermostat_narrows_null_does_not_and_a_kick_is_recovered():
    scene = Scene.load("thermostat")
    session = Session(scene, n_copies=256, distribution="cold",
                      agents=[[make_agent("thermostat", "hold:20..22", "thermal")],
                              [make_agent("null", "hold:20..22", "thermal")]])
    tracker = MetricsTracker(session)
    for _ in range(450):
        session.step(1, trace=False)
        tracker.update()
    h, f = tracker.series(0, "H"), tracker.series(0, "F")
    assert h[-1] < h[0] - 1.0  # rooms from 12..17 °C collapse onto the band
    assert f[-1] > 0.95
    assert tracker.series(1, "F")[-1] < 0.1  # heater off: rooms drift, nowhere near the band
    assert tracker.series(0, "OP")[-1] > 3.0
    session.perturb("kick_room", params={"delta": -4.0})
    kicked_at = session.step_index
    for _ in range(420):  # up to step 870: before the scene opens its window at 900
        session.step(1, trace=False)
        tracker.update()
    f = tracker.series(0, "F")
    assert f[kicked_at + 1] < 0.5  # the kick throws the ensemble out of the band...
    recovery = dict(tracker.recovery(0))
    assert recovery[kicked_at] is not None and recovery[kicked_at] < 420  # ...and it returns


def test_baseline_keeps_pace_after_the_shown_copy_stops():
    """Copy 0 reaching its goal early must not freeze the clock the metrics follow."""
    scene = Scene.load("walled_maze")
    session = Session(scene, n_copies=64, distribution="anywhere", seed=0,
                      agents=[[make_agent("search", "reach:goal")]])
    tracker = MetricsTracker(session)
    for _ in range(20):
        session.step(1, trace=False)
        tracker.update()
    assert session.lanes[0].state.t[0] < 20  # copy 0 stopped early...
    assert session.step_index == 20  # ...the session's clock did not
    assert tracker.steps == list(range(21))
    assert tracker.baseline_session.step_index == 20
