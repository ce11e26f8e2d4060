"""HDF5 recordings: the writer, the driving loop of ``steersim record``, the reader API and
``verify`` (layout: ``docs/recording-format.md``; DESIGN.md, "HDF5 recording layout (v1)").

A *run* is one draw of the scene from one seed; it yields one *episode* per lane, each an
HDF5 group ``/episode_{k}`` holding copy 0 of that lane: its full engine state per step,
actions, rewards, agent internals, the perturbation log and, with an ensemble, the
narrowing metrics. Everything here is world-agnostic: it reads ``state.as_dict()``, the
StepTrace fields and ``lane.agents``, never a world's own field names.

Writing is split in two. The simulation's thread only buffers rows: one compiled call per
step copies copy 0 of every lane's state — and, when the run loop steps with traces
refilled in place (``Session.step(reuse_trace=True)``), its step rows — into preallocated
blocks. Each full block (``block_steps`` rows) is handed to the file writer, which does
every h5py call (:mod:`simulator.recording.files`): in a writer process (the default where one can
be started, :class:`_ProcessWorker`), on a background thread, or inline. It creates an
episode's datasets with its first block (chunked, compressed with shuffle + lzf or gzip),
extends them with later ones, sets attributes and flushes. The file is flushed once a
run's episodes exist (status ``running``) and after blocks; a run's last rows are flushed
*before* its episodes are marked ``complete``. So a recorder killed with SIGKILL leaves
every episode marked finished readable and the others marked ``running``, holding the rows
flushed before the kill (a writer process writes every op it got, then closes the file;
with the thread, rows still queued at the kill are lost, as if the kill had come earlier).
SIGINT / SIGTERM stop :func:`record` at the next step: the queue is drained, the
unfinished episodes are marked ``interrupted`` and the file is closed cleanly. A write
error surfaces in the caller's thread, once, as a RecordingWriteError.

Copy 0 of a lane is bit-identical whatever the ensemble size, so :func:`verify` re-simulates
every episode with one copy from its seed, agents and event table, and compares bit for bit.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numba
import numpy as np

from agents.registry import AgentSpec
from simulator import __version__
from simulator.core.driver import StepTrace
from simulator.core.errors import UserError
from simulator.recording.capture import StepRows, address_of, gather_rows, trace_sources
from simulator.recording.codec import agent_keys_of, agent_to_dict, events_table
from simulator.recording.files import FileWorker
from simulator.recording.format import (
    BLOCK_BYTES,
    COMPRESSIONS,
    FORMAT,
    FORMAT_VERSION,
    PROCESS_BLOCK_BYTES,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    WORLD_RUNNING,
    RecordingWriteError,
    dumps,
    rows_per_chunk,
    utc_now,
)
from simulator.recording.process import ProcessWorker
from simulator.scene import Scene
from simulator.session import Event, Lane, Session

_KEEP_TRACE_BYTES = 4 << 10  # a one-step trace this small is kept whole, not copied per step

def scene_dt(scene: Scene) -> float:
    """Simulated seconds per step; 1.0 for worlds without physical time (the maze)."""
    return float(getattr(scene.model, "dt", 1.0))


class EpisodeWriter:
    """Writes one episode (copy 0 of one lane in one run) into its group ``/episode_{k}``.

    Feed it :meth:`append_step` after every one-step ``Session.step``; optionally
    :meth:`add_metrics`; end it with :meth:`finish`. Rows are buffered and handed to the
    file a block at a time; datasets are created with the episode's first block. The h5py
    work itself happens wherever the recording's writer does it (see
    :class:`RecordingWriter`).
    """

    def __init__(self, writer: RecordingWriter, name: str, agents: Sequence[AgentSpec],
                 state: Any, events: list[Event], event_kinds: Sequence[str],
                 n_event_params: int, block_steps: int | None = None):
        self.writer = writer
        self.name = name
        self.agent_keys = agent_keys_of(agents)
        fields = state.as_dict()
        capacity = block_steps or StepRows.capacity_for(fields, writer.block_bytes)
        self._rows = StepRows(fields, self.agent_keys, capacity)
        self._events = events  # the lane's live log: events logged later are written too
        self._n_events_written = 0
        self._events_created = False
        self._event_kinds = tuple(event_kinds)
        self._n_event_params = n_event_params
        self.steps_written = 0
        self.stepping = True  # False once copy 0 has stopped: later steps are not its own
        self.rows_done = False  # its last rows were handed over (see end_rows)
        self.status = STATUS_RUNNING
        self._rows.add_state(fields)

    # --- feeding ---------------------------------------------------------------------------
    def append_step(self, state: Mapping[str, np.ndarray], trace: StepTrace) -> bool:
        """Record copy 0 after one step: ``state`` is the lane's ``state.as_dict()`` (name →
        (E, ...)) after the step, ``trace`` its one-step StepTrace (action (1, E, A, ...),
        reward (1, E, A), internals name → (1, E, A, ...)). Returns True when a block is full
        (the caller writes it with :meth:`write_block`, then flushes the file)."""
        if trace.action.shape[0] != 1:
            raise ValueError("append_step takes the trace of exactly one step"
                             " (Session.step(1, trace=True))")
        self._rows.add_step(trace)
        self._rows.add_state(state)
        if int(state["status"][0]) != WORLD_RUNNING:
            self.stepping = False
        return self._rows.full

    def write_block(self, final: bool = False, with_events: bool = True) -> None:
        """Hand the buffered rows and (``with_events``) any new events to the file (one
        resize + write per dataset); ``final`` when no rows will follow (the episode is
        ending)."""
        if self.rows_done:
            raise RuntimeError(f"{self.name}: its last rows were written already")
        block = self._rows.take(final)
        self.writer._takes += 1
        self.rows_done = final
        events = self._new_events() if with_events else None
        self.steps_written += block.n_step
        nbytes = block.nbytes
        self.writer.bytes_recorded += nbytes
        self.writer._worker.episode(self.name, "write", block, events, final,
                                    self.steps_written, nbytes=nbytes)

    def _new_events(self) -> np.ndarray | None:
        """The events table rows not handed over yet (all of them the first time, even
        none); None when there is nothing to add."""
        new_events = self._events[self._n_events_written:]
        if not new_events and self._events_created:
            return None
        self._n_events_written += len(new_events)
        self._events_created = True
        return events_table(new_events, self._event_kinds, self._n_event_params)

    def end_rows(self) -> None:
        """Copy 0 has stopped: hand its last rows over now, so the file work overlaps the
        rest of the run (the other copies go on) instead of waiting for its end. Events
        logged meanwhile still go in, with :meth:`finish`."""
        self.stepping = False
        if not self.rows_done:
            self.write_block(final=True, with_events=False)

    def _stream(self, parts: Mapping[str, np.ndarray]) -> None:
        """Hand state rows to the file ahead of their block (see RunRecorder)."""
        nbytes = sum(rows.nbytes for rows in parts.values())
        self.writer.bytes_recorded += nbytes
        self.writer._worker.episode(self.name, "stream", parts, self._rows.capacity,
                                    nbytes=nbytes)

    def add_metrics(self, series: Mapping[str, np.ndarray]) -> None:
        """Store per-step metric series as ``metrics/<name>``: each (T, ...) with row t the
        value at step t (as :meth:`simulator.metrics.MetricsTracker.as_arrays` returns
        them). A name stored again is replaced."""
        arrays = {}
        for name, values in series.items():
            rows = np.array(values)  # a copy: the caller may go on changing its arrays
            if rows.ndim == 0:
                raise ValueError(f"metric {name!r} must be a per-step series, not a scalar")
            arrays[name] = rows
        nbytes = sum(a.nbytes for a in arrays.values())
        self.writer.bytes_recorded += nbytes
        self.writer._worker.episode(self.name, "add_metrics", arrays, nbytes=nbytes)

    def finish(self, status: str, outcome: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Write what is buffered, flush, then mark the episode ``status`` (complete /
        interrupted) and flush again: it is marked only once its rows are in the file."""
        self._finish_rows()
        self.writer._worker.flush(hard=True)
        self._mark(status, outcome)
        self.writer._worker.flush()

    def _finish_rows(self) -> None:
        if not self.rows_done:
            self.write_block(final=True)
            return
        events = self._new_events()  # logged after the last rows were written
        if events is not None:
            self.writer._worker.episode(self.name, "events", events, self.steps_written,
                                        nbytes=events.nbytes)

    def _mark(self, status: str, outcome: Sequence[Mapping[str, Any]] | None) -> None:
        text = dumps(list(outcome)) if outcome is not None else None
        self.writer._worker.episode(self.name, "mark", status, text)
        self.status = status
        self.writer._finished(self)


