"""steersim in the RL ecosystem: Gymnasium envs, the native vector env, PettingZoo, Minari."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import loaded_after_import

gymnasium = pytest.importorskip("gymnasium")

import simulator.envs  # noqa: E402  (registers the envs)
from simulator.cli import main  # noqa: E402
from simulator.envs.core import load_scene  # noqa: E402
from simulator.recording import Recording  # noqa: E402
from simulator.worlds import get_driver  # noqa: E402
from simulator.worlds.maze.sense import observe_copies  # noqa: E402

ENVS = [(env_id, dist) for env_id in simulator.envs.ENV_IDS
        for dist in load_scene(gymnasium.spec(env_id).kwargs["scene"]).distributions]


@pytest.mark.parametrize(("env_id", "distribution"), ENVS)
def test_every_registered_env_passes_gymnasiums_checker(env_id, distribution):
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(env_id, distribution=distribution, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check_env warns about what it dislikes
        check_env(env.unwrapped, skip_render_check=distribution != ENVS[0][1])
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape[2] == 3


def test_one_id_per_shipped_scene_and_a_scripted_return():
    assert "steersim/RedDoor-v0" in simulator.envs.ENV_IDS
    env = gymnasium.make("steersim/WalledMaze-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5, 18) and obs.dtype == np.float32
    # Walk into the wall above the start for the whole horizon: only step costs.
    ret, steps, truncated = 0.0, 0, False
    while not truncated:
        obs, reward, terminated, truncated, _ = env.step(0)
        assert not terminated
        ret += reward
        steps += 1
    scene = load_scene("walled_maze")
    assert steps == scene.model.horizon
    assert ret == pytest.approx(steps * scene.model.rewards.step)


@pytest.mark.parametrize(("env_id", "distribution", "n_steps"), [
    ("steersim/RedDoor-v0", "deploy", 150),
    ("steersim/Thermostat-v0", "cold", 40),
    ("steersim/TugOfWar-v0", "kickoff", 40),
])
def test_vector_env_matches_single_env_step_for_step(env_id, distribution, n_steps):
    n = 5
    vec = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                             distribution=distribution)
    wider = gymnasium.make_vec(env_id, num_envs=n + 3, vectorization_mode="vector_entry_point",
                               distribution=distribution)
    single = gymnasium.make(env_id, distribution=distribution)
    obs, _ = vec.reset(seed=11)
    wide_obs, _ = wider.reset(seed=11)
    one, _ = single.reset(seed=11)
    assert np.array_equal(obs[0], one) and np.array_equal(wide_obs[:n], obs)
    wider.action_space.seed(3)
    resets, ended = 0, False
    for t in range(n_steps):
        actions = wider.action_space.sample()
        obs, reward, term, trunc, _ = vec.step(actions[:n])
        wide_obs, wide_reward, _, _, _ = wider.step(actions)
        if ended:  # next-step autoreset: the vector env reset copy 0 in this call
            one, _ = single.reset()
            one_reward, one_term, one_trunc, resets = 0.0, False, False, resets + 1
        else:
            one, one_reward, one_term, one_trunc, _ = single.step(actions[0])
        ended = one_term or one_trunc
        assert np.array_equal(obs[0], one), t
        assert (reward[0], term[0], trunc[0]) == (one_reward, one_term, one_trunc), t
        assert np.array_equal(wide_obs[:n], obs) and np.array_equal(wide_reward[:n], reward)
    if distribution == "deploy":
        assert resets > 0  # the autoreset path was exercised


def test_pettingzoo_parallel_api():
    from pettingzoo.test import parallel_api_test

    from simulator.envs.parallel import parallel_env

    for scene in ("tug_of_war", "dueling_thermostats"):
        env = parallel_env(scene)
        parallel_api_test(env, num_cycles=60)
        assert env.possible_agents == ["agent_0", "agent_1"]
    with pytest.raises(ValueError, match="one agent"):
        parallel_env("thermostat")


def test_minari_round_trip_keeps_every_array(tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    rec = tmp_path / "rd.h5"
    runner = CliRunner()
    result = runner.invoke(main, ["record", "red_door", "--distribution", "deploy",
                                  "--episodes", "2", "--seed", "3", "-o", str(rec)])
    assert result.exit_code == 0, result.output
    args = ["export", str(rec), "--format", "minari", "--dataset-id", "steersim/red_door-v0"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    again = runner.invoke(main, args)
    assert again.exit_code == 2 and "exists" in again.output
    dataset = minari.load_dataset("steersim/red_door-v0")
    with Recording.open(rec) as recording:
        episodes = list(recording)
        assert dataset.total_episodes == len(episodes)
        state_type = get_driver("maze").state_type
        for ep, got in zip(episodes, dataset.iterate_episodes(), strict=True):
            states = state_type(**{name: ep.states(name) for name in ep.state_fields})
            assert np.array_equal(got.observations, observe_copies(states))
            assert np.array_equal(got.actions, ep.actions[:, 0])
            assert np.array_equal(got.rewards, ep.rewards[:, 0])
            assert np.array_equal(got.terminations, ep.terminations)
            assert np.array_equal(got.truncations, ep.truncations)
        seeds = [ep.seed for ep in episodes]
        del episodes, ep  # their HDF5 handles close with the recording
    n = len(seeds)
    assert [m["seed"] for m in dataset.storage.get_episode_metadata(range(n))] == seeds


def test_simulator_import_stays_free_of_the_rl_packages():
    engine = "simulator, simulator.session, simulator.worlds.maze.driver, agents.external"
    assert loaded_after_import(engine, ("gymnasium", "pettingzoo", "minari")) == set()
