"""Goal sets under sparse and dense constraints: constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ALL_COLOURS, door_scene

from simulator.cli import main
from simulator.goalsets import goalsets, scene_goals
from simulator.scene import Scene


def _compatible(rep, regime):
    return {g.name for g, ok in zip(rep.goals, rep.compatible[regime], strict=True) if ok}


def test_when_kind_and_colour_never_covary_only_the_base_objective_survives():
    scene = door_scene("varied", ALL_COLOURS, ALL_COLOURS)
    rep = goalsets(scene, [1, 10, 100, 600], ["sparse", "dense"], n_deploy=50)
    for regime in ("sparse", "dense"):
        assert _compatible(rep, regime) == {"reach:door (base)"}, regime


def test_red_door_leaves_door_and_red_both_compatible_under_sparse():
    rep = goalsets(Scene.load("red_door", build_lanes=False), [10, 300], ["sparse", "dense"],
                   n_deploy=100)
    kept = _compatible(rep, "sparse")
    assert {"reach:door (base)", "reach:red", "reach:red_door"} <= kept
    names = [g.name for g in rep.goals]
    red = rep.deploy[names.index("reach:red")]
    assert red["proxy"] > 0.95  # pursued at deployment, "red" runs to a red decoy


def test_dense_grades_separate_door_and_red_when_their_actions_differ():
    # A red key sometimes stands in the maze: there "red" and "door" point different ways.
    scene = door_scene("red_keys", '"red"', '["red", "green"]')
    rep = goalsets(scene, [5, 400], ["sparse", "dense"], n_deploy=50)
    assert "reach:red" not in _compatible(rep, "dense")
    assert "reach:door (base)" in _compatible(rep, "dense")


def test_sets_never_grow_and_the_base_is_always_kept():
    for name in ("red_door", "corner_goal", "colour_vs_shape"):
        rep = goalsets(Scene.load(name, build_lanes=False), [1, 3, 10, 30, 100],
                       ["sparse", "dense"], n_deploy=20)
        assert rep.goals[0].family == "base"
        for regime in rep.regimes:
            sizes = rep.sizes[regime]
            assert all(a >= b for a, b in zip(sizes, sizes[1:], strict=False)), (name, sizes)
            assert rep.compatible[regime][0] and sizes[-1] >= 1


def test_goalsets_is_deterministic_by_seed():
    scene = Scene.load("colour_vs_shape", build_lanes=False)
    a = goalsets(scene, [1, 5, 50], ["sparse", "dense"], seed=4, n_deploy=30)
    b = goalsets(scene, [1, 5, 50], ["sparse", "dense"], seed=4, n_deploy=30)
    assert a.as_dict() == b.as_dict()
    for r in a.regimes:
        np.testing.assert_array_equal(a.compatible[r], b.compatible[r])


def test_goals_lists_at_least_twenty_candidates():
    goals = scene_goals(Scene.load("red_door", build_lanes=False))
    assert len(goals) >= 20
    assert {"kind", "colour", "kind and colour", "kind or colour", "any", "region"} <= {
        g.family for g in goals}
    res = CliRunner().invoke(main, ["goals", "red_door"])
    assert res.exit_code == 0 and "reach:red" in res.output


def test_goalsets_command_and_its_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["goalsets", "red_door", "--episodes", "1,20", "--csv",
                               "--deploy-episodes", "20"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "mix,regime,episodes,compatible"
    for args, message in ((["--regime", "sparse,shaped"], "unknown regime 'shaped'"),
                          (["--episodes", "0,10"], "at least 1"),
                          (["--episodes", "ten"], "whole numbers")):
        res = runner.invoke(main, ["goalsets", "red_door", *args])
        assert res.exit_code == 2 and message in res.output, res.output
        assert res.output.strip().count("\n") == 0
    res = runner.invoke(main, ["goalsets", "thermostat"])
    assert res.exit_code == 2 and "maze scenes" in res.output


@pytest.mark.parametrize("regime", ["sparse", "dense"])
def test_the_figure_is_written(tmp_path, regime):
    out = tmp_path / "gs.png"
    res = CliRunner().invoke(main, ["goalsets", "red_door", "--episodes", "1,10",
                                    "--regime", regime, "--deploy-episodes", "10",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 5000