def check_target(path: Path, force: bool) -> None:
    """UserError if ``path`` cannot be recorded to: a directory, an existing file without
    ``force``, or in a missing directory."""
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: no such directory")


class RecordingWriter:
    """An HDF5 recording being written: root attributes, then episodes.

    The simulation's thread only buffers rows (see :class:`RunRecorder`) and hands full
    blocks over; every h5py call after the root attributes (creating groups and datasets,
    extending them, attributes, flushes) runs in a writer process (``process``), on one
    background thread (``background``) or inline. :meth:`sync` waits for the file to catch
    up; :meth:`close` drains the queue. A write error surfaces in the caller's thread as
    one RecordingWriteError.

    Parameters
    ----------
    path : the file to create; an existing file is an error unless ``force``.
    scene : the scene recorded (its full TOML text goes into the root attributes).
    seed : the base seed (run k uses :func:`episode_seed`).
    compression : "lzf" (fast, default) or "gzip"; always with the shuffle filter.
    block_steps : rows buffered per episode before a write (default: ~4 MiB of state, ~1 MiB
        with a writer process).
    attrs : extra root attributes (JSON-encoded unless str / number).
    background : write on a background thread (default) or inline, in the caller's thread
        (:func:`background_pays` says which is cheaper for a run); without ``process``.
    process : write in a writer process (:class:`ProcessWorker`; POSIX), which creates
        the file itself. :func:`record` chooses it by default where it is available.
    format_version : the layout written: 2 (default: shared tables, see
        :mod:`simulator.recording.layout_v2`) or 1 (a group per episode; kept so the
        benchmark can set the two side by side).
    """

    def __init__(self, path: str | Path, scene: Scene, seed: int, *, force: bool = False,
                 compression: str = "lzf", block_steps: int | None = None,
                 attrs: Mapping[str, Any] | None = None, background: bool = True,
                 process: bool = False, format_version: int = FORMAT_VERSION):
        self.path = Path(path)
        self.scene = scene
        if compression not in COMPRESSIONS:
            raise UserError(f"compression {compression!r}: choose from {', '.join(COMPRESSIONS)}")
        if format_version not in (1, 2):
            raise UserError(f"format_version {format_version!r}: this steersim writes 1 or 2")
        self.format_version = int(format_version)
        self.block_steps = block_steps
        self._check_target(force)
        self.n_episodes = 0
        self.n_interrupted = 0
        self.open_episodes: list[EpisodeWriter] = []
        self.seconds = 0.0  # wall time the caller spent in the recorder (for the benchmark)
        self.bytes_recorded = 0  # uncompressed bytes of rows written
        self._takes = 0  # blocks handed off, for RunRecorder to notice moved buffers
        self._live_runs: set[RunRecorder] = set()  # begun, not finished
        self._closed = False
        root: dict[str, str | int | float] = {
            "format": FORMAT, "format_version": int(format_version), "created_utc": utc_now(),
            "steersim_version": __version__,
            "versions": dumps({
                "python": platform.python_version(), "numpy": np.__version__,
                "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version,
                "numba": numba.__version__}),
            "scene_toml": scene.text, "scene_name": scene.name,
            "scene_path": str(scene.path or ""), "world_kind": scene.world,
            "dt": scene_dt(scene), "seed": int(seed), "compression": compression,
            "status": STATUS_RUNNING}
        for key, value in (attrs or {}).items():
            root[key] = value if isinstance(value, str | int | float) else dumps(value)
        self.mode = "process" if process else "thread" if background else "inline"
        self.block_bytes = PROCESS_BLOCK_BYTES if process else BLOCK_BYTES
        self._worker: FileWorker | ProcessWorker
        if process:
            # Claim the name here (so a bad path fails now, as one line); the writer process
            # creates the HDF5 file and its root attributes.
            try:
                open(self.path, "wb" if force else "xb").close()  # noqa: SIM115
            except OSError as exc:
                raise UserError(f"{self.path}: cannot create: {exc.strerror or exc}") from None
            self._worker = ProcessWorker(self.path, compression, root)
            return
        try:
            self.file = h5py.File(self.path, "w" if force else "w-", libver=("v108", "v108"))
        except (OSError, ValueError) as exc:  # h5py raises either
            raise UserError(f"{self.path}: cannot create: {exc}") from None
        for key, value in root.items():
            self.file.attrs[key] = value
        self.file.flush()
        self._worker = FileWorker(self.file, self.path, background, compression)

    def _check_target(self, force: bool) -> None:
        check_target(self.path, force)

    @property
    def background_seconds(self) -> float:
        """Time spent doing h5py work (on the writer thread, or inline)."""
        return self._worker.seconds

    # --- episodes --------------------------------------------------------------------------
    def begin_episode(self, *, run: int, lane: Lane, seed: int, distribution: str,
                      n_copies: int, event_kinds: Sequence[str], n_event_params: int,
                      label: str | None = None) -> EpisodeWriter:
        """Start ``/episode_{k}`` for copy 0 of ``lane`` (status running; not yet flushed)."""
        name = f"episode_{self.n_episodes}"
        attrs = {"run": run, "lane": lane.index, "lane_label": label or lane.label,
                 "agents": dumps([agent_to_dict(agent) for agent in lane.agents]),
                 "seed": int(seed), "distribution": distribution, "n_copies": int(n_copies),
                 "total_steps": 0, "status": STATUS_RUNNING}
        episode = EpisodeWriter(self, name, lane.agents, lane.state, lane.events,
                                event_kinds, n_event_params, self.block_steps)
        self._worker.episode(name, "create", attrs)
        self.n_episodes += 1
        self.open_episodes.append(episode)
        return episode

    def begin_run(self, session: Session, run: int,
                  reused_traces: bool = False) -> RunRecorder:
        """Start one episode per lane of ``session`` (fresh, at step 0) and flush.
        ``reused_traces``: the run is stepped with ``Session.step(1, trace=True,
        reuse_trace=True)``, so step rows are gathered by address like state rows."""
        return RunRecorder(self, session, run, reused_traces)

    def _finished(self, episode: EpisodeWriter) -> None:
        self.open_episodes.remove(episode)
        self.n_interrupted += episode.status != STATUS_COMPLETE

    def flush(self) -> None:
        """Ask for everything handed over so far to be flushed to disk (soon, not now: see
        :meth:`sync`)."""
        self._worker.flush()

    def sync(self) -> None:
        """Wait until everything handed over so far is written and flushed."""
        self._worker.sync()

    def close(self, status: str | None = None) -> None:
        """Mark unfinished episodes interrupted, write everything, set the root status and
        close the file; raises the writer's error if one was not raised yet.

        ``status`` defaults to complete if every episode completed, else interrupted.
        """
        if self._closed:
            return
        self._closed = True
        error: RecordingWriteError | None = None
        for run in list(self._live_runs):  # rows they counted but did not hand over yet
            run._sync_rows()
        try:
            for episode in list(self.open_episodes):
                try:
                    episode.finish(STATUS_INTERRUPTED if episode.stepping else STATUS_COMPLETE)
                except RecordingWriteError as exc:
                    error = error or exc
            try:
                self._worker.stop()
            except RecordingWriteError as exc:
                error = error or exc
        finally:
            try:
                if self._worker.failed:  # whatever the caller thought, rows are missing
                    status = STATUS_INTERRUPTED
                elif status is None:
                    status = STATUS_INTERRUPTED if self.n_interrupted else STATUS_COMPLETE
            finally:
                self._worker.close_file({"status": status or STATUS_INTERRUPTED,
                                         "n_episodes": self.n_episodes})
        try:
            self._worker.check()
        except RecordingWriteError as exc:
            error = error or exc
        if error is not None:
            raise error

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(RecordingWriteError):  # the error in flight is the one
            self.close(STATUS_INTERRUPTED)


