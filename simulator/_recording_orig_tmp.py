"""HDF5 recordings: the writer, the driving loop of ``steersim record``, the reader API and
``verify`` (layout: ``docs/recording-format.md``; DESIGN.md, "HDF5 recording layout (v1)").

A *run* is one draw of the scene from one seed; it yields one *episode* per lane, each an
HDF5 group ``/episode_{k}`` holding copy 0 of that lane: its full engine state per step,
actions, rewards, agent internals, the perturbation log and, with an ensemble, the
narrowing metrics. Everything here is world-agnostic: it reads ``state.as_dict()``, the
StepTrace fields and ``lane.agents``, never a world's own field names.

Writing is done in blocks: each episode buffers ``block_steps`` rows in memory, then extends
every dataset once (chunked, compressed with shuffle + lzf or gzip) and flushes the file.
The file is also flushed when a run's episodes are created (status ``running``) and when
they finish, so a recorder killed with SIGKILL leaves every finished episode readable and
the unfinished ones marked ``running``. SIGINT / SIGTERM stop :func:`record` at the next
step: the file is closed cleanly and the unfinished episodes are marked ``interrupted``.

Copy 0 of a lane is bit-identical whatever the ensemble size, so :func:`verify` re-simulates
every episode with one copy from its seed, agents and event table, and compares bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from agents.registry import AgentSpec, parse_objective
from simulator import __version__
from simulator.drivers import StepTrace
from simulator.errors import UserError
from simulator.scene import Scene
from simulator.session import Event, Lane, Session

FORMAT = "steersim"
FORMAT_VERSION = 1
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"
COMPRESSIONS = ("lzf", "gzip")
RECORDINGS_DIR = Path("recordings")

# World status codes every driver shares (Session.done relies on 0 = running).
_WORLD_RUNNING, _WORLD_TERMINATED, _WORLD_TRUNCATED = 0, 1, 2
_BLOCK_BYTES = 4 << 20  # in-memory rows per episode before one resize + write
_MAX_BLOCK_STEPS = 1024
_CHUNK_BYTES = 256 << 10  # target size of one chunk of one dataset
_COMPACT_BYTES = 4 << 10  # a whole-episode dataset this small is stored compact
_GZIP_LEVEL = 4
_VERIFY_BLOCK = 512


# --- seeds ---------------------------------------------------------------------------------
_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def episode_seed(base_seed: int, run: int) -> int:
    """The seed of run ``run`` of a recording made with ``base_seed``, in [0, 2**63).

    Run 0 uses ``base_seed`` itself, so it matches ``steersim run SCENE --seed base_seed``;
    later runs use a splitmix64 hash of (base_seed, run), so runs are independent draws.
    """
    if run == 0:
        return int(base_seed)
    return _splitmix64(int(base_seed) ^ _splitmix64(run)) >> 1


# --- small helpers ---------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a recording's JSON attribute")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def agent_to_dict(agent: AgentSpec) -> dict[str, Any]:
    """Every field of an AgentSpec as JSON-able data (arrays with dtype and shape), so the
    exact agent the kernels saw can be rebuilt by :func:`agent_from_dict`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(agent):
        value = getattr(agent, f.name)
        if f.name == "objective":
            value = value.text
        elif isinstance(value, np.ndarray):
            value = {"dtype": value.dtype.str, "shape": list(value.shape),
                     "data": value.ravel().tolist()}
        out[f.name] = value
    out["label"] = agent.label
    return out


def agent_from_dict(data: Mapping[str, Any]) -> AgentSpec:
    """Rebuild the AgentSpec stored by :func:`agent_to_dict` (UserError if it cannot be)."""
    kwargs: dict[str, Any] = {}
    world = data.get("world", "maze")
    for f in dataclasses.fields(AgentSpec):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "objective":
            value = parse_objective(value, world)
        elif isinstance(value, dict) and "dtype" in value:
            value = np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return AgentSpec(**kwargs)
    except TypeError as exc:
        raise UserError(f"agent {data.get('name')!r} cannot be rebuilt: {exc}") from None


def _agent_keys(agents: Sequence[AgentSpec]) -> list[str]:
    return agent_keys([agent.name for agent in agents])


def agent_keys(names: Sequence[str]) -> list[str]:
    """Group names under ``agent/``: the agent's name, suffixed by its index if repeated."""
    return [name if names.count(name) == 1 else f"{name}_{a}" for a, name in enumerate(names)]


def _scene_dt(scene: Scene) -> float:
    """Simulated seconds per step; 1.0 for worlds without physical time (the maze)."""
    return float(getattr(scene.model, "dt", 1.0))


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)
_STR_TYPE = h5py.h5t.py_create(h5py.string_dtype(), logical=True)


def _set_attrs(obj: h5py.HLObject, **values: str | int | float) -> None:
    """Set scalar attributes through the low-level API (half the cost of ``obj.attrs[k] =``,
    which matters at a dozen attributes per episode). Strings are stored as h5py stores
    them, variable-length UTF-8."""
    for key, value in values.items():
        if isinstance(value, str):
            arr, tid = np.array(value, dtype=h5py.string_dtype()), _STR_TYPE
        else:
            arr = np.asarray(value, np.float64 if isinstance(value, float) else np.int64)
            tid = h5py.h5t.py_create(arr.dtype)
        name = key.encode()
        if h5py.h5a.exists(obj.id, name):
            h5py.h5a.delete(obj.id, name)
        h5py.h5a.create(obj.id, name, tid, _SCALAR_SPACE).write(arr)


