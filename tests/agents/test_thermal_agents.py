"""Thermal agents: objectives and parameters, each policy's rule in isolation, and each
archetype holding its objective in the shipped scenes (the null agent does not)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.core.errors import UserError
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds import make_agent, parse_objective
from simulator.worlds.thermal.policies import (
    AP_HYSTERESIS,
    AP_SET_POINT,
    DEFAULT_THERMAL_RULES,
    THERMAL_FEATURES,
    ThermalObjective,
    thermal_features,
    thermostat_act,
)


# --- objectives and parameters ---------------------------------------------------------------
@pytest.mark.parametrize("text, sensor, low, high", [
    ("hold:20..22", 0, 20.0, 22.0),
    ("hold:sensor1:18..19", 1, 18.0, 19.0),
    ("hold:-5.5..0", 0, -5.5, 0.0),
])
def test_objectives_parse_and_print_back(text: str, sensor: int, low: float,
                                         high: float) -> None:
    obj = parse_objective(text, "thermal")
    assert obj == ThermalObjective(sensor, low, high)
    assert parse_objective(obj.text, "thermal") == obj
    np.testing.assert_array_equal(obj.as_array(), [sensor, low, high])


@pytest.mark.parametrize("text", ["reach:door", "hold:22..20", "hold:20", "hold:s1:1..2",
                                  "hold:sensorx:1..2", "hold:a..b", "hold:nan..3"])
def test_bad_objectives_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="objective"):
        parse_objective(text, "thermal")


@pytest.mark.parametrize("name, params, message", [
    ("thermostat", {"depth": 3}, "unknown parameter"),
    ("search", {"depth": 0}, "depth must be at least 1"),
    ("search", {"budget": 2, "depth": 3}, "budget must be at least depth"),
    ("random", {"levels": 1}, "levels must be at least 2"),
    ("thermostat", {"heater": 1.5}, "heater must be an integer"),
    ("thermostat", {"hysteresis": -1}, "hysteresis must be >= 0"),
    ("heuristic", {"rules": ["cold -> full"]}, "unknown feature 'cold'"),
    ("heuristic", {"rules": ["need=1 -> boil"]}, "must end in"),
])
def test_bad_parameters_are_user_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        make_agent(name, "hold:20..22", "thermal", **params)


def test_default_rules_compile_and_read_as_data() -> None:
    agent = make_agent("heuristic", "hold:20..22", "thermal")
    assert agent.rule_text == DEFAULT_THERMAL_RULES
    assert agent.rules.shape == (len(DEFAULT_THERMAL_RULES), 13)
    assert agent.rules[0, 0] == THERMAL_FEATURES.index("need")


# --- policies in isolation ---------------------------------------------------------------------
@pytest.mark.parametrize("watts, reading, power, expected", [
    (2000.0, 20.4, 0.0, 1.0),   # heater, below 21 - 0.5: switch on
    (2000.0, 21.0, 1.0, 1.0),   # inside the hysteresis: keep on
    (2000.0, 21.0, 0.0, 0.0),   # inside the hysteresis: keep off
    (2000.0, 21.6, 1.0, 0.0),   # above 21 + 0.5: switch off
    (-1500.0, 21.6, 0.0, 1.0),  # a cooler mirrors it: too warm, on
    (-1500.0, 21.0, 1.0, 1.0),
    (-1500.0, 20.4, 1.0, 0.0),
])
def test_thermostat_is_bang_bang_with_hysteresis(watts: float, reading: float, power: float,
                                                 expected: float) -> None:
    agent = make_agent("thermostat", "hold:20..22", "thermal")
    assert thermostat_act(agent.params, agent.objective.as_array(), reading, watts,
                          power) == expected


def test_thermostat_set_point_and_hysteresis_parameters() -> None:
    agent = make_agent("thermostat", "hold:20..22", "thermal", set_point=25.0, hysteresis=2.0)
    assert agent.params[AP_SET_POINT] == 25.0 and agent.params[AP_HYSTERESIS] == 2.0
    obj = agent.objective.as_array()
    assert thermostat_act(agent.params, obj, 23.9, 1000.0, 0.0) == 1.0
    assert thermostat_act(agent.params, obj, 25.9, 1000.0, 1.0) == 1.0
    assert thermostat_act(agent.params, obj, 26.1, 1000.0, 1.0) == 0.0


def test_heuristic_features_read_in_the_device_direction() -> None:
    obj = np.array([0.0, 20.0, 22.0])
    out = np.zeros(len(THERMAL_FEATURES), np.int32)
    window = np.array([1], np.int8)
    # A heater at 19 °C, falling, window open, 3 am, 5 °C outside.
    thermal_features(obj, 19.0, 19.01, 1000.0, 0.0, window, 3.0, 5.0, out)
    assert dict(zip(THERMAL_FEATURES, out.tolist(), strict=True)) == {
        "need": 1, "far": 0, "edge": 0, "drift": 1, "on": 0, "window": 1, "night": 1,
        "outside_helps": 0}
    # The same reading seen by a cooler: out of band on the other side, the drift helps it.
    thermal_features(obj, 19.0, 19.01, -1000.0, 1.0, window[:0], 12.0, 5.0, out)
    assert dict(zip(THERMAL_FEATURES, out.tolist(), strict=True)) == {
        "need": -1, "far": 0, "edge": 0, "drift": -1, "on": 1, "window": 0, "night": 0,
        "outside_helps": 1}


# --- archetypes in the shipped scenes ------------------------------------------------------------
def _run(scene: Scene, name: str, n_copies: int, **params: object) -> Session:
    agent = make_agent(name, scene.model.base_objective, "thermal", **params)
    session = Session(scene, n_copies=n_copies, agents=[[agent]])
    session.run()
    return session


@pytest.mark.parametrize("name, n_copies", [("thermostat", 64), ("heuristic", 64),
                                            ("search", 8)])
def test_each_archetype_holds_its_objective_in_the_default_scene(name: str,
                                                                 n_copies: int) -> None:
    """Every copy of the cold-morning distribution ends in band and spends most of the run
    there despite the scene's open window and cold kick (warming up takes ~20%)."""
    scene = Scene.load("thermostat")
    session = _run(scene, name, n_copies)
    state = session.lanes[0].state
    assert np.all(session.driver.in_target(scene, state, "hold:20..22"))
    held = state.held[:, 0] / state.t
    assert held.min() > 0.5, held.min()
    outcome = session.outcomes()[0]
    assert outcome.achieved_objective and outcome.achieved_base
    assert outcome.fraction_of_steps > 0.5


