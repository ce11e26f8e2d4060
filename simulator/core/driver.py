"""What every world driver provides, and the plain data it exchanges with the Session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulator.core.events import EventTable

INT32_MAX = 2**31 - 1  # event steps, targets and copies are packed as int32


@dataclass
class StepTrace:
    """What happened in one ``advance`` call, per step ``S``, copy ``E`` and agent ``A``.

    action (S, E, A, ...) executed actions (-1 / NaN where the copy had already stopped);
    reward (S, E, A) float64; internals: name → (S, E, A) array of agent internals
    (``rule`` fired, search ``nodes`` expanded, ``heater`` on, ...); world_steps (E,) int64
    world steps simulated inside tree searches (for the benchmark).
    """

    action: np.ndarray
    reward: np.ndarray
    internals: dict[str, np.ndarray]
    world_steps: np.ndarray

    @property
    def n_steps(self) -> int:
        return self.action.shape[0]


@dataclass
class EventArrays:
    """A lane's perturbation log packed for the kernels (sorted by step, stable)."""

    step: np.ndarray  # (n,) int32
    kind: np.ndarray  # (n,) int32
    target: np.ndarray  # (n,) int32
    params: np.ndarray  # (n, n_params) float64
    copy: np.ndarray  # (n,) int32: -1 hits every copy

    @classmethod
    def empty(cls, n_params: int) -> EventArrays:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
                   np.zeros((0, n_params)), np.zeros(0, np.int32))


@dataclass
class Outcome:
    """How one agent of one lane fared in copy 0 (or in the copy asked for).

    detail is a short human description of the end ("red door", "lava", "in band 71%").
    fraction_of_steps is the fraction of completed steps its objective held (for worlds
    where an objective is held rather than reached; for the maze, 1.0 once reached).
    """

    lane: int
    agent_index: int
    agent: str
    objective: str
    status: str  # running | terminated | truncated
    steps: int
    ret: float
    detail: str | None
    achieved_objective: bool
    achieved_base: bool
    fraction_of_steps: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.update(out.pop("extra"))
        return out


class WorldDriver(Protocol):
    """The interface the Session uses; one instance per world kind (module-level DRIVER)."""

    kind: str
    event_kinds: tuple[str, ...]
    n_event_params: int
    state_type: type

    def params(self, scene: Any) -> np.ndarray:
        """The scene's scalar world rules, packed as the kernels take them (float64)."""
        ...

    def initial_state(self, scene: Any, distribution: str, n_copies: int,
                      seed: int) -> Any: ...

    def encode_event(self, kind: str, target: int, params: dict[str, Any]) -> tuple[float, ...]:
        """Named parameters → the kernels' (n_event_params,) vector; UserError naming kind,
        parameter and range for anything out of range (checked without a world)."""
        ...

    def decode_event(self, kind: str, vec: tuple[float, ...] | np.ndarray) -> dict[str, float]:
        """An encoded event's named parameters (the inverse of ``encode_event``)."""
        ...

    def event_where(self, state: Any, copy: int, kind: str, target: int,
                    vec: tuple[float, ...] | np.ndarray) -> tuple[float, ...] | None:
        """Where an event hit, in the renderer's world coordinates, or None (everywhere)."""
        ...

    def check_event(self, state: Any, kind: str, target: int, vec: tuple[float, ...]) -> None:
        """UserError if an encoded event does not fit this world (a cell off the grid, no
        such object slot, window, body or goal); ``state`` is any lane's state."""
        ...

    def advance(self, state: Any, agents: list[Any], events: EventArrays, params: np.ndarray,
                seed: int, n_steps: int, trace: bool,
                out: StepTrace | None = None,
                actions: np.ndarray | None = None) -> StepTrace:
        """Step ``state`` in place; ``out``: a trace this driver returned before for the
        same ``n_steps``, copies and agents, refilled instead of allocating one (entries of
        copies that did not step keep their old values). External agents
        (``AGENT_EXTERNAL``) act one step per kernel call: on ``actions`` (E, A, W) float64
        when given (then ``n_steps`` must be 1: a Gymnasium env), else on what their
        policies return (agents/external.py)."""
        ...

    def outcomes(self, scene: Any, state: Any, copy: int, agents: list[Any],
                 lane: int, history: Any | None = None) -> list[Outcome]: ...

    # What the narrowing metrics read (simulator/metrics.py).
    def projection(self, scene: Any, state: Any) -> np.ndarray:
        """The coordinates that matter, (E, D) float64 (the maze: the agent's cell)."""
        ...

    def bins(self, scene: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """How to bin the projection for the entropy H: lows (D,), highs (D,), n_bins (D,)."""
        ...

    def in_target(self, scene: Any, state: Any, objective: Any) -> np.ndarray:
        """(E,) bool: each copy is in ``objective``'s target set (for F and OP)."""
        ...

    def score(self, scene: Any, state: Any, objective: Any) -> np.ndarray:
        """(E,) float64, higher is better: how good each copy's outcome is for OP."""
        ...

    def funnel(self, scene: Any, state: Any) -> tuple[np.ndarray, float, float]:
        """The funnel plot's coordinate (E,) and its (low, high) range."""
        ...


class DriverBase:
    """What every driver shares, from its world's declared :class:`EventTable` (``events``):
    event kinds, encoding and decoding, and where an event hit (for flashes)."""

    kind: str
    events: EventTable

    @property
    def event_kinds(self) -> tuple[str, ...]:
        return self.events.event_kinds

    @property
    def n_event_params(self) -> int:
        return self.events.n_params

    def encode_event(self, kind: str, target: int, params: dict[str, Any]) -> tuple[float, ...]:
        return self.events.encode(kind, target, params)

    def decode_event(self, kind: str, vec: tuple[float, ...] | np.ndarray) -> dict[str, float]:
        return self.events.decode(kind, vec)

    def event_where(self, state: Any, copy: int, kind: str, target: int,
                    vec: tuple[float, ...] | np.ndarray) -> tuple[float, ...] | None:
        """Where an event hit copy ``copy`` of ``state``, in the renderer's world
        coordinates: its cell ``(row, col)`` or point ``(x, y)``, else where the thing it
        targets stands (:meth:`target_where`), else None (it hits the whole world)."""
        named = self.decode_event(kind, vec)
        for a, b in (("row", "col"), ("x", "y")):
            if a in named and b in named:
                return (named[a], named[b])
        return self.target_where(state, copy, kind, target) if target >= 0 else None

    def target_where(self, state: Any, copy: int, kind: str,
                     target: int) -> tuple[float, ...] | None:
        """Where the thing an event targets stands (an object, a body), or None."""
        return None
