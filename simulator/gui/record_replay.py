"""Recording the live run (R) and the replay controls: the timeline and run choice of an
open recording, the presenter and video export.

Recording goes through :class:`~simulator.gui.record.GuiRecorder`, which writes with the
recorder of ``steersim record``. A replay is a run like a live one (see
:mod:`simulator.gui.replay`); what it adds is here: the timeline seeks it, the Episode box
picks another of its runs, Present and Export hand its file to ``steersim present`` and
:func:`simulator.export.export`.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from simulator.core.errors import UserError


class RecordReplayMixin:
    """The main window's record button and replay bar (mixed into
    :class:`~.main_window.MainWindow`)."""

    # --- recording the live run ------------------------------------------------------------
    def toggle_record(self) -> None:
        from simulator.gui.record import start_recording

        if self.recorder is not None:
            self._stop_recording()
            return
        if self.race is None:
            self.record_action.setChecked(False)
            if self.replay is not None:
                self.statusBar().showMessage("A recording replays; open its scene to record"
                                             " a new run.", 4000)
            return
        try:
            with self.worker.lock:  # the recorder re-runs the steps taken so far
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

    def _record_steps(self) -> None:
        """Let the recorder catch up with the run, unless the worker is in a step (then it
        catches up at the next frame: painting never waits)."""
        if not self.worker.lock.acquire(blocking=False):
            return
        try:
            self.recorder.follow(self.race)
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

    # --- the replay bar ----------------------------------------------------------------------
    def _build_replay_bar(self) -> None:
        """The timeline scrubber and run choice, shown only while replaying."""
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

    def _show_replay_bar(self) -> None:
        """Show the bar (and Present / Export) for a replay; hide them for a live run."""
        replay = self.replay
        self.replay_bar.setVisible(replay is not None)
        self.present_action.setEnabled(replay is not None)
        self.export_action.setEnabled(replay is not None)
        if replay is None:
            return
        self.episode_box.clear()
        self.episode_box.addItems(replay.episode_names())
        self.episode_box.setCurrentIndex(sorted(replay.runs).index(replay.run))
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, replay.n_steps)
        self.timeline.blockSignals(False)
        self._show_timeline(replay.t)

    def _show_timeline(self, step: int) -> None:
        """Move the timeline to the shown step (without seeking again)."""
        if self.replay is None:
            return
        self.timeline.blockSignals(True)
        self.timeline.setValue(step)
        self.timeline.blockSignals(False)
        self.timeline_label.setText(f"{step} / {self.replay.n_steps}")

    def _scrub(self, value: int) -> None:
        """The timeline moved: show that step of the recording."""
        if self.replay is None:
            return
        self.worker.stop()
        with self.worker.lock:
            self.replay.seek(value)
        self.worker.publish()
        self._collect(force=True, taken=0)
        self._plots_dirty = True

    def _episode_changed(self) -> None:
        """Show another run of the recording (its episodes, one per lane)."""
        replay = self.replay
        if replay is None:
            return
        self.worker.stop()
        try:
            with self.worker.lock:
                replay.select_run(self.episode_box.currentIndex())
        except UserError as exc:
            self.show_error(str(exc))
            return
        self._set_run(replay)

    def _stop_replay(self, keep: Any = None) -> None:
        """Close the recording being replayed, unless it is ``keep``."""
        replay = self.replay
        if replay is not None and replay is not keep:
            replay.close()

    # --- presenter and video -----------------------------------------------------------------
    def _steersim(self, args: list[str], done_message: str | None = None) -> QtCore.QProcess:
        """Run ``steersim ARGS`` as a child process (pygame's window and ffmpeg stay out of
        the Qt process); report its failure line, if any, when it ends."""
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
