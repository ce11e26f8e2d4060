"""PNG figures of narrowing metrics, drawn with pyqtgraph's exporters on an offscreen Qt
platform, so ``steersim plot`` works on a machine with no display.

Input is plain arrays (from a recording's ``metrics/`` or a live MetricsTracker), so the same
code serves both. Qt is imported only inside :func:`write_figures`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LANE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
PANELS = (("H", "entropy H (bits)"), ("F", "fraction in target F"),
          ("OP", "optimization power OP (bits)"))


@dataclass
class LaneFigureData:
    """One lane's series for plotting. series / baseline: name → (T,) float64."""

    label: str
    series: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray] = field(default_factory=dict)
    event_steps: Sequence[int] = ()
    basin: np.ndarray | None = None  # (H, W) int8: 1 reaches, 0 not, -1 not a start cell


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from pyqtgraph.Qt import QtWidgets

    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def write_figures(out_dir: str | Path, title: str, lanes: Sequence[LaneFigureData],
                  width: int = 1200, height: int = 900, prefix: str = "") -> list[Path]:
    """Write ``<prefix>metrics.png`` (H, F, OP vs time per lane, baseline dashed,
    perturbations marked) and, where lanes carry one, ``<prefix>basin_lane<i>.png``.
    Returns the paths written."""
    _app()
    import pyqtgraph as pg
    import pyqtgraph.exporters as exporters
    from pyqtgraph.Qt import QtCore

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    written: list[Path] = []

    app = _app()
    layout = pg.GraphicsLayoutWidget()
    layout.resize(width, height)
    layout.addLabel(title, row=0, col=0, size="14pt")
    key = ", ".join(
        f"<span style='color:{LANE_COLOURS[i % len(LANE_COLOURS)]}'>■ {lane.label}</span>"
        for i, lane in enumerate(lanes))
    layout.addLabel(key + " &nbsp; <span style='color:#555'>- - null baseline</span>"
                    " &nbsp; <span style='color:#e377c2'>┆ perturbation</span>",
                    row=1, col=0, size="10pt")
    for row, (name, axis_label) in enumerate(PANELS, start=2):
        plot = layout.addPlot(row=row, col=0)
        plot.setLabel("left", axis_label)
        plot.setLabel("bottom", "step")
        plot.showGrid(x=True, y=True, alpha=0.25)
        legend = None
        marked: set[int] = set()
        for i, lane in enumerate(lanes):
            colour = LANE_COLOURS[i % len(LANE_COLOURS)]
            values = lane.series.get(name)
            if values is None or len(values) == 0:
                continue
            plot.plot(np.arange(len(values)), values, pen=pg.mkPen(colour, width=2),
                      name=lane.label if legend is not None else None)
            base = lane.baseline.get(name)
            if base is not None and len(base) and i == 0:
                plot.plot(np.arange(len(base)), base,
                          pen=pg.mkPen("#555555", width=2, style=QtCore.Qt.PenStyle.DashLine),
                          name="null baseline" if legend is not None else None)
            for step in lane.event_steps:
                if step not in marked:
                    marked.add(step)
                    plot.addItem(pg.InfiniteLine(step, angle=90, pen=pg.mkPen(
                        "#e377c2", width=1, style=QtCore.Qt.PenStyle.DotLine)))
    # Laid out only once shown; the offscreen platform shows nothing on any screen.
    layout.show()
    app.processEvents()
    path = out / f"{prefix}metrics.png"
    exporter = exporters.ImageExporter(layout.scene())
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    written.append(path)

    for i, lane in enumerate(lanes):
        if lane.basin is None:
            continue
        view = pg.GraphicsLayoutWidget()
        view.resize(600, 520)
        view.addLabel(f"basin map — {lane.label}", row=0, col=0)
        view.addLabel("<span style='color:#3caa5a'>■ reaches the target</span> &nbsp; "
                      "<span style='color:#e08070'>■ does not</span> &nbsp; "
                      "<span style='color:#5a5a5a'>■ wall or object</span>", row=2, col=0)
        plot = view.addPlot(row=1, col=0)
        plot.setAspectLocked(True)
        plot.invertY(True)
        plot.hideAxis("bottom")
        plot.hideAxis("left")
        # Colour table: not a start cell (grey), fails (light red), reaches (green).
        rgb = np.zeros((*lane.basin.shape, 3), np.uint8)
        rgb[lane.basin < 0] = (90, 90, 90)
        rgb[lane.basin == 0] = (244, 180, 170)
        rgb[lane.basin == 1] = (60, 170, 90)
        image = pg.ImageItem(rgb.transpose(1, 0, 2))  # ImageItem is column-major (x, y)
        plot.addItem(image)
        view.show()
        app.processEvents()
        path = out / f"{prefix}basin_lane{i}.png"
        exporter = exporters.ImageExporter(view.scene())
        exporter.parameters()["width"] = 600
        exporter.export(str(path))
        written.append(path)
    return written
