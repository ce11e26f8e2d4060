"""The writer process: the pipe protocol (op batches with arrays out of band) and
:func:`serve`, which does the ops of one recording after another. It imports numpy,
h5py and the light modules of this package only, so it is up in a fraction of a second
and shares no memory with the simulation.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py

from simulator.recording.files import FileWorker
from simulator.recording.format import STATUS_INTERRUPTED

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
    arrays, which nobody writes to any more (see :class:`Block`)."""
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
        self.worker: FileWorker | None = None
        try:
            # Files use HDF5 format features up to 1.8 (docs/recording-format.md).
            self.file = h5py.File(path, "r+" if root is None else "w",
                                  libver=("v108", "v108"))
            for key, value in (root or {}).items():
                self.file.attrs[key] = value
            self.file.flush()
            self.worker = FileWorker(self.file, Path(path), threaded=False,
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

    def flush(self, hard: bool = False) -> None:
        self.dirty = False
        if self.ok:
            assert self.worker is not None and self.file is not None
            self.worker._run(functools.partial(self.worker.side.flush, hard))

    def do(self, op: tuple[Any, ...]) -> bool:
        """Do one op; True once the file is closed."""
        kind, worker = op[0], self.worker
        if kind == "episode":
            if self.ok:
                assert worker is not None
                worker._run(functools.partial(worker.side.apply, *op[1:4]))
        elif kind == "flush":
            if op[1]:
                self.flush(hard=True)
            else:
                self.dirty = True
        elif kind == "sync":
            self.flush(hard=True)
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
