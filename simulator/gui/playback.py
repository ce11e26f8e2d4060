"""Playing the shown run: speed, play / pause / one step / reset, and the frame timer.

The run is a live :class:`~simulator.gui.race.Race` or a
:class:`~simulator.gui.replay.Replay`; both step the same way (a replay's step reads the
next recorded states), so nothing here depends on which. While playing, the window's
:class:`~simulator.gui.stepper.StepWorker` steps the run on its thread; the frame timer
owes it steps as the speed asks and shows the worker's latest view. By hand (one step, a
reset) the window steps the run itself, after stopping the worker.
"""

from __future__ import annotations

import math
import time
import traceback

from simulator.core.errors import UserError

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
PLOT_INTERVAL = 1 / 10  # plots repaint their axes: 10 Hz reads as live and costs a tenth


class PlaybackMixin:
    """The main window's run loop (mixed into :class:`~.main_window.MainWindow`)."""

    # --- speed -----------------------------------------------------------------------------
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

    # --- play, pause, one step, reset ------------------------------------------------------
    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.run is None:
            return
        if self.run.done:
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
        if self.run is not None:
            self.worker.stop()  # the step in flight finishes; nothing more is owed
            latest = self.worker.latest
            if latest is not None and not latest.has_plots:
                self.worker.publish()  # with the plotted series: curves end where it paused
            self._collect()

    def step_once(self) -> None:
        self.pause()
        self._advance(1)

    def reset(self) -> None:
        """A live run redraws its worlds (your perturbations are forgotten); a replay goes
        back to step 0."""
        if self.run is None:
            return
        self.worker.stop()  # a reset draws new worlds with kernels, here
        self._stop_recording()
        with self.worker.lock:
            self.run.reset()
        self.shown = self.worker.publish()
        self._flashes.clear()
        self._refresh_all()

    def _advance(self, n_steps: int) -> int:
        """Step the run on this thread (one step at a time by hand; playing steps on the
        worker); a failing agent or kernel pauses and is reported."""
        if self.run is None:
            return 0
        self.worker.stop()
        try:
            with self.worker.lock:
                taken = self.run.step(n_steps)
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

    # --- what the worker stepped -----------------------------------------------------------
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
        timeline, the recording; report a step that failed on the worker."""
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
            self._record_steps()
        self._show_timeline(view.step)
        self._refresh_views()
        if view.has_plots:
            self._plots_dirty = True
        if self.recorder is not None and view.done and self.worker.idle:
            self._stop_recording()  # the run is over: the file is complete

    def _pull_step(self) -> None:
        """After a perturbation while playing, take the next step now rather than at the
        next tick, if it is due within the click budget anyway (CLICK_PULL_SECONDS): its
        effect shows a frame sooner and the pace is kept (the debt pays for it)."""
        if (self.playing and self.shown is not None and not self.shown.done
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
        if self.playing and self.run is not None:
            self._step_debt += self.speed * elapsed
            wanted = int(self._step_debt)
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
                per_step = max(self.run.seconds_per_step, 1e-5)
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
