"""The window's docks and the trained-agents menu: the Scene & lanes dock, the Outcomes
panel, the Goal sets dock, the Train dialog and agents files.

The docks talk to the window through signals: the scene dock asks for a scene or for new
lanes, the outcome panel puts a trained agent in a lane, the Train dialog reports the file
it wrote. Background jobs (training, the outcome study) run on the window's kernel threads
(a core left for drawing).
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from simulator.core.errors import UserError
from simulator.gui.dock import SceneDock
from simulator.gui.goals_panel import GoalsPanel
from simulator.gui.outcomes import OutcomePanel


class DocksMixin:
    """The main window's docks (mixed into :class:`~.main_window.MainWindow`)."""

    def _build_docks(self) -> None:
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

    def _gui_kernel_threads(self) -> int:
        """Kernel threads for a background job: the window's own (a core left for drawing)."""
        import numba

        return numba.get_num_threads()

    # --- trained agents: train, list, study ------------------------------------------------
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

    def _stop_jobs(self) -> None:
        """Cancel the background jobs (they stop after the agents in flight; nothing is
        half-written) and wait for a goal-set count in flight (it writes nothing)."""
        jobs: list[Any] = [getattr(self.train_dialog, "job", None), self.outcomes.job]
        for job in jobs:
            if job is not None:
                job.cancel()
                job.join(timeout=10.0)
        self.goals.wait(30_000)
