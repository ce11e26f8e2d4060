"""Arena agents: each archetype gets the ball into the goal and keeps it there; the null
agent does not; the pile names the rule it fired; the search counts its nodes and steps."""

from __future__ import annotations

import numpy as np
import pytest

from agents.rules import compile_rules
from simulator.core.errors import UserError
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds import make_agent
from simulator.worlds.arena.policies import (
    A_BUDGET,
    A_DIRECTIONS,
    A_HOLD,
    ARENA_FEATURES,
    ARENA_REFLEXES,
    DEFAULT_ARENA_RULES,
    parse_arena_objective,
)

N_COPIES = 8


def _run(agent: str, distribution: str = "train", n_copies: int = N_COPIES, **params):
    scene = Scene.load("ball_push")
    spec = make_agent(agent, "goal:left", "arena", **params)
    session = Session(scene, n_copies=n_copies, distribution=distribution, agents=[[spec]])
    session.run()
    state = session.lanes[0].state
    in_goal = session.driver.in_target(scene, state, spec.objective)
    held = state.held[:, 0] / state.t
    return session, in_goal, held


@pytest.mark.parametrize("agent", ["thermostat", "heuristic", "search"])
def test_each_archetype_gets_the_ball_into_the_goal_and_holds_it(agent):
    """From every start of the training distribution the ball ends in the goal, and it
    spends a good share of the episode there (the first seconds go to reaching it)."""
    _, in_goal, held = _run(agent)
    assert in_goal.all()
    assert held.mean() > 0.5 and held.min() > 0.2


@pytest.mark.parametrize("agent", ["null", "random"])
def test_null_and_random_do_not_steer(agent):
    _, in_goal, held = _run(agent)
    assert not in_goal.any() and held.max() == 0.0


def _kicked(agent: str) -> np.ndarray:
    """Whether each copy's ball is in the goal at the end, after a perturbation at step 200
    moved it to the far side of the arena — past the pusher, which now sits between the
    ball and the goal."""
    scene = Scene.load("ball_push")
    spec = make_agent(agent, "goal:left", "arena")
    session = Session(scene, n_copies=N_COPIES, agents=[[spec]])
    session.perturb("teleport", target=1, params={"x": 6.5, "y": 3.0}, step=200)
    session.step(201)
    state = session.lanes[0].state
    assert not session.driver.in_target(scene, state, spec.objective).any()
    session.run()
    return session.driver.in_target(scene, state, spec.objective)


@pytest.mark.parametrize("agent", ["heuristic", "search"])
def test_pile_and_search_recover_from_a_kick(agent):
    assert _kicked(agent).all()


def test_thermostat_drives_through_the_ball_after_a_kick():
    """One loop on one error has no notion of "go around": from between ball and goal it
    heads for the point behind the ball straight through it, pins the ball to the far wall
    and stays there — a smaller basin, and a failure mode the other two do not share."""
    assert not _kicked("thermostat").any()


def test_heuristic_exposes_the_rule_that_fired():
    scene = Scene.load("ball_push")
    spec = make_agent("heuristic", "goal:left", "arena")
    session = Session(scene, n_copies=4, distribution="anywhere", agents=[[spec]])
    trace = session.step(300)[0]
    fired = trace.internals["rule"][:, :, 0]
    assert fired.min() >= 0 and fired.max() < len(DEFAULT_ARENA_RULES)
    names = {DEFAULT_ARENA_RULES[i].split("->")[1].strip() for i in np.unique(fired)}
    assert {"approach", "push", "brake"} <= names


def test_rule_table_is_data_a_scene_can_replace():
    """A pile whose only rule is to coast never moves the ball: the rules, not code, steer."""
    _, in_goal, held = _run("heuristic", rules=["-> coast"])
    assert not in_goal.any() and held.max() == 0.0


def test_rule_table_errors_name_the_rule():
    with pytest.raises(UserError, match="unknown feature 'behnd'"):
        make_agent("heuristic", "goal:left", "arena", rules=["behnd -> push"])
    with pytest.raises(UserError, match="must end in '-> <action>'"):
        make_agent("heuristic", "goal:left", "arena", rules=["behind -> shove"])
    table = compile_rules(["behind & !blocked -> push"], ARENA_FEATURES, ARENA_REFLEXES)
    assert table[0, -1] == ARENA_REFLEXES.index("push")


def test_search_exposes_nodes_expanded_and_counts_world_steps():
    scene = Scene.load("ball_push")
    spec = make_agent("search", "goal:left", "arena", budget=12, depth=2, hold=2)
    session = Session(scene, n_copies=3, agents=[[spec]])
    trace = session.step(10)[0]
    nodes = trace.internals["nodes"][:, :, 0]
    assert nodes.min() >= 1 and nodes.max() <= 12
    per_node = (spec.params[A_DIRECTIONS] + 1) * spec.params[A_HOLD]
    assert trace.world_steps.tolist() == (nodes.sum(axis=0) * per_node).tolist()
    assert spec.params[A_BUDGET] == 12


def test_search_with_one_node_is_short_sighted():
    """One expansion sees one ply: the pile of plies that reach the goal needs a budget."""
    _, _, held_small = _run("search", n_copies=4, budget=1, depth=1, hold=1)
    _, _, held = _run("search", n_copies=4)
    assert held.mean() > held_small.mean()


def test_tug_of_war_search_beats_the_thermostat():
    """Lane 2 of tug_of_war: search (left) against a thermostat (right) in one world."""
    session = Session(Scene.load("tug_of_war"), n_copies=4)
    session.run()
    state = session.lanes[2].state
    search_held, thermostat_held = state.held[:, 0].sum(), state.held[:, 1].sum()
    assert search_held > thermostat_held
    assert (state.held[:, :2].sum(axis=1) <= state.t).all()  # never both at once


@pytest.mark.parametrize(("text", "ball", "goal"), [
    ("goal:left", 0, "left"), ("goal:0", 0, "0"), ("goal:right:ball1", 1, "right"),
    ("goal:any", 0, "any"),
])
def test_objectives_parse(text, ball, goal):
    objective = parse_arena_objective(text)
    assert (objective.ball, objective.goal, objective.text) == (ball, goal, text)


@pytest.mark.parametrize("text", ["reach:door", "goal:", "goal:Left", "goal:left:b1"])
def test_bad_objectives_are_user_errors(text):
    with pytest.raises(UserError):
        parse_arena_objective(text)


def test_agent_parameters_are_checked():
    with pytest.raises(UserError, match="unknown parameter 'speed'"):
        make_agent("thermostat", "goal:left", "arena", speed=2)
    with pytest.raises(UserError, match="budget, depth and hold must be at least 1"):
        make_agent("search", "goal:left", "arena", budget=0)
    with pytest.raises(UserError, match="takes no parameters"):
        make_agent("null", "goal:left", "arena", gain=1)
