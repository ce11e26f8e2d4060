"""The thermal room's perturbation tools: heat and cool the air, open and close windows,
kick the room."""

from __future__ import annotations

from typing import Any

from simulator.gui.tools import Painter, Tool, ToolInfo
from simulator.worlds.thermal import kernels as thermal


class _ThermalBrush(Painter):
    """Press and drag warm (or cool) the air around each cell entered; the right button
    does the opposite."""

    radius, amount = 1.5, 3.0

    def params(self, where: tuple[int, ...]) -> dict[str, Any]:
        return {"row": where[0], "col": where[1], "radius": self.radius, "amount": self.amount}


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


# In toolbar order; the first is the default.
TOOLS: list[type[Tool]] = [ThermalHeat, ThermalCool, ThermalWindow, ThermalKick]
