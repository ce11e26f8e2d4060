"""The main window: lanes side by side, toolbar and keys, perturbation tools, live plots,
the scene & lanes dock, record and replay.

The window drives a :class:`~simulator.gui.race.Race` (Sessions and metrics trackers) while
running, or a :class:`~simulator.gui.replay.Replay` of a recording; it never calls a
kernel. While playing, a :class:`~simulator.gui.stepper.StepWorker` thread steps the race
and the window paints the worker's latest :class:`~simulator.gui.race.RaceView`, so a slow
step delays the next step, not the next frame. Every frame comes from
:mod:`simulator.render`. A user error (bad scene, bad parameter, a failing agent) is shown
in a dialog and the status bar and never closes the window.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from simulator.core.errors import UserError
from simulator.gui.dock import SceneDock
from simulator.gui.goals_panel import GoalsPanel
from simulator.gui.lanes import LanePanel
from simulator.gui.outcomes import OutcomePanel
from simulator.gui.plots import LaneSeries, MetricsPlots
from simulator.gui.qt_compat import guard_none_refcount
from simulator.gui.race import LaneChoice, LaneView, Race, RaceView, scene_dir
from simulator.gui.stepper import StepWorker
from simulator.gui.tools import Tool, noise_control, tools_for
from simulator.render import Flash, Overlays

DEFAULT_SCENE = "red_door"
FRAME_MS = 16  # the frame timer; a frame is painted only when something changed
# A finished step is painted at once unless a frame was painted this recently (then the
# next tick paints it): steps faster than the screen would otherwise cost frames nobody sees.
MIN_FRAME_GAP = 0.012
FLASH_SECONDS = 0.8
SPEED_MIN_LOG, SPEED_MAX_LOG = -0.5, 3.0  # steps per second: 10**-0.5 .. 10**3
# Simulation the worker may owe before further steps are dropped (two frames): enough to
# absorb a slow step, little enough that pausing or a click never waits behind a backlog.
STEP_BUDGET_SECONDS = 0.033
# A perturbation pulls the next step forward if it is due this soon anyway (DESIGN.md: a
# click's effect visible in < 50 ms); at slower speeds the world keeps the user's pace.
CLICK_PULL_SECONDS = 0.050
GIL_SWITCH_SECONDS = 0.001  # see MainWindow.__init__
PLOT_INTERVAL = 1 / 10  # plots repaint their axes: 10 Hz reads as live and costs a tenth
RECORDING_SUFFIXES = (".h5", ".hdf5")


def _is_recording(target: str) -> bool:
    return target.lower().endswith(RECORDING_SUFFIXES)


class MainWindow(QtWidgets.QMainWindow):
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
        self.race: Race | None = None
        self.replay: Any = None  # simulator.gui.replay.Replay while replaying
        self.recorder: Any = None  # a recording writer while R is on
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
        # The search's expanded cells per lane, and the (race, lane, step) they are for.
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
        self._build_dock()
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
        if self.race is None and self.replay is None and start != DEFAULT_SCENE and not target:
            self.open_target(DEFAULT_SCENE)  # the remembered scene went away: fall back

    # --- construction ------------------------------------------------------------------
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
                                         "Redraw the worlds, forget your perturbations")
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
        self._processes: list[QtCore.QProcess] = []
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
        self.train_dialog: Any = None  # simulator.gui.learning.TrainDialog, made on demand
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

        # The replay bar: timeline scrubber, shown only while replaying.
        self.replay_bar = QtWidgets.QToolBar("Replay")
        self.replay_bar.setObjectName("replay_toolbar")
        self.replay_bar.setMovable(False)
        self.addToolBar(QtCore.Qt.ToolBarArea.BottomToolBarArea, self.replay_bar)
        self.replay_bar.addWidget(QtWidgets.QLabel(" Episode "))
        self.episode_box = QtWidgets.QComboBox()
        self.episode_box.activated.connect(lambda _i: self._episode_changed())
        self.replay_bar.addWidget(self.episode_box)
        self.timeline = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.timeline.setToolTip("Timeline: drag to scrub")
        self.timeline.valueChanged.connect(self._scrub)
        self.replay_bar.addWidget(self.timeline)
        self.timeline_label = QtWidgets.QLabel()
        self.timeline_label.setMinimumWidth(90)
        self.replay_bar.addWidget(self.timeline_label)
        self.replay_bar.hide()

    def _rebuild_tools(self, world: str, event_kinds: tuple[str, ...]) -> None:
        """The perturbation toolbar for ``world``: its tools, colour, noise, toggles."""
        self.tool_bar.clear()
        for action in self.tool_group.actions():
            self.tool_group.removeAction(action)
            action.deleteLater()
        self.tools = tools_for(world)
        self.tool_bar.addWidget(QtWidgets.QLabel(" Perturb: "))
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
        for action in (self.all_lanes_action, self.ghosts_action, self.internals_action):
            self.tool_bar.addAction(action)

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

    def _build_dock(self) -> None:
        self.dock = SceneDock(self)
        self.dock.scene_requested.connect(self.open_target)
        self.dock.open_requested.connect(self.open_dialog)
        self.dock.lanes_applied.connect(self.apply_lanes)
        self.dock.error_raised.connect(self.show_error)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.agents_file_opened.connect(self._agents_file_listed)
        self.outcomes = OutcomePanel(self, kernel_threads=self._gui_kernel_threads())
        self.outcomes.agent_chosen.connect(self.put_agent)
        self.outcomes.error_raised.connect(self.show_error)
        self.outcomes.file_opened.connect(self.dock.add_agents_file)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.outcomes)
        self.tabifyDockWidget(self.dock, self.outcomes)
        self.goals = GoalsPanel()
        self.goals.error.connect(self.show_error)
        self.goals_dock = QtWidgets.QDockWidget("Goal sets", self)
        self.goals_dock.setObjectName("goal_sets")
        self.goals_dock.setWidget(self.goals)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.goals_dock)
        self.tabifyDockWidget(self.outcomes, self.goals_dock)
        self.dock.raise_()
        from simulator.scene import shipped_scenes

        self.dock.set_scene_names(shipped_scenes(), None)

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

    # --- loading -------------------------------------------------------------------------
    def open_dialog(self) -> None:
        from simulator.scene import SCENES_DIR

        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open a scene or a recording", str(SCENES_DIR),
            "Scenes and recordings (*.toml *.h5 *.hdf5);;All files (*)")
        if path:
            self.open_target(path)

    def open_target(self, target: str) -> bool:
        """Open a scene (name or .toml path) or a recording (.h5); on failure show why and
        keep whatever was open. Returns whether it opened."""
        try:
            if _is_recording(target):
                self._open_recording(target)
            else:
                self._open_scene(target)
        except UserError as exc:
            self.show_error(str(exc))
            return False
        except Exception as exc:  # a bug must not close the app: show it, keep going
            self.show_error(f"could not open {target}: {exc}", traceback.format_exc())
            return False
        self.target = target
        self.settings.setValue("last/target", target)
        return True

    def _open_scene(self, target: str) -> None:
        from simulator.scene import Scene
        from simulator.warmup import needs_compile

        scene = Scene.load(target)
        if needs_compile(scene.world):
            self.statusBar().showMessage(
                "First run: compiling the engine's kernels (about a minute, once)…")
            QtWidgets.QApplication.processEvents()
        self.worker.stop()  # a new race runs kernels here: none may run on the worker
        race = Race(scene)
        self._stop_replay()
        self._set_race(race)
        self.dock.set_scene(scene.name, scene.model.title, scene.model.description,
                            scene.model.base_objective, race.choices, world=scene.world,
                            scene_hash=scene.content_hash, scene_dir=scene_dir(scene))
        self.outcomes.set_scene(scene)
        self.goals.set_scene(scene)
        if self.train_dialog is not None and not self.train_dialog.running:
            self.train_dialog.close()  # it trains on the scene it was opened for
            self.train_dialog = None
        self.statusBar().showMessage(f"Opened {scene.name}. Space: play · Right: step ·"
                                     " drag on a world to perturb it", 8000)

    def _set_race(self, race: Race) -> None:
        """Show ``race``: lane panels, toolbar, plots."""
        self.pause()
        self._stop_recording()
        self.race = race
        self.worker.set_race(race)
        self.shown = self.worker.latest
        self._flashes.clear()
        self._show_seed_and_distribution(race.seed, race.scene.distributions,
                                         race.distribution, editable=True)
        self._rebuild_tools(race.world, race.lanes[0].session.driver.event_kinds)
        self._build_panels(len(race.lanes))
        self.plots.set_lanes([run.title for run in race.lanes])
        self.outcomes.set_lanes(len(race.lanes))
        self._refresh_all()
        self.setWindowTitle(f"steersim — {race.scene.name}")

    def _show_seed_and_distribution(self, seed: int, distributions: list[str], current: str,
                                    editable: bool) -> None:
        """The toolbar's seed and distribution (read-only while replaying a recording)."""
        self.seed_box.setText(str(seed))
        self.dist_box.clear()
        self.dist_box.addItems(distributions)
        self.dist_box.setCurrentText(current)
        self.seed_box.setEnabled(editable)
        self.dist_box.setEnabled(editable)

    def _build_panels(self, n_lanes: int) -> None:
        for panel in self.panels:  # out of the layout now; freed when the loop gets to it
            self.lanes_layout.removeWidget(panel)
            panel.hide()
            panel.deleteLater()
        self.panels = []
        self.placeholder.setVisible(n_lanes == 0)
        for i in range(n_lanes):
            panel = LanePanel(i, lambda i=i: self._frame(i), self.theme)
            panel.view.pressed.connect(self._on_press)
            panel.view.dragged.connect(self._on_drag)
            panel.view.released.connect(self._on_release)
            panel.view.hovered.connect(self._on_hover)
            panel.view.painted.connect(self._on_painted)
            panel.funnel.set_dark(self.theme == "dark")
            self.lanes_layout.addWidget(panel, 1)
            self.panels.append(panel)

    def apply_lanes(self, choices: list[LaneChoice]) -> None:
        """Rebuild the race with the dock's lanes (resets the run)."""
        if self.race is None:
            return
        self.worker.stop()  # a new race runs kernels here: none may run on the worker
        try:
            race = Race(self.race.scene, choices, self.race.seed, self.race.distribution)
        except UserError as exc:
            self.show_error(str(exc))
            return
        except Exception as exc:
            self.show_error(f"could not build the lanes: {exc}", traceback.format_exc())
            return
        self._set_race(race)

    def _rebuild(self, seed: int | None = None, distribution: str | None = None) -> None:
        if self.race is None:
            return
        self.worker.stop()
        try:
            race = Race(self.race.scene, self.race.choices,
                        self.race.seed if seed is None else seed,
                        distribution or self.race.distribution)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self._set_race(race)

    def _seed_edited(self) -> None:
        text = self.seed_box.text()
        if self.race is None or not text:
            return
        seed = int(text)
        if seed >= 2**63:
            self.show_error(f"seed {seed} must be below 2**63")
            self.seed_box.setText(str(self.race.seed))
            return
        if seed != self.race.seed:
            self._rebuild(seed=seed)

    def _dist_changed(self) -> None:
        name = self.dist_box.currentText()
        if self.race is not None and name and name != self.race.distribution:
            self._rebuild(distribution=name)

    # --- running -------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        """Simulated steps per second."""
        return 10 ** (self.speed_slider.value() / 100)

    def _speed_changed(self, value: int) -> None:
        speed = 10 ** (value / 100)
        self.speed_label.setText(f"{speed:.3g} steps/s")
        self.settings.setValue("run/speed", value)

    def _nudge_speed(self, delta: int) -> None:
        self.speed_slider.setValue(self.speed_slider.value() + delta)

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.replay is None and self.race is None:
            return
        if self.replay is None and self.race is not None and self.race.done:
            self.reset()
        self.playing = True
        self._step_debt = 1.0  # the first step shows at once
        self._last_tick = time.perf_counter()
        self.play_action.setText("Pause")
        self.play_action.setIcon(self._pause_icon)

    def pause(self) -> None:
        """Stop playing; the step in flight on the worker finishes and is shown."""
        self.playing = False
        self.play_action.setText("Play")
        self.play_action.setIcon(self._play_icon)
        if self.race is not None:
            self.worker.stop()  # the step in flight finishes; nothing more is owed
            latest = self.worker.latest
            if latest is not None and not latest.has_plots:
                self.worker.publish()  # with the plotted series: curves end where it paused
            self._collect()

    def step_once(self) -> None:
        self.pause()
        if self.replay is not None:
            self.timeline.setValue(self.timeline.value() + 1)
            return
        self._advance(1)

    def reset(self) -> None:
        if self.replay is not None:
            self.timeline.setValue(0)
            return
        if self.race is None:
            return
        self.worker.stop()  # a reset draws new worlds with kernels, here
        self._stop_recording()
        with self.worker.lock:
            self.race.reset()
        self.shown = self.worker.publish()
        self._flashes.clear()
        self._refresh_all()

    def _advance(self, n_steps: int) -> int:
        """Step the race on this thread (one step at a time by hand; playing steps on the
        worker); a failing agent or kernel pauses and is reported."""
        if self.race is None:
            return 0
        self.worker.stop()
        try:
            with self.worker.lock:
                taken = self.race.step(n_steps)
        except UserError as exc:
            self.pause()
            self.show_error(str(exc))
            return 0
        except Exception as exc:
            self.pause()
            self.show_error(f"stepping failed: {exc}", traceback.format_exc())
            return 0
        self.worker.publish()
        self._collect(force=True, taken=taken)
        return taken

    def _on_worker_step(self, _taken: int) -> None:
        """The worker finished a step: show it now, unless a frame was just painted (then
        the next tick does: fast play or a fading flash costs no frames nobody sees)."""
        wait = self._last_paint + MIN_FRAME_GAP - time.perf_counter()
        if wait <= 0 or self.worker.error:
            self._collect()
        elif not self._collect_timer.isActive():
            self._collect_timer.start(max(1, math.ceil(wait * 1000)))

    def _collect(self, force: bool = False, taken: int | None = None) -> None:
        """Show the worker's latest view if it is new: lane views, headers, plots, the
        recording; report a step that failed on the worker."""
        failure, self.worker.error = self.worker.error, None
        if failure is not None:
            exc, details = failure
            self.pause()
            if isinstance(exc, UserError):
                self.show_error(str(exc))
            else:
                self.show_error(f"stepping failed: {exc}", details)
        view = self.worker.latest
        if view is None or (view is self.shown and not force):
            return
        now = time.perf_counter()
        new = view.step - self.shown.step if self.shown is not None else 0
        if taken is not None:
            new = taken
        self.shown = view
        if new > 0:
            self._step_times.append((now, new))
        if self.recorder is not None:
            self._record_steps(new)
        self._refresh_views()
        if view.has_plots:
            self._plots_dirty = True
        if self.recorder is not None and view.done and self.worker.idle:
            self._stop_recording()  # the run is over: the file is complete

    def _pull_step(self) -> None:
        """After a perturbation while playing, take the next step now rather than at the
        next tick, if it is due within the click budget anyway (CLICK_PULL_SECONDS): its
        effect shows a frame sooner and the pace is kept (the debt pays for it)."""
        if (self.playing and self.race is not None and self.replay is None
                and self.shown is not None and not self.shown.done
                and self._step_debt + self.speed * CLICK_PULL_SECONDS >= 1.0):
            # Owe one step unless one is owed already (a step in flight finishes first:
            # the event was logged after it, for the step after).
            self._step_debt -= self.worker.request(1, 1)

    def _tick(self) -> None:
        """The frame timer: owe the worker steps as the speed asks (within a time budget),
        show what it stepped, fade flashes, refresh the plots and the status bar."""
        now = time.perf_counter()
        elapsed, self._last_tick = min(now - self._last_tick, 0.25), now
        self._collect()
        if self.playing:
            self._step_debt += self.speed * elapsed
            wanted = int(self._step_debt)
            if self.replay is not None:
                if wanted:
                    self._replay_advance(wanted)
                    self._step_debt -= wanted
            elif self.race is not None:
                if self.shown is not None and self.shown.done and self.worker.idle:
                    if self.loop_action.isChecked():
                        self.reset()
                        wanted = max(wanted, 1)  # the new run's first step: this frame
                    else:
                        self.pause()
                        self.statusBar().showMessage(
                            "Every copy has finished. Backspace resets; L loops.", 5000)
                        wanted = 0
                if wanted:
                    per_step = max(self.race.seconds_per_step, 1e-5)
                    cap = max(1, int(STEP_BUDGET_SECONDS / per_step))
                    self.worker.request(wanted, cap)
                    # Steps beyond the budget are dropped, not owed: no spiral of death.
                    self._step_debt = min(self._step_debt - wanted, 1.0)
        if self._flashes:
            self._flashes = [f for f in self._flashes if now - f[2] < FLASH_SECONDS]
        # A fading flash repaints its lanes, unless a frame (a step shown) was just painted:
        # its fade shows in that frame, and two frames within one tick would cost the worker.
        if self._flashes and now - self._last_paint >= MIN_FRAME_GAP:
            for lane in {f[0] for f in self._flashes} | {-1}:
                if 0 <= lane < len(self.panels):
                    self.panels[lane].view.invalidate()
        if self._plots_dirty and now - self._last_plot >= PLOT_INTERVAL:
            self._refresh_plots()
        self._refresh_status(now)

    # --- frames ----------------------------------------------------------------------------
    def _frame(self, lane: int) -> tuple[str, Any, Any, Overlays] | None:
        """What lane ``lane``'s view shows now: (world kind, scene, state, overlays)."""
        if self.replay is not None:
            return self.replay.frame(lane, self._overlays(lane))
        if self.race is None or self.shown is None or lane >= len(self.shown.lanes):
            return None
        return self.race.world, self.race.scene, self.shown.lanes[lane].state, \
            self._overlays(lane)

    def _overlays(self, lane: int) -> Overlays:
        now = time.perf_counter()
        flashes = [Flash(where, 1.0 - (now - t0) / FLASH_SECONDS)
                   for l, where, t0 in self._flashes if l == lane]
        overlays = Overlays(ghosts=self.ghosts_action.isChecked(), flashes=flashes,
                            hover=self._hover.get(lane))
        shown = self._shown_lane(lane)
        if self.internals_action.isChecked():
            overlays.internals = self._internals_lines(lane)
            overlays.expanded = self._expanded_cells(lane, shown)
        if self.race is not None and shown is not None and int(shown.state.status[0]) == 0:
            # Logged for the shown step or later: not applied in the shown world yet. (Only
            # this thread logs events, so reading the log needs no lock.)
            overlays.pending = list(self.race.pending(lane, now=self.shown.step))
            if self.tool is not None and self._gesture_lane == lane:
                overlays.pending += self.tool.preview()
            heater = shown.internals.get("heater")
            if heater is not None:
                overlays.heater = bool(np.any(heater))
        return overlays

    def _expanded_cells(self, lane: int, shown: LaneView | None) -> np.ndarray | None:
        """(H, W) bool cells lane ``lane``'s search expands for its next move from the shown
        state (None without a searching agent); one search per lane and shown step."""
        if self.race is None or shown is None or int(shown.state.status[0]) != 0:
            return None
        key = (id(self.race), lane, self.shown.step if self.shown is not None else -1)
        if self._expanded_key.get(lane) != key:
            run = self.race.lanes[lane]
            find = getattr(run.session.driver, "expanded_cells", None)
            cells = None
            if find is not None:
                cells = find(shown.state, run.agents, run.session.params)
            self._expanded_key[lane], self._expanded[lane] = key, cells
        return self._expanded.get(lane)

    def _shown_lane(self, lane: int) -> LaneView | None:
        """Lane ``lane`` as shown (None while replaying or with no such lane)."""
        if self.replay is not None or self.shown is None or lane >= len(self.shown.lanes):
            return None
        return self.shown.lanes[lane]

    def _internals_lines(self, lane: int) -> list[str]:
        """One line per agent of the lane: the rule that fired, the nodes searched, ..."""
        if self.replay is not None:
            return self.replay.internals_lines(lane)
        shown = self._shown_lane(lane)
        if self.race is None or shown is None or not shown.acted:
            return []  # copy 0 had already stopped: its agent did nothing
        return describe_internals(self.race.lanes[lane].agents, shown.internals)

    def _refresh_views(self) -> None:
        for panel in self.panels:
            panel.view.invalidate()
        self._refresh_headers()

    def _refresh_all(self) -> None:
        self._refresh_views()
        self._plots_dirty = True
        self._refresh_plots()
        if self.race is not None:
            for panel in self.panels:
                panel.funnel.set_frame(self.race.horizon, *self.race.funnel_range())

    def _refresh_headers(self) -> None:
        if self.replay is not None:
            for panel in self.panels:
                panel.set_header(*self.replay.header(panel.index))
            return
        if self.race is None or self.shown is None:
            return
        for panel, run, shown in zip(self.panels, self.race.lanes, self.shown.lanes,
                                     strict=False):
            agents = " vs ".join(a.label for a in run.agents)
            panel.set_header(run.title, agents, run.ensemble_note, self._outcome_text(shown))

    @staticmethod
    def _outcome_text(shown: LaneView) -> str:
        """Copy 0's status (once for a lane whose agents are all still running) and the
        ensemble's F and OP now."""
        outcomes = shown.outcomes
        if all(out.status == "running" for out in outcomes):
            parts = [f"running · step {outcomes[0].steps}"]
        else:
            parts = []
            for out in outcomes:
                prefix = f"{out.agent}: " if len(outcomes) > 1 else ""
                if out.status == "running":
                    parts.append(f"{prefix}running")
                    continue
                mark = "✔" if out.achieved_objective else "✘"
                base = "✔" if out.achieved_base else "✘"
                parts.append(f"{prefix}{out.detail or out.status}: own {mark} base {base}")
        if shown.f_now is not None and shown.op_now is not None:
            parts.append(f"F {shown.f_now:.2f} · OP {shown.op_now:+.2f} bits")
        return " · ".join(parts)

    def _refresh_plots(self) -> None:
        self._plots_dirty = False
        self._last_plot = time.perf_counter()
        if self.replay is not None:
            lanes, baseline = self.replay.series()
            self.plots.update_series(lanes, baseline, self.replay.horizon)
            for panel, lane in zip(self.panels, lanes, strict=False):
                panel.funnel.set_density(lane.funnel)
            return
        shown = self.shown
        if self.race is None or shown is None or shown.baseline is None:
            return  # no metrics, or a view without the plotted series
        lanes = []
        for run, lane in zip(self.race.lanes, shown.lanes, strict=False):
            if lane.plot is None:
                return
            # One row per race step (the tracker's own step labels follow copy 0, which stops
            # when its episode ends while the rest of the ensemble goes on).
            steps = np.arange(len(lane.plot.values["F"]), dtype=np.float64)
            lanes.append(LaneSeries(run.title, steps, lane.plot.values, lane.plot.funnel,
                                    lane.plot.recovery))
        base = shown.baseline
        baseline = LaneSeries("null", np.arange(len(base["F"]), dtype=np.float64), base)
        self.plots.update_series(lanes, baseline, self.race.horizon)
        for panel, lane in zip(self.panels, lanes, strict=False):
            panel.funnel.set_density(lane.funnel)

    def _refresh_status(self, now: float) -> None:
        paints = [t for t in self._paint_times if now - t < 1.0]
        self.fps_label.setText(f"{len(paints)} frames/s")
        steps = sum(n for t, n in self._step_times if now - t < 1.0)
        self.rate_label.setText(f"{steps} steps/s")
        if self.replay is not None:
            self.step_label.setText(f"replay · step {self.replay.t} / {self.replay.n_steps}")
        elif self.race is not None:
            self.step_label.setText(f"step {self.race.step_index} / {self.race.horizon}")
        if self.click_latencies:
            self.latency_label.setText(f"click→frame {self.click_latencies[-1] * 1000:.0f} ms")
        self.rec_label.setText("<b style='color:#d00'>REC</b>" if self.recorder else "")

    def _on_painted(self, lane: int, when: float) -> None:
        self._last_paint = when
        if lane == 0:
            self._paint_times.append(when)
        if self._click_time is not None:
            self.click_latencies.append(when - self._click_time)
            self._click_time = None

    def _views_changed(self, *_args: Any) -> None:
        self.settings.setValue("view/ghosts", "true" if self.ghosts_action.isChecked()
                               else "false")
        self.settings.setValue("view/internals", "true" if self.internals_action.isChecked()
                               else "false")
        for panel in self.panels:
            panel.view.invalidate()

    # --- perturbation gestures -----------------------------------------------------------
    def _choose_tool(self, tool: Tool) -> None:
        self.tool = tool

    def _color_changed(self, name: str) -> None:
        for tool in self.tools:
            if hasattr(tool, "color"):
                tool.color = name

    def _lanes_hit(self, lane: int) -> Any:
        return "all" if self.all_lanes_action.isChecked() else [lane]

    def _gesture(self, method: str, lane: int, where: Any, button: str) -> None:
        if self.tool is None or self.race is None or self.replay is not None:
            if self.replay is not None and method == "press":
                self.statusBar().showMessage("A recording cannot be perturbed: open its"
                                             " scene to run it live.", 4000)
            return
        self._click_time = time.perf_counter()
        # Under the worker's lock: the tool reads copy 0 and logs at the race's clock between
        # two steps (a step in flight, a few ms, finishes first). The event is applied at the
        # start of the next step, deterministically, and is in the log for replay.
        with self.worker.lock:
            try:
                events = getattr(self.tool, method)(self.race, lane, where, button,
                                                    self._lanes_hit(lane))
            except UserError as exc:
                events = None
                error = str(exc)
            else:
                spots = [self._event_spot(ev) for ev in events]
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

    def _event_spot(self, ev: Any) -> tuple[float, ...] | None:
        """Where an event hit, in world coordinates, for its flash (None: everywhere)."""
        named = self.race.named_params.get(ev, {}) if self.race is not None else {}
        if "row" in named:
            return float(named["row"]), float(named["col"])
        if "x" in named:
            return float(named["x"]), float(named["y"])
        if ev.target >= 0 and self.race is not None:
            state = self.race.lanes[ev.lane].state
            for name in ("obj_pos", "pos"):  # the maze's object, the arena's body
                where = getattr(state, name, None)
                if where is not None and ev.target < where.shape[1]:
                    return tuple(float(v) for v in where[0, ev.target])
        return None

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

    # --- record and replay ----------------------------------------------------------------
    def toggle_record(self) -> None:
        from simulator.gui.record import start_recording

        if self.recorder is not None:
            self._stop_recording()
            return
        if self.race is None:
            self.record_action.setChecked(False)
            return
        try:
            with self.worker.lock:  # the recorder reads the history the worker appends to
                self.recorder = start_recording(self.race, self._recording_dir())
        except UserError as exc:
            self.record_action.setChecked(False)
            self.show_error(str(exc))
            return
        except Exception as exc:
            self.record_action.setChecked(False)
            self.show_error(f"cannot record: {exc}", traceback.format_exc())
            return
        self.record_action.setChecked(True)
        self.statusBar().showMessage(f"Recording to {self.recorder.path} (from step 0)", 5000)

    def _recording_dir(self) -> Path:
        return Path(str(self.settings.value("record/dir", "") or "recordings"))

    def _record_steps(self, n_steps: int) -> None:
        """Write the steps the recorder has not written yet, unless the worker is in a step
        (then they wait in the lanes' history for the next frame: painting never waits)."""
        if not self.worker.lock.acquire(blocking=False):
            return
        try:
            self.recorder.steps(self.race, n_steps)
        except Exception as exc:
            failure: tuple[Exception, str] | None = (exc, traceback.format_exc())
        else:
            failure = None
        finally:
            self.worker.lock.release()
        if failure is not None:
            self.show_error(f"recording stopped: {failure[0]}", failure[1])
            self._stop_recording()

    def _stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        self.record_action.setChecked(False)
        if recorder is None:
            return
        try:
            with self.worker.lock:
                path = recorder.close(self.race)
        except Exception as exc:
            self.show_error(f"could not finish the recording: {exc}", traceback.format_exc())
            return
        self.statusBar().showMessage(f"Saved {path}", 8000)

    def _open_recording(self, path: str) -> None:
        from simulator.gui.replay import Replay

        replay = Replay.open(path)
        self.pause()
        self._stop_recording()
        self._stop_replay()
        self.race = None
        self.worker.set_race(None)
        self.shown = None
        self.replay = replay
        self._rebuild_tools("", ())
        self.episode_box.clear()
        self.episode_box.addItems(replay.episode_names())
        self.replay_bar.show()
        self.present_action.setEnabled(True)
        self.export_action.setEnabled(True)
        self._show_replay()
        self.dock.set_replay(replay.scene.name, path)
        self.setWindowTitle(f"steersim — replay {Path(path).name}")

    def _stop_replay(self) -> None:
        if self.replay is not None:
            self.replay.close()
        self.replay = None
        self.replay_bar.hide()
        self.present_action.setEnabled(False)
        self.export_action.setEnabled(False)

    def _steersim(self, args: list[str], done_message: str | None = None) -> QtCore.QProcess:
        """Run ``steersim ARGS`` as a child process (pygame's window and ffmpeg stay out of
        the Qt process); report its failure line, if any, when it ends."""
        import sys

        process = QtCore.QProcess(self)
        process.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.MergedChannels)

        def finished(code: int, _status: Any) -> None:
            output = bytes(process.readAll().data()).decode(errors="replace").strip()
            if code != 0:
                self.show_error(output.splitlines()[-1] if output else
                                f"steersim {args[0]} failed (exit code {code})")
            elif done_message:
                self.statusBar().showMessage(done_message, 8000)
            self._processes.remove(process)

        process.finished.connect(finished)
        self._processes.append(process)
        process.start(sys.executable, ["-m", "simulator", *args])
        return process

    def present_recording(self) -> None:
        """Open the recording being replayed in the pygame presenter (issue 7)."""
        if self.replay is None:
            return
        args = ["present", str(self.replay.recording.path), "--run", str(self.replay.run)]
        self._steersim(args)
        self.statusBar().showMessage("Presenter started (Esc closes it)", 5000)

    def export_video(self) -> None:
        """Save the recording being replayed as a video, with a cancellable progress dialog."""
        from simulator.export import export

        if self.replay is None:
            return
        source = Path(self.replay.recording.path)
        out, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export video", str(source.with_suffix(".mp4")), "Video (*.mp4 *.gif)")
        if not out:
            return
        dialog = QtWidgets.QProgressDialog(f"Exporting {Path(out).name}…", "Cancel", 0, 1, self)
        dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)

        class _Cancelled(Exception):
            """Raised from the progress callback; export() then removes its partial file."""

        def progress(done: int, total: int) -> None:
            dialog.setMaximum(total)
            dialog.setValue(done)
            QtWidgets.QApplication.processEvents()
            if dialog.wasCanceled():
                raise _Cancelled

        try:
            export(source, out, run=self.replay.run, force=True, progress=progress)
        except _Cancelled:
            self.statusBar().showMessage("Export cancelled; nothing was written", 5000)
        except UserError as exc:
            self.show_error(str(exc))
        else:
            self.statusBar().showMessage(f"Exported {out}", 5000)
        finally:
            dialog.close()

    def _episode_changed(self) -> None:
        """Show another run of the recording (its episodes, one per lane)."""
        if self.replay is None:
            return
        try:
            self.replay.select_run(self.episode_box.currentIndex())
        except UserError as exc:
            self.show_error(str(exc))
            return
        self._show_replay()

    def _show_replay(self) -> None:
        replay = self.replay
        first = replay.lanes[0]
        self._show_seed_and_distribution(first.seed, [first.distribution], first.distribution,
                                         editable=False)
        self._build_panels(replay.n_lanes)
        self.plots.set_lanes(replay.lane_titles())
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, replay.n_steps)
        self.timeline.setValue(replay.t)
        self.timeline.blockSignals(False)
        low, high = replay.funnel_range()
        for panel in self.panels:
            panel.funnel.set_frame(replay.horizon, low, high)
        self._scrub(replay.t)

    def _scrub(self, value: int) -> None:
        if self.replay is None:
            return
        self.replay.seek(value)
        self.timeline_label.setText(f"{self.replay.t} / {self.replay.n_steps}")
        self._refresh_views()
        self._plots_dirty = True

    def _replay_advance(self, n_steps: int) -> None:
        if self.replay.t >= self.replay.n_steps:
            if self.loop_action.isChecked():
                self.timeline.setValue(0)
            else:
                self.pause()
            return
        self.timeline.setValue(min(self.replay.t + n_steps, self.replay.n_steps))
        self._step_times.append((time.perf_counter(), n_steps))

    # --- trained agents: train, list, study ------------------------------------------------
    def _gui_kernel_threads(self) -> int:
        """Kernel threads for a background job: the window's own (a core left for drawing)."""
        import numba

        return numba.get_num_threads()

    def open_train_dialog(self) -> None:
        """The Train dialog for the open scene (the same one while it trains)."""
        if self.race is None:
            self.show_error("train: open a scene first (a recording replays; it does not"
                            " train)")
            return
        from simulator.gui.learning import TrainDialog
        from simulator.training import TrainRequest, check_request

        scene = self.race.scene
        if self.train_dialog is None or self.train_dialog.scene is not scene:
            try:
                check_request(scene, TrainRequest(("reinforce",), 1))
            except UserError as exc:
                self.show_error(str(exc))
                return
            self.train_dialog = TrainDialog(scene, self._recording_dir(),
                                            kernel_threads=self._gui_kernel_threads(),
                                            parent=self)
            self.train_dialog.trained.connect(self._agents_trained)
            self.train_dialog.error_raised.connect(self.show_error)
        self.train_dialog.show()
        self.train_dialog.raise_()
        self.train_dialog.activateWindow()

    def _agents_trained(self, path: str) -> None:
        if self.dock.add_agents_file(path):
            self.statusBar().showMessage(f"Trained agents written to {path}: pick them in a"
                                         " lane, or run the outcome study (Ctrl+M)", 10000)

    def open_agents_file(self) -> None:
        if self.race is None:
            self.show_error("open a scene first: trained agents drive a scene's lanes")
            return
        self.dock.show()
        self.dock.raise_()
        self.dock.open_agents_dialog()

    def _agents_file_listed(self, path: str) -> None:
        """An agents file joined the dock's lists: the outcome panel studies it next."""
        self.outcomes.set_file(path)

    def show_goals(self) -> None:
        """Show the goal-set panel and count, the first time, on the current scene."""
        self.goals_dock.show()
        self.goals_dock.raise_()
        if not self.goals.reports and self.goals.run_button.isEnabled():
            self.goals.start()

    def show_outcomes(self) -> None:
        self.outcomes.show()
        self.outcomes.raise_()
        if self.outcomes.path is not None and not self.outcomes.results:
            self.outcomes.run_study()

    def put_agent(self, name: str, lane: int) -> None:
        """Put agent ``name`` in lane ``lane`` (-1: a new lane) and rebuild the race."""
        if self.race is None or not self.dock.editors:
            self.show_error("open a scene first: trained agents drive a scene's lanes")
            return
        index = self.dock.put_agent(name, lane if lane >= 0 else None)
        self.dock.apply()
        self.statusBar().showMessage(f"Lane {index + 1}: {name}", 8000)

    # --- errors, theme, persistence --------------------------------------------------------
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
        for job in (getattr(self.train_dialog, "job", None), self.outcomes.job):
            if job is not None:
                job.cancel()  # stops after the agents in flight; nothing half-written
                job.join(timeout=10.0)
        self.goals.wait(30_000)  # a count in flight finishes (it writes nothing)
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

    def _show_help(self) -> None:
        QtWidgets.QMessageBox.information(self, "Keys and gestures", HELP_TEXT)

    # --- for tests and measurements ---------------------------------------------------------
    def view(self, lane: int) -> Any:
        return self.panels[lane].view

    @property
    def median_click_latency(self) -> float | None:
        if not self.click_latencies:
            return None
        return float(np.median(self.click_latencies))


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


