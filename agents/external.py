"""Your own policy in a lane: ``agent = "python:package.module:callable"``.

The callable is called once per step on the lane's observations batched over its copies,
``policy(obs) -> actions``: obs ``(E, *shape)`` float32 as the world's ``sense`` module
(``simulator/worlds/<kind>/sense.py``) defines
them per world, actions ``(E,)`` integers 0..4 (maze), ``(E,)`` power fractions (thermal)
or ``(E, 2)`` thrusts (arena). Everything else — slip noise, physics, rewards, the
horizon — stays in the world's kernels: the policy only chooses, the kernel executes, one
step per kernel call, and the executed actions are recorded like any agent's.

The module is imported from the working directory first (then ``sys.path``), so a policy
file beside you works as ``python:my_policy:act``. ``steersim verify`` re-simulates by
calling the policy again: a match shows the world *and* the policy are deterministic; a
policy that draws unseeded random numbers, or changed since, diverges at its first
different action.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from agents.registry import (
    AGENT_EXTERNAL,
    EXTERNAL_PREFIX,
    AgentSpec,
    ObjectiveLike,
)
from simulator.core.errors import UserError
from simulator.worlds import agent_params, parse_objective, sense

Policy = Callable[[np.ndarray], Any]
_POLICIES: dict[str, Policy] = {}


def load_policy(entry: str) -> Policy:
    """Import ``package.module:callable`` (cached); UserError in one line when it cannot be."""
    if entry in _POLICIES:
        return _POLICIES[entry]
    where = f"{EXTERNAL_PREFIX}{entry}"
    module_name, sep, attr = entry.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"{where}: an external policy is python:package.module:callable")
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's module is reported, not raised
        raise UserError(f"{where}: cannot import {module_name}:"
                        f" {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UserError(f"{where}: module {module_name} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise UserError(f"{where}: {attr} is not callable")
    _POLICIES[entry] = target
    return target


def make_external(name: str, objective: str | ObjectiveLike, world: str = "maze",
                  **params: Any) -> AgentSpec:
    """The AgentSpec of ``python:package.module:callable``; the policy is imported now, so
    a bad entry point fails before anything runs. ``params`` as the world's agents take
    them (thermal: ``heater``)."""
    entry = name[len(EXTERNAL_PREFIX):]
    load_policy(entry)
    obj = parse_objective(objective, world) if isinstance(objective, str) else objective
    vec, rules, _ = agent_params(world, "external", params)
    return AgentSpec("external", obj, vec, rules, (), world, external=entry)


def check_actions(actions: Any, world: str, n_copies: int, who: str) -> np.ndarray:
    """One external agent's actions as (E, ACTION_WIDTH) float64; UserError naming ``who``
    when their shape or values are wrong."""
    width = sense(world).ACTION_WIDTH
    expected = (n_copies, width) if width > 1 else (n_copies,)
    try:
        arr = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{who}: returned {type(actions).__name__}, not an array of"
                        f" shape {expected}") from None
    if width == 1 and arr.shape == (n_copies, 1):
        arr = arr[:, 0]
    if arr.shape != expected:
        raise UserError(f"{who}: returned actions of shape {arr.shape}, expected {expected}"
                        f" (one per copy of the {world} lane)")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{who}: returned a non-finite action")
    n_discrete = sense(world).N_DISCRETE
    if n_discrete and not np.all((arr == np.round(arr)) & (arr >= 0) & (arr < n_discrete)):
        raise UserError(f"{who}: {world} actions are integers 0..{n_discrete - 1}")
    return arr.reshape(n_copies, width)


def external_actions(world: str, state: Any, agents: list[AgentSpec], n_steps: int,
                     actions: np.ndarray | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """What a driver hands its kernel for external agents: ``(step, ext)`` pairs.

    Without external agents: one pair ``(0, empty (0, A, W))`` — the kernel runs all
    ``n_steps`` at once. With them: one pair per step (the kernel takes one step between
    two pairs), ``ext`` (E, A, W) float64 holding ``actions`` (one step only) or else what
    each agent's policy returns on the state as it is after the previous step; the pairs
    end early once every copy has stopped.
    """
    n_copies, n_agents, width = state.n_copies, len(agents), sense(world).ACTION_WIDTH
    external = [a for a, agent in enumerate(agents) if agent.code == AGENT_EXTERNAL]
    if not external:
        yield 0, np.zeros((0, n_agents, width))
        return
    if actions is not None:
        if n_steps != 1 or actions.shape != (n_copies, n_agents, width):
            raise ValueError(f"actions for one step must be (E, A, W) ="
                             f" {(n_copies, n_agents, width)}, got {actions.shape}"
                             f" for {n_steps} steps")
        yield 0, np.ascontiguousarray(actions, np.float64)
        return
    for a in external:
        if not agents[a].external:
            raise UserError(f"agent {a} is external but names no policy (python:module:fn)")
    policies = [(a, load_policy(agents[a].external)) for a in external]
    for step in range(n_steps):
        if np.all(state.status != 0):  # every world's STATUS_RUNNING
            return
        obs = sense(world).observe_copies(state)
        ext = np.zeros((n_copies, n_agents, width))
        for a, policy in policies:
            who = f"{EXTERNAL_PREFIX}{agents[a].external}"
            try:
                chosen = policy(obs)
            except Exception as exc:  # the user's code: one line, not a traceback
                raise UserError(f"{who}: raised {type(exc).__name__}: {exc}") from None
            ext[:, a] = check_actions(chosen, world, n_copies, who)
        yield step, ext
