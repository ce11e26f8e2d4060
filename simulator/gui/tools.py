"""Perturbation tools: what a mouse gesture on a world view does to the world.

Qt-free: a view reports press / drag / release in world coordinates, a :class:`Tool` turns
the gesture into perturbations, and every one goes through :meth:`Race.perturb` (and so
:meth:`Session.perturb`), so each is logged and a run can be replayed exactly. Tools are
listed per world kind; a world without tools here can still be watched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simulator.gui.race import Race
from simulator.session import Event

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


class _CellPainter(Tool):
    """Press and drag paint one event per cell entered; the right button does the inverse
    (draw a wall / erase it, place lava / remove it)."""

    left_kind = ""
    right_kind = ""

    def __init__(self) -> None:
        self._last: tuple[int, ...] | None = None

    def _paint(self, race: Race, where: tuple[int, ...], button: Button,
               lanes: Literal["all"] | list[int]) -> list[Event]:
        if where == self._last:
            return []
        self._last = where
        kind = self.left_kind if button == "left" else self.right_kind
        return race.perturb(kind, params={"row": where[0], "col": where[1]}, lanes=lanes)

    def press(self, race, lane, where, button, lanes):
        self._last = None
        return self._paint(race, where, button, lanes)

    def drag(self, race, lane, where, button, lanes):
        return self._paint(race, where, button, lanes)

    def release(self, race, lane, where, button, lanes):
        self._last = None
        return []


class MazeWall(_CellPainter):
    info = ToolInfo("wall", "Wall", "Draw walls (drag); right button erases", "W")
    left_kind, right_kind = "draw_wall", "erase_wall"


class MazeErase(_CellPainter):
    info = ToolInfo("erase", "Erase", "Erase walls (drag); right button draws", "E")
    left_kind, right_kind = "erase_wall", "draw_wall"


class MazeHazard(_CellPainter):
    info = ToolInfo("hazard", "Lava", "Place lava (drag); right button removes it", "H")
    left_kind, right_kind = "place_hazard", "remove_hazard"


class MazeTeleport(_CellPainter):
    info = ToolInfo("teleport", "Teleport", "Click or drag to move the agent", "T")
    left_kind = right_kind = "teleport"


def _object_at(race: Race, lane: int, where: tuple[int, ...]) -> int:
    """Slot of the object in the shown copy's cell ``where``, else -1."""
    state = race.lanes[lane].state
    for k in range(state.obj_kind.shape[1]):
        if state.obj_kind[0, k] >= 0 and tuple(state.obj_pos[0, k]) == tuple(where):
            return k
    return -1


def _base_target(race: Race, lane: int) -> int:
    """Slot of the first object of the shown copy matching the scene's base objective."""
    from agents.maze import matches
    from agents.registry import parse_objective

    objective = parse_objective(race.scene.model.base_objective, race.world).as_array()
    state = race.lanes[lane].state
    for k in range(state.obj_kind.shape[1]):
        if matches(state.obj_kind[0, k], state.obj_color[0, k], objective):
            return k
    return -1


class MazeMoveTarget(Tool):
    """Drag an object to a new cell; a click on an empty cell brings the target (the
    object matching the base objective) there."""

    info = ToolInfo("move", "Move target",
                    "Drag an object to a new cell; click an empty cell to move the target there",
                    "M")

    def __init__(self) -> None:
        self._slot = -1
        self._to: tuple[int, ...] | None = None

    def press(self, race, lane, where, button, lanes):
        self._slot = _object_at(race, lane, where)
        self._to = None
        if self._slot < 0:  # a click on an empty cell moves the target at once
            slot = _base_target(race, lane)
            if slot >= 0:
                return race.perturb("move_object", slot,
                                    {"row": where[0], "col": where[1]}, lanes=lanes)
        return []

    def drag(self, race, lane, where, button, lanes):
        if self._slot >= 0:
            self._to = where
        return []

    def release(self, race, lane, where, button, lanes):
        slot, self._slot = self._slot, -1
        to, self._to = where or self._to, None
        if slot < 0 or to is None or to == tuple(race.lanes[lane].state.obj_pos[0, slot]):
            return []
        return race.perturb("move_object", slot, {"row": to[0], "col": to[1]}, lanes=lanes)

    def preview(self):
        if self._slot < 0 or self._to is None:
            return []
        return [("move_object", {"row": self._to[0], "col": self._to[1], "target": self._slot})]


