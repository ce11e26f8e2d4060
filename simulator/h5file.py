"""The h5py side of writing a recording: datasets, episodes and the worker that does the
writes — in the recorder's process (inline or on a thread) or in a writer process.

This module imports only numpy and h5py (no numba, no engine), so a writer process
(:func:`serve`, started by :mod:`simulator.recording`) is up in a fraction of a second and
shares no memory with the simulation. Everything here is driven by data — an episode's
name, an operation and arrays — never by closures over engine objects.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import os
import pickle
import signal
import struct
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from simulator import salvage
from simulator.core.errors import UserError

if TYPE_CHECKING:
    from simulator.core.driver import StepTrace

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"
COMPRESSIONS = ("lzf", "gzip")

# World status codes every driver shares (Session.done relies on 0 = running).
_WORLD_RUNNING, _WORLD_TERMINATED, _WORLD_TRUNCATED = 0, 1, 2
_CHUNK_BYTES = 256 << 10  # target size of one chunk of one dataset
_COMPACT_BYTES = 4 << 10  # a whole-episode dataset this small is stored compact
_GZIP_LEVEL = 4
_QUEUE_BYTES = 64 << 20  # rows handed to the writer thread and not yet written, at most
_SOFT_FLUSH_DELAY = 1.0  # seconds a busy writer thread may put off a soft flush


_SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)
_STR_TYPE = h5py.h5t.py_create(h5py.string_dtype(), logical=True)
_INT_TYPE = h5py.h5t.py_create(np.dtype(np.int64))
_FLOAT_TYPE = h5py.h5t.py_create(np.dtype(np.float64))


def _set_attrs(oid: Any, fresh: bool = False, **values: str | int | float) -> None:
    """Set scalar attributes of the HDF5 object ``oid`` (an ObjectID) through the low-level
    API: a dozen attributes per episode, and the high-level ``attrs[k] =`` costs twice as
    much. Strings are stored as h5py stores them, variable-length UTF-8. ``fresh``: the
    object was just created, so none of them exists yet; otherwise an existing attribute
    (same type) is rewritten in place."""
    for key, value in values.items():
        if isinstance(value, str):
            arr, tid = np.array(value, dtype=h5py.string_dtype()), _STR_TYPE
        elif isinstance(value, float):
            arr, tid = np.array(value, np.float64), _FLOAT_TYPE
        else:
            arr, tid = np.array(value, np.int64), _INT_TYPE
        name = key.encode()
        if not fresh and h5py.h5a.exists(oid, name):
            h5py.h5a.open(oid, name).write(arr)
        else:
            h5py.h5a.create(oid, name, tid, _SCALAR_SPACE).write(arr)


def _new_group(parent: Any, name: str) -> Any:
    """A new group (GroupID) in ``parent`` (an ObjectID) whose attributes stay in its header
    (no dense storage) and that carries no timestamps, so identical recordings are identical
    bytes."""
    return h5py.h5g.create(parent, name.encode(), gcpl=_GROUP_PLIST)


_GROUP_PLIST = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
_GROUP_PLIST.set_attr_phase_change(32, 24)
_GROUP_PLIST.set_obj_track_times(False)


def _as_rows(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values)


# --- low-level dataset writing -------------------------------------------------------------
def _chunk_rows(row_bytes: int, limit: int) -> int:
    """Rows per chunk: as many as fit in ``_CHUNK_BYTES``, rounded down to a power of two
    (so chunks tile a block, whose rows are a power of two too), at most ``limit``."""
    fit = max(1, _CHUNK_BYTES // max(1, row_bytes))
    return max(1, min(1 << (fit.bit_length() - 1), limit))


class _DatasetFactory:
    """Creates the datasets of a recording with HDF5's low-level API and cached property
    lists, types and dataspaces: an episode has two dozen datasets, and h5py's high-level
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
        self._spaces: dict[tuple[tuple[int, ...], bool], Any] = {}
        # Without a chunk cache a chunk is compressed inside H5Dwrite, which h5py runs
        # without the GIL, instead of at the next flush, which holds it.
        self._no_cache = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
        self._no_cache.set_chunk_cache(1, 0, 1.0)

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

    def space(self, shape: tuple[int, ...], unlimited: bool = False) -> Any:
        """A simple dataspace of ``shape`` (resizable along every axis if ``unlimited``);
        cached, as HDF5 only reads it."""
        key = (shape, unlimited)
        space = self._spaces.get(key)
        if space is None:
            if len(self._spaces) > 512:
                self._spaces.clear()
            if unlimited:
                maxshape = tuple(h5py.h5s.UNLIMITED for _ in shape)
                space = h5py.h5s.create_simple(shape, maxshape)
            else:
                space = h5py.h5s.create_simple(shape)
            self._spaces[key] = space
        return space

    def create(self, parent: Any, name: str, rows: np.ndarray, final: bool = False,
               chunk_rows: int | None = None, cache: bool = True) -> Any:
        """A new dataset ``parent/name`` (parent: a GroupID) holding ``rows`` (n, ...);
        returns its DatasetID.

        Chunks hold ``chunk_rows`` rows (default: as many as the first write), at most
        ~256 KiB (see :func:`_chunk_rows`). ``final``: no rows will follow, so a small
        dataset may be compact. ``cache=False`` for a dataset written a whole chunk at a
        time: its chunks are compressed as they are written.
        """
        rows = _as_rows(rows)
        if self.compact(rows, final):
            dsid = h5py.h5d.create(parent, name.encode(), self._type(rows.dtype),
                                   self.space(rows.shape), dcpl=self._plist(None))
        else:
            dsid = h5py.h5d.create(parent, name.encode(), self._type(rows.dtype),
                                   self.space(rows.shape, unlimited=True),
                                   dcpl=self._plist(self.chunks(rows, chunk_rows)),
                                   dapl=None if cache else self._no_cache)
        if rows.size:
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, rows)
        return dsid

    @staticmethod
    def chunks(rows: np.ndarray, chunk_rows: int | None) -> tuple[int, ...]:
        """The chunk shape :meth:`create` gives a chunked dataset of ``rows`` (n, ...)."""
        row_shape = rows.shape[1:]
        row_bytes = rows.dtype.itemsize * int(np.prod(row_shape, dtype=np.int64))
        n_chunk = _chunk_rows(row_bytes, chunk_rows or rows.shape[0])
        return (n_chunk,) + tuple(max(1, d) for d in row_shape)

    @staticmethod
    def compact(rows: np.ndarray, final: bool) -> bool:
        """Whether :meth:`create` stores ``rows`` compact, in the dataset's object header."""
        return final and rows.nbytes <= _COMPACT_BYTES

    def append(self, dsid: Any, rows: np.ndarray) -> None:
        """Extend dataset ``dsid`` (a DatasetID) by ``rows`` (n, ...): one resize, one
        write."""
        n = rows.shape[0]
        if n == 0:
            return
        start = dsid.shape[0]
        dsid.set_extent((start + n,) + tuple(rows.shape[1:]))
        file_space = dsid.get_space()
        file_space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
        dsid.write(self.space(rows.shape), file_space, _as_rows(rows))


