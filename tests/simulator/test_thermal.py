"""The thermal world against the physics: conservation, the 1-D steady state, a NumPy
reference of one step, the stability bound, perturbations and determinism."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from simulator.core.rng import STREAM_NOISE, rand_uniform
from simulator.scene import Scene, SceneError
from simulator.session import Session
from simulator.worlds import get_driver, make_agent
from simulator.worlds.thermal import kernels as thermal
from simulator.worlds.thermal.scene import physics_params

DRIVER = get_driver("thermal")


def _scene(map_text: str, legend: str = "{}", extra: str = "", dist: str = "",
           horizon: int = 100_000, base: str = "hold:20..22") -> Scene:
    text = f"""
name = "test"
world = "thermal"
horizon = {horizon}
base_objective = "{base}"
[[lanes]]
agent = "null"
[thermal]
map = '''
{map_text.strip()}
'''
legend = {legend}
{extra}
[distributions.default]
{dist}
"""
    return Scene.from_text(text)


def _heat_content(scene: Scene, state: thermal.ThermalState) -> np.ndarray:
    """Σ C_i T_i over non-Dirichlet cells, per copy (J), from the physical constants."""
    model = scene.physics
    volume = model.cell_size**2 * model.height
    rho_c = np.zeros(thermal.N_KINDS)
    rho_c[thermal.CELL_AIR] = model.air.heat_capacity
    rho_c[thermal.CELL_WALL] = model.wall.heat_capacity
    rho_c[thermal.CELL_WINDOW] = model.window.heat_capacity
    return (rho_c[state.cell] * volume * state.temp).sum(axis=(1, 2))


# --- conservation and steady state -----------------------------------------------------
ROOM_WITH_PARTITION = """
##########
#....#...#
#.0..#...#
#....#.H.#
#........#
##########
"""


@pytest.mark.parametrize("film", [0.0, 25.0])
def test_heat_is_conserved_with_insulated_walls(film: float) -> None:
    """No sources, an insulated outside (film 0): the room's total heat Σ C T stays put to
    1e-12 relative over 3000 steps while it redistributes between air and walls. With a
    conducting outside the same measure must show the loss (the test can fail)."""
    scene = _scene(ROOM_WITH_PARTITION, '{ H = { kind = "heater", power = 1000.0 } }',
                   f"film = {film}", "room = [15.0, 25.0]")
    session = Session(scene, n_copies=4)
    state = session.lanes[0].state
    rng = np.random.default_rng(0)
    state.temp[:] = rng.uniform(0.0, 40.0, state.temp.shape)  # far from equilibrium
    before = _heat_content(scene, state)
    session.step(3000, trace=False)  # the null agent keeps the heater off
    after = _heat_content(scene, state)
    change = np.abs(after - before) / np.abs(before)
    if film == 0.0:
        assert np.all(change < 1e-12), change
        air = state.cell[0] == thermal.CELL_AIR
        assert np.ptp(state.temp[0][air]) < 5.0  # and the heat did move: the air mixed
    else:
        assert np.all(change > 1e-3), change


def test_rod_steady_state_is_the_analytic_linear_profile() -> None:
    """A 1-D rod of air between reservoirs at 10 °C and 30 °C, insulated along its length:
    Fourier's law gives the steady state T(x) = 10 + 20 x / L, linear between the
    reservoirs' centres; the explicit scheme must converge to it (to 1e-9 K)."""
    scene = _scene("A0..........B",
                   '{ A = { kind = "reservoir", temperature = 10.0 },'
                   ' B = { kind = "reservoir", temperature = 30.0 } }',
                   "film = 0.0", "room = [0.0, 0.0]")
    session = Session(scene, n_copies=1)
    session.step(8000, trace=False)
    rod = session.lanes[0].state.temp[0, 0]
    expected = np.linspace(10.0, 30.0, rod.size)
    np.testing.assert_allclose(rod, expected, rtol=0.0, atol=1e-9)


