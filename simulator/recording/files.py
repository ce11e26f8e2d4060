"""The file side of writing a recording: :class:`FileSide` turns ops (an episode's name,
an operation, arrays) into h5py calls for the layout the file uses; :class:`FileWorker`
runs them in order, inline or on a background thread. numpy and h5py only: the writer
process (:mod:`simulator.recording.server`) runs the same code.
"""

from __future__ import annotations

import collections
import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py

from simulator.recording import salvage
from simulator.recording.format import QUEUE_BYTES, RecordingWriteError
from simulator.recording.hdf5 import DatasetFactory
from simulator.recording.layout_v1 import EpisodeGroupFile
from simulator.recording.layout_v2 import TableFile

_SOFT_FLUSH_DELAY = 1.0  # seconds a busy writer thread may put off a soft flush


class FileSide:
    """Everything h5py holds while a recording is written: the open file, the dataset
    factory and the episodes not yet marked. It is driven by *ops* — an episode's name, an
    operation and plain data — never by closures, so it can live in this process or in a
    writer process (:class:`ProcessWorker`). The file's ``format_version`` root attribute
    says which layout the ops build: v2's shared tables (:class:`TableFile`), or v1's group
    per episode (:class:`EpisodeGroupFile`)."""

    def __init__(self, file: h5py.File, compression: str):
        self.file = file
        self.version = int(file.attrs.get("format_version", 1))
        self.factory = DatasetFactory(compression, checksum=self.version >= 2)
        self.tables = TableFile(file, self.factory) if self.version >= 2 else None
        self.episodes: dict[str, EpisodeGroupFile] = {}
        self._root: tuple[str, bytes] | None = None  # salvage.root_blob of the file
        self._fd = -1  # the file opened again read-only, to checksum chunks

    def _salvage_root(self) -> tuple[tuple[str, bytes], int]:
        """salvage.root_blob of the file, and the file opened again to checksum chunks."""
        if self._root is None:
            self._root = salvage.root_blob(dict(self.file.attrs))
            self._fd = os.open(self.file.filename, os.O_RDONLY)
        return self._root, self._fd

    def _salvage(self, episode: EpisodeGroupFile, status: str, outcome: str | None) -> None:
        root, fd = self._salvage_root()
        episode.add_salvage(root, fd, status, outcome)

    def flush(self, hard: bool = True) -> None:
        """Flush the file. v2 holds rows back to write each table once per flush: a hard
        flush writes them all first; a soft one writes the index and only rows worth it
        (see :meth:`TableFile.flush_pending`)."""
        if self.tables is not None:
            self.tables.flush_pending(everything=hard)
            if not self.tables.changed:
                return  # nothing written since the last flush
            self.tables.changed = False
        self.file.flush()

    def apply(self, name: str, op: str, args: tuple[Any, ...]) -> None:
        """Do ``op`` on episode ``name``: create (attrs), write (block, events, final,
        total_steps), events (events, total_steps), stream (parts, capacity), add_metrics
        (series) or mark (status, outcome), which also drops the episode's handles."""
        if self.tables is not None:
            if op == "mark":
                self.tables.mark(name, *args, *self._salvage_root())
            elif op in ("create", "write", "events", "stream", "add_metrics"):
                getattr(self.tables, op)(name, *args)
            else:
                raise ValueError(f"unknown recording op {op!r}")
            return
        if op == "create":
            episode = self.episodes[name] = EpisodeGroupFile(name)
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
            if self.tables is not None:
                self.tables.flush_pending()
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


class FileWorker:
    """Runs a recording's h5py work, in order: on a background thread (``threaded``), or
    inline in the caller's thread.

    On the thread, the simulation hands over work (:meth:`call`) and goes on. h5py runs
    ``H5Dwrite`` — where chunks are compressed — without the GIL, so that part overlaps
    the simulation; its other calls (creating objects, attributes, flushing) hold the GIL
    and interleave with it. Work is queued up to ``QUEUE_BYTES`` of rows, beyond which
    :meth:`call` waits. A *soft* flush is done once the queue is empty (or a second after
    it was asked for); a *hard* flush is done at once, before any later work — the writer
    asks for one between an episode's last rows and its ``complete`` mark. Inline, every
    flush is done when asked. The first error stops the work; the next :meth:`call`,
    :meth:`flush`, :meth:`sync` or :meth:`stop` raises it, once, as a RecordingWriteError.
    """

    def __init__(self, file: h5py.File, path: Path, threaded: bool, compression: str):
        self.side = FileSide(file, compression)
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
        """Do ``op`` on episode ``name`` (see :meth:`FileSide.apply`) after everything
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
            while (self._queued_bytes > QUEUE_BYTES and self._jobs and self._error is None
                   and self._thread.is_alive()):
                self._cv.wait(0.5)
            self._jobs.append((_CALL, fn, nbytes))
            self._queued_bytes += nbytes
            self._cv.notify_all()

    def flush(self, hard: bool = False) -> None:
        """Ask for the file to be flushed (see the class notes for soft and hard)."""
        if self._thread is None:
            if self._error is None:
                self._run(functools.partial(self.side.flush, hard))
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
            self._run(self.side.flush)

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
                self._run(functools.partial(self.side.flush, kind != _SOFT_FLUSH))
            dirty = False
            if kind == _SYNC:
                arg.set()
            elif kind == _STOP:
                with self._cv:
                    self._cv.notify_all()
                return



# --- the writer process --------------------------------------------------------------------
