"""The recorder's side of the writer process: starting it (and keeping one idle for the
next recording), the pipes and the pump thread, and :class:`ProcessWorker`, which sends
ops in batches and surfaces the first error once.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.recording.files import raise_once
from simulator.recording.format import QUEUE_BYTES
from simulator.recording.server import pack_ops, read_message

_SEND_BYTES = 1 << 20  # ops batched for the writer process before they are sent

_PIPE_BYTES = 1 << 20  # the buffer asked for the pipe to the writer process

_IOV_MAX = 1024  # parts one writev takes at most (POSIX guarantees at least 16; Linux 1024)



# --- the writer process, seen from the recorder ---------------------------------------------
def writer_process_available() -> bool:
    """Whether recordings can be written by a writer process here (POSIX: the pipes to it
    are passed as inherited file descriptors)."""
    return os.name == "posix"


class _WriterProcess:
    """A ``python -c 'simulator.recording.server.serve(...)'`` child, the two pipes to it and the
    thread that feeds it when the pipe is full.

    It imports numpy and h5py only, and is reused by one recording after another (see
    :data:`_IDLE_WRITERS`): its start-up (~0.15 s, on the other core) is paid once per
    Python process, while the kernels load. A message is written straight into the pipe
    (non-blocking) when nothing is queued before it and the pipe has room — the common
    case, as the pipe holds 1 MiB. Only what does not fit is handed to a pump thread, which
    waits for the writer process to read (without the GIL) while the simulation goes on;
    the simulation waits only once ``QUEUE_BYTES`` are queued. (Waking the pump thread for
    every message cost ~0.2 ms a message: the simulation's thread then had to win the GIL
    back from it.)
    """

    def __init__(self) -> None:
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        with contextlib.suppress(AttributeError, OSError, ValueError):
            import fcntl  # Linux: a 1 MiB pipe, so rows rarely wait for the writer to read

            fcntl.fcntl(jobs_w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # where `simulator` imports from
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from simulator.recording.server import serve; "
                 "serve(int(sys.argv[1]), int(sys.argv[2]))", str(jobs_r), str(results_w)],
                pass_fds=(jobs_r, results_w), env=env, stdin=subprocess.DEVNULL,
                start_new_session=True)  # Ctrl-C goes to the recorder only
        except BaseException:
            for fd in (jobs_w, results_r):
                os.close(fd)
            raise
        finally:
            os.close(jobs_r)
            os.close(results_w)
        os.set_blocking(jobs_w, False)  # see send(): a full pipe goes to the pump thread
        self.jobs_fd, self.results_fd = jobs_w, results_r
        self._poller = select.poll()
        self._poller.register(results_r, select.POLLIN)
        self._outbox: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._cv = threading.Condition()
        self._closing = False
        self.broken = False  # the pipe to it failed: it is gone
        self._pump = threading.Thread(target=self._pump_out, name="steersim-writer-pipe",
                                      daemon=True)
        self._pump.start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self.broken and not self._closing

    def send(self, batch: list[tuple[Any, ...]]) -> None:
        """Send a batch of ops to the writer process (see :func:`pack_ops`): into the pipe
        at once when it has room, else queued for the pump thread."""
        parts = pack_ops(batch)
        with self._cv:
            while self._queued > QUEUE_BYTES and not self.broken:
                self._cv.wait(0.5)
            if self.broken:
                return
            if not self._outbox:  # nothing before it: write what the pipe takes now
                parts = self._write_some(parts)
                if not parts:
                    return
            self._outbox.extend(parts)
            self._queued += sum(len(part) for part in parts)
            self._cv.notify_all()

    def _write_some(self, parts: list[memoryview]) -> list[memoryview]:
        """Write ``parts`` (in order) without blocking; returns what the pipe did not take.
        A broken pipe marks the process gone and drops the rest."""
        try:
            n = os.writev(self.jobs_fd, parts[:_IOV_MAX])
        except BlockingIOError:
            return parts
        except OSError:
            self.broken = True
            return []
        while parts and n >= len(parts[0]):
            n -= len(parts[0])
            parts = parts[1:]
        if parts and n:
            parts = [parts[0][n:]] + parts[1:]
        return parts

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether an answer (or the pipe's end) waits to be read."""
        return bool(self._poller.poll(int(timeout * 1000)))

    def receive(self) -> tuple[Any, ...] | None:
        """The next answer; None once the writer process has closed its end."""
        data = read_message(self.results_fd)
        return None if data is None else pickle.loads(data)

    def _pump_out(self) -> None:
        """The pump thread: write the queued parts as the writer process reads the pipe."""
        writable = select.poll()
        writable.register(self.jobs_fd, select.POLLOUT)
        while True:
            with self._cv:
                while not self._outbox and not self._closing:
                    self._cv.wait()
                if not self._outbox:
                    return
                part = self._outbox[0]
                left = self._write_some([part]) if not self.broken else []
                if left:
                    self._outbox[0] = left[0]
                else:
                    self._outbox.popleft()
                self._queued -= len(part) - sum(len(p) for p in left)
                if self.broken:
                    self._outbox.clear()
                    self._queued = 0
                self._cv.notify_all()
            if left:
                writable.poll(500)  # without the GIL, until the writer process reads

    def shut(self) -> None:
        """Send what is queued, close the pipes (the process sees them close and exits)
        and reap it."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._pump.join()
        for fd in (self.jobs_fd, self.results_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


_IDLE_WRITERS: list[_WriterProcess] = []  # started, waiting for a recording
_IDLE_LOCK = threading.Lock()


@atexit.register
def _shut_idle_writers() -> None:
    """End the idle writer processes with this one (they would see their pipe close
    anyway; this reaps them)."""
    with _IDLE_LOCK:
        idle, _IDLE_WRITERS[:] = list(_IDLE_WRITERS), []
    for writer in idle:
        writer.shut()


def prestart_writer_process() -> None:
    """Start a writer process now, unless one is idle, so the next recording finds it ready
    (``record`` calls this before the kernels load)."""
    with _IDLE_LOCK:
        _IDLE_WRITERS[:] = [w for w in _IDLE_WRITERS if w.alive]
        if not _IDLE_WRITERS:
            _IDLE_WRITERS.append(_WriterProcess())


def writer_process_start_seconds() -> float:
    """Wall seconds from starting a new writer process to its first answer (for the
    benchmark); the process is shut down again."""
    t0 = time.perf_counter()
    writer = _WriterProcess()
    try:
        writer.send([("ping",)])
        while writer.ready(5.0):
            message = writer.receive()
            if message is None or message[0] == "pong":
                break
        return time.perf_counter() - t0
    finally:
        writer.shut()


def _take_writer_process() -> _WriterProcess:
    with _IDLE_LOCK:
        while _IDLE_WRITERS:
            writer = _IDLE_WRITERS.pop()
            if writer.alive:
                return writer
    return _WriterProcess()


def _give_back_writer_process(writer: _WriterProcess) -> None:
    with _IDLE_LOCK:
        if writer.alive and not _IDLE_WRITERS:
            _IDLE_WRITERS.append(writer)
            return
    writer.shut()


class ProcessWorker:
    """Runs a recording's h5py work in a writer process (:func:`simulator.recording.server.serve`).

    h5py holds the GIL while it creates datasets, groups and attributes (about twenty per
    episode), so a writer *thread* cannot overlap that work with the simulation's Python;
    a process can, on the other core. The simulation's side batches ops (an episode's name,
    an op and its data; blocks with their traces turned into rows) and sends a batch when
    a soft flush is asked for or once it holds ``_SEND_BYTES``; a hard flush is an ordering
    point the writer process keeps. The first error travels back and surfaces here once,
    as with the thread; a writer process that dies is such an error.
    """

    streams = True  # bulk rows go a chunk at a time, ahead of their block (RunRecorder)

    def __init__(self, path: Path, compression: str, root: Mapping[str, Any]):
        """``root``: the root attributes of the file the writer process creates at ``path``."""
        self.path = path
        self.seconds = 0.0  # h5py work in the writer process, reported when it is done
        self._error: BaseException | None = None
        self._reported = False
        # Absolute: the writer process may have been started from another directory.
        self._batch: list[tuple[Any, ...]] = [
            ("open", os.path.abspath(path), compression, dict(root))]
        self._batch_bytes = 0
        self._closed = False
        self._writer = _take_writer_process()
        self._send()

    @property
    def pid(self) -> int:
        """The writer process's id."""
        return self._writer.proc.pid

    @property
    def failed(self) -> bool:
        self._poll()
        return self._error is not None

    def fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc

    def check(self) -> None:
        """Raise the writer's error if there is one not raised yet."""
        self._poll()
        raise_once(self)  # the same message as the thread's, raised once

    def episode(self, name: str, op: str, *args: Any, nbytes: int = 0) -> None:
        """Queue ``op`` on episode ``name`` for the writer process. (Its answers are read
        at flushes, not here: polling a pipe gives up the GIL, and getting it back behind
        the pump thread costs more than the op.)"""
        raise_once(self)  # an error already received
        if self._error is not None:
            return
        if op == "write":
            args = (args[0].packed(),) + args[1:]
        self._batch.append(("episode", name, op, args))
        self._batch_bytes += nbytes
        if self._batch_bytes >= _SEND_BYTES:
            self._send()

    def flush(self, hard: bool = False) -> None:
        self._batch.append(("flush", hard))
        if not hard:
            self._send()
            self.check()

    def sync(self) -> None:
        """Wait until everything asked so far is written and flushed."""
        self._batch.append(("sync",))
        self._send()
        self._await("synced")
        self.check()

    def stop(self) -> None:
        self.check()

    def close_file(self, attrs: Mapping[str, Any] | None) -> None:
        """Send the last ops; the writer process sets ``attrs`` and closes the file. Waits
        for it, then hands the process on to the next recording."""
        if self._closed:
            return
        self._closed = True
        self._batch.append(("close", dict(attrs) if attrs else None))
        self._send()
        if self._await("done"):
            _give_back_writer_process(self._writer)
        else:
            self._writer.shut()

    # --- the pipes -------------------------------------------------------------------------
    def _send(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._writer.send(batch)

    def _handle(self, message: tuple[Any, ...]) -> str:
        if message[0] == "error":
            self.fail(message[1])
        elif message[0] == "done":
            self.seconds = message[1]
        return message[0]

    def _poll(self) -> None:
        writer = self._writer
        try:
            while writer.ready():
                message = writer.receive()
                if message is None:
                    self._gone()
                    return
                self._handle(message)
        except OSError:
            self._gone()

    def _await(self, kind: str) -> bool:
        """Read the writer process's answers until ``kind`` comes; False if it ended
        first (an error, kept for :meth:`check`)."""
        writer = self._writer
        try:
            while True:
                if writer.ready(0.5):
                    message = writer.receive()
                    if message is None:
                        break
                    if self._handle(message) == kind:
                        return True
                elif writer.proc.poll() is not None and not writer.ready():
                    break
        except OSError:
            pass
        self._gone()
        return False

    def _gone(self) -> None:
        code = self._writer.proc.poll()
        self.fail(RuntimeError("the writer process ended early"
                               + (f" (exit code {code})" if code is not None else "")))