# --- the kernel against a plain NumPy reference ----------------------------------------
def _reference_step(scene: Scene, temp: np.ndarray, cell: np.ndarray, tag: np.ndarray,
                    watts: np.ndarray, power: np.ndarray, t_out: float,
                    noise_kelvin: float) -> np.ndarray:
    """One explicit finite-volume step written from the physics (module docstring of
    simulator.worlds.thermal.kernels), independent of the packed parameters and the kernels."""
    model = scene.physics
    dx, h, dt = model.cell_size, model.height, model.dt
    k = {thermal.CELL_AIR: model.air.conductivity, thermal.CELL_WALL: model.wall.conductivity,
         thermal.CELL_WINDOW: model.window.conductivity,
         thermal.CELL_OPEN_WINDOW: model.air.conductivity,
         thermal.CELL_RESERVOIR: model.air.conductivity}
    rho_c = {thermal.CELL_AIR: model.air.heat_capacity,
             thermal.CELL_WALL: model.wall.heat_capacity,
             thermal.CELL_WINDOW: model.window.heat_capacity}
    height, width = temp.shape
    old = temp.copy()
    old[cell == thermal.CELL_OPEN_WINDOW] = t_out
    new = old.copy()
    n_cells = np.bincount(tag[(cell == thermal.CELL_AIR) & (tag >= 0)], minlength=len(watts))
    for i in range(height):
        for j in range(width):
            c = int(cell[i, j])
            if c in (thermal.CELL_OPEN_WINDOW, thermal.CELL_RESERVOIR):
                continue
            capacity = rho_c[c] * dx * dx * h
            flow = 0.0
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                ni, nj = i + di, j + dj
                if 0 <= ni < height and 0 <= nj < width:
                    ka, kb = k[c] * h, k[int(cell[ni, nj])] * h
                    g = 0.0 if ka == 0 or kb == 0 else 1.0 / (1.0 / (2 * ka) + 1.0 / (2 * kb))
                    flow += g * (old[ni, nj] - old[i, j])
                else:
                    g = 1.0 / (1.0 / (2 * k[c] * h) + 1.0 / (model.film * dx * h))
                    flow += g * (t_out - old[i, j])
            new[i, j] = old[i, j] + dt / capacity * flow
            if c == thermal.CELL_AIR:
                new[i, j] += noise_kelvin
                if tag[i, j] >= 0:
                    new[i, j] += dt * watts[tag[i, j]] * power[tag[i, j]] / (
                        n_cells[tag[i, j]] * capacity)
    return new


def test_kernel_matches_numpy_reference_step() -> None:
    """Three steps of the fused lane kernel (thermostat heating, an open window, noise,
    a non-uniform field) equal the NumPy reference to 1e-12 K."""
    scene = Scene.load("thermostat")
    session = Session(scene, n_copies=3, distribution="anywhere",
                      agents=[[make_agent("thermostat", "hold:20..22", "thermal")]])
    session.perturb("open_window", step=0)
    session.perturb("set_noise", params={"sigma": 0.05}, step=0)
    session.perturb("heat", params={"row": 3, "col": 5, "radius": 2.5, "amount": 4.0}, step=1)
    state = session.lanes[0].state
    events = session.packed_events(session.lanes[0])
    for _ in range(3):
        before = state.copy()
        step = int(before.t[0])
        session.step(1)
        # This step's events, applied to a copy of the state as the kernel applies them.
        temp, cell, noise = before.temp, before.cell, before.noise
        for e in range(state.n_copies):
            for i in np.flatnonzero(events.step == step):
                thermal.apply_event(e, events.kind[i], events.target[i], events.params[i], temp,
                                    cell, before.tag, before.window_open,
                                    before.outside_offset, noise)
            t_out = thermal.outside_temperature(session.params, before.hour0[e],
                                                before.outside_offset[e], step)
            u = rand_uniform(session.seed, e, step, STREAM_NOISE)
            noise_k = noise[e] * np.sqrt(3.0) * (2.0 * u - 1.0)
            # The heater power the agent chose this step is in the state after it.
            expected = _reference_step(scene, temp[e], cell[e], before.tag[e],
                                       before.heater_watts[e], state.heater_power[e], t_out,
                                       noise_k)
            np.testing.assert_allclose(state.temp[e], expected, rtol=0.0, atol=1e-12)
    assert np.all(state.window_open == 1)
    assert np.all(state.noise == 0.05)
    assert state.heater_power.max() == 1.0  # the thermostat heated: the heater term is tested


# --- stability -----------------------------------------------------------------------------
def test_unstable_dt_is_refused_with_the_largest_stable_value() -> None:
    text = Scene.load("thermostat").text
    with pytest.raises(SceneError, match=r"thermal\.dt: .*use dt <= 1\.25 s") as err:
        Scene.from_text(text.replace("dt = 1.0", "dt = 1.3"), None)
    assert "\n" not in str(err.value)
    Scene.from_text(text.replace("dt = 1.0", "dt = 1.25"), None)


