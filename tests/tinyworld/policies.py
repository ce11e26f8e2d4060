"""Tiny-world objectives (``reach:goal``, ``reach:<cell>``), agent parameters and the one
policy kernel: null stays, random picks any action, thermostat steps toward its target
(one feedback loop on one error signal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from agents.registry import AGENT_RANDOM, AGENT_THERMOSTAT, N_AGENT_PARAMS
from simulator.core.errors import UserError
from simulator.core.rng import STREAM_AGENT, rand_int
from tinyworld.kernels import ACT_LEFT, ACT_RIGHT, ACT_STAY, N_ACTIONS

AGENTS = ("null", "random", "thermostat", "external")


@dataclass(frozen=True)
class TinyObjective:
    """Stand on ``cell`` (-1: the goal cell)."""

    cell: int

    @property
    def text(self) -> str:
        return "reach:goal" if self.cell < 0 else f"reach:{self.cell}"

    def as_array(self) -> np.ndarray:
        return np.array([self.cell], np.int32)


def parse_objective(text: str) -> TinyObjective:
    kind, _, where = text.strip().partition(":")
    if kind != "reach" or not (where == "goal" or where.isdigit()):
        raise UserError(f"objective {text!r} must look like 'reach:goal' or 'reach:3'")
    return TinyObjective(-1 if where == "goal" else int(where))


def agent_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                             tuple[str, ...]]:
    """(params vector, rule table, rule text); no agent here takes parameters."""
    if name not in AGENTS:
        raise UserError(f"the tiny world has no {name} agent ({', '.join(AGENTS)})")
    if params:
        raise UserError(f"{name} agent: unknown parameter(s) {', '.join(params)} (takes none)")
    return np.zeros(N_AGENT_PARAMS), np.zeros((0, 13), np.int32), ()


@njit(cache=True)
def act(agent_code, objective, pos, goal, seed, e, step):
    """The action of agent ``agent_code`` in copy ``e``; objective (1,) int32."""
    if agent_code == AGENT_RANDOM:
        return rand_int(seed, e, step, STREAM_AGENT, N_ACTIONS)
    if agent_code == AGENT_THERMOSTAT:
        target = goal if objective[0] < 0 else objective[0]
        return ACT_RIGHT if target > pos else ACT_LEFT if target < pos else ACT_STAY
    return ACT_STAY