class MazeRecolor(Tool):
    """Click an object to give it the chosen colour (the right button cycles colours)."""

    info = ToolInfo("recolor", "Recolor", "Click an object to paint it the chosen colour", "C")

    def __init__(self) -> None:
        from simulator.worlds.maze import COLORS

        self.colors = COLORS
        self.color = "blue"

    def press(self, race, lane, where, button, lanes):
        slot = _object_at(race, lane, where)
        if slot < 0:
            return []
        color = self.color
        if button == "right":
            now = int(race.lanes[lane].state.obj_color[0, slot])
            color = self.colors[(now + 1) % len(self.colors)]
        return race.perturb("recolor_object", slot, {"color": color}, lanes=lanes)


class _ThermalBrush(Tool):
    """Press and drag warm (or cool) the air around each cell entered; the right button
    does the opposite."""

    left_kind = right_kind = ""
    radius, amount = 1.5, 3.0

    def __init__(self) -> None:
        self._last: tuple[int, ...] | None = None

    def _paint(self, race, where, button, lanes):
        if where == self._last:
            return []
        self._last = where
        kind = self.left_kind if button == "left" else self.right_kind
        return race.perturb(kind, params={"row": where[0], "col": where[1],
                                          "radius": self.radius, "amount": self.amount},
                            lanes=lanes)

    def press(self, race, lane, where, button, lanes):
        self._last = None
        return self._paint(race, where, button, lanes)

    def drag(self, race, lane, where, button, lanes):
        return self._paint(race, where, button, lanes)


class ThermalHeat(_ThermalBrush):
    info = ToolInfo("heat", "Heat", "Warm the air under the brush (drag); right button cools",
                    "H")
    left_kind, right_kind = "heat", "cool"


class ThermalCool(_ThermalBrush):
    info = ToolInfo("cool", "Cool", "Cool the air under the brush (drag); right button warms",
                    "C")
    left_kind, right_kind = "cool", "heat"


class ThermalWindow(Tool):
    """Click a window to open it, or to close it if open."""

    info = ToolInfo("window", "Window", "Click a window to open or close it", "O")

    def press(self, race, lane, where, button, lanes):
        from simulator.worlds import thermal

        state = race.lanes[lane].state
        kind = int(state.cell[0, where[0], where[1]])
        if kind not in (thermal.CELL_WINDOW, thermal.CELL_OPEN_WINDOW):
            return []
        window = int(state.tag[0, where[0], where[1]])
        event = "close_window" if state.window_open[0, window] else "open_window"
        return race.perturb(event, window, {}, lanes=lanes)


class ThermalKick(Tool):
    """Click: the whole room warms by 2 K (right button: cools) at once."""

    info = ToolInfo("kick", "Kick room", "Click: the room's air jumps +2 K (right: -2 K)", "K")

    def press(self, race, lane, where, button, lanes):
        delta = 2.0 if button == "left" else -2.0
        return race.perturb("kick_room", params={"delta": delta}, lanes=lanes)


def _body_at(race: Race, lane: int, where: tuple[float, ...], reach: float = 0.3) -> int:
    """Index of the body of the shown copy nearest ``where`` (x, y m) within its radius plus
    ``reach``, else -1."""
    state = race.lanes[lane].state
    d = np.hypot(state.pos[0, :, 0] - where[0], state.pos[0, :, 1] - where[1])
    i = int(np.argmin(d))
    return i if d[i] <= state.radius[0, i] + reach else -1


class _ArenaGrab(Tool):
    """Press on a body to grab it; the gesture ends on release. Subclasses decide what the
    drag and the release do."""

    def __init__(self) -> None:
        self.body = -1
        self.to: tuple[float, ...] | None = None

    def press(self, race, lane, where, button, lanes):
        self.body = _body_at(race, lane, where)
        self.to = None
        return []

    def drag(self, race, lane, where, button, lanes):
        if self.body >= 0:
            self.to = where
        return []

    def _end(self) -> tuple[int, tuple[float, ...] | None]:
        body, to = self.body, self.to
        self.body, self.to = -1, None
        return body, to


