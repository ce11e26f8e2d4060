"""The outcome panel: what trained agents pursue after deployment (``steersim misgen`` in
the window).

:func:`simulator.misgen.study` runs on a worker thread (:class:`StudyJob`, Qt-free) for an
agents file — by default the one last trained or opened — over the scene's ``deploy``
episodes (and ``train``, as the sanity rows). The panel shows one dot per agent,
preference P(base) − P(proxy) across and capability up (:func:`simulator.plots.misgen_plot`,
the CLI figure's own drawing), and the per-learner table. Clicking a dot puts that agent
in a lane (``agent_chosen(name, lane)``; lane None: a new lane).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from simulator.core.errors import UserError
from simulator.gui.dock import AGENTS_FILTER, trained_agent_name, trained_file_name
from simulator.gui.jobs import BackgroundJob
from simulator.scene import Scene

DEFAULT_EPISODES = 200
NEW_LANE = "a new lane"
TABLE_COLUMNS = ("group", "on", "agents", "base", "proxy", "other", "nothing",
                 "proxy-majority agents", "capability")


class StudyJob(BackgroundJob):
    """``misgen.study`` of ``files`` on ``scene`` on a daemon thread; ``on_progress(done,
    total)`` and ``on_done(results or None, error or None, traceback or None)`` are called
    on the worker thread. Cancelling stops after the agent in flight."""

    def __init__(self, scene: Scene, paths: list[str], distribution: str, n_episodes: int,
                 on_progress: Callable[[int, int], None] | None = None,
                 on_done: Callable[[Any, str | None, str | None], None] | None = None,
                 kernel_threads: int | None = None):
        import numba

        self.scene, self.paths = scene, list(paths)
        self.distribution, self.n_episodes = distribution, n_episodes
        self.on_progress, self.on_done = on_progress, on_done
        self.kernel_threads = kernel_threads or numba.get_num_threads()
        self.results: list[Any] | None = None
        self.error: str | None = None
        super().__init__("steersim-study")

    def _progress(self, done: int, total: int) -> None:
        if self.cancelled.is_set():
            raise _Cancelled
        if self.on_progress is not None:
            try:
                self.on_progress(done, total)
            except RuntimeError:  # the panel went away
                pass

    def _run(self) -> None:
        import numba

        from agents.store import read_agents_file
        from simulator import misgen

        numba.set_num_threads(self.kernel_threads)
        details = None
        try:
            files = [read_agents_file(p) for p in self.paths]
            self.results = misgen.study(self.scene, files, distribution=self.distribution,
                                        n_episodes=self.n_episodes, progress=self._progress)
        except _Cancelled:
            self.error = "study cancelled"
        except UserError as exc:
            self.error = str(exc)
        except Exception as exc:
            self.error = f"the study failed: {exc}"
            details = traceback.format_exc()
        if self.on_done is not None:
            try:
                self.on_done(self.results, self.error, details)
            except RuntimeError:
                pass


class _Cancelled(Exception):
    pass


class OutcomePanel(QtWidgets.QDockWidget):
    """Run a misgeneralization study and show its scatter and table.

    Emits ``agent_chosen(name, lane)`` (lane: int, or -1 for a new lane) when a dot is
    clicked, ``error_raised(message, details)``, and ``file_opened(path)`` when the user
    opens an agents file here.
    """

    agent_chosen = QtCore.Signal(str, int)
    error_raised = QtCore.Signal(str, str)
    file_opened = QtCore.Signal(str)
    _progressed = QtCore.Signal(int, int)
    _finished = QtCore.Signal(object, object, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None,
                 kernel_threads: int | None = None):
        super().__init__("Outcomes", parent)
        self.setObjectName("outcome_dock")
        self.kernel_threads = kernel_threads
        self.scene: Scene | None = None
        self.path: str | None = None
        self.job: StudyJob | None = None
        self.results: list[Any] = []
        self.shown: list[Any] = []  # the results of the plotted distribution
        self._progressed.connect(self._on_progress)
        self._finished.connect(self._on_finished)

        body = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(body)
        outer.setContentsMargins(6, 6, 6, 6)
        file_row = QtWidgets.QHBoxLayout()
        self.file_label = QtWidgets.QLabel("No agents file: train some (Ctrl+T) or open one.")
        self.file_label.setWordWrap(True)
        self.file_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                      QtWidgets.QSizePolicy.Policy.Preferred)
        open_button = QtWidgets.QPushButton("Open…")
        open_button.setToolTip("Study another trained-agents file")
        open_button.clicked.connect(self._open_dialog)
        file_row.addWidget(self.file_label, 1)
        file_row.addWidget(open_button)
        outer.addLayout(file_row)
        run_row = QtWidgets.QHBoxLayout()
        self.dist_box = QtWidgets.QComboBox()
        self.dist_box.setToolTip("Where the agents are deployed (train is always measured"
                                 " too, as the sanity rows)")
        self.episodes_spin = QtWidgets.QSpinBox()
        self.episodes_spin.setRange(10, 100_000)
        self.episodes_spin.setSingleStep(100)
        self.episodes_spin.setValue(DEFAULT_EPISODES)
        self.episodes_spin.setSuffix(" episodes")
        self.episodes_spin.setToolTip("Deployment episodes per agent (the same for every"
                                      " agent)")
        self.run_button = QtWidgets.QPushButton("Run study")
        self.run_button.clicked.connect(self.run_study)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        run_row.addWidget(QtWidgets.QLabel("on"))
        run_row.addWidget(self.dist_box, 1)
        run_row.addWidget(self.episodes_spin)
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        outer.addLayout(run_row)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m agent runs")
        self.progress.setValue(0)
        outer.addWidget(self.progress)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot_widget.setMinimumHeight(220)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setTitle("one dot per agent (run a study)")
        self._empty_plot()
        outer.addWidget(self.plot_widget, 3)
        lane_row = QtWidgets.QHBoxLayout()
        lane_row.addWidget(QtWidgets.QLabel("Click a dot to put that agent into"))
        self.lane_box = QtWidgets.QComboBox()
        lane_row.addWidget(self.lane_box, 1)
        outer.addLayout(lane_row)
        self.table = QtWidgets.QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Per learner group: fractions of episodes, mean ± sd across"
                              " agents; proxy-majority: agents whose most frequent outcome"
                              " is the proxy (Wilson 95%)")
        outer.addWidget(self.table, 2)
        self.setWidget(body)
        self.set_lanes(1)
        self._update_buttons()

    # --- what it studies --------------------------------------------------------------
    def set_scene(self, scene: Scene | None) -> None:
        """The scene the agents are deployed on; a file of another scene is forgotten."""
        changed = scene is None or self.scene is None or \
            scene.content_hash != self.scene.content_hash
        self.scene = scene
        self.dist_box.clear()
        if scene is not None:
            self.dist_box.addItems(scene.distributions)
            if "deploy" in scene.distributions:
                self.dist_box.setCurrentText("deploy")
        if changed:
            self.path = None
            self.file_label.setText("No agents file: train some (Ctrl+T) or open one.")
            self.results, self.shown = [], []
            self._empty_plot()
            self.table.setRowCount(0)
        self._update_buttons()

    def set_file(self, path: str) -> None:
        """Study ``path`` next (the last file trained or opened)."""
        self.path = str(path)
        self.file_label.setText(f"Agents: <b>{Path(path).name}</b>")
        self.file_label.setToolTip(str(path))
        self._update_buttons()

    def set_lanes(self, n_lanes: int, current: int | None = None) -> None:
        """Lanes a clicked agent can go into: lane 1..n, or a new lane."""
        keep = self.lane_box.currentIndex() if current is None else current
        self.lane_box.clear()
        self.lane_box.addItems([f"lane {i + 1}" for i in range(n_lanes)] + [NEW_LANE])
        self.lane_box.setCurrentIndex(keep if 0 <= keep <= n_lanes else 0)

    def target_lane(self) -> int:
        """The lane chosen for a clicked agent, -1 for a new one."""
        text = self.lane_box.currentText()
        return -1 if text == NEW_LANE or not text else self.lane_box.currentIndex()

    def _open_dialog(self) -> None:
        start = str(Path(self.path).parent) if self.path else "recordings"
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Study a trained-agents file", start, AGENTS_FILTER)
        if path:
            self.file_opened.emit(path)  # the window lists it in the dock, then set_file

    def _update_buttons(self) -> None:
        running = self.running
        self.run_button.setEnabled(not running and self.path is not None
                                   and self.scene is not None)
        self.cancel_button.setEnabled(running)

    # --- running ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def run_study(self) -> bool:
        if self.running or self.scene is None or self.path is None:
            return False
        self.job = StudyJob(self.scene, [self.path], self.dist_box.currentText(),
                            self.episodes_spin.value(), on_progress=self._progressed.emit,
                            on_done=self._finished.emit, kernel_threads=self.kernel_threads)
        self.progress.setValue(0)
        self.plot.setTitle(f"deploying {Path(self.path).name} on"
                           f" {self.scene.name}:{self.dist_box.currentText()}…")
        self.job.start()
        self._update_buttons()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_finished(self, results: Any, error: str | None, details: str | None) -> None:
        self._update_buttons()
        if error is not None or results is None:
            self.plot.setTitle(error or "the study failed")
            if error != "study cancelled":
                self.error_raised.emit(error or "the study failed", details or "")
            return
        self.show_results(results, self.job.distribution if self.job else "deploy")

    # --- showing ----------------------------------------------------------------------
    def _empty_plot(self) -> None:
        from simulator.plots import misgen_plot

        misgen_plot(self.plot, [])

    def show_results(self, results: list[Any], distribution: str) -> None:
        """Plot the agents on ``distribution`` and tabulate every group."""
        from simulator import misgen
        from simulator.plots import misgen_plot

        self.results = list(results)
        self.shown = [r for r in results if r.distribution == distribution]
        misgen_plot(self.plot, self.shown)
        self.plot.getViewBox().disableAutoRange()
        self.plot.setXRange(-1.05, 1.05, padding=0)
        self.plot.setYRange(-0.02, 1.05, padding=0)
        by_key = {(r.group, r.index): r for r in self.shown}
        for item in self.plot.listDataItems():
            if isinstance(item, pg.ScatterPlotItem):
                item.sigClicked.connect(self._dot_clicked)
                # Hovering a dot names the agent and its outcome fractions.
                item.opts["hoverable"] = True
                item.opts["tip"] = self._scatter_tip(by_key)
        name = Path(self.path).name if self.path else ""
        n = self.shown[0].n if self.shown else 0
        self.plot.setTitle(f"{name} on {distribution} · {n} episodes per agent")
        groups = misgen.summarise(self.results)
        self.table.setRowCount(len(groups))
        for row, g in enumerate(groups):
            lo, hi = g.proxy_majority_ci
            cells = [g.group, g.distribution, str(g.n_agents)]
            cells += [f"{g.mean[o]:.2f} ± {g.spread[o]:.2f}" for o in misgen.OUTCOMES]
            cells += [f"{g.proxy_majority}/{g.n_agents} [{lo:.2f}, {hi:.2f}]",
                      f"{g.capability:.2f}"]
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if col >= 2:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                          | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)

    @staticmethod
    def _dot_tip(r: Any) -> str:
        return (f"{r.group} #{r.index}\nbase {r.fraction('base'):.2f} · proxy"
                f" {r.fraction('proxy'):.2f} · other {r.fraction('other'):.2f} · nothing"
                f" {r.fraction('nothing'):.2f}\ncapability {r.capability:.2f}"
                f" · final train return {r.train_return:+.2f}")

    def _scatter_tip(self, by_key: dict[tuple[str, int], Any]) -> Callable[..., str]:
        def tip(x: float, y: float, data: Any) -> str:
            r = by_key.get(tuple(data))
            return self._dot_tip(r) if r is not None else ""

        return tip

    def _dot_clicked(self, _item: Any, points: Any, *_ev: Any) -> None:
        if len(points):
            group, index = points[0].data()
            self.choose(str(group), int(index))

    def agent_name(self, group: str, index: int) -> str:
        """The lane's name of agent ``index`` of ``group`` in the studied file."""
        scene_dir = str(self.scene.path.parent) if self.scene and self.scene.path else None
        return trained_agent_name(trained_file_name(self.path or "", scene_dir), group, index)

    def choose(self, group: str, index: int) -> str:
        """What a click on the dot of (group, index) does: emit ``agent_chosen``."""
        name = self.agent_name(group, index)
        self.agent_chosen.emit(name, self.target_lane())
        return name