def _new_group(parent: h5py.Group, name: str) -> h5py.Group:
    """A group whose attributes stay in its header (no dense storage) and that carries
    no timestamps, so identical recordings are identical bytes."""
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=_GROUP_PLIST))


_GROUP_PLIST = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
_GROUP_PLIST.set_attr_phase_change(32, 24)
_GROUP_PLIST.set_obj_track_times(False)


def _as_rows(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values)


def _mismatched_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bool (n,) per leading row: does any byte differ? Bitwise, so NaN == NaN and
    -0.0 != 0.0 — "bit-identical" means exactly that."""
    n = a.shape[0]
    if a.shape != b.shape or a.dtype != b.dtype:
        return np.ones(n, bool)
    bytes_a = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1)
    bytes_b = np.ascontiguousarray(b).view(np.uint8).reshape(n, -1)
    return np.any(bytes_a != bytes_b, axis=1)


# --- low-level dataset writing -------------------------------------------------------------
class _DatasetFactory:
    """Creates the datasets of a recording with HDF5's low-level API and cached property
    lists and types: an episode has a dozen or more datasets, and h5py's high-level
    ``create_dataset`` would cost more than the data.

    A dataset is chunked, unlimited along axis 0 and compressed (shuffle + lzf or gzip), so
    later blocks extend it. The one exception is a dataset written whole when its episode
    ends (the episode fit in one block) holding under ``_COMPACT_BYTES``: it is stored
    *compact*, inside its object header, since a chunk index alone (~2.5 KiB per dataset)
    would outweigh a few hundred bytes of data.
    """

    def __init__(self, compression: str):
        if compression not in COMPRESSIONS:
            raise UserError(f"compression {compression!r}: choose from {', '.join(COMPRESSIONS)}")
        self.compression = compression
        self._dcpl: dict[tuple[int, ...] | None, Any] = {}
        self._types: dict[np.dtype, Any] = {}

    def _plist(self, chunks: tuple[int, ...] | None) -> Any:
        if chunks not in self._dcpl:
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            if chunks is None:
                dcpl.set_layout(h5py.h5d.COMPACT)
            else:
                dcpl.set_chunk(chunks)
                dcpl.set_shuffle()
                if self.compression == "gzip":
                    dcpl.set_deflate(_GZIP_LEVEL)
                else:
                    dcpl.set_filter(h5py.h5z.FILTER_LZF, h5py.h5z.FLAG_OPTIONAL)
                dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            dcpl.set_obj_track_times(False)  # deterministic bytes, fewer header updates
            self._dcpl[chunks] = dcpl
        return self._dcpl[chunks]

    def _type(self, dtype: np.dtype) -> Any:
        if dtype not in self._types:
            self._types[dtype] = h5py.h5t.py_create(dtype, logical=True)
        return self._types[dtype]

    def create(self, parent: h5py.Group, name: str, rows: np.ndarray,
               final: bool = False, chunk_rows: int | None = None) -> Any:
        """A new dataset ``parent/name`` holding ``rows`` (n, ...); returns its DatasetID.

        Chunks hold ``chunk_rows`` rows (default: as many as the first write, i.e. a long
        episode's first block), at most ~256 KiB. ``final``: no rows will follow, so a small
        dataset may be compact.
        """
        rows = _as_rows(rows)
        if final and rows.nbytes <= _COMPACT_BYTES:
            space = h5py.h5s.create_simple(rows.shape)
            dsid = h5py.h5d.create(parent.id, name.encode(), self._type(rows.dtype), space,
                                   dcpl=self._plist(None))
        else:
            row_shape = rows.shape[1:]
            row_bytes = max(1, rows.dtype.itemsize * int(np.prod(row_shape, dtype=np.int64)))
            n_chunk = max(1, min(_CHUNK_BYTES // row_bytes, chunk_rows or rows.shape[0]))
            chunks = (n_chunk,) + tuple(max(1, d) for d in row_shape)
            unlimited = h5py.h5s.UNLIMITED
            space = h5py.h5s.create_simple(
                rows.shape, (unlimited,) + tuple(d or unlimited for d in row_shape))
            dsid = h5py.h5d.create(parent.id, name.encode(), self._type(rows.dtype), space,
                                   dcpl=self._plist(chunks))
        if rows.size:
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, rows)
        return dsid


def _append(dsid: Any, rows: np.ndarray) -> None:
    """Extend dataset ``dsid`` (a DatasetID) by ``rows`` (n, ...): one resize, one write."""
    n = rows.shape[0]
    if n == 0:
        return
    start = dsid.shape[0]
    dsid.set_extent((start + n,) + tuple(rows.shape[1:]))
    file_space = dsid.get_space()
    file_space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
    dsid.write(h5py.h5s.create_simple(rows.shape), file_space, _as_rows(rows))


def event_dtype(event_kinds: Sequence[str], n_params: int) -> np.dtype:
    """The compound row of an events table: step, kind (name), lane, copy, target,
    params (n_params,) float64, source (user / scene / noise)."""
    kind_len = max([8] + [len(kind) for kind in event_kinds])
    return np.dtype([("step", "<i4"), ("kind", f"S{kind_len}"), ("lane", "<i4"),
                     ("copy", "<i4"), ("target", "<i4"), ("params", "<f8", (n_params,)),
                     ("source", "S8")])


def events_table(events: Sequence[Event], event_kinds: Sequence[str],
                 n_params: int) -> np.ndarray:
    """Events as the compound rows of ``/episode_k/events`` (n,), in logged order."""
    table = np.zeros(len(events), event_dtype(event_kinds, n_params))
    for i, ev in enumerate(events):
        table[i] = (ev.step, ev.kind.encode(), ev.lane, ev.copy, ev.target,
                    np.asarray(ev.params, np.float64), ev.source.encode())
    return table


# --- per-step rows in memory ---------------------------------------------------------------
class _StepRows:
    """One episode's per-step rows, buffered in memory ``capacity`` at a time.

    State rows (copy 0 of every state field) and step rows (actions, rewards, terminations,
    truncations, agent internals) are kept under their dataset paths; there is one more
    state row than step rows over an episode (the initial state). The writer flushes these
    buffers to the file, :func:`verify` compares them to it.
    """

    def __init__(self, state: Mapping[str, np.ndarray], agent_keys: Sequence[str],
                 capacity: int):
        self.capacity = capacity
        self.agent_keys = list(agent_keys)
        self.state = {f"state/{name}": np.empty((capacity,) + arr.shape[1:], arr.dtype)
                      for name, arr in state.items()}
        self._state_src = [(name, self.state[f"state/{name}"]) for name in state]
        self.steps: dict[str, np.ndarray] = {}
        self._internal_dst: list[tuple[str, int, np.ndarray]] = []
        self.n_state = 0
        self.n_step = 0

    @staticmethod
    def capacity_for(state: Mapping[str, np.ndarray]) -> int:
        """Rows per block so one block of state stays near _BLOCK_BYTES."""
        row_bytes = sum(arr[0].nbytes for arr in state.values()) or 1
        return int(max(16, min(_MAX_BLOCK_STEPS, _BLOCK_BYTES // row_bytes)))

    @property
    def full(self) -> bool:
        return self.n_state == self.capacity or self.n_step == self.capacity

    def add_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy 0 of every field of ``state`` (name → (E, ...)) as the next state row."""
        i = self.n_state
        for name, buf in self._state_src:
            buf[i] = state[name][0]
        self.n_state = i + 1

    def _allocate_steps(self, trace: StepTrace) -> None:
        cap = self.capacity
        action, reward = trace.action[0, 0], trace.reward[0, 0]
        self.steps = {
            "actions": np.empty((cap,) + action.shape, action.dtype),
            "rewards": np.empty((cap,) + reward.shape, reward.dtype),
            "terminations": np.empty(cap, np.bool_),
            "truncations": np.empty(cap, np.bool_),
        }
        for name, values in trace.internals.items():
            row = values[0, 0]  # (A, ...)
            for a, key in enumerate(self.agent_keys):
                path = f"agent/{key}/{name}"
                self.steps[path] = np.empty((cap,) + row.shape[1:], row.dtype)
                self._internal_dst.append((name, a, self.steps[path]))

    def add_step(self, trace: StepTrace, status_after: int) -> None:
        """Row 0 of a one-step trace (copy 0); ``status_after`` is copy 0's world status."""
        if not self.steps:
            self._allocate_steps(trace)
        i = self.n_step
        steps = self.steps
        steps["actions"][i] = trace.action[0, 0]
        steps["rewards"][i] = trace.reward[0, 0]
        steps["terminations"][i] = status_after == _WORLD_TERMINATED
        steps["truncations"][i] = status_after == _WORLD_TRUNCATED
        for name, a, buf in self._internal_dst:
            buf[i] = trace.internals[name][0, 0, a]
        self.n_step = i + 1

    def take(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The buffered rows (views) and an empty buffer for the next block."""
        state = {path: buf[:self.n_state] for path, buf in self.state.items()}
        steps = {path: buf[:self.n_step] for path, buf in self.steps.items()}
        self.n_state = self.n_step = 0
        return state, steps


# --- the writer ----------------------------------------------------------------------------
class EpisodeWriter:
    """Writes one episode (copy 0 of one lane in one run) into its group ``/episode_{k}``.

    Feed it :meth:`append_step` after every one-step ``Session.step``; optionally
    :meth:`add_metrics`; end it with :meth:`finish`. Rows are buffered and written a block
    at a time; datasets are created at the episode's first block.
    """

    def __init__(self, writer: RecordingWriter, group: h5py.Group, agents: Sequence[AgentSpec],
                 state: Any, events: list[Event], event_kinds: Sequence[str],
                 n_event_params: int, block_steps: int | None = None):
        self.writer = writer
        self.group = group
        self.name = group.name.lstrip("/")
        self.agent_keys = _agent_keys(agents)
        fields = state.as_dict()
        capacity = block_steps or _StepRows.capacity_for(fields)
        self._rows = _StepRows(fields, self.agent_keys, capacity)
        self._datasets: dict[str, Any] = {}  # path → DatasetID
        self._groups: dict[str, h5py.Group] = {"": group}
        self._events = events  # the lane's live log: events logged later are written too
        self._n_events_written = 0
        self._event_kinds = tuple(event_kinds)
        self._n_event_params = n_event_params
        self.steps_written = 0
        self.stepping = True  # False once copy 0 has stopped: later steps are not its own
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
        status_after = int(state["status"][0])
        self._rows.add_step(trace, status_after)
        self._rows.add_state(state)
        if status_after != _WORLD_RUNNING:
            self.stepping = False
        return self._rows.full

    def write_block(self, final: bool = False) -> None:
        """Write the buffered rows (one resize + write per dataset) and any new events;
        ``final`` when no rows will follow (the episode is ending)."""
        state_rows, step_rows = self._rows.take()
        factory = self.writer.factory
        for path, rows in (state_rows | step_rows).items():
            dsid = self._datasets.get(path)
            if dsid is None:
                parent, _, name = path.rpartition("/")
                group = self._groups.get(parent)
                if group is None:
                    group = self._groups[parent] = _require_path(self.group, parent)
                self._datasets[path] = factory.create(group, name, rows, final)
            else:
                _append(dsid, rows)
            self.writer.bytes_recorded += rows.nbytes
        self.steps_written += len(step_rows.get("actions", ()))
        new_events = self._events[self._n_events_written:]
        if new_events or "events" not in self._datasets:
            table = events_table(new_events, self._event_kinds, self._n_event_params)
            dsid = self._datasets.get("events")
            if dsid is None:
                self._datasets["events"] = factory.create(self.group, "events", table, final,
                                                          chunk_rows=64)
            else:
                _append(dsid, table)
            self._n_events_written += len(new_events)
        _set_attrs(self.group, total_steps=self.steps_written)

    def add_metrics(self, series: Mapping[str, np.ndarray]) -> None:
        """Store per-step metric series as ``metrics/<name>``: each (T, ...) with row t the
        value at step t (as :meth:`simulator.metrics.MetricsTracker.as_arrays` returns
        them). A name stored again is replaced."""
        group = _require_path(self.group, "metrics")
        for name, values in series.items():
            rows = np.asarray(values)
            if rows.ndim == 0:
                raise ValueError(f"metric {name!r} must be a per-step series, not a scalar")
            if name in group:
                del group[name]
            self.writer.factory.create(group, name, rows, final=True)

    def finish(self, status: str, outcome: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Write what is buffered and mark the episode ``status`` (complete / interrupted)."""
        self.write_block(final=True)
        _set_attrs(self.group, status=status)
        if outcome is not None:
            _set_attrs(self.group, outcome=_dumps(list(outcome)))
        self.status = status
        self.writer._finished(self)


class RecordingWriter:
    """An HDF5 recording being written: root attributes, then episodes.

    Parameters
    ----------
    path : the file to create; an existing file is an error unless ``force``.
    scene : the scene recorded (its full TOML text goes into the root attributes).
    seed : the base seed (run k uses :func:`episode_seed`).
    compression : "lzf" (fast, default) or "gzip"; always with the shuffle filter.
    block_steps : rows buffered per episode before a write (default: ~4 MiB of state).
    attrs : extra root attributes (JSON-encoded unless str / number).
    """

    def __init__(self, path: str | Path, scene: Scene, seed: int, *, force: bool = False,
                 compression: str = "lzf", block_steps: int | None = None,
                 attrs: Mapping[str, Any] | None = None):
        self.path = Path(path)
        self.scene = scene
        self.factory = _DatasetFactory(compression)
        self.block_steps = block_steps
        self._check_target(force)
        try:
            self.file = h5py.File(self.path, "w" if force else "w-", libver=("v108", "v108"))
        except (OSError, ValueError) as exc:  # h5py raises either
            raise UserError(f"{self.path}: cannot create: {exc}") from None
        self.n_episodes = 0
        self.n_interrupted = 0
        self.open_episodes: list[EpisodeWriter] = []
        self.seconds = 0.0  # wall time spent recording (for the benchmark)
        self.bytes_recorded = 0  # uncompressed bytes of rows written
        root = self.file.attrs
        root["format"] = FORMAT
        root["format_version"] = FORMAT_VERSION
        root["created_utc"] = _utc_now()
        root["steersim_version"] = __version__
        root["versions"] = _dumps({
            "python": platform.python_version(), "numpy": np.__version__,
            "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version,
            "numba": _numba_version()})
        root["scene_toml"] = scene.text
        root["scene_name"] = scene.name
        root["scene_path"] = str(scene.path or "")
        root["world_kind"] = scene.world
        root["dt"] = _scene_dt(scene)
        root["seed"] = int(seed)
        root["compression"] = compression
        root["status"] = STATUS_RUNNING
        for key, value in (attrs or {}).items():
            root[key] = value if isinstance(value, str | int | float) else _dumps(value)
        self.file.flush()

    def _check_target(self, force: bool) -> None:
        if self.path.is_dir():
            raise UserError(f"{self.path}: is a directory; give a file name")
        if self.path.exists() and not force:
            raise UserError(f"{self.path}: already exists (use --force to overwrite)")
        if not self.path.parent.is_dir():
            raise UserError(f"{self.path.parent}: no such directory")

    # --- episodes --------------------------------------------------------------------------
    def begin_episode(self, *, run: int, lane: Lane, seed: int, distribution: str,
                      n_copies: int, event_kinds: Sequence[str], n_event_params: int,
                      label: str | None = None) -> EpisodeWriter:
        """Create ``/episode_{k}`` for copy 0 of ``lane`` (status running; not yet flushed)."""
        group = _new_group(self.file, f"episode_{self.n_episodes}")
        _set_attrs(group, run=run, lane=lane.index, lane_label=label or lane.label,
                   agents=_dumps([agent_to_dict(agent) for agent in lane.agents]),
                   seed=int(seed), distribution=distribution, n_copies=int(n_copies),
                   total_steps=0, status=STATUS_RUNNING)
        episode = EpisodeWriter(self, group, lane.agents, lane.state, lane.events,
                                event_kinds, n_event_params, self.block_steps)
        self.n_episodes += 1
        self.open_episodes.append(episode)
        return episode

    def begin_run(self, session: Session, run: int) -> RunRecorder:
        """Start one episode per lane of ``session`` (fresh, at step 0) and flush."""
        return RunRecorder(self, session, run)

    def _finished(self, episode: EpisodeWriter) -> None:
        self.open_episodes.remove(episode)
        self.n_interrupted += episode.status != STATUS_COMPLETE

    def flush(self) -> None:
        self.file.flush()

    def close(self, status: str | None = None) -> None:
        """Mark unfinished episodes interrupted, set the root status and close the file.

        ``status`` defaults to complete if every episode completed, else interrupted.
        """
        if not self.file.id.valid:
            return
        try:
            for episode in list(self.open_episodes):
                with contextlib.suppress(Exception):  # keep closing: the file matters more
                    episode.finish(STATUS_INTERRUPTED if episode.stepping else STATUS_COMPLETE)
            if status is None:
                status = STATUS_INTERRUPTED if self.n_interrupted else STATUS_COMPLETE
            self.file.attrs["status"] = status
            self.file.attrs["n_episodes"] = self.n_episodes
        finally:
            self.file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(None if exc_type is None else STATUS_INTERRUPTED)


class RunRecorder:
    """Records copy 0 of every lane of one Session run: one episode per lane.

    Call :meth:`capture` with the traces of every ``session.step(1, trace=True)``, then
    :meth:`finish` — before any
    ``session.reset()``, which starts a new run. Events logged on the lanes meanwhile (user
    clicks) are recorded with the next block.
    """

    def __init__(self, writer: RecordingWriter, session: Session, run: int):
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
        writer.seconds += time.perf_counter() - t0

    def capture(self, traces: Sequence[StepTrace]) -> None:
        """Append the step just taken: each lane's state after it and its one-step trace."""
        t0 = time.perf_counter()
        wrote = False
        for lane, episode, trace in zip(self.session.lanes, self.episodes, traces,
                                        strict=True):
            if episode.stepping and episode.append_step(lane.state.as_dict(), trace):
                episode.write_block()
                wrote = True
        if wrote:
            self.writer.flush()
        self.writer.seconds += time.perf_counter() - t0

    def finish(self, metrics: Sequence[Mapping[str, np.ndarray]] | None = None) -> None:
        """End every lane's episode with its outcome and metrics, then flush.

        An episode whose copy 0 has stopped (terminated or truncated) is complete; one
        still running — the run was cut short — is marked interrupted.
        """
        t0 = time.perf_counter()
        for i, episode in enumerate(self.episodes):
            lane = self.session.lanes[i]
            outcome = self.session.driver.outcomes(self.session.scene, lane.state, 0,
                                                   lane.agents, lane.index)
            if metrics is not None:
                episode.add_metrics(metrics[i])
            status = STATUS_INTERRUPTED if episode.stepping else STATUS_COMPLETE
            episode.finish(status, [o.as_dict() for o in outcome])
        self.writer.flush()
        self.writer.seconds += time.perf_counter() - t0


def _scene_label(scene: Scene, lane: Lane) -> str | None:
    """The scene's label for the lane ("aligned search"), unless its agents were replaced."""
    lanes = scene.model.lanes
    if lane.index >= len(lanes) or lanes[lane.index].label is None:
        return None
    own = scene.lane_agent_group(lane.index)
    same = [(a.name, a.objective.text) for a in own] == [
        (a.name, a.objective.text) for a in lane.agents]
    return lanes[lane.index].label if same else None


def _require_path(group: h5py.Group, path: str) -> h5py.Group:
    """``group/path``, creating the groups on the way (``agent/search``)."""
    for part in path.split("/"):
        group = group[part] if part in group else _new_group(group, part)
    return group


def _numba_version() -> str:
    import numba

    return numba.__version__


# --- the record loop -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RecordProgress:
    """Where :func:`record` is: ``step`` steps done in run ``run`` (0-based); ``finished``
    once that run has ended."""

    run: int
    step: int
    finished: bool


@dataclasses.dataclass
class RecordResult:
    path: Path
    status: str
    runs_complete: int
    episodes: int
    seconds_in_writer: float
    bytes_recorded: int


class _StopFlag:
    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def _stop_on_signals(enabled: bool) -> Iterator[_StopFlag]:
    """SIGINT and SIGTERM set a flag that the loop checks after every step, so a block
    write is never cut in half; outside the main thread, signals are left alone."""
    flag = _StopFlag()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        flag.requested = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def default_output(scene: Scene) -> Path:
    """``recordings/<scene>-<UTC time>.h5``, never an existing file."""
    try:
        RECORDINGS_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{RECORDINGS_DIR}: cannot create: {exc.strerror}") from None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RECORDINGS_DIR / f"{scene.name}-{stamp}.h5"
    k = 1
    while path.exists():
        path = RECORDINGS_DIR / f"{scene.name}-{stamp}-{k}.h5"
        k += 1
    return path


def run_episodes(scene: Scene, *, episodes: int = 1, seed: int | None = None,
                 distribution: str | None = None,
                 agents: Sequence[Sequence[AgentSpec]] | None = None, n_copies: int = 1,
                 writer: RecordingWriter | None = None,
                 progress: Callable[[RecordProgress], None] | None = None,
                 stop: _StopFlag | None = None) -> int:
    """Run ``episodes`` runs of ``scene`` step by step, recording into ``writer`` if given.

    With ``writer=None`` this is the same run without recording (the benchmark's
    baseline). With ``n_copies > 1`` every run also tracks the narrowing metrics, stored as
    ``metrics/`` of each episode. Returns the number of runs completed.
    """
    base = scene.model.seed if seed is None else int(seed)
    done_runs = 0
    for k in range(episodes):
        if stop is not None and stop.requested:
            break
        session = Session(scene, seed=episode_seed(base, k), distribution=distribution,
                          n_copies=n_copies, agents=agents)
        tracker = None
        if n_copies > 1:
            from simulator.metrics import MetricsTracker

            tracker = MetricsTracker(session)
        run = writer.begin_run(session, k) if writer is not None else None
        steps = 0
        interrupted = False
        while not session.done and steps < session.horizon:
            if stop is not None and stop.requested:
                interrupted = True
                break
            traces = session.step(1, trace=run is not None)
            steps += 1
            if run is not None:
                run.capture(traces)
            if tracker is not None:
                tracker.update()
            if progress is not None:
                progress(RecordProgress(k, steps, False))
        if run is not None:
            metrics = None
            if tracker is not None:
                metrics = [tracker.as_arrays(i) for i in range(len(session.lanes))]
            run.finish(metrics)
        if progress is not None:
            progress(RecordProgress(k, steps, True))
        if interrupted:
            break
        done_runs += 1
    return done_runs


def record(scene: Scene, path: str | Path | None = None, *, episodes: int = 1,
           seed: int | None = None, distribution: str | None = None,
           agents: Sequence[Sequence[AgentSpec]] | None = None, n_copies: int = 1,
           force: bool = False, compression: str = "lzf", block_steps: int | None = None,
           progress: Callable[[RecordProgress], None] | None = None,
           handle_signals: bool = True, attrs: Mapping[str, Any] | None = None
           ) -> RecordResult:
    """Record ``episodes`` runs of ``scene`` headless into a new HDF5 file.

    Run k draws from seed :func:`episode_seed` (seed, k) and yields one episode per lane.
    SIGINT / SIGTERM (if ``handle_signals``, in the main thread) stop after the current
    step: the unfinished episodes are marked interrupted and the file is closed cleanly.
    UserError for a bad scene option or an existing file without ``force``.
    """
    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    base = scene.model.seed if seed is None else int(seed)
    # Validate everything a Session checks before creating the file.
    probe = Session(scene, seed=base, distribution=distribution, n_copies=1, agents=agents)
    target = Path(path) if path is not None else default_output(scene)
    meta = {"distribution": probe.distribution, "episodes_planned": episodes,
            "n_lanes": len(probe.lanes), "n_copies": n_copies,
            "event_kinds": list(probe.driver.event_kinds),
            "n_event_params": probe.driver.n_event_params, **(attrs or {})}
    writer = RecordingWriter(target, scene, base, force=force, compression=compression,
                             block_steps=block_steps, attrs=meta)
    with writer, _stop_on_signals(handle_signals) as stop:
        runs = run_episodes(scene, episodes=episodes, seed=base,
                            distribution=probe.distribution, agents=agents,
                            n_copies=n_copies, writer=writer, progress=progress, stop=stop)
        status = STATUS_COMPLETE if runs == episodes else STATUS_INTERRUPTED
        writer.close(status)
    return RecordResult(target, status, runs, writer.n_episodes, writer.seconds,
                        writer.bytes_recorded)


# --- reading -------------------------------------------------------------------------------
def _open_file(path: Path) -> h5py.File:
    """Open a recording read-only, or raise UserError with one line saying why not."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a recording")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file, not a recording")
    try:
        signature_ok = h5py.is_hdf5(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not signature_ok:
        raise UserError(f"{path}: not an HDF5 file (so not a steersim recording)")
    try:
        # No lock: reading never harms the file, and a live or killed recorder's file stays
        # inspectable.
        return h5py.File(path, "r", locking=False)
    except OSError as exc:
        text = str(exc)
        why = "truncated" if "truncated" in text else "damaged"
        raise UserError(f"{path}: {why} HDF5 file, cannot be opened"
                        f" ({text.splitlines()[0] if text else type(exc).__name__})") from None


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn errors from a damaged file met while reading it into one-line UserErrors."""
    try:
        yield
    except UserError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: damaged recording: {first}") from None


class Recording:
    """A recording opened for reading: root attributes and its episodes.

    >>> with Recording.open("recordings/red_door.h5") as rec:
    ...     for episode in rec:
    ...         print(episode.name, episode.status, episode.n_steps)
    """

    def __init__(self, path: Path, file: h5py.File):
        self.path = path
        self.file = file
        attrs = file.attrs
        if attrs.get("format") != FORMAT:
            file.close()
            raise UserError(f"{path}: an HDF5 file, but not a steersim recording"
                            " (no format = 'steersim' attribute)")
        version = attrs.get("format_version")
        if not isinstance(version, int | np.integer) or version < 1:
            file.close()
            raise UserError(f"{path}: format_version {version!r} is not valid")
        if version > FORMAT_VERSION:
            file.close()
            raise UserError(
                f"{path}: recorded in format v{version} by steersim "
                f"{attrs.get('steersim_version', '?')}; this steersim ({__version__}) reads up"
                f" to v{FORMAT_VERSION}: upgrade steersim")
        self.format_version = int(version)
        names = [name for name in file if name.startswith("episode_")]
        self._names = sorted(names, key=lambda n: int(n.rpartition("_")[2])
                             if n.rpartition("_")[2].isdigit() else 1 << 62)
        self._scene: Scene | None = None

    @classmethod
    def open(cls, path: str | Path) -> Recording:
        """Open ``path`` read-only; UserError (one line) for a missing, empty, truncated,
        non-HDF5 or newer-format file."""
        path = Path(path)
        with reading(path):
            return cls(path, _open_file(path))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- root ------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes, JSON ones decoded (scene_toml left out: see :attr:`scene_toml`)."""
        out = {}
        for key, value in self.file.attrs.items():
            if key == "scene_toml":
                continue
            out[key] = _decode_attr(key, value)
        return out

    @property
    def status(self) -> str:
        return str(self.file.attrs.get("status", STATUS_RUNNING))

    @property
    def seed(self) -> int:
        return int(self.file.attrs["seed"])

    @property
    def scene_name(self) -> str:
        return str(self.file.attrs.get("scene_name", "?"))

    @property
    def world(self) -> str:
        return str(self.file.attrs.get("world_kind", "?"))

    @property
    def scene_toml(self) -> str:
        return str(self.file.attrs["scene_toml"])

    @property
    def file_size(self) -> int:
        return self.path.stat().st_size

    def scene(self) -> Scene:
        """The recorded scene, rebuilt from its stored TOML text (UserError if this steersim
        no longer accepts it)."""
        if self._scene is None:
            try:
                self._scene = Scene.from_text(self.scene_toml, Path(f"{self.path}:scene_toml"))
            except UserError as exc:
                raise UserError(f"{self.path}: the recorded scene is not valid here: {exc}"
                                ) from None
        return self._scene

    # --- episodes --------------------------------------------------------------------------
    @property
    def episodes(self) -> list[Episode]:
        return [Episode(self, self.file[name]) for name in self._names]

    def __iter__(self) -> Iterator[Episode]:
        return iter(self.episodes)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, key: int | str) -> Episode:
        """Episode by position (0, 1, ...) or by group name (``episode_3``)."""
        if isinstance(key, str):
            if key not in self._names:
                raise KeyError(f"{self.path}: no {key}")
            return Episode(self, self.file[key])
        return Episode(self, self.file[self._names[key]])


def _decode_attr(key: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and key in _JSON_ATTRS:
        return json.loads(value)
    return value


_JSON_ATTRS = {"agents", "outcome", "versions", "event_kinds"}


class Episode:
    """One recorded episode: copy 0 of one lane in one run (``/episode_{k}``).

    Arrays come back as NumPy arrays: state fields (N+1, ...), actions (N, A, ...),
    rewards (N, A), terminations / truncations (N,) bool, where N = :attr:`n_steps`.
    """

    def __init__(self, recording: Recording, group: h5py.Group):
        self.recording = recording
        self.group = group
        self.name = group.name.lstrip("/")

    def _attr(self, key: str, default: Any = None) -> Any:
        if key not in self.group.attrs:
            return default
        return _decode_attr(key, self.group.attrs[key])

    @property
    def index(self) -> int:
        return int(self.name.rpartition("_")[2])

    @property
    def run(self) -> int:
        return int(self._attr("run", -1))

    @property
    def lane(self) -> int:
        return int(self._attr("lane", -1))

    @property
    def lane_label(self) -> str:
        return str(self._attr("lane_label", ""))

    @property
    def seed(self) -> int:
        return int(self._attr("seed"))

    @property
    def distribution(self) -> str:
        return str(self._attr("distribution"))

    @property
    def n_copies(self) -> int:
        return int(self._attr("n_copies", 1))

    @property
    def status(self) -> str:
        """complete, interrupted, or running (its recorder is still writing, or was killed)."""
        return str(self._attr("status", STATUS_RUNNING))

    @property
    def agents(self) -> list[dict[str, Any]]:
        """Per agent of the lane: name, objective, params, label, ... (JSON data)."""
        return list(self._attr("agents", []))

    @property
    def agent_keys(self) -> list[str]:
        """Group names under ``agent/``, one per agent: its name, ``name_i`` if repeated."""
        return agent_keys([a["name"] for a in self.agents])

    @property
    def outcome(self) -> list[dict[str, Any]] | None:
        """Per agent, how copy 0 ended (Outcome.as_dict()); None if it never finished."""
        return self._attr("outcome")

    @functools.cached_property
    def n_steps(self) -> int:
        """Steps readable from the file: all of them for a finished episode; for one whose
        recorder was killed, those written before it died (read once per Episode)."""
        state = self.group.get("state")
        n_state = min((ds.shape[0] for ds in state.values()), default=0) if state else 0
        if "actions" not in self.group:
            return 0
        return max(0, min(n_state - 1, self.group["actions"].shape[0]))

    @property
    def total_steps(self) -> int:
        return int(self._attr("total_steps", 0))

    # --- arrays ----------------------------------------------------------------------------
    @property
    def state_fields(self) -> list[str]:
        return list(self.group["state"]) if "state" in self.group else []

    def state_at(self, t: int) -> dict[str, np.ndarray]:
        """Copy 0's full state at step ``t`` (0 = initial, N = final): field → array."""
        n = self.n_steps
        if not 0 <= t <= n:
            raise IndexError(f"{self.name}: step {t} outside 0..{n}")
        return {name: ds[t] for name, ds in self.group["state"].items()}

    def world_state_at(self, t: int) -> Any:
        """The state at step ``t`` as the world's own state object with one copy (E = 1),
        ready for a renderer or a Session."""
        from simulator.drivers import get_driver

        state_type = get_driver(self.recording.world).state_type
        return state_type(**{name: value[None] for name, value in self.state_at(t).items()})

    def states(self, field: str) -> np.ndarray:
        """(N+1, ...) values of one state field over the episode."""
        return self.group["state"][field][: self.n_steps + 1]

    def _steps(self, path: str) -> np.ndarray:
        if path not in self.group:
            return np.zeros(0)
        return self.group[path][: self.n_steps]

    @property
    def actions(self) -> np.ndarray:
        return self._steps("actions")

    @property
    def rewards(self) -> np.ndarray:
        return self._steps("rewards")

    @property
    def terminations(self) -> np.ndarray:
        return self._steps("terminations")

    @property
    def truncations(self) -> np.ndarray:
        return self._steps("truncations")

    def internals(self) -> dict[str, dict[str, np.ndarray]]:
        """Agent internals per step: agent key → field → (N, ...)."""
        group = self.group.get("agent")
        if group is None:
            return {}
        return {key: {name: ds[: self.n_steps] for name, ds in sub.items()}
                for key, sub in group.items()}

    def events(self) -> list[Event]:
        """The episode's perturbation log (scene schedule, user, noise), in logged order."""
        if "events" not in self.group:
            return []
        return [
            Event(int(row["step"]), row["kind"].decode(), int(row["target"]),
                  tuple(float(p) for p in row["params"]), int(row["lane"]), int(row["copy"]),
                  row["source"].decode())  # type: ignore[arg-type]
            for row in self.group["events"][()]
        ]

    def metrics(self) -> dict[str, np.ndarray]:
        """Per-step metric series: name → (T, ...); row t is the value at step t."""
        group = self.group.get("metrics")
        return {name: ds[()] for name, ds in group.items()} if group is not None else {}

    def agent_specs(self) -> list[AgentSpec]:
        """The lane's agents exactly as recorded."""
        return [agent_from_dict(data) for data in self.agents]

    def session(self) -> Session:
        """A fresh one-copy Session that re-simulates this episode: same scene, seed,
        distribution, agents and event log; copy 0 is the recorded world.

        Its only lane, ``session.lanes[0]``, keeps the recorded lane index, so the scene's
        lane-specific perturbations still resolve; the other lanes are dropped.
        """
        scene = self.recording.scene()
        n_lanes = max(len(scene.model.lanes), self.lane + 1)
        session = Session(scene, seed=self.seed, distribution=self.distribution, n_copies=1,
                          agents=[self.agent_specs()] * n_lanes)
        lane = session.lanes[self.lane]
        session.lanes = [lane]
        lane.events.clear()
        for ev in self.events():  # the table is the whole log: scene, user and noise events
            lane.log(ev)
        return session


# --- verify --------------------------------------------------------------------------------
@dataclasses.dataclass
class EpisodeCheck:
    """How one episode's re-simulation compared: ``divergence`` is None when every step
    matched bit for bit."""

    episode: str
    status: str
    steps: int
    divergence: str | None = None
    step: int | None = None
    field: str | None = None

    @property
    def ok(self) -> bool:
        return self.divergence is None


def _summarise(values: np.ndarray) -> str:
    text = np.array2string(np.asarray(values), threshold=12, max_line_width=60)
    return " ".join(text.split())


def verify_episode(episode: Episode) -> EpisodeCheck:
    """Re-simulate ``episode`` from seed + events and compare every recorded step."""
    n = episode.n_steps
    check = EpisodeCheck(episode.name, episode.status, n)
    if "state" not in episode.group:  # killed before its first block: nothing to compare
        return check
    session = episode.session()
    lane = session.lanes[0]
    group = episode.group
    rows = _StepRows(lane.state.as_dict(), episode.agent_keys, _VERIFY_BLOCK + 1)
    rows.add_state(lane.state.as_dict())
    t = 0  # steps compared so far
    while True:
        target = min(n, t + _VERIFY_BLOCK)
        while t + rows.n_step < target:
            trace = session.step(1, trace=True)[0]
            state = lane.state.as_dict()
            rows.add_step(trace, int(state["status"][0]))
            rows.add_state(state)
        first_state_row = t if t == 0 else t + 1
        state_rows, step_rows = rows.take()
        found: list[tuple[tuple[int, int], str, np.ndarray, np.ndarray]] = []
        for path, simulated in (state_rows | step_rows).items():
            is_state = path.startswith("state/")
            if path not in group:
                if len(simulated):
                    found.append(((t, 0), path, np.array("missing"), simulated[0]))
                continue
            start = first_state_row if is_state else t
            recorded = group[path][start:start + len(simulated)]
            bad = _mismatched_rows(recorded, simulated)
            if bad.any():
                i = int(np.argmax(bad))
                # State row at time s is seen before the action taken at s.
                found.append(((start + i, 0 if is_state else 1), path, recorded[i],
                              simulated[i]))
        if found:
            (step, _), path, recorded, simulated = min(found, key=lambda f: (f[0], f[1]))
            check.step, check.field = step, path
            check.divergence = (f"{episode.name}: first divergence at step {step} in {path}"
                                f" (recorded {_summarise(recorded)},"
                                f" re-simulated {_summarise(simulated)})")
            return check
        t = target
        if t >= n:
            return check


def verify(recording: Recording,
           progress: Callable[[EpisodeCheck], None] | None = None) -> list[EpisodeCheck]:
    """Re-simulate every episode of ``recording``; one EpisodeCheck per episode."""
    checks = []
    for episode in recording:
        check = verify_episode(episode)
        checks.append(check)
        if progress is not None:
            progress(check)
    return checks
