"""World drivers: the session layer's bridge to one world's kernels and the agents.

A driver knows, for its world kind, how to draw initial states, advance a lane's ensemble
(fused world + agent kernels), encode perturbation events and describe outcomes. The Session
is world-agnostic and talks only to a driver; drivers import lazily so a maze run never
compiles the arena's kernels.
"""

from __future__ import annotations

from importlib import import_module

from simulator.drivers.base import EventArrays, Outcome, StepTrace, WorldDriver

_DRIVERS = {"maze": "simulator.drivers.maze", "thermal": "simulator.drivers.thermal",
            "arena": "simulator.drivers.arena"}


def world_kinds() -> tuple[str, ...]:
    return tuple(_DRIVERS)


def get_driver(kind: str) -> WorldDriver:
    """The driver of world ``kind`` (KeyError for an unknown kind: scenes validate first)."""
    return import_module(_DRIVERS[kind]).DRIVER


__all__ = ["EventArrays", "Outcome", "StepTrace", "WorldDriver", "get_driver", "world_kinds"]
