"""The maze's perturbation tools: paint walls and lava, teleport the agent, move and
recolor objects."""

from __future__ import annotations

from simulator.gui.tools import Painter, Race, Tool, ToolInfo
from simulator.worlds import parse_objective
from simulator.worlds.maze.policies import matches


class MazeWall(Painter):
    info = ToolInfo("wall", "Wall", "Draw walls (drag); right button erases", "W")
    left_kind, right_kind = "draw_wall", "erase_wall"


class MazeErase(Painter):
    info = ToolInfo("erase", "Erase", "Erase walls (drag); right button draws", "E")
    left_kind, right_kind = "erase_wall", "draw_wall"


class MazeHazard(Painter):
    info = ToolInfo("hazard", "Lava", "Place lava (drag); right button removes it", "H")
    left_kind, right_kind = "place_hazard", "remove_hazard"


class MazeTeleport(Painter):
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
        from simulator.worlds.maze.kernels import COLORS

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


# In toolbar order; the first is the default.
TOOLS: list[type[Tool]] = [MazeTeleport, MazeWall, MazeErase, MazeHazard, MazeMoveTarget,
                           MazeRecolor]
