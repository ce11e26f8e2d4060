"""The narrowing view of goal sets (DESIGN.md, claim 4): how many candidate goals stay
compatible with training as training episodes accumulate, sparse and dense curves
together, and every candidate goal with its compatibility and its deployment outcome.

The computation is :func:`simulator.goalsets.goalsets` (compiled, a second or two once
warm); it runs on a worker thread so the window keeps painting, and the panel only draws
what comes back.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from simulator.core.errors import UserError
from simulator.goalsets import REGIMES, GoalsetReport, goalsets
from simulator.misgen import OUTCOMES
from simulator.plots import goalsets_plot
from simulator.scene import Scene
from simulator.training import parse_fractions
from simulator.worlds import world

DEFAULT_NS = (1, 3, 10, 30, 100, 300, 1000)


class _Worker(QtCore.QThread):
    """Runs goalsets for each diversification p off the UI thread."""

    done = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, scene: Scene, ns: list[int], mixes: list[float], n_deploy: int):
        super().__init__()
        self.scene, self.ns, self.mixes, self.n_deploy = scene, ns, mixes, n_deploy

    def run(self) -> None:  # noqa: D401 - Qt override
        try:
            reports = [goalsets(self.scene, self.ns, list(REGIMES), mix=m,
                                n_deploy=self.n_deploy) for m in self.mixes]
        except UserError as exc:
            self.failed.emit(str(exc))
            return
        self.done.emit(reports)


class GoalsPanel(QtWidgets.QWidget):
    """Compatible-set size against N (sparse and dense) and the candidate-goal table."""

    error = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.scene: Scene | None = None
        self.reports: list[GoalsetReport] = []
        self._worker: _Worker | None = None
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("p (deploy-like training)"))
        self.mix_edit = QtWidgets.QLineEdit("0, 0.02")
        self.mix_edit.setToolTip("Diversification fractions: one pair of curves per p")
        row.addWidget(self.mix_edit)
        self.run_button = QtWidgets.QPushButton("Count goal sets")
        self.run_button.setToolTip("Count the candidate goals compatible with training")
        self.run_button.clicked.connect(self.start)
        row.addWidget(self.run_button)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setMaximumWidth(120)
        row.addWidget(self.progress)
        layout.addLayout(row)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot_widget.setMinimumHeight(220)
        layout.addWidget(self.plot_widget, 2)
        self.table = QtWidgets.QTableWidget(0, 2 + len(REGIMES) + len(OUTCOMES))
        self.table.setHorizontalHeaderLabels(
            ["goal", "family", *REGIMES, *(f"deploy: {o}" for o in OUTCOMES)])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 3)
        self.status = QtWidgets.QLabel("Pick a maze scene, then Count goal sets.")
        layout.addWidget(self.status)

    def set_scene(self, scene: Scene) -> None:
        self.scene = scene
        maze = (world(scene.world).trainable and "train" in scene.layouts
                and "deploy" in scene.layouts)
        self.run_button.setEnabled(maze)
        self.status.setText(f"{scene.name}: ready." if maze else
                            f"{scene.name}: goal sets need a maze scene with train and deploy.")

    def _mixes(self) -> list[float]:
        return parse_fractions(self.mix_edit.text(), "p")

    def start(self) -> None:
        if self.scene is None or (self._worker is not None and self._worker.isRunning()):
            return
        try:
            mixes = self._mixes()
        except UserError as exc:
            self.error.emit(str(exc))
            return
        self.progress.setRange(0, 0)  # busy
        self.run_button.setEnabled(False)
        self.status.setText(f"counting goal sets on {self.scene.name} (first time: compiling)…")
        self._worker = _Worker(self.scene, list(DEFAULT_NS), mixes, 300)
        self._worker.done.connect(self.show_reports)
        self._worker.failed.connect(self._failed)
        self._worker.start()

    def wait(self, ms: int = 120_000) -> bool:
        """Block until the worker is done (tests); True if it finished."""
        return self._worker is None or self._worker.wait(ms)

    def _failed(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.run_button.setEnabled(True)
        self.status.setText(message)
        self.error.emit(message)

    def show_reports(self, reports: list[GoalsetReport]) -> None:
        """Draw the curves and fill the table (with the first p's report: training as the
        scene draws it, unless the first p asked for is above 0)."""
        self.reports = reports
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.run_button.setEnabled(True)
        goalsets_plot(self.plot_widget.getPlotItem(), reports)
        rep = reports[0]
        self.table.setRowCount(len(rep.goals))
        for i, goal in enumerate(rep.goals):
            cells: list[Any] = [goal.name, goal.family]
            cells += ["✔" if rep.compatible[r][i] else "·" for r in rep.regimes]
            cells += [f"{rep.deploy[i][o]:.2f}" for o in OUTCOMES]
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(str(text))
                if j >= 2:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(i, j, item)
        sizes = ", ".join(f"{r} {rep.sizes[r][-1]}" for r in rep.regimes)
        self.status.setText(f"{rep.scene}: {len(rep.goals)} candidate goals; the table: after"
                            f" {rep.ns[-1]} training episodes at p = {rep.mix:g}, compatible:"
                            f" {sizes}")