def test_the_stability_bound_is_real() -> None:
    """A checkerboard (the fastest mode) decays within the bound and explodes beyond it:
    the check guards a real instability."""
    scene = _scene("......\n......\n...0..\n......\n......\n......", extra="film = 0.0")
    amplitudes = []
    for dt in (1.0, 2.0):  # the bound for this air is 1.25 s
        params = physics_params(scene.physics.model_copy(update={"dt": dt}), 100)
        state = Session(scene, n_copies=1).lanes[0].state
        rows, cols = np.indices(state.temp.shape[1:])
        state.temp[0] = 20.0 + (-1.0) ** (rows + cols)
        thermal.step_ensemble(200, 0, params, state.temp, state.cell, state.tag,
                              state.heater_watts, state.heater_power, state.hour0,
                              state.outside_offset, state.noise, state.t)
        amplitudes.append(np.ptp(state.temp[0]))
    assert amplitudes[0] < 1e-3
    assert amplitudes[1] > 1e6


# --- perturbations -------------------------------------------------------------------------
def _quiet_thermostat_scene() -> Scene:
    """The shipped thermostat scene without its perturbation schedule."""
    return Scene.from_text(Scene.load("thermostat").text.split("[[perturbations]]")[0])


def test_perturbations_act_as_documented() -> None:
    scene = _quiet_thermostat_scene()
    session = Session(scene, n_copies=2, agents=[[make_agent("null", "hold:20..22",
                                                             "thermal")]])
    state = session.lanes[0].state
    before = state.copy()
    session.perturb("heat", params={"row": 4, "col": 7, "radius": 1.0, "amount": 5.0})
    session.perturb("kick_room", params={"delta": -2.0}, copy=1)
    session.perturb("shift_outside", params={"delta": 4.0})
    session.perturb("set_noise", params={"sigma": 0.1})
    session.perturb("open_window", target=0)
    events = session.packed_events(session.lanes[0])
    temp, cell = before.temp.copy(), before.cell.copy()
    offset, noise, window_open = (before.outside_offset.copy(), before.noise.copy(),
                                  before.window_open.copy())
    for e in range(2):
        rebuilt = [thermal.apply_event(e, events.kind[i], events.target[i], events.params[i],
                                       temp, cell, before.tag, window_open, offset, noise)
                   for i in range(len(events.step)) if events.copy[i] in (-1, e)]
        assert rebuilt[-1]  # opening a window changes the step operator
    brushed = np.zeros(temp.shape[1:], bool)
    brushed[4, 7] = brushed[3, 7] = brushed[5, 7] = brushed[4, 6] = brushed[4, 8] = True
    air = before.cell[0] == thermal.CELL_AIR
    np.testing.assert_allclose(temp[0] - before.temp[0], np.where(brushed, 5.0, 0.0))
    np.testing.assert_allclose(temp[1] - before.temp[1],
                               np.where(brushed, 5.0, 0.0) + np.where(air, -2.0, 0.0))
    np.testing.assert_allclose(offset - before.outside_offset, 4.0)
    np.testing.assert_allclose(noise, 0.1)
    assert np.all(window_open == 1)
    assert np.all(cell[before.cell == thermal.CELL_WINDOW] == thermal.CELL_OPEN_WINDOW)
    # Through the kernel: after one step the open window holds the (shifted) outdoor air.
    session.step(1)
    t_out = thermal.outside_temperature(session.params, state.hour0[0], state.outside_offset[0],
                                        0)
    np.testing.assert_allclose(state.temp[0][state.cell[0] == thermal.CELL_OPEN_WINDOW], t_out)
    session.perturb("close_window", target=-1)
    session.step(1)
    assert np.all(state.window_open == 0)
    assert not np.any(state.cell == thermal.CELL_OPEN_WINDOW)


def test_an_open_window_cools_the_room_faster() -> None:
    scene = _quiet_thermostat_scene()
    temps = []
    for open_it in (False, True):
        session = Session(scene, n_copies=1,
                          agents=[[make_agent("null", "hold:20..22", "thermal")]])
        if open_it:
            session.perturb("open_window")
        session.step(300, trace=False)
        temps.append(DRIVER.projection(scene, session.lanes[0].state)[0, 0])
    assert temps[1] < temps[0] - 0.5