def describe_internals(agents: list[Any], values: dict[str, np.ndarray]) -> list[str]:
    """Readable lines of a lane's agent internals: ``values`` name → (A,) per agent."""
    lines = []
    for a, agent in enumerate(agents):
        prefix = f"{agent.name}: " if len(agents) > 1 else ""
        parts = []
        for name, per_agent in values.items():
            value = per_agent[a] if np.ndim(per_agent) else per_agent
            if name == "rule":
                rule = int(value)
                if agent.rule_text and 0 <= rule < len(agent.rule_text):
                    parts.append(f"rule {rule + 1}: {agent.rule_text[rule]}")
                elif agent.rule_text:
                    parts.append("no rule fired")
            elif name == "nodes":
                if agent.name == "search":
                    parts.append(f"searched {int(value)} nodes")
            elif name == "heater":
                parts.append(f"heater {'ON' if value else 'off'}")
            elif not (isinstance(value, float) and math.isnan(value)) and int(value) != -1:
                parts.append(f"{name} {value:g}" if isinstance(value, float | np.floating)
                             else f"{name} {value}")
        if parts:
            lines.append(prefix + " · ".join(parts))
    return lines


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


HELP_TEXT = """\
Space   play / pause          Right  one step
Backspace  reset              + / -  faster / slower
R  record                     L  loop at the end
A  gestures hit all lanes     G  ghosts   I  internals
Ctrl+T  train agents           Ctrl+M  outcome study (click a dot: that agent in a lane)
Ctrl+Shift+O  open an agents file (its agents join the lanes' agent lists)
Ctrl+G  goal sets: candidate goals compatible with training, sparse vs dense

Maze tools (drag on a world view):
T teleport the agent · W draw walls (right button erases) · E erase walls
H lava (right button removes) · M move an object (click: bring the target)
C recolor an object (right button: next colour)

Every gesture is a logged perturbation applied at the start of the next step.
"""
