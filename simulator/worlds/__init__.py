"""The registry of world kinds: the one table every kind-keyed lookup reads.

A world kind is one package, ``simulator/worlds/<kind>/``, whose light ``__init__`` defines
``WORLD`` (a :class:`~simulator.core.world.World` of data and string entry points) and whose
modules hold the kernels, driver, scene schema, policy kernels, observation, renderer and
GUI tools. Adding a world is that package plus one line in :data:`WORLDS`
(docs/adding-a-world.md); a plugin or a test may call :func:`register` instead.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import numpy as np

from agents.registry import AGENT_NAMES, TRAINED_PREFIX, AgentSpec, ObjectiveLike
from simulator.core.errors import UserError
from simulator.core.world import World

# kind → "package:WORLD". The only table keyed by world kind.
WORLDS: dict[str, str] = {
    "maze": "simulator.worlds.maze:WORLD",
    "thermal": "simulator.worlds.thermal:WORLD",
    "arena": "simulator.worlds.arena:WORLD",
}


def register(kind: str, entry: str) -> None:
    """Add (or replace) world ``kind``, named by ``"package:WORLD"``."""
    WORLDS[kind] = entry


def unregister(kind: str) -> None:
    WORLDS.pop(kind, None)


def world_kinds() -> tuple[str, ...]:
    return tuple(WORLDS)


def world(kind: str) -> World:
    """The World record of ``kind``; KeyError naming the known kinds otherwise."""
    try:
        module, _, attr = WORLDS[kind].partition(":")
    except KeyError:
        raise KeyError(f"unknown world {kind!r} (choose from {', '.join(WORLDS)})") from None
    found = getattr(import_module(module), attr or "WORLD")
    if found.kind != kind:
        raise KeyError(f"{WORLDS[kind]} describes world {found.kind!r}, not {kind!r}")
    return found


def get_driver(kind: str) -> Any:
    """The driver of world ``kind`` (a :class:`~simulator.core.driver.WorldDriver`)."""
    return world(kind).load("driver")


def sense(kind: str) -> Any:
    """World ``kind``'s observation module for agents outside the engine (``ACTION_WIDTH``,
    ``observation_shape``, ``observation_bounds``, ``observe_copies``, ``scratch``)."""
    return world(kind).load("sense")


def parse_objective(text: str, kind: str = "maze") -> ObjectiveLike:
    """Parse an objective of world ``kind``; UserError with a message naming what is wrong."""
    return world(kind).load("objective")(text)


def agent_params(kind: str, name: str,
                 params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """World ``kind``'s agent ``name`` with named ``params`` → (params vector, rule table,
    rule text) as the kernels take them; UserError for an unknown or bad parameter."""
    return world(kind).load("agent_params")(name, params)


def make_agent(name: str, objective: str | ObjectiveLike, kind: str = "maze",
               **params: Any) -> AgentSpec:
    """Build an AgentSpec for world ``kind``, validating name and parameters (UserError).

    Trained agents (``trained:FILE#k``) come from a file: :func:`agents.store.build_agent`
    takes every name, trained or not."""
    obj = parse_objective(objective, kind) if isinstance(objective, str) else objective
    if name not in AGENT_NAMES:
        raise UserError(f"unknown agent {name!r} (choose from {', '.join(AGENT_NAMES)},"
                        f" or {TRAINED_PREFIX}FILE#k)")
    for key, value in params.items():  # a NaN gain or budget would reach the kernels as is
        if isinstance(value, float) and not np.isfinite(value):
            raise UserError(f"{name} agent: {key} = {value!r} must be a finite number")
    vec, rules, rule_text = agent_params(kind, name, params)
    return AgentSpec(name, obj, vec, rules, rule_text, kind)


__all__ = ["WORLDS", "World", "agent_params", "get_driver", "make_agent", "parse_objective",
           "register", "sense", "unregister", "world", "world_kinds"]