@pytest.mark.parametrize("kind, params, message", [
    ("heat", {"row": 1}, "missing parameter"),
    ("heat", {"row": 1, "col": 2, "amount": -1.0}, r"amount = -1.0 must be .* in \[0, 50\] K"),
    ("kick_room", {"delta": "warm"}, "delta = 'warm' must be a finite number"),
    ("kick_room", {"delta": 1e12}, r"delta = 1000000000000.0 must be .* in \[-50, 50\] K"),
    ("set_noise", {"sigma": -1.0}, "sigma = -1.0 must be"),
    ("teleport", {}, "unknown perturbation"),
])
def test_bad_perturbations_are_user_errors(kind: str, params: dict, message: str) -> None:
    with pytest.raises(Exception, match=message) as err:
        DRIVER.encode_event(kind, -1, params)
    assert type(err.value).__name__ == "UserError"


# --- determinism ---------------------------------------------------------------------------
def _noisy_run(n_copies: int, seed: int = 11) -> thermal.ThermalState:
    scene = Scene.load("thermostat")
    session = Session(scene, n_copies=n_copies, seed=seed, distribution="anywhere",
                      agents=[[make_agent("random", "hold:20..22", "thermal")]])
    session.perturb("set_noise", params={"sigma": 0.05}, step=3)
    session.perturb("heat", params={"row": 2, "col": 4, "radius": 2.0, "amount": 3.0}, step=40)
    session.step(150)
    session.step(150)
    return session.lanes[0].state


def test_same_seed_same_states_bit_for_bit() -> None:
    a, b = _noisy_run(8), _noisy_run(8)
    for name, value in a.as_dict().items():
        np.testing.assert_array_equal(value, getattr(b, name), err_msg=name)
    c = _noisy_run(8, seed=12)
    assert not np.array_equal(a.temp, c.temp)


def test_copy_zero_does_not_depend_on_ensemble_size_or_threads() -> None:
    one = _noisy_run(1)
    many = _noisy_run(64)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        serial = _noisy_run(64)
    finally:
        numba.set_num_threads(threads)
    for name, value in one.as_dict().items():
        np.testing.assert_array_equal(value[0], getattr(many, name)[0], err_msg=name)
    for name, value in many.as_dict().items():
        np.testing.assert_array_equal(value, getattr(serial, name), err_msg=name)


# --- schedule, horizon, metrics hooks ---------------------------------------------------------
def test_outdoor_schedule_interpolates_and_wraps() -> None:
    scene = _scene("0", extra="[thermal.outside]\nschedule = [[4.0, 0.0], [16.0, 12.0]]")
    params = DRIVER.params(scene)
    at = [thermal.schedule_temperature(params, h) for h in (4.0, 10.0, 16.0, 22.0, 1.0)]
    np.testing.assert_allclose(at, [0.0, 6.0, 12.0, 6.0, 3.0])  # 1 h: 9 of 12 h from 16 h


def test_horizon_truncates_and_stops() -> None:
    scene = Scene.load("thermostat")
    session = Session(scene, n_copies=2)
    session.run()
    state = session.lanes[0].state
    assert np.all(state.t == scene.model.horizon)
    assert np.all(state.status == thermal.STATUS_TRUNCATED)
    assert session.done
    frozen = state.temp.copy()
    session.step(10)
    np.testing.assert_array_equal(state.temp, frozen)


def test_metrics_hooks_shapes_and_meaning() -> None:
    scene = Scene.load("dueling_thermostats")
    state = Session(scene, n_copies=5).lanes[0].state
    proj = DRIVER.projection(scene, state)
    assert proj.shape == (5, 1) and proj.dtype == np.float64
    np.testing.assert_array_equal(proj[:, 0], state.temp[:, 4, 7])
    lows, highs, n_bins = DRIVER.bins(scene)
    assert lows.shape == highs.shape == n_bins.shape == (1,)
    assert lows[0] < proj.min() and highs[0] > proj.max() and n_bins[0] >= 10
    state.temp[:, 4, 7] = [19.0, 20.0, 20.5, 21.0, 23.0]
    np.testing.assert_array_equal(DRIVER.in_target(scene, state, "hold:20..21"),
                                  [False, True, True, True, False])
    np.testing.assert_allclose(DRIVER.score(scene, state, "hold:20..21"),
                               [-1.0, 0.0, 0.0, 0.0, -2.0])
