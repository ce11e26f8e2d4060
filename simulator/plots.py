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
from typing import Any

import numpy as np

LANE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
# Ten distinct colours (matplotlib's tab10 order) for figures with many groups.
GROUP_COLOURS = LANE_COLOURS + ["#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
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


def _export(widget: object, path: Path, width: int) -> Path:
    """Lay out ``widget`` (a GraphicsLayoutWidget) offscreen and write it as a PNG."""
    import pyqtgraph.exporters as exporters

    widget.show()  # type: ignore[attr-defined]
    _app().processEvents()
    exporter = exporters.ImageExporter(widget.scene())  # type: ignore[attr-defined]
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    return path


def misgen_plot(plot: object, results: Sequence[object]) -> None:
    """Fill a pyqtgraph PlotItem with one dot per agent: preference P(base) - P(proxy)
    across, capability up, coloured by group (shared by the CLI figure and the GUI)."""
    import pyqtgraph as pg

    groups = list(dict.fromkeys(r.group for r in results))  # type: ignore[attr-defined]
    plot.clear()  # type: ignore[attr-defined]
    plot.setLabel("bottom", "preference: P(base target) − P(proxy)")  # type: ignore[attr-defined]
    plot.setLabel("left", "capability: path efficiency (0 = no object)")  # type: ignore
    plot.setXRange(-1.05, 1.05)  # type: ignore[attr-defined]
    plot.setYRange(-0.02, 1.05)  # type: ignore[attr-defined]
    plot.showGrid(x=True, y=True, alpha=0.25)  # type: ignore[attr-defined]
    if plot.legend is None:  # type: ignore[attr-defined]
        plot.addLegend(offset=(10, -10))  # type: ignore[attr-defined]  (bottom left: fewest dots)
    for i, group in enumerate(groups):
        rows = [r for r in results if r.group == group]  # type: ignore[attr-defined]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        # Agents often tie exactly; a small deterministic jitter keeps each dot visible.
        jitter = (np.arange(len(rows)) * 0.61803398875 % 1.0 - 0.5) * 0.03
        xs = np.array([r.preference for r in rows]) + jitter
        ys = np.array([r.capability for r in rows])
        item = pg.ScatterPlotItem(xs, ys, size=9, brush=pg.mkBrush(colour),
                                  pen=pg.mkPen("#222222", width=0.5), name=group,
                                  data=[(r.group, r.index) for r in rows])
        plot.addItem(item)  # type: ignore[attr-defined]


def write_misgen_figure(path: str | Path, title: str, results: Sequence[object],
                        groups: Sequence[object], width: int = 1200) -> Path:
    """The misgen figure: per-agent preference/capability scatter and, when a learner was
    trained at several diversification fractions, its dose-response (proxy share vs p)."""
    _app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(width, 620)
    layout.addLabel(title, row=0, col=0, colspan=2, size="14pt")
    misgen_plot(layout.addPlot(row=1, col=0), results)
    learners: dict[str, list[object]] = {}
    shown = results[0].distribution if results else None  # type: ignore[attr-defined]
    for g in groups:
        if g.distribution == shown:  # type: ignore[attr-defined]
            learners.setdefault(g.learner, []).append(g)  # type: ignore[attr-defined]
    doses = {k: v for k, v in learners.items() if len({g.mix for g in v}) > 1}  # type: ignore
    if doses:
        plot = layout.addPlot(row=1, col=1)
        plot.setLabel("bottom", "diversification p (fraction of deploy-like training)")
        plot.setLabel("left", "proxy fraction (mean ± sd over agents)")
        plot.addLegend(offset=(-10, 10))
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setYRange(-0.02, 1.02)
        for axis in ("left", "bottom"):  # fractions, not milli-units
            plot.getAxis(axis).enableAutoSIPrefix(False)
        for i, (learner, rows) in enumerate(doses.items()):
            rows = sorted(rows, key=lambda g: g.mix)  # type: ignore[attr-defined]
            x = np.array([g.mix for g in rows])  # type: ignore[attr-defined]
            y = np.array([g.mean["proxy"] for g in rows])  # type: ignore[attr-defined]
            sd = np.array([g.spread["proxy"] for g in rows])  # type: ignore[attr-defined]
            colour = LANE_COLOURS[i % len(LANE_COLOURS)]
            plot.plot(x, y, pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour,
                      name=learner)
            plot.addItem(pg.ErrorBarItem(x=x, y=y, height=2 * sd, pen=pg.mkPen(colour)))
    return _export(layout, Path(path), width)


def goalsets_plot(plot: object, reports: Sequence[object]) -> None:
    """Fill a PlotItem with compatible-set size against training episodes N (log axis),
    one curve per regime and diversification p (shared by the CLI figure and the GUI)."""
    import pyqtgraph as pg

    plot.clear()  # type: ignore[attr-defined]
    plot.setLogMode(x=True, y=False)  # type: ignore[attr-defined]
    plot.setLabel("bottom", "training episodes N")  # type: ignore[attr-defined]
    plot.setLabel("left", "candidate goals compatible with training")  # type: ignore
    plot.showGrid(x=True, y=True, alpha=0.25)  # type: ignore[attr-defined]
    if plot.legend is None:  # type: ignore[attr-defined]
        plot.addLegend(offset=(-10, 10))  # type: ignore[attr-defined]
    i = 0
    for rep in reports:
        for regime in rep.regimes:  # type: ignore[attr-defined]
            colour = LANE_COLOURS[i % len(LANE_COLOURS)]
            i += 1
            label = regime + (f" p={rep.mix:g}" if rep.mix else "")  # type: ignore
            # Sparse wide and solid, dense narrow and dashed on top: where the two sets are
            # the same size both curves still show.
            pen = pg.mkPen(colour, width=5 if regime == "sparse" else 2)
            if regime == "dense":
                pen.setStyle(QtDash())
            plot.plot(np.array(rep.ns, float), np.array(rep.sizes[regime], float),  # type: ignore
                      pen=pen, symbol="o", symbolBrush=colour, name=label)  # type: ignore
    ns = sorted({n for rep in reports for n in rep.ns})  # type: ignore[attr-defined]
    # Log-mode ticks sit at log10(N): label just the Ns measured, not every minor decade.
    plot.getAxis("bottom").setTicks([[(float(np.log10(n)), str(n)) for n in ns], []])  # type: ignore


def QtDash() -> object:  # noqa: N802 - the Qt pen style, imported only when plotting
    from pyqtgraph.Qt import QtCore

    return QtCore.Qt.PenStyle.DashLine


def write_goalsets_figure(path: str | Path, title: str, reports: Sequence[object],
                          width: int = 900) -> Path:
    """The narrowing figure of ``steersim goalsets``: compatible-set size against N."""
    _app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    layout = pg.GraphicsLayoutWidget()
    layout.resize(width, 560)
    layout.addLabel(title, row=0, col=0, size="14pt")
    goalsets_plot(layout.addPlot(row=1, col=0), reports)
    return _export(layout, Path(path), width)


def write_sweep_figure(path: str | Path, title: str, by_param: dict[str, Sequence[Any]],
                       width: int = 1200) -> Path:
    """The figure of ``steersim sweep --plot``: for each swept parameter, the fraction of
    runs (copies) reaching the base objective and the agent's own objective at each of its
    values, with Wilson 95% intervals (``by_param``: parameter → its values' points, as
    :func:`simulator.sweep.outcome_by_parameter` gives them). Numeric parameters on a
    numeric axis, others by name."""
    _app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    n_cols = 1 if len(by_param) <= 1 else 2
    n_rows = max(1, -(-len(by_param) // n_cols))
    layout = pg.GraphicsLayoutWidget()
    layout.resize(width, 120 + 380 * n_rows)
    layout.addLabel(title, row=0, col=0, colspan=n_cols, size="14pt")
    series = (("base", "base objective reached", LANE_COLOURS[0], -0.08),
              ("objective", "own objective reached", LANE_COLOURS[1], 0.08))
    for k, (name, points) in enumerate(by_param.items()):
        plot = layout.addPlot(row=1 + k // n_cols, col=k % n_cols)
        plot.setLabel("bottom", name)
        plot.setLabel("left", "fraction of runs (Wilson 95%)")
        plot.setYRange(-0.02, 1.02)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.addLegend(offset=(10, -10))
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)
        try:
            x = np.array([float(p.value) for p in points])
            shift = 0.01 * (np.ptp(x) or 1.0)
        except ValueError:  # names: one tick each
            x = np.arange(len(points), dtype=float)
            shift = 1.0
            plot.getAxis("bottom").setTicks([[(i, p.value) for i, p in enumerate(points)]])
        for attr, label, colour, offset in series:
            y = np.array([getattr(p, attr) for p in points])
            ci = np.array([getattr(p, f"{attr}_ci") for p in points]).reshape(-1, 2)
            xs = x + offset * shift
            plot.plot(xs, y, pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour,
                      name=label)
            plot.addItem(pg.ErrorBarItem(x=xs, y=y, top=ci[:, 1] - y, bottom=y - ci[:, 0],
                                         beam=0.06 * shift, pen=pg.mkPen(colour)))
    return _export(layout, Path(path), width)
