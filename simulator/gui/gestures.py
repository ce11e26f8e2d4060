"""Perturbing the live run: the world's tools in the Perturb toolbar, mouse gestures on the
lane views, the colour box and the noise slider.

A gesture goes to the current tool (:mod:`simulator.gui.tools`), which turns it into
perturbations through :meth:`Race.perturb` — the Session's log — under the step worker's
lock, so it lands between two steps and is applied at the start of the next one,
deterministically. A recording cannot be perturbed: its tools bar is empty.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from simulator.core.errors import UserError
from simulator.gui.tools import Tool, noise_control, tools_for


class GesturesMixin:
    """The main window's perturbation tools (mixed into :class:`~.main_window.MainWindow`)."""

    def _rebuild_tools(self, world: str, event_kinds: tuple[str, ...]) -> None:
        """The perturbation toolbar for ``world``: its tools, colour, noise, toggles (no
        tools for a recording: ``world`` "")."""
        self.tool_bar.clear()
        for action in self.tool_group.actions():
            self.tool_group.removeAction(action)
            action.deleteLater()
        self.tools = tools_for(world) if world else []
        self.tool_bar.addWidget(QtWidgets.QLabel(" Perturb: " if world else " View: "))
        for i, tool in enumerate(self.tools):
            action = QtGui.QAction(tool.info.label, self)
            action.setCheckable(True)
            action.setToolTip(f"{tool.info.tip} ({tool.info.shortcut})")
            if tool.info.shortcut:
                action.setShortcut(QtGui.QKeySequence(tool.info.shortcut))
            action.setData(i)
            action.triggered.connect(lambda _c, t=tool: self._choose_tool(t))
            self.tool_group.addAction(action)
            self.tool_bar.addAction(action)
            if i == 0:
                action.setChecked(True)
        self.tool = self.tools[0] if self.tools else None
        colors = getattr(next((t for t in self.tools if hasattr(t, "colors")), None),
                         "colors", None)
        if colors:
            self.tool_bar.addWidget(QtWidgets.QLabel(" colour "))
            self.color_box = QtWidgets.QComboBox()
            self.color_box.addItems(list(colors))
            self.color_box.setCurrentText("blue")
            self.color_box.setToolTip("Colour the Recolor tool paints")
            self.color_box.currentTextChanged.connect(self._color_changed)
            self.tool_bar.addWidget(self.color_box)
        self.noise = noise_control(world) if "set_noise" in event_kinds else None
        if self.noise is not None:
            self.tool_bar.addSeparator()
            self.tool_bar.addWidget(QtWidgets.QLabel(" Noise "))
            self.noise_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
            self.noise_slider.setRange(0, 100)
            self.noise_slider.setFixedWidth(90)
            self.noise_slider.setToolTip(self.noise.tip)
            self.noise_slider.sliderReleased.connect(self._noise_changed)
            self.noise_label = QtWidgets.QLabel(self.noise.text(0.0))
            self.noise_label.setMinimumWidth(50)
            self.noise_slider.valueChanged.connect(
                lambda v: self.noise_label.setText(self.noise.text(self._noise_value(v))))
            self.tool_bar.addWidget(self.noise_slider)
            self.tool_bar.addWidget(self.noise_label)
        self.tool_bar.addSeparator()
        toggles = [self.all_lanes_action] if world else []  # a recording has one copy: no
        toggles += [self.ghosts_action] if world else []  # ghosts, and takes no gestures
        for action in [*toggles, self.internals_action]:
            self.tool_bar.addAction(action)

    def _choose_tool(self, tool: Tool) -> None:
        self.tool = tool

    def _color_changed(self, name: str) -> None:
        for tool in self.tools:
            if hasattr(tool, "color"):
                tool.color = name

    def _lanes_hit(self, lane: int) -> Any:
        return "all" if self.all_lanes_action.isChecked() else [lane]

    # --- gestures --------------------------------------------------------------------------
    def _gesture(self, method: str, lane: int, where: Any, button: str) -> None:
        race = self.race
        if self.tool is None or race is None:
            if self.replay is not None and method == "press":
                self.statusBar().showMessage("A recording cannot be perturbed: open its"
                                             " scene to run it live.", 4000)
            return
        self._click_time = time.perf_counter()
        # Under the worker's lock: the tool reads copy 0 and logs at the Session's clock
        # between two steps (a step in flight, a few ms, finishes first). The event is
        # applied at the start of the next step, deterministically, and is in the log for
        # replay.
        with self.worker.lock:
            try:
                events = getattr(self.tool, method)(race, lane, where, button,
                                                    self._lanes_hit(lane))
            except UserError as exc:
                events = None
                error = str(exc)
            else:
                spots = [race.session.event_where(ev) for ev in events]
        if events is None:
            self.show_error(error)
            return
        for ev, spot in zip(events, spots, strict=True):
            self._flashes.append((ev.lane, spot, time.perf_counter()))
        if events:
            self._pull_step()
        hit = range(len(self.panels)) if self.all_lanes_action.isChecked() else [lane]
        for i in hit:
            self.panels[i].view.invalidate()
            self.panels[i].view.repaint()  # now, not at the next frame: the click shows
        if events:
            self.statusBar().showMessage(
                f"{events[0].kind.replace('_', ' ')} at step {events[0].step}"
                f" → {'all lanes' if len(events) > 1 else f'lane {events[0].lane + 1}'}",
                3000)

    def _on_press(self, lane: int, where: tuple, button: str) -> None:
        self._gesture_lane = lane
        self._gesture("press", lane, where, button)

    def _on_drag(self, lane: int, where: tuple, button: str) -> None:
        self._gesture("drag", lane, where, button)

    def _on_release(self, lane: int, where: tuple, button: str) -> None:
        self._gesture("release", lane, where or None, button)
        self._gesture_lane = None

    def _on_hover(self, lane: int, where: tuple) -> None:
        where = where or None
        if self._hover.get(lane) != where:
            self._hover[lane] = where
            if 0 <= lane < len(self.panels):
                self.panels[lane].view.invalidate()

    # --- noise -----------------------------------------------------------------------------
    def _noise_value(self, slider: int) -> float:
        return slider / 100 * self.noise.maximum if self.noise is not None else 0.0

    def _noise_changed(self) -> None:
        if self.race is None or self.noise is None:
            return
        value = self._noise_value(self.noise_slider.value())
        try:
            with self.worker.lock:
                self.race.perturb("set_noise", params={self.noise.param: value},
                                  lanes=self._lanes_hit(0))
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.statusBar().showMessage(f"noise {self.noise.text(value)} from step"
                                     f" {self.race.step_index}", 3000)
