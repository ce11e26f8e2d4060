"""Gymnasium environments over steersim's scenes: one world, and a native vector env.

``gymnasium.make("steersim/RedDoor-v0", distribution="deploy")`` gives :class:`SteerEnv`;
``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` gives
:class:`SteerVectorEnv`, whose copies step together in one compiled kernel call per step.
Spaces (simulator/worlds/<kind>/sense.py): maze observation Box(-1, 1, (5, 18)) float32 and
Discrete(5)
actions; thermal Box((NS + NH + NW,)) and a heater power Box(0, 1, (1,)); arena
Box((4 B,)) and a thrust Box(-1, 1, (2,)). The reward is the scene's: the maze's object and
step rewards, or minus the distance from the base objective (thermal kelvins out of band,
arena metres from the goal). A maze episode *terminates* on an object or lava; every world
is *truncated* at the scene's horizon. Seeding: see simulator/envs/core.py.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from simulator.core.state import STATUS_RUNNING, STATUS_TERMINATED, STATUS_TRUNCATED
from simulator.envs.core import Worlds
from simulator.worlds import sense

RENDER_SIZE = (480, 480)


def observation_space(world: str, state: Any) -> spaces.Box:
    """The observation space of ``world`` with the shapes of ``state`` (sensors, bodies)."""
    low, high = sense(world).observation_bounds(state)
    return spaces.Box(low, high, dtype=np.float32)


def action_space(world: str) -> spaces.Space:
    found = sense(world)
    if found.N_DISCRETE:
        return spaces.Discrete(found.N_DISCRETE)
    return spaces.Box(found.ACTION_LOW, found.ACTION_HIGH, (found.ACTION_WIDTH,), np.float32)


def as_actions(world: str, actions: Any, n_copies: int) -> np.ndarray:
    """Gymnasium actions for ``n_copies`` copies → the kernels' (E, 1, W) float64."""
    arr = np.asarray(actions, dtype=np.float64).reshape(n_copies, 1, -1)
    n_discrete = sense(world).N_DISCRETE
    if n_discrete:
        if not (arr.min() >= 0 and arr.max() < n_discrete and np.array_equal(arr, np.floor(arr))):
            raise ValueError(f"{world} actions are integers 0..{n_discrete - 1}, got {actions!r}")
    elif not np.isfinite(arr).all():
        raise ValueError(f"actions must be finite, got {actions!r}")
    return arr


def _render(worlds: Worlds) -> np.ndarray:
    from simulator.render import render_world  # pygame loads only when rendering

    return np.array(render_world(worlds.world, worlds.scene, worlds.state, 0, RENDER_SIZE))


class SteerEnv(gymnasium.Env):
    """One world of ``scene`` (lane 0, its first agent driven by the caller)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, scene: str, distribution: str | None = None,
                 render_mode: str | None = None, objective: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r}: only 'rgb_array'")
        self.render_mode = render_mode
        self.worlds = Worlds(scene, distribution, 1, (0,), (objective,))
        self.observation_space = observation_space(self.worlds.world, self.worlds.state)
        self.action_space = action_space(self.worlds.world)
        self._seeded = False

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            first = seed if seed is not None else int(self.np_random.integers(2**63))
            self.worlds.reset(first)
            self._seeded = True
        else:
            # Counts as a step call, as a vector env's autoreset step does (core.py).
            self.worlds.redraw(np.array([0]), self.worlds.n_steps)
            self.worlds.n_steps += 1
        return self.worlds.observe()[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reward = self.worlds.step(as_actions(self.worlds.world, action, 1))
        status = int(self.worlds.status[0])
        return (self.worlds.observe()[0], float(reward[0, 0]), status == STATUS_TERMINATED,
                status == STATUS_TRUNCATED, {})

    def render(self) -> np.ndarray | None:
        return _render(self.worlds) if self.render_mode == "rgb_array" else None


class SteerVectorEnv(VectorEnv):
    """``num_envs`` worlds of ``scene`` stepped together (one kernel call per step), with
    Gymnasium's next-step autoreset."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, scene: str, distribution: str | None = None,
                 render_mode: str | None = None, objective: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r}: only 'rgb_array'")
        self.render_mode = render_mode
        self.num_envs = int(num_envs)
        self.worlds = Worlds(scene, distribution, self.num_envs, (0,), (objective,))
        self.single_observation_space = observation_space(self.worlds.world, self.worlds.state)
        self.single_action_space = action_space(self.worlds.world)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._seeded = False

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Every copy afresh; ``seed`` an int (a list: its first element, as the copies of
        one ensemble share a seed)."""
        if isinstance(seed, list | tuple):
            seed = seed[0]
        super().reset(seed=seed)
        first = seed if seed is not None else int(self.np_random.integers(2**63))
        self.worlds.reset(first)
        self._seeded = True
        return self.worlds.observe(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        worlds = self.worlds
        ended = np.flatnonzero(worlds.status != STATUS_RUNNING)  # reset now, not stepped
        k = worlds.n_steps
        reward = worlds.step(as_actions(worlds.world, actions, self.num_envs))[:, 0]
        worlds.redraw(ended, k)
        status = worlds.status
        return (worlds.observe(), reward, status == STATUS_TERMINATED,
                status == STATUS_TRUNCATED, {})

    def render(self) -> np.ndarray | None:
        """Copy 0, the other copies as its ghost cloud."""
        return _render(self.worlds) if self.render_mode == "rgb_array" else None