class RunRecorder:
    """Records copy 0 of every lane of one Session run: one episode per lane.

    Call :meth:`capture` with the traces of every ``session.step(1, trace=True)``, then
    :meth:`finish` — before any ``session.reset()``, which starts a new run. Events logged
    on the lanes meanwhile (user clicks) are recorded with the next block.

    Capturing a step costs one compiled call for every lane's state rows (copy 0 of every
    field, gathered by address: the drivers step states in place) and, for small ensembles,
    keeping the step's trace; the h5py work happens in the writer process or thread.
    """

    def __init__(self, writer: RecordingWriter, session: Session, run: int,
                 reused_traces: bool = False):
        t0 = time.perf_counter()
        self.writer = writer
        self.session = session
        self.episodes = [
            writer.begin_episode(
                run=run, lane=lane, seed=session.seed, distribution=session.distribution,
                n_copies=session.n_copies, event_kinds=session.driver.event_kinds,
                n_event_params=session.driver.n_event_params,
                label=_scene_label(session.scene, lane))
            for lane in session.lanes
        ]
        writer.flush()
        self._states = [lane.state for lane in session.lanes]
        self._fields = [list(lane.state.as_dict().items()) for lane in session.lanes]
        self._rows = [episode._rows for episode in self.episodes]
        # Gathering by address needs each field's copy 0 in one contiguous run of bytes.
        self._gather = len(self.episodes) <= 62 and all(
            isinstance(arr, np.ndarray) and arr.ndim >= 1 and arr[:1].flags.c_contiguous
            for fields in self._fields for _, arr in fields) and all(
            "status" in dict(fields) for fields in self._fields)
        self._keep_traces: list[bool] | None = None
        # With the writer working elsewhere (process or thread), bulk state fields (more
        # than a chunk per block) go to the file a chunk at a time, so their compression
        # overlaps the run instead of piling up at its end.
        capacity = self._rows[0].capacity if self._rows else 1
        self._stream_fields = [
            (f"state/{name}", rows) for name, arr in (self._fields[0] if self._fields else [])
            if (rows := rows_per_chunk(arr[0].nbytes, capacity)) < capacity
        ] if writer._worker.streams else []
        self._stream_every = min((rows for _, rows in self._stream_fields), default=0)
        self.reused_traces = reused_traces
        self._src_addresses: list[list[int]] | None = None
        self._trace_addresses: dict[int, tuple[StepTrace, list[tuple[str, int, int]]]] = {}
        self._table = np.zeros((0, 5), np.int64)
        self._table_lanes = np.zeros(0, np.int64)  # the lane of each line of the table
        self._table_buffers: list[np.ndarray] = []
        self._traced: list[StepTrace] | None = None
        self._active: list[int] = []
        self._generations: list[int] = []
        self._row = 0
        self._step_delta = 0
        self._capacity = 0
        self._seen_takes = -1
        writer._live_runs.add(self)
        writer.seconds += time.perf_counter() - t0

    # --- the per-step work ---------------------------------------------------------------
    def _rebuild(self, traces: Sequence[StepTrace] | None = None) -> None:
        """The gather table for the episodes still recording (their buffers may have
        moved: a block was handed off). With ``traces`` refilled in place at every step
        (``Session.step(reuse_trace=True)``), their copy-0 rows are gathered too."""
        self._sync_rows()
        self._seen_takes = self.writer._takes
        active = [k for k, ep in enumerate(self.episodes)
                  if ep.stepping and ep.status == STATUS_RUNNING]
        rows_at = {(self._rows[k].n_state, self._rows[k].n_step) for k in active}
        if len(rows_at) > 1:  # fed by hand as well: fall back to copying field by field
            self._gather = False
            return
        n_state, n_step = rows_at.pop() if rows_at else (0, 0)
        traced = traces is not None and self.reused_traces and all(
            not self._rows[k].traces for k in active)
        lines, buffers, line_lanes = [], [], []
        if self._src_addresses is None:  # the states are stepped in place: fixed for the run
            self._src_addresses = [[address_of(src) for _, src in fields]
                                   for fields in self._fields]
        for k in active:
            rows = self._rows[k]
            for (name, _), address, buf in zip(self._fields[k], self._src_addresses[k],
                                               rows.state.values(), strict=True):
                lines.append((address, address_of(buf), buf[0].nbytes,
                              k if name == "status" else -1, 0))
                buffers.append(buf)
                line_lanes.append(k)
            if traced:
                assert traces is not None
                if not rows._step_specs:
                    rows._allocate_steps(traces[k])
                cached = self._trace_addresses.get(k)
                if cached is None or cached[0] is not traces[k]:
                    cached = (traces[k], trace_sources(traces[k], rows.agent_keys))
                    self._trace_addresses[k] = cached
                for path, address, nbytes in cached[1]:
                    buf = rows.steps[path]
                    if buf[0].nbytes != nbytes:
                        raise ValueError(f"{path}: a step row of {nbytes} bytes does not fit"
                                         f" a buffer row of {buf[0].nbytes}")
                    lines.append((address, address_of(buf), nbytes, -1, n_step - n_state))
                    buffers.append(buf)
                    line_lanes.append(k)
        self._table = np.array(lines, np.int64).reshape(-1, 5)
        self._table_lanes = np.array(line_lanes, np.int64)
        self._table_buffers = buffers  # keeps every address in the table valid
        self._traced = [traces[k] for k in range(len(traces))] if traced and traces else None
        self._active = active
        self._generations = [self._rows[k].generation for k in active]
        self._row = n_state
        self._step_delta = n_step - n_state
        self._capacity = self._rows[active[0]].capacity if active else 0

    def _sync_rows(self) -> None:
        """Bring the row counts of the episodes being gathered up to date (while their
        step rows are gathered too, one shared counter stands for all of them)."""
        if self._traced is None:
            return
        for k, generation in zip(self._active, self._generations, strict=True):
            rows = self._rows[k]
            if rows.generation == generation:  # else its block was taken: counts are fresh
                rows.n_state = self._row
                rows.n_step = self._row + self._step_delta

    def _check_states(self, lanes: Sequence[Lane]) -> None:
        for k in self._active:
            state = lanes[k].state
            if state is not self._states[k] or any(
                    getattr(state, name) is not arr for name, arr in self._fields[k]):
                raise RuntimeError(f"lane {k}'s state was replaced during a recorded run"
                                   " (call finish() before Session.reset())")

    def capture(self, traces: Sequence[StepTrace]) -> None:
        """Append the step just taken: each lane's state after it and its one-step trace."""
        t0 = time.perf_counter()
        if len(traces) != len(self.episodes):
            raise ValueError(f"{len(traces)} traces for {len(self.episodes)} lanes")
        if self._keep_traces is None:
            self._keep_traces = [
                not self.reused_traces and tr.action.shape[0] == 1
                and tr.action.nbytes + tr.reward.nbytes + sum(
                    v.nbytes for v in tr.internals.values()) <= _KEEP_TRACE_BYTES
                for tr in traces]
        if not self._gather:
            self._capture_by_field(traces)
        else:
            if self._seen_takes != self.writer._takes:
                self._rebuild(traces)
            if self._gather:
                self._capture_gathered(traces)
            else:
                self._capture_by_field(traces)
        self.writer.seconds += time.perf_counter() - t0

    def _capture_gathered(self, traces: Sequence[StepTrace]) -> None:
        lanes = self.session.lanes
        active = self._active
        if not active:
            return
        traced = self._traced
        for k in active:
            if lanes[k].state is not self._states[k]:
                self._check_states(lanes)
            if traced is not None and traces[k] is not traced[k]:
                raise RuntimeError("capture was promised traces refilled in place"
                                   " (Session.step(reuse_trace=True)) and got new ones")
        if traces[0].action.shape[0] != 1:
            raise ValueError("capture takes the traces of exactly one step"
                             " (Session.step(1, trace=True))")
        if self._row >= self._capacity:  # never write past the buffers
            raise RuntimeError("a full block was not written (an earlier error?)")
        stopped = gather_rows(self._table, self._row)
        self._row += 1
        if traced is not None:  # step rows were gathered as well: nothing per lane
            full = self._row == self._capacity
        else:
            keep = self._keep_traces
            full = False
            for k in active:
                rows = self._rows[k]
                rows.n_state += 1
                if keep[k]:
                    rows.add_trace(traces[k])
                else:
                    rows.add_step(traces[k])
                full = full or rows.full
        if self._stream_every and not full and self._row % self._stream_every == 0:
            self._stream_out()
        if stopped:
            self._sync_rows()
            self._end_lanes([k for k in active if stopped >> k & 1])
            if not full:
                self.writer.flush()  # sends the rows to the writer, which writes them now
        if full:
            self._sync_rows()
            self._check_states(lanes)
            for k in active:
                if self._rows[k].full:
                    self.episodes[k].write_block()
            self.writer.flush()

    def _end_lanes(self, gone: Sequence[int]) -> None:
        """Copy 0 of lanes ``gone`` has stopped: hand their last rows over and take their
        lines out of the gather table (the other lanes' buffers stay where they are)."""
        current = self._seen_takes == self.writer._takes
        for k in gone:
            self.episodes[k].end_rows()
        keep = ~np.isin(self._table_lanes, gone)
        self._table = np.ascontiguousarray(self._table[keep])
        self._table_lanes = self._table_lanes[keep]
        self._table_buffers = [buf for buf, kept in zip(self._table_buffers, keep, strict=True)
                               if kept]
        still = [i for i, k in enumerate(self._active) if k not in gone]
        self._active = [self._active[i] for i in still]
        self._generations = [self._generations[i] for i in still]
        if current:  # only the stopped lanes' buffers were taken: no rebuild needed
            self._seen_takes = self.writer._takes

    def _stream_out(self) -> None:
        """Hand over every whole chunk of the bulk state fields gathered so far."""
        self._sync_rows()
        for k in self._active:
            rows = self._rows[k]
            n = rows.n_state
            parts = {}
            for path, chunk in self._stream_fields:
                if n % chunk == 0:
                    parts[path] = rows.state[path][rows.streamed.get(path, 0):n]
                    rows.streamed[path] = n
            if parts:
                self.episodes[k]._stream(parts)

    def _capture_by_field(self, traces: Sequence[StepTrace]) -> None:
        wrote = False
        for lane, episode, trace in zip(self.session.lanes, self.episodes, traces,
                                        strict=True):
            if episode.stepping and episode.append_step(lane.state.as_dict(), trace):
                episode.write_block()
                wrote = True
        if wrote:
            self.writer.flush()

    def finish(self, metrics: Sequence[Mapping[str, np.ndarray]] | None = None) -> None:
        """End every lane's episode with its outcome and metrics.

        An episode whose copy 0 has stopped (terminated or truncated) is complete; one
        still running — the run was cut short — is marked interrupted. Every episode's rows
        are written and flushed before any is marked.
        """
        t0 = time.perf_counter()
        self._sync_rows()
        self.writer._live_runs.discard(self)
        if self._gather and self._active:
            self._check_states(self.session.lanes)
        pending = [ep for ep in self.episodes if ep.status == STATUS_RUNNING]
        outcomes = []
        for i, episode in enumerate(self.episodes):
            if episode not in pending:
                continue
            lane = self.session.lanes[i]
            outcome = self.session.driver.outcomes(self.session.scene, lane.state, 0,
                                                   lane.agents, lane.index)
            outcomes.append([o.as_dict() for o in outcome])
            if metrics is not None:
                episode.add_metrics(metrics[i])
            episode._finish_rows()
        self.writer._worker.flush(hard=True)
        for episode, outcome in zip(pending, outcomes, strict=True):
            episode._mark(STATUS_INTERRUPTED if episode.stepping else STATUS_COMPLETE, outcome)
        self.writer.flush()
        self.writer.seconds += time.perf_counter() - t0


def _scene_label(scene: Scene, lane: Lane) -> str | None:
    """The scene's label for the lane ("aligned search"), unless its agents were replaced."""
    lanes = scene.model.lanes
    if lane.index >= len(lanes) or lanes[lane.index].label is None:
        return None
    own = scene.lane_agent_group(lane.index)
    same = [(a.name, a.objective.text, a.trained) for a in own] == [
        (a.name, a.objective.text, a.trained) for a in lane.agents]
    return lanes[lane.index].label if same else None


# --- the record loop -----------------------------------------------------------------------
