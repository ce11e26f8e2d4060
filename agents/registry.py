"""Agent names, objectives and parameters as plain data the kernels can take.

An agent is an integer code plus a float64 parameter vector (and, for the heuristic pile,
an int32 rule table); an objective is ``(kind, colour)`` codes with ``-1`` meaning "any".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulator.errors import UserError
from simulator.worlds.maze import COLOR_TO_IDX, OBJECT_TO_IDX

AGENT_NULL, AGENT_RANDOM, AGENT_THERMOSTAT, AGENT_HEURISTIC, AGENT_SEARCH = range(5)
# Behaviours only training produces (agents/learned.py); a scene names them through a
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
# A learned objective (agents.maze.matches): objective[0] == OBJECTIVE_MASK, then 2 unused
# ints' worth of header and a (kind, colour) mask of what the reward model finds rewarding.
OBJECTIVE_MASK = -2

# Search parameters (float64 vector): node budget, depth limit.
SEARCH_DEFAULTS = {"budget": 4000.0, "depth": 64.0}
N_AGENT_PARAMS = 8


@dataclass(frozen=True)
class Objective:
    """What an agent pursues: reach an object whose kind and colour match.

    ``kind`` / ``color`` are code-table indices, or -1 for "any". Text form:
    ``reach:door``, ``reach:red``, ``reach:red_door``, ``reach:goal``.
    """

    kind: int = -1
    color: int = -1

    @property
    def text(self) -> str:
        parts = []
        if self.color >= 0:
            parts.append(list(COLOR_TO_IDX)[self.color])
        if self.kind >= 0:
            parts.append(list(OBJECT_TO_IDX)[self.kind])
        return "reach:" + ("_".join(parts) if parts else "any")

    def as_array(self) -> np.ndarray:
        """(2,) int32: kind, colour."""
        return np.array([self.kind, self.color], np.int32)


def parse_maze_objective(text: str) -> Objective:
    """Parse ``reach:<colour>``, ``reach:<kind>``, ``reach:<colour>_<kind>`` or ``reach:any``.

    Raises UserError with a message naming what is wrong.
    """
    verb, _, what = text.strip().partition(":")
    if verb != "reach" or not what:
        raise UserError(f"objective {text!r} must look like 'reach:door' or 'reach:red'")
    if what == "any":
        return Objective()
    kind = color = -1
    for word in what.replace("+", "_").split("_"):
        if word in OBJECT_TO_IDX and kind < 0:
            kind = OBJECT_TO_IDX[word]
        elif word in COLOR_TO_IDX and color < 0:
            color = COLOR_TO_IDX[word]
        else:
            raise UserError(
                f"objective {text!r}: unknown word {word!r} (kinds: {', '.join(OBJECT_TO_IDX)};"
                f" colours: {', '.join(COLOR_TO_IDX)})"
            )
    return Objective(kind, color)


class ObjectiveLike(Protocol):
    """What the kernels and reports need of any world's objective."""

    @property
    def text(self) -> str: ...

    def as_array(self) -> np.ndarray: ...


def _maze_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                             tuple[str, ...]]:
    """Validate a maze agent's parameters → (params vector, rule table, rule text)."""
    from agents.rules import DEFAULT_MAZE_RULES, compile_rules

    vec = np.zeros(N_AGENT_PARAMS)
    rules = np.zeros((0, 13), np.int32)
    rule_text: tuple[str, ...] = ()
    if name == "search":
        merged = dict(SEARCH_DEFAULTS)
        for key, value in params.items():
            if key not in merged:
                raise UserError(f"search agent: unknown parameter {key!r} (budget, depth)")
            try:
                merged[key] = float(value)
            except (TypeError, ValueError):
                raise UserError(f"search agent: {key} must be a number, not {value!r}") from None
        if merged["budget"] < 1 or merged["depth"] < 1:
            raise UserError("search agent: budget and depth must be at least 1")
        vec[0], vec[1] = merged["budget"], merged["depth"]
    elif name == "heuristic":
        params = dict(params)
        text = params.pop("rules", None)
        if params:
            raise UserError(f"heuristic agent: unknown parameter(s) {', '.join(params)}")
        rule_text = tuple(text) if text else DEFAULT_MAZE_RULES
        rules = compile_rules(rule_text)
    elif params:
        raise UserError(f"{name} agent takes no parameters (got {', '.join(params)})")
    return vec, rules, rule_text


def _thermal_objective(text: str) -> ObjectiveLike:
    from agents.thermal import parse_thermal_objective  # lazy: agents.thermal imports us

    return parse_thermal_objective(text)


def _thermal_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                                tuple[str, ...]]:
    from agents.thermal import thermal_params

    return thermal_params(name, params)


def _arena_objective(text: str) -> ObjectiveLike:
    from agents.arena import parse_arena_objective  # lazy: agents.arena imports us

    return parse_arena_objective(text)


def _arena_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                              tuple[str, ...]]:
    from agents.arena import arena_params

    return arena_params(name, params)


# Per world kind: objective parser and agent-parameter builder. Other worlds register here.
OBJECTIVE_PARSERS: dict[str, Callable[[str], ObjectiveLike]] = {
    "maze": parse_maze_objective,
    "thermal": _thermal_objective,
    "arena": _arena_objective,
}
PARAM_BUILDERS: dict[str, Callable[[str, dict[str, Any]],
                                   tuple[np.ndarray, np.ndarray, tuple[str, ...]]]] = {
    "maze": _maze_params,
    "thermal": _thermal_params,
    "arena": _arena_params,
}


def parse_objective(text: str, world: str = "maze") -> ObjectiveLike:
    """Parse an objective of ``world``; UserError with a message naming what is wrong."""
    return OBJECTIVE_PARSERS[world](text)


@dataclass(frozen=True)
class AgentSpec:
    """An agent as the kernels see it.

    code : AGENT_* index; objective : what it pursues (world-specific, see
    OBJECTIVE_PARSERS); params : (N_AGENT_PARAMS,) float64 world-specific parameters;
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
        told one, as an int32 array (see agents.maze.matches)."""
        if self.policy_objective is not None:
            return self.policy_objective
        return self.objective.as_array()


def make_agent(name: str, objective: str | ObjectiveLike, world: str = "maze",
               **params: Any) -> AgentSpec:
    """Build an AgentSpec for ``world``, validating name and parameters (UserError).

    Trained agents (``trained:FILE#k``) come from a file: :func:`agents.store.build_agent`
    takes every name, trained or not."""
    obj = parse_objective(objective, world) if isinstance(objective, str) else objective
    if name not in AGENT_NAMES:
        raise UserError(f"unknown agent {name!r} (choose from {', '.join(AGENT_NAMES)},"
                        f" or {TRAINED_PREFIX}FILE#k)")
    for key, value in params.items():  # a NaN gain or budget would reach the kernels as is
        if isinstance(value, float) and not np.isfinite(value):
            raise UserError(f"{name} agent: {key} = {value!r} must be a finite number")
    vec, rules, rule_text = PARAM_BUILDERS[world](name, params)
    return AgentSpec(name, obj, vec, rules, rule_text, world)
