"""Your own Python policy in a lane: python:package.module:callable."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from agents.external import _POLICIES
from simulator.cli import main
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds.maze.sense import observe_copies

POLICIES = '''
import numpy as np

def toward_door(obs):
    return np.argmax(obs[:, :, 1] - 2 * obs[:, :, 15] - 2 * obs[:, :, 16], axis=1)

def wrong_shape(obs):
    return np.zeros((obs.shape[0], 3))

_calls = [0]

def forgetful(obs):  # not a function of its input: a second run acts differently
    _calls[0] += 1
    return np.full(obs.shape[0], 1 + _calls[0] % 4)

def heat(obs):
    return (obs[:, 0] < 21.0).astype(float)
'''


@pytest.fixture()
def policies(tmp_path, monkeypatch):
    (tmp_path / "my_policies.py").write_text(POLICIES)
    monkeypatch.chdir(tmp_path)  # a policy file in the working directory is found
    yield tmp_path
    _POLICIES.clear()
    import sys

    sys.modules.pop("my_policies", None)


def test_policy_sees_the_lanes_batched_observation_and_its_moves_are_recorded(policies):
    runner = CliRunner()
    out = policies / "ext.h5"
    result = runner.invoke(main, ["record", "red_door", "--agent", "python:my_policies:toward_door",
                                  "--episodes", "2", "--ensemble", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["verify", str(out)])
    assert result.exit_code == 0, result.output
    from simulator.recording import Recording

    with Recording.open(out) as rec:
        episode = rec[0]
        assert episode.agents[0]["external"] == "my_policies:toward_door"
        first = episode.world_state_at(0)
        expected = np.argmax(observe_copies(first)[0] @ _toward_door_weights())
        assert episode.actions[0, 0] == expected
        assert episode.outcome[0]["detail"] == "red door"


def _toward_door_weights() -> np.ndarray:
    w = np.zeros(18)
    w[1], w[15], w[16] = 1.0, -2.0, -2.0
    return w


def test_verify_calls_the_policy_again_so_it_checks_the_policys_determinism(policies):
    runner = CliRunner()
    out = policies / "forgetful.h5"
    result = runner.invoke(main, ["record", "walled_maze", "--agent",
                                  "python:my_policies:forgetful", "--episodes", "1",
                                  "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["verify", str(out)])
    assert result.exit_code == 1 and "actions" in result.output


def test_external_agents_drive_heaters_in_a_thermal_lane(policies):
    scene = Scene.load("dueling_thermostats")
    session = Session(scene, n_copies=3,
                      agents=scene.lane_agents("python:my_policies:heat")[:1])
    trace = session.step(5)[0]
    assert trace.action.shape == (5, 3, 2) and set(np.unique(trace.action)) <= {0.0, 1.0}


@pytest.mark.parametrize(("agent", "message"), [
    ("python:no_such_module:act", "cannot import no_such_module"),
    ("python:my_policies:missing", "has no 'missing'"),
    ("python:my_policies", "python:package.module:callable"),
    ("python:my_policies:wrong_shape", "returned actions of shape (1, 3), expected (1,)"),
])
def test_bad_policies_fail_in_one_line_with_exit_code_2(policies, agent, message):
    result = CliRunner().invoke(main, ["run", "red_door", "--agent", agent])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_scene_file_names_an_external_policy(policies):
    text = Scene.load("walled_maze").text.replace('agent = "thermostat"',
                                                   'agent = "python:my_policies:toward_door"')
    path = policies / "mine.toml"
    path.write_text(text)
    scene = Scene.load(path)
    assert scene.lane_agents()[0][0].external == "my_policies:toward_door"