@dataclasses.dataclass
class _Block:
    """One block of an episode's rows, handed from the simulation to the file writer.

    ``state`` and ``steps`` are arrays nobody writes to any more (a state field whose
    first rows were streamed ahead, see :class:`RunRecorder`, holds only the rest).
    ``traces`` holds the one-step StepTraces of steps whose rows were not copied out yet
    (a driver allocates a fresh trace per ``advance`` call, so holding one is as good as
    copying it); the writer turns them into rows with :meth:`arrays`, off the simulation's
    thread.
    """

    state: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    traces: list[StepTrace]
    agent_keys: list[str]
    capacity: int  # rows per block (chunks of later blocks are sized on it)

    @property
    def n_step(self) -> int:
        if self.traces:
            return len(self.traces)
        actions = self.steps.get("actions")
        return 0 if actions is None else len(actions)

    @property
    def nbytes(self) -> int:
        """Bytes of the rows as stored (uncompressed), terminations and truncations included."""
        total = sum(a.nbytes for a in self.state.values())
        total += sum(a.nbytes for a in self.steps.values())
        if self.traces:
            first = self.traces[0]
            per_trace = first.action.nbytes + first.reward.nbytes + sum(
                v.nbytes for v in first.internals.values())
            total += per_trace // max(1, first.action.shape[1]) * len(self.traces)
        return total + 2 * self.n_step

    def packed(self) -> _Block:
        """The same rows with any kept traces turned into step rows: what is sent to a
        writer process (a few arrays pickle fast; thousands of small traces do not)."""
        if not self.traces:
            return self
        return _Block(self.state, _trace_rows(self.traces, self.agent_keys), [],
                      self.agent_keys, self.capacity)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every dataset's rows in file order: state/<field>, actions, rewards,
        terminations, truncations, agent/<key>/<field>."""
        out = dict(self.state)
        steps = self.steps
        if self.traces:
            steps = _trace_rows(self.traces, self.agent_keys)
        n_step = len(steps["actions"]) if "actions" in steps else 0
        if n_step:
            status = self.state["state/status"][len(self.state["state/status"]) - n_step:]
            out["actions"] = steps["actions"]
            out["rewards"] = steps["rewards"]
            out["terminations"] = status == _WORLD_TERMINATED
            out["truncations"] = status == _WORLD_TRUNCATED
            out.update((path, rows) for path, rows in steps.items() if path.startswith("agent/"))
        return out


def _trace_rows(traces: Sequence[StepTrace], agent_keys: Sequence[str]
                ) -> dict[str, np.ndarray]:
    """Copy 0's rows of one-step traces: actions (n, A, ...), rewards (n, A), and
    agent/<key>/<field> (n, ...) per agent."""
    out = {"actions": np.concatenate([tr.action for tr in traces])[:, 0],
           "rewards": np.concatenate([tr.reward for tr in traces])[:, 0]}
    for name in traces[0].internals:
        rows = np.concatenate([tr.internals[name] for tr in traces])[:, 0]
        for a, key in enumerate(agent_keys):
            out[f"agent/{key}/{name}"] = rows[:, a]
    return out


# --- the file side: everything that touches h5py while writing -----------------------------
class RecordingWriteError(UserError):
    """Writing a recording failed (disk full, file removed, a bug): the first error met by
    the writer, raised once in the thread that drives the recording."""


class _EpisodeFile:
    """The file side of one episode: its group ``/episode_{k}`` and datasets. Its methods run
    wherever the recording's h5py work runs (:class:`_FileWorker`), never elsewhere."""

    def __init__(self, name: str):
        self.name = name
        self.group: Any = None
        self._groups: dict[str, Any] = {}
        self._datasets: dict[str, Any] = {}
        self._metrics: set[str] = set()
        # For the salvage record (simulator.salvage): the attributes as set, the rows of
        # compact datasets (kept, not copied: nobody writes to them any more) and the
        # metrics' handles.
        self._attrs: dict[str, str | int | float] = {}
        self._inline: dict[str, np.ndarray] = {}
        self._metric_ids: dict[str, Any] = {}
        self._dtypes: dict[str, np.dtype] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}  # rows written so far
        self._chunks: dict[str, tuple[int, ...]] = {}

    def create(self, root: Any, attrs: Mapping[str, str | int | float]) -> None:
        self.group = _new_group(root, self.name)
        self._groups[""] = self.group
        _set_attrs(self.group, fresh=True, **attrs)
        self._attrs = dict(attrs)

    def _create(self, factory: _DatasetFactory, parent: Any, path: str, rows: np.ndarray,
                final: bool, chunk_rows: int | None = None, cache: bool = True) -> Any:
        """``factory.create`` of dataset ``path`` (its last name under ``parent``), keeping
        a compact dataset's rows for the salvage record."""
        if factory.compact(rows, final):
            self._inline[path] = _as_rows(rows)
        else:
            self._chunks[path] = factory.chunks(rows, chunk_rows)
        self._dtypes[path] = rows.dtype  # as given: h5py's own carries metadata
        self._shapes[path] = rows.shape
        return factory.create(parent, path.rpartition("/")[2], rows, final, chunk_rows, cache)

    def _append(self, factory: _DatasetFactory, path: str, dsid: Any, rows: np.ndarray
                ) -> None:
        factory.append(dsid, rows)
        shape = self._shapes[path]
        self._shapes[path] = (shape[0] + rows.shape[0],) + shape[1:]

    def _parent(self, path: str) -> Any:
        group = self._groups.get(path)
        if group is None:
            parent, _, name = path.rpartition("/")
            group = self._groups[path] = _new_group(self._parent(parent), name)
        return group

    def write(self, factory: _DatasetFactory, block: _Block, events: np.ndarray | None,
              final: bool, total_steps: int) -> None:
        """Create or extend every dataset with ``block``'s rows and ``events``' rows."""
        chunk_rows = None if final else block.capacity
        for path, rows in block.arrays().items():
            dsid = self._datasets.get(path)
            if dsid is None:
                self._datasets[path] = self._create(factory, self._parent(path.rpartition("/")[0]),
                                                    path, rows, final, chunk_rows)
            else:
                self._append(factory, path, dsid, rows)
        self.events(factory, events, total_steps, final)

    def events(self, factory: _DatasetFactory, events: np.ndarray | None, total_steps: int,
               final: bool = True) -> None:
        """Create or extend the events table with ``events``' rows (if any); set
        ``total_steps``."""
        if events is not None:
            dsid = self._datasets.get("events")
            if dsid is None:
                self._datasets["events"] = self._create(factory, self.group, "events", events,
                                                        final, chunk_rows=64)
            else:
                self._append(factory, "events", dsid, events)
        _set_attrs(self.group, total_steps=total_steps)
        self._attrs["total_steps"] = total_steps

    def stream(self, factory: _DatasetFactory, parts: Mapping[str, np.ndarray],
               capacity: int) -> None:
        """Create or extend state datasets with rows streamed ahead of their block, whole
        chunks at a time."""
        for path, rows in parts.items():
            dsid = self._datasets.get(path)
            if dsid is None:
                self._datasets[path] = self._create(factory, self._parent(path.rpartition("/")[0]),
                                                    path, rows, False, capacity, cache=False)
            else:
                self._append(factory, path, dsid, rows)

    def add_metrics(self, factory: _DatasetFactory, series: Mapping[str, np.ndarray]) -> None:
        group = self._parent("metrics")
        for name, rows in series.items():
            if name in self._metrics:
                group.unlink(name.encode())
                self._inline.pop(f"metrics/{name}", None)
            self._metric_ids[name] = self._create(factory, group, f"metrics/{name}", rows,
                                                  final=True)
            self._metrics.add(name)

    def mark(self, status: str, outcome: str | None) -> None:
        _set_attrs(self.group, status=status)
        if outcome is not None:
            _set_attrs(self.group, outcome=outcome)

    def add_salvage(self, root: tuple[str, bytes], fd: int, status: str,
                    outcome: str | None) -> None:
        """Add the episode's salvage record (:mod:`simulator.salvage`) as it will be once
        marked ``status``: its rows must be flushed already (chunks are read back from the
        file descriptor ``fd`` to checksum them)."""
        attrs = dict(self._attrs, status=status)
        if outcome is not None:
            attrs["outcome"] = outcome
        record = salvage.RecordBuilder(root[0], root[1], self.name, attrs)
        handles = dict(self._datasets)
        handles.update((f"metrics/{name}", dsid) for name, dsid in self._metric_ids.items())
        for path, dsid in handles.items():
            rows = self._inline.get(path)
            if rows is None:
                record.chunked(path, self._dtypes[path], self._shapes[path],
                               self._chunks[path], _chunk_list(dsid, fd))
            else:
                record.compact(path, rows)
        for part, frame in enumerate(record.frames()):
            h5py.h5a.create(self.group, salvage.attr_name(part).encode(), _BYTE_TYPE,
                            h5py.h5s.create_simple(frame.shape)).write(frame)

    def close(self) -> None:
        """Drop the HDF5 handles (the datasets close; the file stays open)."""
        self._datasets.clear()
        self._groups.clear()
        self._inline.clear()
        self._metric_ids.clear()
        self._dtypes.clear()
        self._shapes.clear()
        self._chunks.clear()
        self.group = None


