"""Recording what the GUI shows (the R key), through the recorder ``steersim record`` uses.

One file per recording, one episode per lane — copy 0 of the lane, written by
:class:`~simulator.recording.RunRecorder` exactly as ``steersim record`` writes a run —
with the lane's perturbation log and, at the end, the ensemble's narrowing metrics.

The recorder follows the live Session with a one-copy replica of it
(:meth:`Session.replica`): the same scene, seed, distribution, agents and event log, so its
copy 0 is the live copy 0 bit for bit (a copy depends only on seed, index and events).
Pressing R mid-run therefore still records from step 0: the replica re-runs the steps
taken so far, then keeps up with the live run step by step. ``steersim verify``
re-simulates the file the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from simulator.gui.race import Race
from simulator.recording import (
    STATUS_INTERRUPTED,
    RecordingWriter,
    writer_process_available,
)
from simulator.session import Session


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
    """Records ``race`` into ``path``: call :meth:`follow` after the race steps (or logs
    events), :meth:`close` at the end (an episode is ``complete`` if its copy 0 finished,
    else ``interrupted``)."""

    def __init__(self, race: Race, path: Path):
        self.path = path
        live = race.session
        meta = {"distribution": live.distribution, "n_lanes": len(live.lanes),
                "n_copies": 1, "lane_copies": list(live.lane_copies),
                "event_kinds": list(live.driver.event_kinds),
                "n_event_params": live.driver.n_event_params, "source": "gui"}
        # A writer process where there is one: h5py's dataset creation holds the GIL, so
        # on a thread of the GUI it would cost frames.
        self.writer = RecordingWriter(path, race.scene, live.seed, attrs=meta,
                                      process=writer_process_available())
        try:
            self.replica: Session = live.replica(n_copies=1)
            for lane in self.replica.lanes:
                lane.events.clear()  # the live log, scene events included, is mirrored
                lane._packed = None
            self._mirrored = [0] * len(live.lanes)
            self.run = self.writer.begin_run(self.replica, 0, reused_traces=True)
            self.follow(race)
        except BaseException:
            self.writer.close(STATUS_INTERRUPTED)
            raise

    def follow(self, race: Race) -> None:
        """Log the live run's new events in the replica and step it up to the live step,
        capturing every step."""
        self.replica.mirror_events(race.session, self._mirrored)
        while self.replica.step_index < race.step_index and not self.replica.done:
            self.run.capture(self.replica.step(1, trace=True, reuse_trace=True))

    def close(self, race: Race | None) -> Path:
        """Finish every episode (with the ensemble's metrics when the race is given)."""
        try:
            metrics = None
            if race is not None:
                self.follow(race)
                if race.tracker is not None:
                    metrics = [race.tracker.as_arrays(i) for i in range(len(race.lanes))]
            self.run.finish(metrics)
        finally:
            self.writer.close()
        return self.path


def start_recording(race: Race, folder: Path) -> GuiRecorder:
    """Start recording ``race`` into a new file in ``folder``."""
    return GuiRecorder(race, recording_path(folder, race.scene.name))
