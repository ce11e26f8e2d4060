"""Agent names and the plain data the kernels take: an agent is an integer code plus a
float64 parameter vector (and, for the heuristic pile, an int32 rule table). What an
objective means is the world's business (``simulator/worlds/<kind>/``): here it is
anything with a ``text`` and an ``as_array()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

AGENT_NULL, AGENT_RANDOM, AGENT_THERMOSTAT, AGENT_HEURISTIC, AGENT_SEARCH = range(5)
# Behaviours only training produces (simulator/worlds/maze/learned.py); a scene names them through a
# trained-agents file, ``trained:FILE#k``, never by these names.
AGENT_POLICY, AGENT_LEARNED_PILE = 5, 6
AGENT_NAMES = ("null", "random", "thermostat", "heuristic", "search")
LEARNED_NAMES = ("policy", "learned_pile")
# An agent whose actions come from outside the kernels, one step at a time (per copy): a
# Python policy named ``python:package.module:callable`` (agents/external.py) or a
# Gymnasium / PettingZoo env's caller (simulator/envs/).
AGENT_EXTERNAL = 7
EXTERNAL_NAMES = ("external",)
AGENT_TO_IDX = {name: i for i, name in enumerate(AGENT_NAMES + LEARNED_NAMES + EXTERNAL_NAMES)}
TRAINED_PREFIX = "trained:"
EXTERNAL_PREFIX = "python:"
# A learned objective (simulator.worlds.maze.policies.matches): objective[0] ==
# OBJECTIVE_MASK, then 2 unused ints' worth of header and a (kind, colour) mask of what the reward
# model finds rewarding.
OBJECTIVE_MASK = -2

N_AGENT_PARAMS = 8


class ObjectiveLike(Protocol):
    """What the kernels and reports need of any world's objective."""

    @property
    def text(self) -> str: ...

    def as_array(self) -> np.ndarray: ...


@dataclass(frozen=True)
class AgentSpec:
    """An agent as the kernels see it.

    code : AGENT_* index; objective : what it pursues (world-specific: parsed by the
    world's ``objective`` entry point, :func:`simulator.worlds.parse_objective`);
    params : (N_AGENT_PARAMS,) float64 world-specific parameters;
    rules : (R, RULE_WIDTH) int32 heuristic rule table (empty for other agents).
    """

    name: str
    objective: ObjectiveLike
    params: np.ndarray = field(default_factory=lambda: np.zeros(N_AGENT_PARAMS))
    rules: np.ndarray = field(default_factory=lambda: np.zeros((0, 13), np.int32))
    rule_text: tuple[str, ...] = ()
    world: str = "maze"
    # Trained agents: what the kernels pursue when it is learned rather than told (a
    # reward model's mask, see OBJECTIVE_MASK), and where the agent came from
    # ("reinforce #3 of red_door.agents.h5"). The ``objective`` of a trained agent only
    # names what the reports measure it against; its actions never read it.
    policy_objective: np.ndarray | None = None
    trained: str = ""
    # External agents: the policy's entry point ("package.module:callable"), or "" when the
    # caller sets the actions itself (a Gymnasium env).
    external: str = ""

    @property
    def code(self) -> int:
        return AGENT_TO_IDX[self.name]

    @property
    def label(self) -> str:
        if self.trained:
            return f"trained {self.trained}"
        if self.external:
            return f"{EXTERNAL_PREFIX}{self.external} → {self.objective.text}"
        return f"{self.name} → {self.objective.text}"

    def kernel_objective(self) -> np.ndarray:
        """What the policy kernels pursue: the learned objective of a trained agent, else the
        told one, as an int32 array (see simulator.worlds.maze.policies.matches)."""
        if self.policy_objective is not None:
            return self.policy_objective
        return self.objective.as_array()


