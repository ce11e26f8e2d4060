"""Perturbation events as data: each world declares its event kinds and their named
parameters once (:class:`EventTable`); encoding, decoding and validation are written here,
once, for every world.

An event is ``(kind, target, params)``: ``target`` an index into the world (an object slot,
a window, a body; -1 for none or every), ``params`` named numbers the kernels take as one
``(n_params,)`` float64 vector at fixed slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from simulator.core.errors import UserError


@dataclass(frozen=True)
class ParamRange:
    """The range an event parameter must lie in: finite, ``low <= value <= high`` and, if
    ``integer``, a whole number. ``unit`` is shown in the error."""

    low: float
    high: float
    integer: bool = False
    unit: str = ""

    def describe(self) -> str:
        what = "a whole number" if self.integer else "a finite number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{what} in [{self.low:g}, {self.high:g}]{unit}"

    def check(self, kind: str, name: str, value: Any) -> float:
        """``value`` as a float, or UserError naming kind, parameter and range."""
        problem = isinstance(value, bool)  # True is not a row, a colour or a probability
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            problem, number = True, math.nan
        if (problem or not math.isfinite(number) or not self.low <= number <= self.high
                or (self.integer and not number.is_integer())):
            raise UserError(f"{kind}: {name} = {value!r} must be {self.describe()}")
        return number


@dataclass(frozen=True)
class Param:
    """One named parameter of an event kind: its slot in the vector and its default
    (None: required)."""

    name: str
    slot: int
    default: float | None = None


@dataclass(frozen=True)
class EventKind:
    """An event kind: its parameters, and what its ``target`` must name ("" when the kind
    takes none or -1 means "every")."""

    params: tuple[Param, ...] = ()
    target: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def event_kind(*params: tuple[Any, ...], target: str = "") -> EventKind:
    """``event_kind(("row", 0), ("col", 1), ("radius", 2, 1.5))``: an EventKind from
    ``(name, slot[, default])`` tuples."""
    return EventKind(tuple(Param(*p) for p in params), target)


@dataclass(frozen=True)
class EventTable:
    """A world's events: kinds in code order (the kernels' ``EV_*`` codes are their
    indices), the range of every parameter name, the vector length, the value a slot holds
    when no parameter sets it (``fill``), and names accepted for coded parameters
    (``codes``: e.g. ``color`` → the colour names, so ``{"color": "red"}`` encodes 0)."""

    kinds: dict[str, EventKind]
    ranges: dict[str, ParamRange]
    n_params: int
    fill: dict[int, float] = field(default_factory=dict)
    codes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def event_kinds(self) -> tuple[str, ...]:
        return tuple(self.kinds)

    def encode(self, kind: str, target: int, params: dict[str, Any]) -> tuple[float, ...]:
        """Named parameters → the kernels' (n_params,) vector; UserError naming kind,
        parameter and range for anything unknown, missing or out of range (nothing is
        clipped or ignored silently)."""
        if kind not in self.kinds:
            raise UserError(f"unknown perturbation {kind!r} ({', '.join(self.kinds)})")
        spec = self.kinds[kind]
        unknown = set(params) - set(spec.names)
        if unknown:
            raise UserError(f"{kind}: unknown parameter(s) {', '.join(sorted(unknown))}"
                            f" (takes {', '.join(spec.names) or 'none'})")
        missing = [p.name for p in spec.params if p.default is None and p.name not in params]
        if missing:
            raise UserError(f"{kind}: missing parameter(s) {', '.join(missing)}")
        if spec.target and target < 0:
            raise UserError(f"{kind}: needs target = <{spec.target}>")
        vec = [0.0] * self.n_params
        for slot, value in self.fill.items():
            vec[slot] = value
        for p in spec.params:
            value = params.get(p.name, p.default)
            names = self.codes.get(p.name)
            if names and isinstance(value, str):
                if value not in names:
                    raise UserError(f"{kind}: unknown {p.name} {value!r} ({', '.join(names)})")
                value = names.index(value)
            vec[p.slot] = self.ranges[p.name].check(kind, p.name, value)
        return tuple(vec)

    def decode(self, kind: str, vec: tuple[float, ...] | np.ndarray) -> dict[str, float]:
        """The named parameters of an encoded event (inverse of :meth:`encode`)."""
        return {p.name: float(vec[p.slot]) for p in self.kinds[kind].params}


# --- the event cursor: the kernels' walk through a lane's sorted event log ------------
@njit(cache=True, inline="always")
def first_event_at(ev_step, step):
    """Index of the first event at or after ``step``; ev_step (n,) int32 sorted."""
    i_ev = 0
    while i_ev < ev_step.shape[0] and ev_step[i_ev] < step:
        i_ev += 1
    return i_ev


@njit(cache=True, inline="always")
def event_due(ev_step, i_ev, step):
    """Whether event ``i_ev`` exists and is logged for ``step``."""
    return i_ev < ev_step.shape[0] and ev_step[i_ev] == step


@njit(cache=True, inline="always")
def event_hits(ev_copy, i_ev, e):
    """Whether event ``i_ev`` hits copy ``e`` (ev_copy -1: every copy)."""
    return ev_copy[i_ev] < 0 or ev_copy[i_ev] == e
