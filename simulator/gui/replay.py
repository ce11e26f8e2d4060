"""Replaying a recording in the window: the same views and plots, from recorded data.

States are read back from the file (copy 0 of each lane), agent internals and metrics too;
one *run* of the recording (its episodes, one per lane) is shown at a time, side by side.
Nothing is re-simulated here, so a replay shows exactly what was recorded — ``steersim
verify`` is what checks it against a re-simulation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.core.errors import UserError
from simulator.gui.plots import LaneSeries
from simulator.metrics import recovery_times
from simulator.recording import Episode, Recording, reading
from simulator.render import Overlays


class Replay:
    """A recording opened for the GUI, positioned at step :attr:`t` of run :attr:`run`."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self.scene = recording.scene()
        self.world = recording.world
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
            self._agents = [e.agent_specs() for e in self.lanes]
            self._events = [e.events() for e in self.lanes]
        self._cache.clear()
        self.t = min(self.t, self.n_steps)

    def episode_names(self) -> list[str]:
        """One entry per run: its seed and lanes."""
        return [f"run {run} (seed {lanes[0].seed}, {len(lanes)} lanes)"
                for run, lanes in sorted(self.runs.items())]

    def select_run(self, index: int) -> None:
        self._select(sorted(self.runs)[index])

    def seek(self, t: int) -> None:
        self.t = int(min(max(t, 0), self.n_steps))

    @property
    def n_lanes(self) -> int:
        return len(self.lanes)

    @property
    def horizon(self) -> int:
        return max(self.n_steps, 1)

    # --- what the views show ---------------------------------------------------------------
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

    def frame(self, lane: int, overlays: Overlays) -> tuple[str, Any, Any, Overlays] | None:
        if lane >= self.n_lanes:
            return None
        overlays.ghosts = False  # only copy 0 is recorded
        overlays.pending = []
        for ev in self._events[lane]:
            age = self.t - ev.step
            if 0 < age <= 4 and ev.source == "user":
                overlays.flashes.append(_flash(self.scene, ev, age))
        return self.world, self.scene, self.state(lane), overlays

    def lane_titles(self) -> list[str]:
        return [e.lane_label or " vs ".join(a.label for a in agents)
                for e, agents in zip(self.lanes, self._agents, strict=True)]

    def header(self, lane: int) -> tuple[str, str, str, str]:
        """(title, agents, note, outcome) for the lane's header."""
        episode = self.lanes[lane]
        agents = " vs ".join(a.label for a in self._agents[lane])
        note = f"recorded · {episode.n_copies} copies · {episode.status}"
        outcome = ""
        if self.t >= episode.n_steps and episode.outcome:
            parts = []
            for out in episode.outcome:
                mark = "✔" if out.get("achieved_objective") else "✘"
                base = "✔" if out.get("achieved_base") else "✘"
                parts.append(f"{out.get('status')}: {out.get('detail') or 'nothing'} · own goal"
                             f" {mark} · base goal {base}")
            outcome = " · ".join(parts)
        return self.lane_titles()[lane], agents, note, outcome

    def internals_lines(self, lane: int) -> list[str]:
        """The agent internals of the step that led to the current state."""
        from simulator.gui.main_window import describe_internals

        step = self.t - 1
        if step < 0 or step >= self.lanes[lane].n_steps:
            return []  # before the first step, or after the episode ended
        agents = self._agents[lane]
        keys = self.lanes[lane].agent_keys
        values: dict[str, np.ndarray] = {}
        for a, key in enumerate(keys):
            for name, rows in self._internals[lane].get(key, {}).items():
                values.setdefault(name, np.zeros(len(agents), rows.dtype))[a] = rows[step]
        return describe_internals(agents, values)

    def series(self) -> tuple[list[LaneSeries], LaneSeries | None]:
        """The recorded metrics up to the current step (so the curves grow as it plays)."""
        lanes = []
        baseline = None
        for i, metrics in enumerate(self._metrics):
            n = min(self.t + 1, len(metrics.get("F", ())))
            steps = np.arange(n, dtype=np.float64)
            values = {name: np.asarray(metrics[name][:n], np.float64)
                      for name in ("H", "F", "OP") if name in metrics}
            funnel = metrics.get("funnel")
            recovery = []
            if "F" in metrics:
                kicks = [ev.step for ev in self._events[i]
                         if ev.kind != "set_noise" and ev.step <= self.t]
                recovery = recovery_times(np.asarray(metrics["F"][1:n]), kicks)
            lanes.append(LaneSeries(self.lane_titles()[i], steps, values,
                                    None if funnel is None else funnel[:n], recovery))
            if baseline is None and "baseline_F" in metrics:
                base = {name: np.asarray(metrics[f"baseline_{name}"][:n], np.float64)
                        for name in ("H", "F") if f"baseline_{name}" in metrics}
                base["OP"] = np.zeros(n)  # the baseline against itself: 0 bits by definition
                baseline = LaneSeries("null", steps, base)
        return lanes, baseline

    def funnel_range(self) -> tuple[float, float]:
        from simulator.gui.race import funnel_range
        from simulator.worlds import get_driver

        return funnel_range(self.scene, get_driver(self.world), self.state(0))


def _flash(scene: Any, ev: Any, age: int) -> Any:
    """A fading highlight where a recorded event hit (maze: its row, col)."""
    from simulator.render import Flash

    where = None
    if scene.world == "maze" and ev.kind in ("teleport", "draw_wall", "erase_wall",
                                             "place_hazard", "remove_hazard", "add_object",
                                             "move_object"):
        where = (int(ev.params[0]), int(ev.params[1]))
    return Flash(where, 1.0 - (age - 1) / 4)
