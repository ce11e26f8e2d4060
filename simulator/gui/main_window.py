"""The main window: the shell that holds lanes, toolbars, menus, docks and status bar.

The window shows one *run* — a live :class:`~simulator.gui.race.Race` (a view of one
:class:`~simulator.session.Session`) or a :class:`~simulator.gui.replay.Replay` of a
recording (a Session whose states are read back from the file) — and never calls a
kernel. While playing, a :class:`~simulator.gui.stepper.StepWorker` thread steps the run
and the window paints the worker's latest :class:`~simulator.gui.race.RaceView`, so a slow
step delays the next step, not the next frame. A user error (bad scene, bad parameter, a
failing agent) is shown in a dialog and the status bar and never closes the window.

The window's behaviour is split by concern, one module each, mixed in here:
:mod:`.run_setup` (choosing the run: scene or recording, lanes, seed, distribution),
:mod:`.playback` (play, pause, step, reset, the frame timer), :mod:`.lane_views` (lane
panels, overlays, plots, status), :mod:`.gestures` (perturbation tools),
:mod:`.record_replay` (recording, the replay bar, presenter, video export),
:mod:`.docks` (scene dock, outcomes, goal sets, trained agents) and :mod:`.help`.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from simulator.gui.docks import DocksMixin
from simulator.gui.gestures import GesturesMixin
from simulator.gui.help import help_text
from simulator.gui.lane_views import LaneViewsMixin
from simulator.gui.lanes import LanePanel
from simulator.gui.playback import FRAME_MS, SPEED_MAX_LOG, SPEED_MIN_LOG, PlaybackMixin
from simulator.gui.plots import MetricsPlots
from simulator.gui.qt_compat import guard_none_refcount
from simulator.gui.race import RaceView
from simulator.gui.record_replay import RecordReplayMixin
from simulator.gui.run_setup import RunSetupMixin
from simulator.gui.stepper import StepWorker
from simulator.gui.tools import Tool

DEFAULT_SCENE = "red_door"
GIL_SWITCH_SECONDS = 0.001  # see MainWindow.__init__


class MainWindow(RunSetupMixin, PlaybackMixin, LaneViewsMixin, GesturesMixin,
                 RecordReplayMixin, DocksMixin, QtWidgets.QMainWindow):
    """The steersim desktop window.

    Parameters
    ----------
    target : a scene name or path, a recording (.h5), or None for the last one used.
    settings : where layout and the last scene persist (default: the user's settings).
    """

    # Emitted on the worker thread after each step; Qt queues it to the window's thread.
    _worker_stepped = QtCore.Signal(int)

    def __init__(self, target: str | None = None, settings: QtCore.QSettings | None = None):
        guard_none_refcount()  # before the first frame: see simulator/gui/qt_compat.py
        import numba

        self._kernel_threads = numba.get_num_threads()  # restored when the window closes
        leave_a_core_for_drawing()
        # The worker's Python between kernels (metrics glue) holds the GIL; by default a
        # thread that wants it waits up to 5 ms, a third of a frame. Restored on close.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        super().__init__()
        self.setWindowTitle("steersim")
        icon = Path(__file__).resolve().parents[2] / "assets" / "steersim.png"
        if icon.exists():
            self.setWindowIcon(QtGui.QIcon(str(icon)))
        self.settings = settings or QtCore.QSettings("steersim", "steersim")
        self.run: Any = None  # the shown run: a Race (live) or a Replay
        self.recorder: Any = None  # a simulator.gui.record.GuiRecorder while R is on
        self.target: str | None = None
        self.errors: list[str] = []
        self.playing = False
        self.theme = str(self.settings.value("view/theme", "light"))
        self.panels: list[LanePanel] = []
        self.tools: list[Tool] = []
        self.tool: Tool | None = None
        self.noise: Any = None
        self._gesture_lane: int | None = None
        self._hover: dict[int, tuple[int, ...] | None] = {}
        # The search's expanded cells per lane, and the (run, lane, step) they are for.
        self._expanded: dict[int, np.ndarray | None] = {}
        self._expanded_key: dict[int, tuple[int, int, int]] = {}
        self._flashes: list[tuple[int, tuple[int, ...] | None, float]] = []
        self._step_debt = 0.0
        self._last_tick = time.perf_counter()
        self._paint_times: deque[float] = deque(maxlen=240)
        self._step_times: deque[tuple[float, int]] = deque(maxlen=240)
        self._plots_dirty = True
        self._last_plot = 0.0
        self._click_time: float | None = None
        self.click_latencies: deque[float] = deque(maxlen=100)
        self._error_box: QtWidgets.QMessageBox | None = None
        self._processes: list[QtCore.QProcess] = []
        self.train_dialog: Any = None  # simulator.gui.learning.TrainDialog, made on demand
        self.shown: RaceView | None = None  # what the lane views and plots show
        self._last_paint = 0.0
        self.worker = StepWorker(on_step=self._worker_stepped.emit)
        self._worker_stepped.connect(self._on_worker_step)
        self._collect_timer = QtCore.QTimer(self)  # a step that came just after a frame
        self._collect_timer.setSingleShot(True)
        self._collect_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._collect_timer.timeout.connect(self._collect)

        self._build_actions()
        self._build_toolbars()
        self._build_central()
        self._build_docks()
        self._build_status()
        self._build_menus()
        self._restore_layout()
        self.apply_theme(self.theme)

        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start(FRAME_MS)

        start = target or str(self.settings.value("last/target", "") or "") or DEFAULT_SCENE
        self.open_target(start)
        if self.run is None and start != DEFAULT_SCENE and not target:
            self.open_target(DEFAULT_SCENE)  # the remembered scene went away: fall back

    # --- actions and shortcuts ---------------------------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: str | list[str] | None = None,
                tip: str = "", checkable: bool = False) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut:
            keys = [shortcut] if isinstance(shortcut, str) else shortcut
            action.setShortcuts([QtGui.QKeySequence(k) for k in keys])
        action.setToolTip(f"{tip or text} ({', '.join(keys)})" if shortcut else tip or text)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work wherever focus is in the window
        return action

    def _build_actions(self) -> None:
        icon = self.style().standardIcon
        pixmap = QtWidgets.QStyle.StandardPixmap
        self._play_icon = icon(pixmap.SP_MediaPlay)
        self._pause_icon = icon(pixmap.SP_MediaPause)
        self.play_action = self._action("Play", self.toggle_play, "Space", "Play / pause")
        self.play_action.setIcon(self._play_icon)
        self.step_action = self._action("Step", self.step_once, "Right", "One step")
        self.step_action.setIcon(icon(pixmap.SP_MediaSkipForward))
        self.reset_action = self._action("Reset", self.reset, "Backspace",
                                         "Redraw the worlds, forget your perturbations"
                                         " (a replay: back to step 0)")
        self.reset_action.setIcon(icon(pixmap.SP_MediaSkipBackward))
        self.faster_action = self._action("Faster", lambda: self._nudge_speed(+10),
                                          ["+", "=", "Ctrl++"], "Faster")
        self.slower_action = self._action("Slower", lambda: self._nudge_speed(-10),
                                          ["-", "_"], "Slower")
        self.record_action = self._action("Record", self.toggle_record, "R",
                                          "Record this run to HDF5 (from step 0)",
                                          checkable=True)
        self.record_action.setIcon(_dot_icon("#d01010"))
        self.loop_action = self._action("Loop", lambda _c: None, "L",
                                        "Start over when every copy has finished",
                                        checkable=True)
        self.open_action = self._action("Open…", self.open_dialog, "Ctrl+O",
                                        "Open a scene or a recording")
        self.quit_action = self._action("Quit", self.close, "Ctrl+Q")
        self.present_action = self._action("Present recording", self.present_recording,
                                           "Ctrl+P", "Replay the open recording full-screen"
                                           " for a talk (steersim present)")
        self.export_action = self._action("Export video…", self.export_video, "Ctrl+E",
                                          "Save the open recording as MP4 or GIF"
                                          " (steersim export)")
        self.present_action.setEnabled(False)
        self.export_action.setEnabled(False)
        self.train_action = self._action("Train agents…", self.open_train_dialog, "Ctrl+T",
                                         "Train agents on this scene's training"
                                         " distribution, with live learning curves")
        self.agents_file_action = self._action("Open agents file…", self.open_agents_file,
                                               "Ctrl+Shift+O", "List a trained-agents"
                                               " file's agents in the lanes' agent lists")
        self.study_action = self._action("Outcome study", self.show_outcomes, "Ctrl+M",
                                         "What the trained agents pursue after deployment:"
                                         " the preference/capability scatter")
        self.goals_action = self._action("Goal sets", self.show_goals, "Ctrl+G",
                                         "Dense vs sparse constraints: how many candidate"
                                         " goals stay compatible with training")
        self.all_lanes_action = self._action("All lanes", lambda _c: None, "A",
                                             "A gesture hits every lane (a fair race)",
                                             checkable=True)
        self.all_lanes_action.setChecked(True)
        self.ghosts_action = self._action("Ghosts", self._views_changed, "G",
                                          "Show each lane's ensemble as a cloud",
                                          checkable=True)
        self.ghosts_action.setChecked(self.settings.value("view/ghosts", "true") == "true")
        self.internals_action = self._action("Internals", self._views_changed, "I",
                                             "Show the agent's insides: rule fired, nodes"
                                             " expanded, heater", checkable=True)
        self.internals_action.setChecked(self.settings.value("view/internals", "true") == "true")

    # --- toolbars, central area, status bar, menus -------------------------------------------
    def _build_toolbars(self) -> None:
        run = self.addToolBar("Run")
        run.setObjectName("run_toolbar")
        run.setMovable(False)
        run.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.play_action, self.step_action, self.reset_action):
            run.addAction(action)
        run.addSeparator()
        run.addWidget(QtWidgets.QLabel(" Speed "))
        self.speed_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.speed_slider.setRange(int(SPEED_MIN_LOG * 100), int(SPEED_MAX_LOG * 100))
        self.speed_slider.setValue(int(self.settings.value("run/speed", 100)))
        self.speed_slider.setFixedWidth(140)
        self.speed_slider.setToolTip("Simulated steps per second, logarithmic (+ / -)")
        self.speed_slider.valueChanged.connect(self._speed_changed)
        self.speed_label = QtWidgets.QLabel()
        self.speed_label.setMinimumWidth(84)
        run.addWidget(self.speed_slider)
        run.addWidget(self.speed_label)
        run.addSeparator()
        run.addWidget(QtWidgets.QLabel(" Seed "))
        # A line edit, not a spin box: seeds go up to 2**63 - 1, past a spin box's int32.
        self.seed_box = QtWidgets.QLineEdit()
        self.seed_box.setValidator(QtGui.QRegularExpressionValidator(
            QtCore.QRegularExpression(r"\d{1,19}"), self.seed_box))
        self.seed_box.setFixedWidth(170)
        self.seed_box.setToolTip("Seed of every lane (the same in all: a fair race); Enter"
                                 " applies it")
        self.seed_box.editingFinished.connect(self._seed_edited)
        run.addWidget(self.seed_box)
        run.addWidget(QtWidgets.QLabel(" Distribution "))
        self.dist_box = QtWidgets.QComboBox()
        self.dist_box.setToolTip("Initial-state distribution (train / deploy ...)")
        self.dist_box.activated.connect(lambda _i: self._dist_changed())
        run.addWidget(self.dist_box)
        run.addSeparator()
        run.addAction(self.record_action)
        run.addAction(self.loop_action)
        self._speed_changed(self.speed_slider.value())

        self.tool_bar = QtWidgets.QToolBar("Perturb")
        self.tool_bar.setObjectName("tool_toolbar")
        self.tool_bar.setMovable(False)
        self.addToolBarBreak()
        self.addToolBar(self.tool_bar)
        self.tool_group = QtGui.QActionGroup(self)
        self.tool_group.setExclusive(True)
        self._build_replay_bar()

    def _build_central(self) -> None:
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.splitter.setObjectName("main_splitter")
        self.lanes_widget = QtWidgets.QWidget()
        self.lanes_layout = QtWidgets.QHBoxLayout(self.lanes_widget)
        self.lanes_layout.setContentsMargins(4, 4, 4, 0)
        self.lanes_layout.setSpacing(6)
        self.placeholder = QtWidgets.QLabel("Open a scene (Ctrl+O) to start.")
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.lanes_layout.addWidget(self.placeholder)
        self.plots = MetricsPlots()
        self.splitter.addWidget(self.lanes_widget)
        self.splitter.addWidget(self.plots)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)
        self.setCentralWidget(self.splitter)

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.step_label = QtWidgets.QLabel()
        self.fps_label = QtWidgets.QLabel()
        self.rate_label = QtWidgets.QLabel()
        self.latency_label = QtWidgets.QLabel()
        self.rec_label = QtWidgets.QLabel()
        for label in (self.step_label, self.fps_label, self.rate_label, self.latency_label,
                      self.rec_label):
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
        self.latency_label.setToolTip("Last click until its effect was painted")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addSeparator()
        file_menu.addAction(self.record_action)
        file_menu.addAction(self.present_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        run_menu = self.menuBar().addMenu("&Run")
        for action in (self.play_action, self.step_action, self.reset_action,
                       self.faster_action, self.slower_action, self.loop_action):
            run_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        themes = QtGui.QActionGroup(self)
        for name in ("light", "dark"):
            action = QtGui.QAction(f"{name.title()} theme", self, checkable=True)
            action.setChecked(name == self.theme)
            action.triggered.connect(lambda _c, n=name: self.apply_theme(n))
            themes.addAction(action)
            view_menu.addAction(action)
        view_menu.addSeparator()
        for action in (self.ghosts_action, self.internals_action):
            view_menu.addAction(action)
        view_menu.addAction(self.dock.toggleViewAction())
        view_menu.addAction(self.outcomes.toggleViewAction())
        view_menu.addAction(self.goals_dock.toggleViewAction())
        agents_menu = self.menuBar().addMenu("&Agents")
        for action in (self.train_action, self.agents_file_action, self.study_action,
                       self.goals_action):
            agents_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("Keys and gestures", self._show_help)

    def help_text(self) -> str:
        """Keys and gestures for what is open: the open scene's world's tools."""
        run = self.run
        return help_text(run.world if run is not None else None,
                         replaying=self.replay is not None)

    def _show_help(self) -> None:
        """The help in a fixed-width font: its keys are laid out in columns."""
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Information,
                                    "Keys and gestures", "", parent=self)
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(f"<pre>{escape(self.help_text())}</pre>")
        box.exec()

    # --- errors, theme, persistence ------------------------------------------------------------
    def show_error(self, message: str, details: str | None = None) -> None:
        """Tell the user what went wrong, without blocking the event loop or quitting."""
        self.errors.append(message)
        self.statusBar().showMessage(f"⚠ {message}", 15000)
        if self._error_box is None:
            box = QtWidgets.QMessageBox(self)
            box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
            box.setWindowTitle("steersim")
            box.setStandardButtons(QtWidgets.QMessageBox.StandardButton.Ok)
            box.setWindowModality(QtCore.Qt.WindowModality.NonModal)
            self._error_box = box
        self._error_box.setText(message)
        self._error_box.setDetailedText(details or "")
        self._error_box.show()

    def apply_theme(self, name: str) -> None:
        """Light or dark: the world views, plots and Qt palette together."""
        self.theme = name
        self.settings.setValue("view/theme", name)
        dark = name == "dark"
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication):
            app.setPalette(_dark_palette() if dark else app.style().standardPalette())
        self.plots.set_dark(dark)
        for panel in self.panels:
            panel.view.theme = name
            panel.funnel.set_dark(dark)
            panel.view.invalidate()

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 920)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([620, 260])

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.timer.stop()
        self._stop_jobs()
        self.worker.stop()
        self._stop_recording()
        self.worker.close()
        self._stop_replay()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.sync()
        import numba

        numba.set_num_threads(self._kernel_threads)
        sys.setswitchinterval(self._switch_interval)
        super().closeEvent(event)

    # --- for tests -----------------------------------------------------------------------------
    def view(self, lane: int) -> Any:
        return self.panels[lane].view


def leave_a_core_for_drawing() -> int:
    """Run the kernels' parallel loops on one thread fewer than there are cores (at least
    one), unless ``NUMBA_NUM_THREADS`` says otherwise; returns the thread count.

    The window's own thread draws every frame; kernels that also want every core make
    both wait for each other, and on a busy machine a parallel step's threads wait for a
    descheduled peer (measured on 2 cores under load: median 31 ms per 3-lane step with 2
    threads, 4 ms with 1). Results do not depend on the thread count (DESIGN.md).
    """
    import os

    import numba

    if "NUMBA_NUM_THREADS" not in os.environ:
        numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS - 1))
    return numba.get_num_threads()


def _dot_icon(color: str) -> QtGui.QIcon:
    """A filled circle, for the record button (fonts may lack a "●" glyph)."""
    pixmap = QtGui.QPixmap(16, 16)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(QtGui.QColor(color))
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.drawEllipse(3, 3, 10, 10)
    painter.end()
    return QtGui.QIcon(pixmap)


def _dark_palette() -> QtGui.QPalette:
    palette = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    colors = {
        role.Window: "#23262b", role.WindowText: "#e6e6e6", role.Base: "#1b1d21",
        role.AlternateBase: "#2a2d33", role.ToolTipBase: "#2a2d33",
        role.ToolTipText: "#e6e6e6", role.Text: "#e6e6e6", role.Button: "#2d3036",
        role.ButtonText: "#e6e6e6", role.BrightText: "#ff5555", role.Highlight: "#3d7dd8",
        role.HighlightedText: "#ffffff", role.PlaceholderText: "#8a8f98",
    }
    for r, c in colors.items():
        palette.setColor(r, QtGui.QColor(c))
    return palette
