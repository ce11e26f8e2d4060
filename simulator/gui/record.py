"""Recording what the GUI shows (the R key) with :mod:`simulator.recording`'s writer.

One file per recording, one episode per lane (copy 0 of the lane, as ``steersim record``
writes them), the lane's perturbation log and, at the end, its narrowing metrics. Pressing
R mid-run still records from step 0: every lane keeps copy 0's history, written first, so
the file replays — and ``steersim verify`` re-simulates — from the start.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from simulator.gui.race import Race
from simulator.recording import (
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    EpisodeWriter,
    RecordingWriter,
    writer_process_available,
)


def recording_path(folder: Path, scene_name: str) -> Path:
    """``<folder>/<scene>-<UTC time>.h5``, never an existing file (the folder is created)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{scene_name}-{stamp}.h5"
    k = 1
    while path.exists():
        path = folder / f"{scene_name}-{stamp}-{k}.h5"
        k += 1
    return path


class GuiRecorder:
    """Writes a race to ``path``: call :meth:`steps` after the race steps, :meth:`close`
    at the end (the episode is ``complete`` if its world finished, else ``interrupted``)."""

    def __init__(self, race: Race, path: Path):
        self.path = path
        first = race.lanes[0].session
        meta = {"distribution": race.distribution, "n_lanes": len(race.lanes),
                "n_copies": [run.n_copies for run in race.lanes],
                "event_kinds": list(first.driver.event_kinds),
                "n_event_params": first.driver.n_event_params, "source": "gui"}
        # A writer process where there is one: h5py's dataset creation holds the GIL, so
        # on a thread of the GUI it would cost frames.
        self.writer = RecordingWriter(path, race.scene, race.seed, attrs=meta,
                                      process=writer_process_available())
        self.episodes: list[EpisodeWriter] = []
        self._written: list[int] = []  # history rows already written, per lane
        try:
            for run in race.lanes:
                lane = run.session.lanes[0]
                initial, _ = run.history[0]
                start = first.driver.state_type(**initial)
                # The lane's own session numbers it 0; the file names the race's lane.
                view = dataclasses.replace(lane, index=run.index, state=start)
                view.events = lane.events  # the live log: later events are written too
                self.episodes.append(self.writer.begin_episode(
                    run=0, lane=view, seed=race.seed, distribution=race.distribution,
                    n_copies=run.n_copies, label=run.title,
                    event_kinds=first.driver.event_kinds,
                    n_event_params=first.driver.n_event_params))
                self._written.append(1)
            self.writer.flush()
            self.steps(race)
        except BaseException:
            self.writer.close(STATUS_INTERRUPTED)
            raise

    def steps(self, race: Race, n_steps: int = 0) -> None:
        """Write every step of the race's history not written yet."""
        wrote = False
        for run, episode, i in zip(race.lanes, self.episodes, range(len(self.episodes)),
                                   strict=True):
            for state, trace in run.history[self._written[i]:]:
                if episode.stepping and trace is not None:
                    if episode.append_step(state, trace):
                        episode.write_block()
                        wrote = True
            self._written[i] = len(run.history)
        if wrote:
            self.writer.flush()

    def close(self, race: Race | None) -> Path:
        """Finish every episode (with outcome and metrics when the race is given)."""
        try:
            for i, episode in enumerate(self.episodes):
                if race is None or i >= len(race.lanes):
                    episode.finish(STATUS_INTERRUPTED)
                    continue
                run = race.lanes[i]
                self.steps(race)
                if run.tracker is not None:
                    episode.add_metrics(run.tracker.as_arrays(0))
                finished = not episode.stepping
                outcome = [o.as_dict() for o in run.session.outcomes()]
                for out in outcome:
                    out["lane"] = run.index
                episode.finish(STATUS_COMPLETE if finished else STATUS_INTERRUPTED, outcome)
        finally:
            self.writer.close()
        return self.path


def start_recording(race: Race, folder: Path) -> GuiRecorder:
    """Start recording ``race`` into a new file in ``folder``."""
    return GuiRecorder(race, recording_path(folder, race.scene.name))
