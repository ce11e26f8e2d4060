"""The arena's perturbation tools: push, drag and teleport bodies, move goals."""

from __future__ import annotations

import numpy as np

from simulator.gui.tools import Race, Tool, ToolInfo


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


# In toolbar order; the first is the default.
TOOLS: list[type[Tool]] = [ArenaPush, ArenaDrag, ArenaTeleport, ArenaMoveGoal]
