"""What the file stores about agents and perturbations: AgentSpec <-> JSON, Event rows
<-> the compound events table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.registry import AgentSpec
from simulator.core.errors import UserError
from simulator.recording.format import agent_keys, event_dtype
from simulator.worlds import parse_objective

if TYPE_CHECKING:
    from simulator.session import Event


# AgentSpec fields added for trained and external agents; None / "" mean "not set".
_OPTIONAL_AGENT_FIELDS = ("policy_objective", "trained", "external")


def agent_to_dict(agent: AgentSpec) -> dict[str, Any]:
    """Every field of an AgentSpec as JSON-able data (arrays with dtype and shape), so the
    exact agent the kernels saw can be rebuilt by :func:`agent_from_dict`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(agent):
        value = getattr(agent, f.name)
        if f.name in _OPTIONAL_AGENT_FIELDS and (
                value is None or (isinstance(value, str) and value == "")):
            continue  # written only when set, so agents recorded before them read the same
        if f.name == "objective":
            value = value.text
        elif isinstance(value, np.ndarray):
            value = {"dtype": value.dtype.str, "shape": list(value.shape),
                     "data": value.ravel().tolist()}
        out[f.name] = value
    out["label"] = agent.label
    return out


def agent_from_dict(data: Mapping[str, Any]) -> AgentSpec:
    """Rebuild the AgentSpec stored by :func:`agent_to_dict` (UserError if it cannot be)."""
    kwargs: dict[str, Any] = {}
    world = data.get("world", "maze")
    for f in dataclasses.fields(AgentSpec):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "objective":
            value = parse_objective(value, world)
        elif isinstance(value, dict) and "dtype" in value:
            value = np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return AgentSpec(**kwargs)
    except TypeError as exc:
        raise UserError(f"agent {data.get('name')!r} cannot be rebuilt: {exc}") from None


def agent_keys_of(agents: Sequence[AgentSpec]) -> list[str]:
    return agent_keys([agent.name for agent in agents])


def events_table(events: Sequence[Event], event_kinds: Sequence[str],
                 n_params: int) -> np.ndarray:
    """Events as the compound rows of ``/episode_k/events`` (n,), in logged order."""
    table = np.zeros(len(events), event_dtype(event_kinds, n_params))
    for i, ev in enumerate(events):
        table[i] = (ev.step, ev.kind.encode(), ev.lane, ev.copy, ev.target,
                    np.asarray(ev.params, np.float64), ev.source.encode())
    return table


