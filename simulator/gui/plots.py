"""Live narrowing plots: H, F and OP per lane against time with the null baseline dashed,
perturbations marked with their recovery times, and each lane's funnel heatmap.

The plots are fed plain arrays (from a :class:`~simulator.metrics.MetricsTracker` while
running, or from a recording's ``metrics/`` while replaying) and never compute anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

LANE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
               "#17becf")
BASELINE_COLOR = "#888888"
EVENT_COLOR = "#e6007e"

# name → (title, unit, y range or None for auto, smallest y span shown)
PANELS = {
    "H": ("H: entropy of the ensemble (dashed: null agent)", "bits", None, 1.0),
    "F": ("F: fraction in the target (dashed: null agent)", "", (0.0, 1.0), 1.0),
    "OP": ("OP: optimization power vs the null agent", "bits", None, 2.0),
}


def _time_window(lanes: list[LaneSeries], horizon: int) -> float:
    """The time axis grows with the run, up to the horizon, so a 1800-step run is readable
    at step 30 too: it doubles from 60 steps whenever the run reaches 80% of it (changing
    the range re-lays the axis out, so not on every frame)."""
    last = max((float(lane.steps[-1]) for lane in lanes if len(lane.steps)), default=0.0)
    window = 60.0
    while window < horizon and last > 0.8 * window:
        window *= 2
    return float(min(horizon, window))


def lane_color(lane: int) -> str:
    return LANE_COLORS[lane % len(LANE_COLORS)]


@dataclass
class LaneSeries:
    """What the plots show of one lane: steps (T,) and series name → (T,) values."""

    label: str
    steps: np.ndarray
    values: dict[str, np.ndarray]
    funnel: np.ndarray | None = None  # (T, n_bins)
    recovery: list[tuple[int, int | None]] = field(default_factory=list)


def _cache_axes(widget: pg.PlotWidget) -> None:
    """Keep each axis (ticks, labels, grid) as a pixmap, redrawn only when its range or
    size changes: otherwise every curve update re-renders all the tick text."""
    for axis in ("left", "bottom"):
        widget.getAxis(axis).setCacheMode(
            QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _set_theme(widget: pg.PlotWidget, dark: bool) -> None:
    widget.setBackground("#1b1d21" if dark else "w")
    pen = pg.mkPen("#bbbbbb" if dark else "#333333")
    for axis in ("left", "bottom"):
        ax = widget.getAxis(axis)
        ax.setPen(pen)
        ax.setTextPen(pen)


class MetricsPlots(QtWidgets.QWidget):
    """Three plots side by side (H, F, OP), one curve per lane and a dashed baseline."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        self.baselines: dict[str, pg.PlotDataItem] = {}
        self._event_lines: list[tuple[pg.PlotWidget, pg.InfiniteLine]] = []
        self._event_labels: dict[int, pg.InfiniteLine] = {}
        self._dark = False
        self._window = 0.0
        for name, (title, unit, yrange, min_span) in PANELS.items():
            plot = pg.PlotWidget()
            plot.setTitle(title, size="9pt")
            plot.setLabel("bottom", "step")
            if unit:
                plot.setLabel("left", unit)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            if yrange is not None:
                plot.setYRange(*yrange, padding=0.05)
            else:
                plot.enableAutoRange(axis="y")
            # Autorange on a flat line would magnify float noise (OP = 1e-15 bits).
            plot.setLimits(minYRange=min_span)
            plot.setMinimumHeight(120)
            plot.getAxis("left").enableAutoSIPrefix(False)
            _cache_axes(plot)
            item = plot.getPlotItem()
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
            self.baselines[name] = plot.plot(
                pen=pg.mkPen(BASELINE_COLOR, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
                name="null baseline")
            self.plots[name] = plot
            self.curves[name] = []
            layout.addWidget(plot)

    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        for plot in self.plots.values():
            _set_theme(plot, dark)

    def set_lanes(self, labels: list[str]) -> None:
        """Start over with one (empty) curve per lane."""
        for name, plot in self.plots.items():
            for curve in self.curves[name]:
                plot.removeItem(curve)
            self.curves[name] = [
                plot.plot(pen=pg.mkPen(lane_color(i), width=2), name=f"{i + 1}: {label}")
                for i, label in enumerate(labels)
            ]
            self.baselines[name].setData([], [])
        self._window = 0.0
        self._clear_events()

    def _clear_events(self) -> None:
        for plot, line in self._event_lines:
            plot.removeItem(line)
        self._event_lines = []
        self._event_labels = {}

    def update_series(self, lanes: list[LaneSeries], baseline: LaneSeries | None,
                      horizon: int | None = None) -> None:
        """Show ``lanes`` (one per curve, in order) and the baseline; mark perturbations."""
        for name in self.plots:
            for curve, lane in zip(self.curves[name], lanes, strict=False):
                if name in lane.values:
                    curve.setData(lane.steps, lane.values[name])
            if baseline is not None and name in baseline.values:
                self.baselines[name].setData(baseline.steps, baseline.values[name])
        if horizon:
            window = _time_window(lanes, horizon)
            if window != self._window:
                self._window = window
                for plot in self.plots.values():
                    plot.setXRange(0, window, padding=0.01)
        self._mark_events(lanes)

    def _mark_events(self, lanes: list[LaneSeries]) -> None:
        """A dotted line at each perturbed step (the last 12). On the F panel, a kick that
        knocked F down is labelled with each lane's recovery time in steps ("…": not
        recovered yet); labels alternate in height so neighbours do not overlap."""
        by_step: dict[int, list[str]] = {}
        for i, lane in enumerate(lanes):
            for step, steps in lane.recovery:
                parts = by_step.setdefault(step, [])
                if steps is None or steps > 0:
                    parts.append(f"{i + 1}:{'…' if steps is None else steps}")
        shown = dict(sorted(by_step.items())[-12:])
        if set(shown) != set(self._event_labels):
            self._clear_events()
            for k, step in enumerate(shown):
                for name, plot in self.plots.items():
                    line = pg.InfiniteLine(
                        pos=step, angle=90, movable=False,
                        label="" if name == "F" else None,
                        pen=pg.mkPen(EVENT_COLOR, width=1, style=QtCore.Qt.PenStyle.DotLine),
                        labelOpts={"position": 0.92 - 0.1 * (k % 4), "color": EVENT_COLOR,
                                   "anchors": [(0, 0.5), (0, 0.5)]})
                    plot.addItem(line)
                    self._event_lines.append((plot, line))
                    if name == "F":
                        self._event_labels[step] = line
        for step, parts in shown.items():
            text = ("recovered " + " ".join(parts)) if parts else ""
            self._event_labels[step].label.setFormat(text)


class FunnelView(pg.PlotWidget):
    """A lane's funnel: ensemble density of the projected coordinate (rows) against time
    (columns), as an ImageItem with a LUT — the cloud of possible worlds narrowing."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.image = pg.ImageItem(axisOrder="col-major")
        lut = pg.colormap.get("viridis").getLookupTable(nPts=256)
        self.image.setLookupTable(lut)
        self.addItem(self.image)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("left", "dist.")
        self.getAxis("bottom").setHeight(18)
        self.getAxis("left").setWidth(34)
        self.setFixedHeight(96)
        _cache_axes(self)
        self._horizon = 1
        self._range = (0.0, 1.0)
        self._window = 0.0

    def set_frame(self, horizon: int, low: float, high: float) -> None:
        self._horizon = max(int(horizon), 1)
        self._range = (float(low), float(high))
        self._window = float(min(self._horizon, 60))
        self.setXRange(0, self._window, padding=0)
        self.setYRange(low, high, padding=0)

    def set_density(self, funnel: np.ndarray | None) -> None:
        """funnel (T, n_bins) float64 densities (each row sums to 1)."""
        if funnel is None or funnel.size == 0:
            self.image.clear()
            return
        # Square root: a spread ensemble stays visible next to a collapsed one.
        self.image.setImage(np.sqrt(funnel), levels=(0.0, 0.75), autoLevels=False)
        low, high = self._range
        self.image.setRect(QtCore.QRectF(0, low, funnel.shape[0], high - low))
        window = 60.0
        while window < self._horizon and funnel.shape[0] > 0.8 * window:
            window *= 2
        window = min(self._horizon, window)
        if window != self._window:
            self._window = window
            self.setXRange(0, window, padding=0)

    def set_dark(self, dark: bool) -> None:
        _set_theme(self, dark)
