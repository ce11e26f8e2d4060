"""Replaying a recording in the window: a :class:`Session` whose states come from the file.

One *run* of the recording (its episodes, one per lane) is shown at a time, side by side.
Its lanes are the lanes of :meth:`Session.from_recording` (the run's scene, seed,
distribution, agents and event logs); at every step the recorded states of copy 0 are read
back into them (:meth:`Session.set_states`), so a replay shows exactly what was recorded —
``steersim verify`` is what checks it against a re-simulation. :class:`Replay` has the
interface of the live :class:`~simulator.gui.race.Race` (``step``, ``reset``, ``view``,
``header``, ...), so the window, its step worker, views and plots treat both alike; it
adds the timeline (:meth:`Replay.seek`) and the choice of run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from simulator.core.errors import UserError
from simulator.gui.race import PLOTTED, LanePlot, LaneView, RaceView, ShownRun
from simulator.metrics import recovery_times
from simulator.recording import Episode, Recording, reading
from simulator.render import Flash
from simulator.session import Session

FLASH_STEPS = 4  # a recorded user event is highlighted for this many steps after it


class Replay(ShownRun):
    """A recording opened for the GUI, positioned at step :attr:`t` of run :attr:`run`."""

    live = False  # no perturbations, no recording: what was recorded is what it shows

    def __init__(self, recording: Recording):
        self.recording = recording
        self.scene = recording.scene()
        with reading(recording.path):
            episodes = recording.episodes
        if not episodes:
            raise UserError(f"{recording.path}: the recording holds no episode")
        self.runs: dict[int, list[Episode]] = {}
        for episode in episodes:
            self.runs.setdefault(max(episode.run, 0), []).append(episode)
        for lanes in self.runs.values():
            lanes.sort(key=lambda e: (e.lane, e.index))
        self.run = min(self.runs)
        self.t = 0
        self._cache: dict[tuple[int, int], Any] = {}
        self._select(self.run)

    @classmethod
    def open(cls, path: str) -> Replay:
        """Open ``path`` (UserError, one line, for a missing or damaged file)."""
        recording = Recording.open(path)
        try:
            with reading(path):
                return cls(recording)
        except BaseException:
            recording.close()
            raise

    def close(self) -> None:
        self.recording.close()

    # --- position ------------------------------------------------------------------------
    def _select(self, run: int) -> None:
        self.run = run
        self.lanes = self.runs[run]
        with reading(self.recording.path):
            self.n_steps = max(e.n_steps for e in self.lanes)
            self._metrics = [e.metrics() for e in self.lanes]
            self._internals = [e.internals() for e in self.lanes]
            self.session = Session.from_recording(self.scene, self.lanes)
        self._cache.clear()
        self.seek(min(self.t, self.n_steps))

    def episode_names(self) -> list[str]:
        """One entry per run: its seed and lanes."""
        return [f"run {run} (seed {lanes[0].seed}, {len(lanes)} lanes)"
                for run, lanes in sorted(self.runs.items())]

    def select_run(self, index: int) -> None:
        self._select(sorted(self.runs)[index])

    def seek(self, t: int) -> None:
        """Show step ``t`` (clamped to the run): every lane's recorded state read back."""
        self.t = int(min(max(t, 0), self.n_steps))
        self.session.set_states([self.state(lane) for lane in range(self.n_lanes)], self.t)

    # --- the run's interface (as Race) ---------------------------------------------------
    def step(self, n_steps: int = 1) -> int:
        """Show the next ``n_steps`` recorded steps (fewer at the end); returns how many."""
        start = time.perf_counter()
        taken = min(n_steps, self.n_steps - self.t)
        if taken > 0:
            self.seek(self.t + taken)
            self.seconds_per_step = (time.perf_counter() - start) / taken
        return max(taken, 0)

    def reset(self) -> None:
        """Back to step 0."""
        self.seek(0)

    @property
    def done(self) -> bool:
        return self.t >= self.n_steps

    @property
    def horizon(self) -> int:
        return max(self.n_steps, 1)

    @property
    def n_lanes(self) -> int:
        return len(self.lanes)

    def state(self, lane: int) -> Any:
        """Copy 0 of lane ``lane`` at the current step (the lane's last step if it ended)."""
        episode = self.lanes[lane]
        t = min(self.t, episode.n_steps)
        key = (lane, t)
        if key not in self._cache:
            if len(self._cache) > 512:
                self._cache.clear()
            with reading(self.recording.path):
                self._cache[key] = episode.world_state_at(t)
        return self._cache[key]

    def lane_titles(self) -> list[str]:
        return [self.header(lane)[0] for lane in range(self.n_lanes)]

    def header(self, lane: int) -> tuple[str, str, str]:
        """(title, agents, note) of lane ``lane``'s header."""
        episode, agents = self.lanes[lane], self.session.lanes[lane].label
        note = f"recorded · copy 0 · {episode.status}"
        return episode.lane_label or agents, agents, note

    def pending(self, lane: int, now: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Nothing is pending in a recording: its events are applied as recorded."""
        return []

    def flashes(self, lane: int, step: int) -> list[Flash]:
        """Fading highlights of the user events of the last few steps before ``step``."""
        out = []
        for ev in self.session.lanes[lane].events:
            age = step - ev.step
            if 0 < age <= FLASH_STEPS and ev.source == "user":
                out.append(Flash(self.session.event_where(ev), 1.0 - (age - 1) / FLASH_STEPS))
        return out

    def view(self, series: bool = True) -> RaceView:
        """What the window shows at the current step: every lane's recorded state, the
        agent internals of the step that led to it and, up to it, the recorded metrics."""
        lanes, baseline = [], None
        for i, lane in enumerate(self.session.lanes):
            metrics = self._metrics[i]
            n = min(self.t + 1, len(metrics.get("F", ())))
            f_now = float(metrics["F"][n - 1]) if n else None
            op_now = float(metrics["OP"][n - 1]) if n and "OP" in metrics else None
            plot = None
            if series and n:
                values = {name: np.asarray(metrics[name][:n], np.float64)
                          for name in PLOTTED if name in metrics}
                funnel = metrics.get("funnel")
                kicks = [ev.step for ev in lane.events
                         if ev.kind != "set_noise" and ev.step <= self.t]
                plot = LanePlot(values, None if funnel is None else np.asarray(funnel[:n]),
                                recovery_times(np.asarray(metrics["F"][1:n]), kicks))
                if baseline is None and "baseline_F" in metrics:
                    baseline = {name: np.asarray(metrics[f"baseline_{name}"][:n], np.float64)
                                for name in ("H", "F") if f"baseline_{name}" in metrics}
                    # The baseline against itself: 0 bits by definition.
                    baseline["OP"] = np.zeros(n)
            internals, acted = self._internals_at(i)
            lanes.append(LaneView(lane.state, internals, acted,
                                  self.session.outcomes(lane=i), f_now, op_now, plot))
        return RaceView(self.t, self.done, lanes, baseline)

    def _internals_at(self, lane: int) -> tuple[dict[str, np.ndarray], bool]:
        """The agent internals of the step that led to the current state (name → (A,)),
        and whether copy 0's agents took that step."""
        step = self.t - 1
        if step < 0 or step >= self.lanes[lane].n_steps:
            return {}, False  # before the first step, or after the episode ended
        n_agents = len(self.session.lanes[lane].agents)
        values: dict[str, np.ndarray] = {}
        for a, key in enumerate(self.lanes[lane].agent_keys):
            for name, rows in self._internals[lane].get(key, {}).items():
                values.setdefault(name, np.zeros(n_agents, rows.dtype))[a] = rows[step]
        return values, True
