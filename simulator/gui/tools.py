"""Perturbation tools: what a mouse gesture on a world view does to the world.

Qt-free: a view reports press / drag / release in world coordinates, a :class:`Tool` turns
the gesture into perturbations, and every one goes through :meth:`Race.perturb` (and so
:meth:`Session.perturb`), so each is logged and a run can be replayed exactly. Tools are
listed per world kind by the world's ``tools`` entry point (``simulator/worlds/<kind>/
tools.py``); a world without tools can still be watched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from simulator.core.world import NoiseSpec
from simulator.gui.race import Race
from simulator.session import Event
from simulator.worlds import world as world_kind

Button = Literal["left", "right"]


@dataclass(frozen=True)
class ToolInfo:
    """A tool as the toolbar shows it."""

    name: str
    label: str
    tip: str
    shortcut: str = ""


class Tool:
    """A gesture handler. ``lanes`` is the lane hit ("all" when the all-lanes toggle is on)."""

    info: ToolInfo

    def press(self, race: Race, lane: int, where: tuple[int, ...], button: Button,
              lanes: Literal["all"] | list[int]) -> list[Event]:
        return []

    def drag(self, race: Race, lane: int, where: tuple[int, ...], button: Button,
             lanes: Literal["all"] | list[int]) -> list[Event]:
        return []

    def release(self, race: Race, lane: int, where: tuple[int, ...] | None, button: Button,
                lanes: Literal["all"] | list[int]) -> list[Event]:
        return []

    def preview(self) -> list[tuple[str, dict[str, Any]]]:
        """What the gesture in progress would do on release (drawn as a preview)."""
        return []


class Painter(Tool):
    """Press and drag send one event per world cell entered (``params`` says what); the
    right button sends the inverse kind (draw a wall / erase it, heat / cool)."""

    left_kind = ""
    right_kind = ""

    def __init__(self) -> None:
        self._last: tuple[int, ...] | None = None

    def params(self, where: tuple[int, ...]) -> dict[str, Any]:
        return {"row": where[0], "col": where[1]}

    def _paint(self, race: Race, where: tuple[int, ...], button: Button,
               lanes: Literal["all"] | list[int]) -> list[Event]:
        if where == self._last:
            return []
        self._last = where
        kind = self.left_kind if button == "left" else self.right_kind
        return race.perturb(kind, params=self.params(where), lanes=lanes)

    def press(self, race, lane, where, button, lanes):
        self._last = None
        return self._paint(race, where, button, lanes)

    def drag(self, race, lane, where, button, lanes):
        return self._paint(race, where, button, lanes)

    def release(self, race, lane, where, button, lanes):
        self._last = None
        return []


def tools_for(world: str) -> list[Tool]:
    """Fresh tool instances for ``world``, in toolbar order (its ``tools`` entry point;
    none for a world without tools: it can still be watched)."""
    entry = world_kind(world).tools
    return [cls() for cls in world_kind(world).load(entry)] if entry else []


def noise_control(world: str) -> NoiseSpec | None:
    """The noise slider of ``world``: the ``set_noise`` parameter it sets and its range
    (None: the world has no noise knob)."""
    return world_kind(world).noise


__all__ = ["Button", "Painter", "Race", "Tool", "ToolInfo", "noise_control", "tools_for"]