class ArenaPush(_ArenaGrab):
    """Slingshot: press on a body, pull, release — an impulse along the pull."""

    info = ToolInfo("push", "Push", "Press on a body and pull: on release it is kicked along"
                    " the pull (1 N·s per metre)", "P")
    per_metre = 1.0

    def _impulse(self, race, lane, to):
        x, y = race.lanes[lane].state.pos[0, self.body]
        return {"jx": (to[0] - x) * self.per_metre, "jy": (to[1] - y) * self.per_metre}

    def release(self, race, lane, where, button, lanes):
        to = where or self.to
        if self.body < 0 or to is None:
            self._end()
            return []
        params = self._impulse(race, lane, to)
        body, _ = self._end()
        return race.perturb("impulse", body, params, lanes=lanes)

    def preview(self):
        return [] if self.body < 0 or self.to is None else [
            ("drag", {"x": self.to[0], "y": self.to[1], "target": self.body})]


class ArenaDrag(_ArenaGrab):
    """Hold a body and lead it: while the button is down it moves toward the mouse."""

    info = ToolInfo("drag", "Drag", "Hold a body and move the mouse: it follows", "D")
    speed = 2.0  # m/s toward the mouse
    step_m = 0.1  # a new drag event once the mouse has moved this far

    def drag(self, race, lane, where, button, lanes):
        if self.body < 0:
            return []
        if self.to is not None and np.hypot(where[0] - self.to[0], where[1] - self.to[1]) < \
                self.step_m:
            return []
        self.to = where
        return race.perturb("drag", self.body, {"x": where[0], "y": where[1],
                                                "speed": self.speed}, lanes=lanes)

    def release(self, race, lane, where, button, lanes):
        self._end()
        return []


class ArenaTeleport(_ArenaGrab):
    """Press on a body, release where it should be."""

    info = ToolInfo("teleport", "Teleport", "Press on a body and release where it should be",
                    "T")

    def release(self, race, lane, where, button, lanes):
        body, to = self._end()
        to = where or to
        if body < 0 or to is None:
            return []
        return race.perturb("teleport", body, {"x": to[0], "y": to[1]}, lanes=lanes)

    def preview(self):
        return [] if self.body < 0 or self.to is None else [
            ("teleport", {"x": self.to[0], "y": self.to[1], "target": self.body})]


class ArenaMoveGoal(Tool):
    """Press inside a goal region and release where its centre should be."""

    info = ToolInfo("move", "Move goal", "Press inside a goal and release at its new centre",
                    "M")

    def __init__(self) -> None:
        self.goal = -1
        self.to: tuple[float, ...] | None = None

    def press(self, race, lane, where, button, lanes):
        goals = race.lanes[lane].state.goal[0]
        inside = [g for g in range(goals.shape[0]) if goals[g, 0] <= where[0] <= goals[g, 2]
                  and goals[g, 1] <= where[1] <= goals[g, 3]]
        self.goal = inside[0] if inside else -1
        self.to = None
        return []

    def drag(self, race, lane, where, button, lanes):
        if self.goal >= 0:
            self.to = where
        return []

    def release(self, race, lane, where, button, lanes):
        goal, to = self.goal, where or self.to
        self.goal, self.to = -1, None
        if goal < 0 or to is None:
            return []
        return race.perturb("move_goal", goal, {"x": to[0], "y": to[1]}, lanes=lanes)

    def preview(self):
        return [] if self.goal < 0 or self.to is None else [
            ("move_goal", {"x": self.to[0], "y": self.to[1], "target": self.goal})]


# World kind → its tools, in toolbar order. The first is the default.
TOOLS: dict[str, list[type[Tool]]] = {
    "maze": [MazeTeleport, MazeWall, MazeErase, MazeHazard, MazeMoveTarget, MazeRecolor],
    "thermal": [ThermalHeat, ThermalCool, ThermalWindow, ThermalKick],
    "arena": [ArenaPush, ArenaDrag, ArenaTeleport, ArenaMoveGoal],
}


@dataclass(frozen=True)
class NoiseControl:
    """The noise slider of a world: the ``set_noise`` parameter it sets and its range."""

    param: str
    maximum: float
    unit: str
    tip: str

    def text(self, value: float) -> str:
        return f"{value:.0%}" if self.unit == "%" else f"{value:.2f} {self.unit}"


NOISE: dict[str, NoiseControl] = {
    "maze": NoiseControl("p", 1.0, "%", "Slip noise: chance an action is replaced at random"),
    "thermal": NoiseControl("sigma", 0.5, "K", "Random heat fluctuation of the room per step"),
    "arena": NoiseControl("std", 2.0, "N", "Random force on every body, per step"),
}


def tools_for(world: str) -> list[Tool]:
    """Fresh tool instances for ``world`` (empty for a world with no tools yet)."""
    return [cls() for cls in TOOLS.get(world, [])]
