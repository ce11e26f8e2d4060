"""Learned agents: every learner learns, training is deterministic by seed and independent
of thread count and chunking, and what a learned agent does never reads an objective."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from agents import learners
from agents.learners import LEARNERS, OBJECTIVE_MASK, final_return, rule_text
from agents.registry import OBJECTIVE_MASK as REGISTRY_MASK
from agents.rules import compile_rules
from simulator.scene import Scene
from simulator.session import Session
from simulator.training import TrainRequest, train_scene
from simulator.worlds import make_agent
from simulator.worlds.maze.kernels import ACTIONS
from simulator.worlds.maze.observe import OBS_FEATURES, RULE_FEATURES, observe_state
from simulator.worlds.maze.scene import object_slots

TRAIN_SCENES = ("red_door", "corner_goal", "colour_vs_shape")
# Small budgets keep the suite fast; the defaults learn more (see steersim bench).
SMALL = {"reinforce": 800, "bc": 120, "reward_search": 64, "pile": 60}


def _random_return(scene: Scene) -> float:
    session = Session(scene, distribution="train", n_copies=400,
                      agents=[[make_agent("random", scene.model.base_objective)]])
    session.run()
    return float(session.lanes[0].state.ret.mean())


@pytest.mark.parametrize("scene_name", TRAIN_SCENES)
def test_every_learner_ends_far_above_the_random_agent(scene_name):
    scene = Scene.load(scene_name, build_lanes=False)
    floor = _random_return(scene)
    for seed in (0, 1):
        for learner in LEARNERS:
            trained = train_scene(scene, TrainRequest((learner,), 3, seed, SMALL[learner]))[0]
            final = final_return(trained.curve)
            assert np.all(np.isfinite(final))
            # A return of ~+0.9 reaches the rewarded object quickly; random wandering ~-0.5.
            assert final.mean() > floor + 0.8, (scene_name, learner, seed, final, floor)


def test_training_is_deterministic_by_seed_and_chunking():
    scene = Scene.load("red_door", build_lanes=False)
    req = TrainRequest(("reinforce", "pile"), 5, 3, 96)
    a = train_scene(scene, req)
    b = train_scene(scene, req)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.params, y.params)
        np.testing.assert_array_equal(x.curve, y.curve)
    # Agent i depends only on its seed: train it alone, in a chunk of one.
    lay = scene.layouts["train"]
    layout = learners.Layout(lay.template, lay.obj_spec, lay.dist_params)
    from simulator.worlds import get_driver, parse_objective

    seeds = learners.agent_seeds(3, 5)
    alone = learners.train("reinforce", seeds[2:3], layout, None, 0.0,
                           parse_objective("reach:door").as_array(),
                           get_driver("maze").params(scene), object_slots(scene),
                           learners.hyper_for_episodes("reinforce", 96), chunk=1)
    np.testing.assert_array_equal(alone.params[0], a[0].params[2])
    other = train_scene(scene, TrainRequest(("reinforce",), 5, 4, 96))[0]
    assert not np.array_equal(other.params, a[0].params)


_THREAD_SCRIPT = """
import numpy as np
from simulator.scene import Scene
from simulator.training import TrainRequest, train_scene
tr = train_scene(Scene.load("red_door", build_lanes=False),
                 TrainRequest(("bc", "reward_search"), 4, 9, 48))
print(np.concatenate([t.params.ravel() for t in tr]).tobytes().hex())
"""


def test_weights_do_not_depend_on_thread_count():
    out = []
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        res = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], capture_output=True,
                             text=True, env=env, timeout=600, check=True)
        out.append(res.stdout.strip())
    assert out[0] == out[1] and len(out[0]) > 100


def test_observation_names_kinds_and_colours_separately_and_no_objective():
    scene = Scene.load("red_door", build_lanes=False)
    state = Session(scene, distribution="train", n_copies=1,
                    agents=[[make_agent("null", "reach:door")]]).lanes[0].state
    obs = observe_state(state)
    assert obs.shape == (5, len(OBS_FEATURES))
    names = set(OBS_FEATURES)
    assert {"toward_door", "toward_red", "toward_key", "toward_blue"} <= names
    # In red_door's training the door is the only red object: the two channels agree.
    door, red = OBS_FEATURES.index("toward_door"), OBS_FEATURES.index("toward_red")
    np.testing.assert_array_equal(obs[:, door], obs[:, red])


def test_learned_pile_is_readable_rules_that_compile_back():
    scene = Scene.load("red_door", build_lanes=False)
    pile = train_scene(scene, TrainRequest(("pile",), 2, 0, 40))[0]
    text = pile.rule_text(0)
    assert text and all("->" in rule for rule in text)
    np.testing.assert_array_equal(compile_rules(text, RULE_FEATURES, ACTIONS), pile.rules[0])
    assert rule_text(pile.rules[0]) == text


def test_constants_agree():
    assert OBJECTIVE_MASK == REGISTRY_MASK
