"""Choosing what the window runs: a scene (a live :class:`~simulator.gui.race.Race` of its
lanes, seed and distribution) or a recording (a :class:`~simulator.gui.replay.Replay`).

This is the one place where live and replay differ in kind: the source is chosen here,
and everything downstream — the step worker, the views, the plots — shows the run
through the interface both share. A bad scene, recording or lane is reported and
whatever was open stays open.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from simulator.core.errors import UserError
from simulator.gui.race import LaneChoice, Race, scene_dir

RECORDING_SUFFIXES = (".h5", ".hdf5")


def is_recording(target: str) -> bool:
    return target.lower().endswith(RECORDING_SUFFIXES)


class RunSetupMixin:
    """The main window's sources (mixed into :class:`~.main_window.MainWindow`)."""

    # --- the shown run ---------------------------------------------------------------------
    @property
    def race(self) -> Race | None:
        """The live run, or None while a recording replays."""
        return self.run if self.run is not None and self.run.live else None

    @property
    def replay(self) -> Any:
        """The recording replaying (a :class:`~simulator.gui.replay.Replay`), or None."""
        return self.run if self.run is not None and not self.run.live else None

    def _set_run(self, run: Any) -> None:
        """Show ``run``, live or replayed: lane panels, tools, plots, the replay bar."""
        self.pause()
        self._stop_recording()
        self.worker.set_race(run)  # the step in flight, if any, finishes first
        self._stop_replay(keep=run)
        self.run = run
        self.shown = self.worker.latest
        self._flashes.clear()
        live = run.live
        distributions = run.scene.distributions if live else [run.distribution]
        self._show_seed_and_distribution(run.seed, distributions, run.distribution, live)
        self._rebuild_tools(run.world if live else "",
                            run.session.event_kinds if live else ())
        self._build_panels(len(run.session.lanes))
        self.plots.set_lanes([run.header(i)[0] for i in range(len(run.session.lanes))])
        if live:
            self.outcomes.set_lanes(len(run.session.lanes))
        self._show_replay_bar()
        self._refresh_all()
        name = run.scene.name if live else f"replay {Path(run.recording.path).name}"
        self.setWindowTitle(f"steersim — {name}")

    # --- opening -----------------------------------------------------------------------------
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
            if is_recording(target):
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
        self._set_run(Race(scene))
        self.dock.set_scene(scene.name, scene.model.title, scene.model.description,
                            scene.model.base_objective, self.race.choices, world=scene.world,
                            scene_hash=scene.content_hash, scene_dir=scene_dir(scene))
        self.outcomes.set_scene(scene)
        self.goals.set_scene(scene)
        if self.train_dialog is not None and not self.train_dialog.running:
            self.train_dialog.close()  # it trains on the scene it was opened for
            self.train_dialog = None
        self.statusBar().showMessage(f"Opened {scene.name}. Space: play · Right: step ·"
                                     " drag on a world to perturb it", 8000)

    def _open_recording(self, path: str) -> None:
        from simulator.gui.replay import Replay

        self.worker.stop()
        replay = Replay.open(path)
        try:
            self._set_run(replay)
        except BaseException:
            replay.close()
            raise
        self.dock.set_replay(replay.scene.name, path)

    # --- the live run's lanes, seed and distribution -----------------------------------------
    def _show_seed_and_distribution(self, seed: int, distributions: list[str], current: str,
                                    editable: bool) -> None:
        """The toolbar's seed and distribution (read-only while replaying a recording)."""
        self.seed_box.setText(str(seed))
        self.dist_box.clear()
        self.dist_box.addItems(distributions)
        self.dist_box.setCurrentText(current)
        self.seed_box.setEnabled(editable)
        self.dist_box.setEnabled(editable)

    def apply_lanes(self, choices: list[LaneChoice]) -> None:
        """Rebuild the race with the dock's lanes (resets the run)."""
        if self.race is None:
            return
        self._rebuild(choices=choices)

    def _rebuild(self, seed: int | None = None, distribution: str | None = None,
                 choices: list[LaneChoice] | None = None) -> None:
        """A new race of the open scene with another seed, distribution or lanes."""
        race = self.race
        if race is None:
            return
        self.worker.stop()  # a new race runs kernels here: none may run on the worker
        try:
            new = Race(race.scene, choices if choices is not None else race.choices,
                       race.seed if seed is None else seed,
                       distribution or race.distribution)
        except UserError as exc:
            self.show_error(str(exc))
            return
        except Exception as exc:
            self.show_error(f"could not build the lanes: {exc}", traceback.format_exc())
            return
        self._set_run(new)

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
