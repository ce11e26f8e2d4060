"""Stepping the race on a worker thread, so the window paints while the engine works.

Qt-free. The frame timer owes steps (:meth:`StepWorker.request`); a worker thread takes
them one at a time, each under :attr:`StepWorker.lock`, and after each step copies what the
window shows into a :class:`~simulator.gui.race.RaceView` (:attr:`StepWorker.latest`). The
window paints from the latest view and never waits for a step in flight.

Anything else that touches the race — a click's perturbation, a reset, a recording — holds
the same lock, so it sees the race between two steps, never halfway through one. A
perturbation logged under the lock goes into the lanes' logs at the race's clock and is
applied at the start of the next step, exactly as when the window's own thread stepped: the
run stays deterministic and ``steersim verify`` re-simulates it bit for bit.

Why a thread helps on two cores: the kernels are compiled with ``nogil=True`` and the
window's parallel kernels run on one thread (``leave_a_core_for_drawing``), so a step's
compiled work runs on one core while Qt, pygame and pyqtgraph paint on the other. While
playing, only this thread calls kernels; the window calls them (reset, one step, a new
race) only after :meth:`StepWorker.stop`, so no two parallel kernels ever launch at once
(numba's ``workqueue`` threading layer would abort on that).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from simulator.gui.race import RaceView

PLOT_SECONDS = 1 / 10  # plotted series are copied into a view at most this often


class StepWorker:
    """A daemon thread that steps the shown run on request: a live
    :class:`~simulator.gui.race.Race` or a :class:`~simulator.gui.replay.Replay` (which
    steps by reading the next recorded states).

    Parameters
    ----------
    on_step : called on the worker thread after each step (or failure) with the steps
        taken (1, or 0 when the race had finished or failed); the window turns it into a
        queued Qt signal. Must not block.
    kernel_threads : threads of the kernels' parallel loops on the worker (default: the
        creating thread's). numba's thread count is per calling thread, and a new thread
        starts with every core: its OpenMP team would spin on the core the window paints on.
    """

    def __init__(self, on_step: Callable[[int], None] | None = None,
                 kernel_threads: int | None = None):
        import numba

        self.kernel_threads = kernel_threads or numba.get_num_threads()
        self.lock = threading.RLock()  # held for each step; hold it to touch the race
        self.on_step = on_step
        self.race: Any = None  # a Race or a Replay
        self.latest: RaceView | None = None  # replaced (never mutated) after every step
        self.steps_taken = 0  # steps the worker has taken since it started (monotonic)
        self.error: tuple[BaseException, str] | None = None  # (exception, traceback)
        self._cond = threading.Condition()
        self._owed = 0
        self._busy = False
        self._closed = False
        self._last_plot = 0.0
        self._thread = threading.Thread(target=self._run, name="steersim-steps", daemon=True)
        self._thread.start()

    # --- the window's side -----------------------------------------------------------------
    def set_race(self, race: Any) -> None:
        """Step ``race`` from now on (the step in flight, if any, finishes first)."""
        self.stop()
        with self.lock:
            self.race = race
            self.latest = race.view() if race is not None else None

    def request(self, n_steps: int, cap: int) -> int:
        """Owe ``n_steps`` more steps, at most ``cap`` in all: steps beyond what the worker
        can take are dropped, not owed, so a slow step never builds a backlog. Returns the
        steps added."""
        with self._cond:
            before = self._owed
            self._owed = max(before, min(before + n_steps, cap))
            if self._owed:
                self._cond.notify_all()
            return self._owed - before

    def stop(self) -> None:
        """Drop every owed step and wait for the step in flight, if any. After this the
        race is quiet until the next :meth:`request`. Never call it holding :attr:`lock`
        (the step in flight needs the lock to finish)."""
        with self._cond:
            self._owed = 0
            while self._busy:
                self._cond.wait()

    def publish(self) -> RaceView | None:
        """Copy the race's view now (after the window changed the race itself: a reset, a
        step of its own, a perturbation). Call with the worker stopped or the lock held."""
        with self.lock:
            self.latest = self.race.view() if self.race is not None else None
            self._last_plot = time.perf_counter()
            return self.latest

    @property
    def idle(self) -> bool:
        """Nothing owed and no step in flight."""
        with self._cond:
            return self._owed == 0 and not self._busy

    def close(self) -> None:
        """Stop the thread (the step in flight finishes first)."""
        with self._cond:
            self._closed = True
            self._owed = 0
            self._cond.notify_all()
        self._thread.join(timeout=10.0)

    # --- the worker's side -----------------------------------------------------------------
    def _run(self) -> None:
        import numba

        numba.set_num_threads(self.kernel_threads)
        while True:
            with self._cond:
                while self._owed == 0 and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                self._owed -= 1
                self._busy = True
            taken = 0
            try:
                taken = self._step()
            except BaseException as exc:  # reported by the window; the thread goes on
                self.error = (exc, traceback.format_exc())
            finally:
                with self._cond:
                    self._busy = False
                    if not taken:  # finished or failed: nothing more to do until asked
                        self._owed = 0
                    self._cond.notify_all()
            if self.on_step is not None:
                try:
                    self.on_step(taken)
                except RuntimeError:  # the window went away while this step ran
                    pass

    def _step(self) -> int:
        with self.lock:
            race = self.race
            if race is None or race.done:
                return 0
            taken = race.step(1)
            self.steps_taken += taken
            now = time.perf_counter()
            # The plotted series cost more to copy as the run grows (a 1800-step funnel):
            # at the plots' own rate and at the end; a pause publishes them too.
            series = race.done or now - self._last_plot >= PLOT_SECONDS
            if series:
                self._last_plot = now
            self.latest = race.view(series)
            return taken