def test_the_null_agent_does_not_hold_it() -> None:
    scene = Scene.load("thermostat")
    session = _run(scene, "null", 64)
    state = session.lanes[0].state
    assert not np.any(session.driver.in_target(scene, state, "hold:20..22"))
    assert np.all(state.held[:, 0] == 0)
    assert np.all(state.energy == 0.0)
    outcome = session.outcomes()[0]
    assert not outcome.achieved_objective and outcome.fraction_of_steps == 0.0


def test_thermostat_holds_from_anywhere_in_the_basin() -> None:
    """Rooms drawn from 10 to 30 °C at any hour narrow into the band (claim 1)."""
    scene = Scene.load("thermostat")
    agent = make_agent("thermostat", "hold:20..22", "thermal")
    session = Session(scene, n_copies=256, distribution="anywhere", agents=[[agent]])
    start = session.driver.projection(scene, session.lanes[0].state)[:, 0]
    session.run()
    end = session.driver.projection(scene, session.lanes[0].state)[:, 0]
    assert np.ptp(start) > 15.0
    assert np.all((end >= 20.0) & (end <= 22.0))


def test_agent_internals_are_exposed() -> None:
    scene = Scene.load("thermostat")
    lanes = [[make_agent("heuristic", "hold:20..22", "thermal")],
             [make_agent("search", "hold:20..22", "thermal", depth=2, budget=9, levels=3,
                         stride=5)],
             [make_agent("thermostat", "hold:20..22", "thermal")]]
    session = Session(scene, n_copies=4, agents=lanes)
    heuristic, search, thermostat = session.step(50)
    # The heuristic's first rule fires in a cold room: "need=1 -> full".
    assert heuristic.internals["rule"].shape == (50, 4, 1)
    assert np.all(heuristic.internals["rule"][:5] == 0)
    assert np.all(heuristic.action[:5] == 1.0)
    # The search expands at most its budget and steps the world `stride` times per node.
    nodes = search.internals["nodes"]
    assert nodes.min() >= 2 and nodes.max() <= 9
    assert search.world_steps.sum() == nodes.sum() * 5
    assert np.all(thermostat.internals["nodes"] == 0)
    assert np.all(thermostat.internals["heater"][:5] == 1)


def test_search_with_a_bigger_budget_expands_more() -> None:
    scene = Scene.load("thermostat")
    nodes = []
    for depth, budget in ((1, 3), (3, 39)):
        agent = make_agent("search", "hold:20..22", "thermal", depth=depth, budget=budget)
        session = Session(scene, n_copies=2, agents=[[agent]])
        nodes.append(session.step(20)[0].internals["nodes"].mean())
    assert nodes[0] == 3
    assert nodes[1] > 3 * nodes[0]


# --- competition ---------------------------------------------------------------------------------
def test_dueling_thermostats_the_stronger_heater_wins() -> None:
    """Heater (3 kW, 22-23 °C) against cooler (2 kW, 18-19 °C) on one sensor: the heater's
    objective holds, the cooler's does not, and both burn energy all along."""
    scene = Scene.load("dueling_thermostats")
    session = Session(scene, n_copies=16, agents=[scene.lane_agent_group(0)])
    traces = session.step(scene.model.horizon)
    assert traces[0].action.shape == (scene.model.horizon, 16, 2)
    heater, cooler = session.outcomes()
    assert (heater.agent_index, cooler.agent_index) == (0, 1)
    assert heater.achieved_objective and heater.fraction_of_steps > 0.4
    assert not cooler.achieved_objective and cooler.fraction_of_steps < 0.1
    assert not heater.achieved_base  # the occupant's 20-21 °C is nobody's objective
    assert heater.extra["energy_kwh"] > 0.5 and cooler.extra["energy_kwh"] > 0.5
    lane0 = session.lanes[0].state
    assert np.mean(session.driver.in_target(scene, lane0, "hold:22..23")) > 0.5


def test_two_agents_may_not_share_a_heater() -> None:
    scene = Scene.load("dueling_thermostats")
    agents = [[make_agent("thermostat", "hold:22..23", "thermal"),
               make_agent("thermostat", "hold:18..19", "thermal")]]
    session = Session(scene, n_copies=1, agents=agents)
    with pytest.raises(UserError, match="heater 0 already has a controller"):
        session.step(1)


def test_cli_run_prints_each_agents_outcome() -> None:
    result = CliRunner().invoke(main, ["run", "dueling_thermostats", "--steps", "300"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "lane " in line]
    assert len(lines) == 8  # four lanes of two agents
    assert "hold:22..23" in lines[0] and "hold:18..19" in lines[1]
    assert all("held" in line for line in lines)
