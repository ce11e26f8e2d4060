"""The shipped demo (recordings/demo.h5, what ``steersim present`` opens with no FILE) is
small, passes ``verify``, and is exactly what its documented command records today.

If the engine, the agents, walled_maze or the format change on purpose, re-make it with
DEMO_COMMAND from the repository root (add ``--force``) and commit the new file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from simulator.cli import main
from simulator.recording import Recording

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recordings" / "demo.h5"
DEMO_COMMAND = ["record", "walled_maze", "--distribution", "anywhere", "--episodes", "2",
                "--ensemble", "256", "--seed", "4", "-o", "recordings/demo.h5"]


def test_demo_is_small_and_verifies():
    assert DEMO.stat().st_size < 2 * 1024 * 1024
    result = CliRunner().invoke(main, ["verify", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "all 6 episodes match bit for bit" in result.output


def test_rerecording_the_demo_gives_the_same_episodes(tmp_path):
    fresh = tmp_path / "demo.h5"
    args = DEMO_COMMAND[:-1] + [str(fresh)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with Recording.open(DEMO) as shipped, Recording.open(fresh) as remade:
        assert shipped.scene_toml == remade.scene_toml, "walled_maze changed: re-make the demo"
        assert shipped.seed == remade.seed
        assert len(shipped) == len(remade) == 6
        for old, new in zip(shipped, remade, strict=True):
            assert (old.run, old.lane, old.status) == (new.run, new.lane, "complete")
            assert old.agents == new.agents
            assert old.n_steps == new.n_steps, old.name
            for name in old.state_fields:
                np.testing.assert_array_equal(old.states(name), new.states(name),
                                              err_msg=f"{old.name} state/{name}")
            np.testing.assert_array_equal(old.actions, new.actions)
            np.testing.assert_array_equal(old.rewards, new.rewards)
            assert old.events() == new.events()
            old_metrics, new_metrics = old.metrics(), new.metrics()
            assert sorted(old_metrics) == sorted(new_metrics)
            for name, values in old_metrics.items():
                np.testing.assert_array_equal(values, new_metrics[name],
                                              err_msg=f"{old.name} metrics/{name}")
