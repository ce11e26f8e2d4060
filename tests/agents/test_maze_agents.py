"""Each archetype steers where it should, and fails where it should."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_scene

from agents.rules import compile_rules
from simulator.core.errors import UserError
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds import make_agent
from simulator.worlds.maze.kernels import ACTIONS
from simulator.worlds.maze.rules import DEFAULT_MAZE_RULES, MAZE_FEATURES


@pytest.mark.parametrize("agent", ["thermostat", "heuristic", "search"])
def test_each_agent_reaches_its_objective_in_an_open_room(agent):
    scene = Scene.load("open_room")
    session = Session(scene, n_copies=256, agents=[[make_agent(agent, "reach:goal")]])
    session.run()
    outcomes = [session.outcomes(copy)[0] for copy in range(256)]
    assert all(o.achieved_objective for o in outcomes)
    assert max(o.steps for o in outcomes) <= 8  # straight there from anywhere in a 7x5 room


def test_null_and_random_do_not_steer():
    session = Session(Scene.load("open_room"), n_copies=256,
                      agents=[[make_agent("null", "reach:goal")],
                              [make_agent("random", "reach:goal")]])
    session.run()
    null_rate = np.mean([session.outcomes(c)[0].achieved_objective for c in range(256)])
    random_rate = np.mean([session.outcomes(c)[1].achieved_objective for c in range(256)])
    assert null_rate == 0.0
    assert random_rate < 0.9


def test_walled_maze_thermostat_fails_and_search_succeeds():
    session = run_scene("walled_maze")
    by_agent = {o.agent: o for o in session.outcomes()}
    assert not by_agent["thermostat"].achieved_objective
    assert by_agent["thermostat"].status == "truncated"
    # It pressed into the wall: it never left the cell below the wall's middle.
    assert tuple(session.lanes[0].state.agent_pos[0]) == (4, 5)
    assert by_agent["search"].achieved_objective
    assert by_agent["search"].steps == 12  # the shortest detour


# red_door's own lanes are trained agents now (tests/simulator/test_misgen.py); these two
# are told their objectives, which is what this test checks.
TOLD = [[make_agent("search", "reach:door")], [make_agent("search", "reach:red")]]


def test_misgeneralized_objective_follows_red_off_distribution():
    deploy = run_scene("red_door", n_copies=200, distribution="deploy", agents=TOLD)
    aligned, misaligned = deploy.outcomes()[0], deploy.outcomes()[1]
    assert aligned.objective == "reach:door" and aligned.detail.endswith("door")
    assert misaligned.objective == "reach:red" and misaligned.detail.startswith("red ")
    assert misaligned.achieved_objective and not misaligned.achieved_base
    train = run_scene("red_door", n_copies=200, distribution="train", agents=TOLD)
    # In training the two objectives cannot be told apart: both reach the (red) door.
    assert train.outcomes()[1].achieved_base


def test_heuristic_exposes_the_rule_that_fired():
    session = Session(Scene.load("walled_maze"),
                      agents=[[make_agent("heuristic", "reach:goal")]])
    trace = session.step(3)[0]
    fired = trace.internals["rule"][:, 0, 0]
    # From (5,5) with the goal straight up: rule 4 "dy=-1 & !wall_up & !lava_up -> up".
    assert fired[0] == 4
    assert DEFAULT_MAZE_RULES[4].endswith("-> up")
    # At (4,5) the wall blocks up, target column equal: side-step left (rule 8).
    assert fired[1] == 8


def test_search_exposes_nodes_expanded():
    session = Session(Scene.load("walled_maze"),
                      agents=[[make_agent("search", "reach:goal", budget=500, depth=30)]])
    trace = session.step(1)[0]
    assert 1 < trace.internals["nodes"][0, 0, 0] <= 500
    assert trace.world_steps[0] >= trace.internals["nodes"][0, 0, 0]


def test_expanded_cells_are_the_search_the_kernel_runs():
    """The GUI's overlay of expanded cells: one cell per node the next step's search
    expands (the search never expands a cell twice), starting at the agent's cell."""
    session = Session(Scene.load("walled_maze"),
                      agents=[[make_agent("search", "reach:goal", budget=500, depth=30)]])
    lane = session.lanes[0]
    for _ in range(3):
        cells = session.driver.expanded_cells(lane.state.copy(), lane.agents, session.params)
        trace = session.step(1)[0]
        assert cells.shape == lane.state.cell.shape[1:]
        assert cells.sum() == trace.internals["nodes"][0, 0, 0] > 1
    row, col = lane.state.agent_pos[0]
    cells = session.driver.expanded_cells(lane.state, lane.agents, session.params)
    assert cells[row, col] and not cells[lane.state.cell[0] == 1].any()  # never in a wall
    thermostat = [make_agent("thermostat", "reach:goal")]
    assert session.driver.expanded_cells(lane.state, thermostat, session.params) is None


def test_search_with_a_tiny_budget_cannot_plan_the_detour():
    session = Session(Scene.load("walled_maze"),
                      agents=[[make_agent("search", "reach:goal", budget=3, depth=2)]])
    session.run()
    assert not session.outcomes()[0].achieved_objective


def test_rule_table_errors_name_the_rule():
    with pytest.raises(UserError, match="unknown feature 'wal_up'"):
        compile_rules(["wal_up -> up"], MAZE_FEATURES, ACTIONS)
    with pytest.raises(UserError, match="must end in"):
        compile_rules(["wall_up"], MAZE_FEATURES, ACTIONS)
    table = compile_rules(["dx=1 & !wall_right -> right"], MAZE_FEATURES, ACTIONS)
    assert table.shape == (1, 13) and table[0, -1] == 4
