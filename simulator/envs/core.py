"""N copies of one scene's world stepped by a caller: what every steersim env is built on.

The Gymnasium env (one copy), the native vector env (N copies, one compiled call per
step) and the PettingZoo env all hold a :class:`Worlds`: the scene's lane 0 with some of its
agents made *external* (``AGENT_EXTERNAL``: their actions come from the caller), stepped
through the world's driver and kernels like any lane — every world rule stays in the
kernels. Observations are the world's ``sense``.

Seeding. Copy ``i`` after ``reset(seed=s)`` is copy ``i`` of the scene's ensemble at seed
``s`` — the world ``steersim run SCENE --seed s --ensemble N`` shows — and in-episode noise
(maze slip, thermal fluctuation) is keyed by ``(s, i, t)`` as in every lane. A copy whose
episode ended is redrawn when it is next stepped (Gymnasium's next-step autoreset): the
copies redrawn at the ``k + 1``-th step call after the seeded reset are one draw of as
many copies at seed ``derive(s, k)``, in copy order. A one-copy env's ``reset()`` without a
seed is such a call (after ``k`` step and reset calls it draws at ``derive(s, k)``), so
copy 0 of a vector env and a single env with the same seed and actions agree step for
step; so do the first N copies of any larger vector env. (Gymnasium's SyncVectorEnv seeds
copy i with s + i instead: its copies are other worlds.) Autoreset episodes of one copy
share their in-episode noise sequence (keyed by t); their worlds differ.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

import numpy as np

from agents.registry import AgentSpec
from simulator.core.driver import EventArrays
from simulator.core.rng import STREAM_ENV, rand_u64
from simulator.scene import Scene
from simulator.worlds import agent_params, get_driver, parse_objective, sense, world


@lru_cache(maxsize=64)
def load_scene(scene: str) -> Scene:
    """A scene by name or path, parsed once per process (a SyncVectorEnv makes thousands)."""
    return Scene.load(scene, build_lanes=False)


def derive_seed(seed: int, k: int) -> int:
    """The seed of the copies redrawn at the ``k``-th step after a reset with ``seed``."""
    return int(rand_u64(seed, 0, k, STREAM_ENV) >> np.uint64(1))


def external_agent(scene: Scene, member: Any, objective: str | None) -> AgentSpec:
    """An external agent in a lane member's place: same binding (heater, pusher), the given
    objective (what its reward measures) or else the member's, else the base objective."""
    kind = scene.world
    text = objective or member.objective or scene.model.base_objective
    binding = {k: v for k, v in member.params.items() if k in world(kind).binding}
    vec, rules, _ = agent_params(kind, "external", binding)
    return AgentSpec("external", parse_objective(text, kind), vec, rules, (), kind)


class Worlds:
    """``n_copies`` worlds of ``scene`` (lane 0's agents; the ``controlled`` ones external).

    Parameters
    ----------
    scene : a shipped scene's name or a scene file.
    distribution : initial-state distribution (default: the scene's).
    n_copies : how many worlds.
    controlled : indices of lane 0's agents the caller drives; the others keep the scene's
        policies (a Gymnasium env on dueling_thermostats races the scene's cooler).
    objectives : per controlled agent, the objective its reward measures (None: for a
        one-agent env the scene's base objective, the scene's own reward; else the lane's).
    """

    def __init__(self, scene: str, distribution: str | None, n_copies: int,
                 controlled: tuple[int, ...] = (0,),
                 objectives: tuple[str | None, ...] | None = None):
        self.scene = load_scene(scene)
        self.world = self.scene.world
        self.driver = get_driver(self.world)
        self.distribution = distribution or self.scene.default_distribution
        if self.distribution not in self.scene.layouts:
            raise ValueError(f"{self.scene.name}: no distribution {self.distribution!r}"
                             f" (choose from {', '.join(self.scene.distributions)})")
        self.n_copies = int(n_copies)
        members = self.scene.model.lanes[0].members()
        if sense(self.world).SOLO:  # one agent per lane: the scene's lanes are not needed
            members = members[:1]
            others: list[AgentSpec] = []
        else:
            others = self.scene.lane_agent_group(0)
        objectives = objectives or (None,) * len(controlled)
        self.agents = [
            external_agent(self.scene, members[a], objectives[controlled.index(a)])
            if a in controlled else others[a]
            for a in range(len(members))
        ]
        self.controlled = controlled
        self._sense = sense(self.world)
        self.width = self._sense.ACTION_WIDTH
        self.params = self.driver.params(self.scene)
        self._events = EventArrays.empty(self.driver.n_event_params)
        self.seed = 0
        self.n_steps = 0  # step (and unseeded reset) calls since the last seeded reset
        self.reset(0)

    # --- state -----------------------------------------------------------------------
    def _draw(self, n: int, seed: int) -> Any:
        return self.driver.initial_state(self.scene, self.distribution, n, seed)

    def reset(self, seed: int) -> None:
        """Every copy afresh: copy i is copy i of the ensemble at ``seed``."""
        self.seed, self.n_steps = int(seed), 0
        self.state = self._draw(self.n_copies, self.seed)
        self._maps = self._sense.scratch(self.state)
        self._refresh = np.ones(self.n_copies, np.bool_)

    def redraw(self, copies: np.ndarray, k: int) -> None:
        """New episodes for ``copies`` (sorted indices) reset after ``k`` step calls (a
        vector env's autoreset happens in call k + 1): drawn at derive(seed, k)."""
        if len(copies) == 0:
            return
        fresh = self._draw(len(copies), derive_seed(self.seed, k))
        for f in dataclasses.fields(self.state):
            getattr(self.state, f.name)[copies] = getattr(fresh, f.name)
        self._refresh[copies] = True

    def observe(self) -> np.ndarray:
        """(E, *shape) float32, the world's ``sense`` observation of every copy."""
        obs = self._sense.observe_copies(self.state, self._maps, self._refresh)
        self._refresh[:] = False
        return obs

    @property
    def status(self) -> np.ndarray:
        return self.state.status

    # --- stepping --------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> np.ndarray:
        """One step of every running copy; ``actions`` (E, n_controlled, W) float64.

        Returns rewards (E, n_controlled) float64 (0 for copies that did not step).
        """
        ext = np.zeros((self.n_copies, len(self.agents), self.width))
        ext[:, list(self.controlled)] = actions
        trace = self.driver.advance(self.state, self.agents, self._events, self.params,
                                    self.seed, 1, True, actions=ext)
        self.n_steps += 1
        return trace.reward[0][:, list(self.controlled)]