_BYTE_TYPE = h5py.h5t.py_create(np.dtype(np.uint8))


def _chunk_list(dsid: Any, fd: int) -> list[list[int]]:
    """Every chunk of dataset ``dsid`` as [file address, size, filter mask, crc32 of its
    bytes, *offset in the dataset]; the bytes are read back through ``fd``."""
    out: list[list[int]] = []

    def visit(info: Any) -> None:
        data = os.pread(fd, info.size, info.byte_offset)
        out.append([info.byte_offset, info.size, info.filter_mask, zlib.crc32(data),
                    *info.chunk_offset])

    if hasattr(dsid, "chunk_iter"):  # HDF5 >= 1.14: one pass over the chunk index
        dsid.chunk_iter(visit)
    else:
        for i in range(dsid.get_num_chunks()):
            visit(dsid.get_chunk_info(i))
    return out


class _FileSide:
    """Everything h5py holds while a recording is written: the open file, the dataset
    factory and the episodes not yet marked. It is driven by *ops* — an episode's name, an
    operation and plain data — never by closures, so it can live in this process or in a
    writer process (:class:`_ProcessWorker`)."""

    def __init__(self, file: h5py.File, compression: str):
        self.file = file
        self.factory = _DatasetFactory(compression)
        self.episodes: dict[str, _EpisodeFile] = {}
        self._root: tuple[str, bytes] | None = None  # salvage.root_blob of the file
        self._fd = -1  # the file opened again read-only, to checksum chunks

    def _salvage(self, episode: _EpisodeFile, status: str, outcome: str | None) -> None:
        if self._root is None:
            self._root = salvage.root_blob(dict(self.file.attrs))
            self._fd = os.open(self.file.filename, os.O_RDONLY)
        episode.add_salvage(self._root, self._fd, status, outcome)

    def apply(self, name: str, op: str, args: tuple[Any, ...]) -> None:
        """Do ``op`` on episode ``name``: create (attrs), write (block, events, final,
        total_steps), events (events, total_steps), stream (parts, capacity), add_metrics
        (series) or mark (status, outcome), which also drops the episode's handles."""
        if op == "create":
            episode = self.episodes[name] = _EpisodeFile(name)
            episode.create(self.file.id, *args)
        elif op == "mark":
            episode = self.episodes.pop(name)
            self._salvage(episode, *args)
            episode.mark(*args)
            episode.close()
        elif op in ("write", "events", "stream", "add_metrics"):
            getattr(self.episodes[name], op)(self.factory, *args)
        else:
            raise ValueError(f"unknown recording op {op!r}")

    def close(self, attrs: Mapping[str, Any] | None) -> None:
        """Set the root attributes ``attrs`` (if given) and close the file."""
        try:
            if attrs:
                for key, value in attrs.items():
                    self.file.attrs[key] = value
        finally:
            self.episodes.clear()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self.file.close()


