"""A lane panel: the lane's header (agent, objective, ensemble), its world view and its
funnel heatmap, stacked in one column."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from PySide6 import QtCore, QtWidgets

from simulator.gui.plots import FunnelView, lane_color
from simulator.gui.world_view import WorldView


class LanePanel(QtWidgets.QFrame):
    """Header + world view + funnel for lane ``index``."""

    def __init__(self, index: int, frame_source: Callable[[], Any], theme: str,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.index = index
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        self.header = QtWidgets.QLabel()
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                  QtWidgets.QSizePolicy.Policy.Minimum)
        self.header.setStyleSheet(f"border-top: 4px solid {lane_color(index)}; padding: 2px;")
        self.view = WorldView(index, frame_source, theme)
        self.funnel = FunnelView()
        self.funnel.setToolTip("Funnel: the ensemble's density of distance to the base"
                               " objective against time (bright = many copies)")
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.funnel)

    def set_header(self, title: str, agents: str, note: str, outcome: str = "") -> None:
        """Lane number and title, then agent → objective, ensemble size and outcome."""
        color = lane_color(self.index)
        line2 = escape(agents)
        if note:
            line2 += f" · <span style='color:#777'>{escape(note)}</span>"
        text = (f"<b style='color:{color}'>{self.index + 1}</b>&nbsp; <b>{escape(title)}</b>"
                f"<br><span style='font-size:small'>{line2}</span>")
        if outcome:
            text += f"<br><span style='font-size:small'>{escape(outcome)}</span>"
        self.header.setText(text)
