"""PettingZoo ``ParallelEnv`` for the competition scenes: every agent of lane 0 is yours.

``parallel_env("tug_of_war")`` (two pushers, goals left and right) and
``parallel_env("dueling_thermostats")`` (a heater holding 22-23 °C against a cooler holding
18-19 °C). Agents are ``agent_0``, ``agent_1``, ... in the lane's order, each bound to the
lane member's pusher or heater and rewarded on that member's objective (minus the distance
from it, per step); both see the same observation (the world's ``sense`` module) and act
simultaneously.
Episodes are truncated at the scene's horizon. Seeding as the Gymnasium envs
(simulator/envs/core.py): ``reset(seed=s)`` is copy 0 of the scene's ensemble at seed s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from simulator.core.state import STATUS_RUNNING
from simulator.envs.core import Worlds, load_scene
from simulator.envs.gym_env import _render, action_space, observation_space

COMPETITION_SCENES = ("tug_of_war", "dueling_thermostats")


class SteerParallelEnv(ParallelEnv):
    """Lane 0 of a scene with several agents, all of them driven by the caller."""

    metadata = {"render_modes": ["rgb_array"], "name": "steersim_parallel_v0",
                "is_parallelizable": True}

    def __init__(self, scene: str, distribution: str | None = None,
                 render_mode: str | None = None):
        members = load_scene(scene).model.lanes[0].members()
        if len(members) < 2:
            raise ValueError(f"{scene}: lane 0 has one agent; a ParallelEnv needs several"
                             f" (competition scenes: {', '.join(COMPETITION_SCENES)})")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r}: only 'rgb_array'")
        self.render_mode = render_mode
        n_agents = len(members)
        self.worlds = Worlds(scene, distribution, 1, tuple(range(n_agents)),
                             tuple(m.objective for m in members))
        self.possible_agents = [f"agent_{a}" for a in range(n_agents)]
        self.agents: list[str] = []
        self._observation_space = observation_space(self.worlds.world, self.worlds.state)
        self._action_space = action_space(self.worlds.world)
        self.metadata = {**self.metadata, "name": f"steersim_{scene}_v0"}

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def reset(self, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is None:
            seed = int(np.random.default_rng().integers(2**63))
        self.worlds.reset(seed)
        self.agents = list(self.possible_agents)
        obs = self.worlds.observe()[0]
        return {a: obs.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        chosen = np.stack([np.asarray(actions[a], np.float64).reshape(-1)
                           for a in self.possible_agents])
        if not np.isfinite(chosen).all():
            raise ValueError(f"actions must be finite, got {actions!r}")
        rewards = self.worlds.step(chosen[None])[0]
        obs = self.worlds.observe()[0]
        over = bool(self.worlds.status[0] != STATUS_RUNNING)  # these worlds only truncate
        out = ({a: obs.copy() for a in self.agents},
               {a: float(rewards[i]) for i, a in enumerate(self.possible_agents)},
               {a: False for a in self.agents}, {a: over for a in self.agents},
               {a: {} for a in self.agents})
        if over:
            self.agents = []
        return out

    def render(self) -> np.ndarray | None:
        return _render(self.worlds) if self.render_mode == "rgb_array" else None


def parallel_env(scene: str = "tug_of_war", **kwargs: Any) -> SteerParallelEnv:
    """The PettingZoo env of a competition scene (see the module docstring)."""
    return SteerParallelEnv(scene, **kwargs)