def raise_once(worker: Any) -> None:
    """Raise ``worker``'s first error (its ``_error``) as one RecordingWriteError naming
    ``worker.path``, unless it was raised before (``_reported``)."""
    if worker._error is not None and not worker._reported:
        worker._reported = True
        exc = worker._error
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise RecordingWriteError(
            f"{worker.path}: writing the recording failed: {type(exc).__name__}"
            f"{': ' + text if text else ''}") from exc


_CALL, _SOFT_FLUSH, _HARD_FLUSH, _SYNC, _STOP = range(5)


class _FileWorker:
    """Runs a recording's h5py work, in order: on a background thread (``threaded``), or
    inline in the caller's thread.

    On the thread, the simulation hands over work (:meth:`call`) and goes on. h5py runs
    ``H5Dwrite`` — where chunks are compressed — without the GIL, so that part overlaps
    the simulation; its other calls (creating objects, attributes, flushing) hold the GIL
    and interleave with it. Work is queued up to ``_QUEUE_BYTES`` of rows, beyond which
    :meth:`call` waits. A *soft* flush is done once the queue is empty (or a second after
    it was asked for); a *hard* flush is done at once, before any later work — the writer
    asks for one between an episode's last rows and its ``complete`` mark. Inline, every
    flush is done when asked. The first error stops the work; the next :meth:`call`,
    :meth:`flush`, :meth:`sync` or :meth:`stop` raises it, once, as a RecordingWriteError.
    """

    def __init__(self, file: h5py.File, path: Path, threaded: bool, compression: str):
        self.side = _FileSide(file, compression)
        self.file = file
        self.path = path
        self.threaded = threaded
        self.seconds = 0.0  # time spent doing the work (for the benchmark)
        self._error: BaseException | None = None
        self._reported = False
        self._jobs: collections.deque[tuple[int, Any, int]] = collections.deque()
        self._cv = threading.Condition()
        self._queued_bytes = 0
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._serve, name="steersim-recorder",
                                            daemon=True)
            self._thread.start()

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def streams(self) -> bool:
        """Whether bulk state rows should be handed over a chunk at a time, ahead of their
        block (so their compression overlaps the run): only when the work runs elsewhere."""
        return self.threaded

    # --- the caller's side -----------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """Record an error met outside the work (closing the file), unless one came first."""
        if self._error is None:
            self._error = exc

    def check(self) -> None:
        """Raise the writer's error if there is one not raised yet."""
        raise_once(self)

    def episode(self, name: str, op: str, *args: Any, nbytes: int = 0) -> None:
        """Do ``op`` on episode ``name`` (see :meth:`_FileSide.apply`) after everything
        asked before; ``nbytes``: the rows it writes."""
        self.call(functools.partial(self.side.apply, name, op, args), nbytes)

    def close_file(self, attrs: Mapping[str, Any] | None) -> None:
        """After :meth:`stop`: set the root attributes ``attrs`` and close the file (an
        error is kept for :meth:`check`)."""
        try:
            self.side.close(attrs)
        except Exception as exc:  # noqa: BLE001 - reported by check(), once
            self.fail(exc)

    def call(self, fn: Callable[[], None], nbytes: int = 0) -> None:
        """Do ``fn`` (h5py work) after everything asked before."""
        self.check()
        if self._error is not None:
            return  # failed and already reported: nothing more is written
        self._submit(fn, nbytes)

    def _submit(self, fn: Callable[[], None], nbytes: int) -> None:
        if self._thread is None:
            self._run(fn)
            self.check()
            return
        with self._cv:
            while (self._queued_bytes > _QUEUE_BYTES and self._jobs and self._error is None
                   and self._thread.is_alive()):
                self._cv.wait(0.5)
            self._jobs.append((_CALL, fn, nbytes))
            self._queued_bytes += nbytes
            self._cv.notify_all()

    def flush(self, hard: bool = False) -> None:
        """Ask for the file to be flushed (see the class notes for soft and hard)."""
        if self._thread is None:
            if self._error is None:
                self._run(self.file.flush)
            self.check()
            return
        self._put(_HARD_FLUSH if hard else _SOFT_FLUSH)

    def wait(self) -> None:
        """Wait until everything asked so far is written and flushed (no error raised)."""
        if self._thread is not None:
            done = threading.Event()
            self._put(_SYNC, done)
            while not done.wait(0.5) and self._thread.is_alive():
                pass
        elif self._error is None:
            self._run(self.file.flush)

    def sync(self) -> None:
        """Wait until everything asked so far is written and flushed."""
        self.wait()
        self.check()

    def stop(self) -> None:
        """Write what is queued, flush and end the thread (the file stays open)."""
        self.halt()
        self.check()

    def halt(self) -> None:
        """:meth:`stop` without raising the error."""
        if self._thread is not None:
            self._put(_STOP)
            self._thread.join()
            self._thread = None

    def _put(self, kind: int, arg: Any = None) -> None:
        with self._cv:
            self._jobs.append((kind, arg, 0))
            self._cv.notify_all()

    # --- the worker's side -----------------------------------------------------------------
    def _run(self, fn: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, once
            self._error = exc
        finally:
            self.seconds += time.perf_counter() - t0

    def _serve(self) -> None:
        try:
            self._serve_jobs()
        except BaseException as exc:  # noqa: BLE001 - a bug here: reported, not lost
            self.fail(exc)
            with self._cv:  # release whoever waits on the queue
                for kind, arg, _ in self._jobs:
                    if kind == _SYNC:
                        arg.set()
                self._jobs.clear()
                self._queued_bytes = 0
                self._cv.notify_all()

    def _serve_jobs(self) -> None:
        dirty = False  # a soft flush is owed
        asked = 0.0  # when it was first asked for
        while True:
            with self._cv:
                while not self._jobs:
                    if dirty and self._error is None:
                        break
                    self._cv.wait()
                if not self._jobs:  # idle with a flush owed: do it now
                    kind, arg, nbytes = _SOFT_FLUSH, None, 0
                    idle = True
                else:
                    kind, arg, nbytes = self._jobs.popleft()
                    idle = False
            if kind == _CALL:
                if self._error is None:
                    self._run(arg)
                with self._cv:
                    self._queued_bytes -= nbytes
                    self._cv.notify_all()
                continue
            if kind == _SOFT_FLUSH and not idle:
                if not dirty:
                    dirty, asked = True, time.monotonic()
                if time.monotonic() - asked < _SOFT_FLUSH_DELAY:
                    continue  # more work is queued: flush once it is done
            if (dirty or kind != _SOFT_FLUSH) and self._error is None:
                self._run(self.file.flush)
            dirty = False
            if kind == _SYNC:
                arg.set()
            elif kind == _STOP:
                with self._cv:
                    self._cv.notify_all()
                return



# --- the writer process --------------------------------------------------------------------
_HEADER = struct.Struct("<Q")  # a message on the pipes: its length, then pickled bytes
_FRAME = struct.Struct("<QI")  # ops to the writer process: pickle length, arrays


def write_message(fd: int, data: bytes) -> None:
    """Write one message to the pipe ``fd`` (blocking until the pipe takes it all)."""
    os.write(fd, _HEADER.pack(len(data)))
    view, done = memoryview(data), 0
    while done < len(data):
        done += os.write(fd, view[done:])


def pack_ops(batch: list[tuple[Any, ...]]) -> list[memoryview]:
    """A batch of ops as the parts of one message to the writer process: a frame header
    (the pickle's length, the number of arrays, each array's length), the pickle, then each
    array's bytes. Arrays travel out of band (pickle protocol 5), so their rows are not
    copied into the pickle first: the parts are written to the pipe straight from the
    arrays, which nobody writes to any more (see :class:`_Block`)."""
    buffers: list[pickle.PickleBuffer] = []
    meta = pickle.dumps(batch, protocol=5, buffer_callback=buffers.append)
    raws = [buf.raw() for buf in buffers]
    header = _FRAME.pack(len(meta), len(raws)) + b"".join(
        _HEADER.pack(raw.nbytes) for raw in raws)
    return [memoryview(header), memoryview(meta), *raws]


def read_ops(fd: int) -> list[tuple[Any, ...]] | None:
    """Read one message written from :func:`pack_ops`' parts; None once the pipe is
    closed."""
    header = _read_exact(fd, _FRAME.size)
    if header is None:
        return None
    n_meta, n_buffers = _FRAME.unpack(header)
    lengths = _read_exact(fd, _HEADER.size * n_buffers) if n_buffers else bytearray()
    meta = _read_exact(fd, n_meta)
    if lengths is None or meta is None:
        return None
    buffers = []
    for (n,) in _HEADER.iter_unpack(lengths):
        buf = _read_exact(fd, n)
        if buf is None:
            return None
        buffers.append(buf)
    return pickle.loads(meta, buffers=buffers)


def read_message(fd: int) -> bytearray | None:
    """Read one message from the pipe ``fd``; None once it is closed."""
    header = _read_exact(fd, _HEADER.size)
    return None if header is None else _read_exact(fd, _HEADER.unpack(header)[0])


def _read_exact(fd: int, n: int) -> bytearray | None:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            return None
        got += k
    return buf


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to cross from the writer process), else a
    RuntimeError carrying its type and text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure means "send the text instead"
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class _Answers:
    """The writer process's side of the results pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, message: tuple[Any, ...]) -> None:
        write_message(self.fd, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


class _Served:
    """One recording being written by the writer process."""

    def __init__(self, path: str, compression: str, root: Mapping[str, Any] | None,
                 results: Any):
        """Create the recording ``path`` with root attributes ``root`` (or, without them,
        open an existing one)."""
        self.results = results
        self.reported = False
        self.dirty = False  # a soft flush is owed
        self.file: h5py.File | None = None
        self.worker: _FileWorker | None = None
        try:
            # Files use HDF5 format features up to 1.8 (docs/recording-format.md).
            self.file = h5py.File(path, "r+" if root is None else "w",
                                  libver=("v108", "v108"))
            for key, value in (root or {}).items():
                self.file.attrs[key] = value
            self.file.flush()
            self.worker = _FileWorker(self.file, Path(path), threaded=False,
                                      compression=compression)
        except Exception as exc:  # noqa: BLE001 - sent to the recorder, which reports it
            self.reported = True
            results.send(("error", portable(exc)))

    @property
    def ok(self) -> bool:
        return self.worker is not None and self.worker._error is None

    def report(self) -> None:
        if self.worker is not None and self.worker._error is not None and not self.reported:
            self.reported = True
            self.results.send(("error", portable(self.worker._error)))

    def flush(self) -> None:
        self.dirty = False
        if self.ok:
            assert self.worker is not None and self.file is not None
            self.worker._run(self.file.flush)

    def do(self, op: tuple[Any, ...]) -> bool:
        """Do one op; True once the file is closed."""
        kind, worker = op[0], self.worker
        if kind == "episode":
            if self.ok:
                assert worker is not None
                worker._run(functools.partial(worker.side.apply, *op[1:4]))
        elif kind == "flush":
            if op[1]:
                self.flush()
            else:
                self.dirty = True
        elif kind == "sync":
            self.flush()
            self.report()
            self.results.send(("synced",))
        elif kind == "close":
            seconds = 0.0
            if worker is not None:
                attrs = op[1]
                if attrs and worker._error is not None:  # rows are missing: say so
                    attrs = dict(attrs, status=STATUS_INTERRUPTED)
                worker.close_file(attrs)
                seconds = worker.seconds
                self.report()
            with contextlib.suppress(OSError):
                self.results.send(("done", seconds))
            return True
        return False


def serve(jobs_fd: int, results_fd: int) -> None:
    """The writer process: read op batches (:func:`pack_ops`) from the pipe ``jobs_fd``
    and do them in order, one recording after another (each opened by an ``open`` op and
    ended by ``close``), answering on ``results_fd``; exit when the recorder closes the
    pipe.

    One thread: a reader thread would wait for the GIL behind h5py (up to a switch interval
    per read) while the pipe filled and the recorder blocked on it; the pipe's buffer
    absorbs what the recorder sends while a batch is written. A soft flush is put off while
    more ops already wait in the pipe. SIGINT and SIGTERM are ignored — Ctrl-C reaches the
    whole process group, and the recorder decides how to stop. When the recorder dies
    (SIGKILL) the pipe reads as closed: every op received is done and the file closed, so
    finished episodes stay marked and unfinished ones ``running``.
    """
    import select

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    results = _Answers(results_fd)
    waiting = select.poll()
    waiting.register(jobs_fd, select.POLLIN)
    current: _Served | None = None
    while True:
        try:
            batch = read_ops(jobs_fd)
        except OSError:
            batch = None
        if batch is None:  # the recorder is gone: keep what came, then close
            if current is not None:
                current.do(("close", None))
            return
        for op in batch:
            if op[0] == "ping":
                results.send(("pong",))
            elif op[0] == "open":
                current = _Served(op[1], op[2], op[3], results)
            elif current is not None and current.do(op):
                current = None
        if current is not None:
            current.report()
            if current.dirty and not waiting.poll(0):
                current.flush()
