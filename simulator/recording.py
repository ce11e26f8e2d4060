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
every h5py call (:mod:`simulator.h5file`): in a writer process (the default where one can
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

import atexit
import collections
import contextlib
import dataclasses
import functools
import json
import os
import pickle
import platform
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numba
import numpy as np
from numba.extending import intrinsic

from agents.registry import AgentSpec
from simulator import __version__
from simulator.core.driver import StepTrace
from simulator.core.errors import UserError
from simulator.h5file import (
    _QUEUE_BYTES,
    _WORLD_RUNNING,
    COMPRESSIONS,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    RecordingWriteError,
    _Block,
    _chunk_rows,
    _FileWorker,
    pack_ops,
    raise_once,
    read_message,
)
from simulator.scene import Scene
from simulator.session import Event, Lane, Session
from simulator.worlds import parse_objective

FORMAT = "steersim"
FORMAT_VERSION = 1
RECORDINGS_DIR = Path("recordings")

_BLOCK_BYTES = 4 << 20  # in-memory rows per episode before one resize + write
# With a writer process, smaller blocks: the last one is written after the run ends, while
# the recorder waits, so it should be short work.
_PROCESS_BLOCK_BYTES = 1 << 20
_MAX_BLOCK_STEPS = 1024
_VERIFY_BLOCK = 512
_KEEP_TRACE_BYTES = 4 << 10  # a one-step trace this small is kept whole, not copied per step
_BACKGROUND_MIN_BYTES = 4 << 10  # state per step (all lanes) worth a writer thread
_SEND_BYTES = 1 << 20  # ops batched for the writer process before they are sent
_PIPE_BYTES = 1 << 20  # the buffer asked for the pipe to the writer process
_IOV_MAX = 1024  # parts one writev takes at most (POSIX guarantees at least 16; Linux 1024)


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


# AgentSpec fields added for trained and external agents; None / "" mean "not set".
_OPTIONAL_AGENT_FIELDS = ("policy_objective", "trained", "external")


def agent_to_dict(agent: AgentSpec) -> dict[str, Any]:
    """Every field of an AgentSpec as JSON-able data (arrays with dtype and shape), so the
    exact agent the kernels saw can be rebuilt by :func:`agent_from_dict`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(agent):
        value = getattr(agent, f.name)
        if f.name in _OPTIONAL_AGENT_FIELDS and (
                value is None or (isinstance(value, str) and value == "")):
            continue  # written only when set, so agents recorded before them read the same
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


def _mismatched_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bool (n,) per leading row: does any byte differ? Bitwise, so NaN == NaN and
    -0.0 != 0.0 — "bit-identical" means exactly that."""
    n = a.shape[0]
    if a.shape != b.shape or a.dtype != b.dtype:
        return np.ones(n, bool)
    bytes_a = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1)
    bytes_b = np.ascontiguousarray(b).view(np.uint8).reshape(n, -1)
    return np.any(bytes_a != bytes_b, axis=1)


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
@intrinsic
def _byte_pointer(typingctx: Any, address: Any) -> Any:
    """``uint8*`` at an integer address (numba has no built-in cast from int to pointer)."""
    if not isinstance(address, numba.types.Integer):
        return None
    sig = numba.types.CPointer(numba.types.uint8)(address)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(cache=True)  # keeps the GIL: a microsecond call is no time to hand it over
def _gather_rows(table: np.ndarray, row: int) -> int:
    """Copy copy 0 of many state fields into row ``row`` of their block buffers.

    table (n, 5) int64, one line per field: address of the field's copy 0, address of the
    buffer's row 0, bytes per row, the lane's index if the field is its ``status`` (else
    -1), and an offset added to ``row`` (step rows trail state rows by the initial state
    in an episode's first block). Returns a bit mask of the lanes whose copy 0 status is
    not 0 (running).
    """
    stopped = 0
    for j in range(table.shape[0]):
        n = table[j, 2]
        src = _byte_pointer(table[j, 0])
        dst = _byte_pointer(table[j, 1] + (row + table[j, 4]) * n)
        for b in range(n):
            dst[b] = src[b]
        lane = table[j, 3]
        if lane >= 0:
            for b in range(n):
                if src[b] != 0:
                    stopped |= 1 << lane
                    break
    return stopped


def _address(arr: np.ndarray) -> int:
    return int(arr.__array_interface__["data"][0])


def _trace_sources(trace: StepTrace, agent_keys: Sequence[str]
                   ) -> list[tuple[str, int, int]]:
    """Where copy 0's step rows live in a one-step trace: (dataset path, address, bytes)
    for actions (the trace's action[0, 0], (A, ...)), rewards (reward[0, 0], (A,)) and
    agent/<key>/<name> (internals[name][0, 0, a]) — the rows _StepRows.add_step copies."""
    def at(arr: np.ndarray, index: tuple[int, ...]) -> tuple[int, int]:
        view = arr[index + (Ellipsis,)]
        if not view.flags.c_contiguous:
            raise ValueError("a trace row is not contiguous")
        return _address(arr) + sum(i * s for i, s in zip(index, arr.strides, strict=False)), \
            view.nbytes

    out = [("actions", *at(trace.action, (0, 0))), ("rewards", *at(trace.reward, (0, 0)))]
    for name, values in trace.internals.items():
        for a, key in enumerate(agent_keys):
            out.append((f"agent/{key}/{name}", *at(values, (0, 0, a))))
    return out


class _StepRows:
    """One episode's per-step rows, buffered in memory ``capacity`` at a time.

    State rows (copy 0 of every state field) and step rows (actions, rewards, agent
    internals) are kept under their dataset paths; there is one more state row than step
    rows over an episode (the initial state). Terminations and truncations follow from the
    state rows' ``status``. Step rows are either copied at once (:meth:`add_step`) or kept
    as the trace that holds them (:meth:`add_trace`, for small ensembles) and copied when
    the block is written. The writer hands blocks to the file, :func:`verify` compares them
    to it.
    """

    def __init__(self, state: Mapping[str, np.ndarray], agent_keys: Sequence[str],
                 capacity: int):
        self.capacity = capacity
        self.agent_keys = list(agent_keys)
        self._fields = [(name, arr.shape[1:], arr.dtype) for name, arr in state.items()]
        self.state = self._state_buffers()
        self.steps: dict[str, np.ndarray] = {}
        self._step_specs: list[tuple[str, tuple[int, ...], np.dtype]] = []
        self._internal_dst: list[tuple[str, int, np.ndarray]] = []
        self.traces: list[StepTrace] = []
        self.n_state = 0
        self.n_step = 0
        self.streamed: dict[str, int] = {}  # state rows of these buffers already handed off
        self.generation = 0  # bumped whenever the buffers are handed off

    def _state_buffers(self) -> dict[str, np.ndarray]:
        return {f"state/{name}": np.empty((self.capacity,) + shape, dtype)
                for name, shape, dtype in self._fields}

    @staticmethod
    def capacity_for(state: Mapping[str, np.ndarray], block_bytes: int = _BLOCK_BYTES) -> int:
        """Rows per block so one block of state stays near ``block_bytes``: a power of two,
        so that chunks (:func:`_chunk_rows`) tile it."""
        row_bytes = sum(arr[0].nbytes for arr in state.values()) or 1
        rows = int(max(16, min(_MAX_BLOCK_STEPS, block_bytes // row_bytes)))
        return 1 << (rows.bit_length() - 1)

    @property
    def full(self) -> bool:
        return self.n_state == self.capacity or self.n_step == self.capacity

    def add_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy 0 of every field of ``state`` (name → (E, ...)) as the next state row."""
        i = self.n_state
        for name, _, _ in self._fields:
            self.state[f"state/{name}"][i] = state[name][0]
        self.n_state = i + 1

    def _allocate_steps(self, trace: StepTrace) -> None:
        action, reward = trace.action[0, 0], trace.reward[0, 0]
        specs = [("actions", action.shape, action.dtype), ("rewards", reward.shape,
                                                          reward.dtype)]
        self._internal_dst = []
        for name, values in trace.internals.items():
            row = values[0, 0]  # (A, ...)
            for a, key in enumerate(self.agent_keys):
                specs.append((f"agent/{key}/{name}", row.shape[1:], row.dtype))
                self._internal_dst.append((name, a, f"agent/{key}/{name}"))
        self._step_specs = specs
        self._new_step_buffers()

    def _new_step_buffers(self) -> None:
        self.steps = {path: np.empty((self.capacity,) + shape, dtype)
                      for path, shape, dtype in self._step_specs}
        self._internal_bufs = [(name, a, self.steps[path])
                               for name, a, path in self._internal_dst]

    def add_step(self, trace: StepTrace) -> None:
        """Copy row 0 (copy 0) of a one-step trace as the next step row."""
        if not self._step_specs:
            self._allocate_steps(trace)
        if self.traces:  # switching from kept traces to copies mid-block
            kept, self.traces, self.n_step = self.traces, [], 0
            for old in kept:
                self.add_step(old)
        i = self.n_step
        steps = self.steps
        steps["actions"][i] = trace.action[0, 0]
        steps["rewards"][i] = trace.reward[0, 0]
        for name, a, buf in self._internal_bufs:
            buf[i] = trace.internals[name][0, 0, a]
        self.n_step = i + 1

    def add_trace(self, trace: StepTrace) -> None:
        """Keep a one-step trace as the next step row, copied out when the block is taken
        (cheaper than :meth:`add_step` when the trace is small: few copies)."""
        self.traces.append(trace)
        self.n_step += 1

    def take(self, final: bool = False) -> _Block:
        """The buffered rows as a block nobody writes to any more; the buffers start empty.
        ``final``: no rows will follow, so no new buffers are allocated."""
        streamed = self.streamed
        block = _Block(
            {path: buf[streamed.get(path, 0):self.n_state] for path, buf in self.state.items()},
            {} if self.traces else {path: buf[:self.n_step] for path, buf in self.steps.items()},
            self.traces, self.agent_keys, self.capacity)
        self.streamed = {}
        if not final:
            self.state = self._state_buffers()
            if self._step_specs:
                self._new_step_buffers()
        self.traces = []
        self.n_state = self.n_step = 0
        self.generation += 1
        return block


# --- the writer process, seen from the recorder ---------------------------------------------
def writer_process_available() -> bool:
    """Whether recordings can be written by a writer process here (POSIX: the pipes to it
    are passed as inherited file descriptors)."""
    return os.name == "posix"


class _WriterProcess:
    """A ``python -c 'simulator.h5file.serve(...)'`` child, the two pipes to it and the
    thread that feeds it when the pipe is full.

    It imports numpy and h5py only, and is reused by one recording after another (see
    :data:`_IDLE_WRITERS`): its start-up (~0.15 s, on the other core) is paid once per
    Python process, while the kernels load. A message is written straight into the pipe
    (non-blocking) when nothing is queued before it and the pipe has room — the common
    case, as the pipe holds 1 MiB. Only what does not fit is handed to a pump thread, which
    waits for the writer process to read (without the GIL) while the simulation goes on;
    the simulation waits only once ``_QUEUE_BYTES`` are queued. (Waking the pump thread for
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
        root = str(Path(__file__).resolve().parent.parent)  # where `simulator` imports from
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from simulator.h5file import serve; "
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
            while self._queued > _QUEUE_BYTES and not self.broken:
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


class _ProcessWorker:
    """Runs a recording's h5py work in a writer process (:func:`simulator.h5file.serve`).

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


# --- the writer ----------------------------------------------------------------------------
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
        self.agent_keys = _agent_keys(agents)
        fields = state.as_dict()
        capacity = block_steps or _StepRows.capacity_for(fields, writer.block_bytes)
        self._rows = _StepRows(fields, self.agent_keys, capacity)
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
        if int(state["status"][0]) != _WORLD_RUNNING:
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
        text = _dumps(list(outcome)) if outcome is not None else None
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
    process : write in a writer process (:class:`_ProcessWorker`; POSIX), which creates
        the file itself. :func:`record` chooses it by default where it is available.
    """

    def __init__(self, path: str | Path, scene: Scene, seed: int, *, force: bool = False,
                 compression: str = "lzf", block_steps: int | None = None,
                 attrs: Mapping[str, Any] | None = None, background: bool = True,
                 process: bool = False):
        self.path = Path(path)
        self.scene = scene
        if compression not in COMPRESSIONS:
            raise UserError(f"compression {compression!r}: choose from {', '.join(COMPRESSIONS)}")
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
            "format": FORMAT, "format_version": FORMAT_VERSION, "created_utc": _utc_now(),
            "steersim_version": __version__,
            "versions": _dumps({
                "python": platform.python_version(), "numpy": np.__version__,
                "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version,
                "numba": numba.__version__}),
            "scene_toml": scene.text, "scene_name": scene.name,
            "scene_path": str(scene.path or ""), "world_kind": scene.world,
            "dt": _scene_dt(scene), "seed": int(seed), "compression": compression,
            "status": STATUS_RUNNING}
        for key, value in (attrs or {}).items():
            root[key] = value if isinstance(value, str | int | float) else _dumps(value)
        self.mode = "process" if process else "thread" if background else "inline"
        self.block_bytes = _PROCESS_BLOCK_BYTES if process else _BLOCK_BYTES
        self._worker: _FileWorker | _ProcessWorker
        if process:
            # Claim the name here (so a bad path fails now, as one line); the writer process
            # creates the HDF5 file and its root attributes.
            try:
                open(self.path, "wb" if force else "xb").close()  # noqa: SIM115
            except OSError as exc:
                raise UserError(f"{self.path}: cannot create: {exc.strerror or exc}") from None
            self._worker = _ProcessWorker(self.path, compression, root)
            return
        try:
            self.file = h5py.File(self.path, "w" if force else "w-", libver=("v108", "v108"))
        except (OSError, ValueError) as exc:  # h5py raises either
            raise UserError(f"{self.path}: cannot create: {exc}") from None
        for key, value in root.items():
            self.file.attrs[key] = value
        self.file.flush()
        self._worker = _FileWorker(self.file, self.path, background, compression)

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
                 "agents": _dumps([agent_to_dict(agent) for agent in lane.agents]),
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
            if (rows := _chunk_rows(arr[0].nbytes, capacity)) < capacity
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
            self._src_addresses = [[_address(src) for _, src in fields]
                                   for fields in self._fields]
        for k in active:
            rows = self._rows[k]
            for (name, _), address, buf in zip(self._fields[k], self._src_addresses[k],
                                               rows.state.values(), strict=True):
                lines.append((address, _address(buf), buf[0].nbytes,
                              k if name == "status" else -1, 0))
                buffers.append(buf)
                line_lanes.append(k)
            if traced:
                assert traces is not None
                if not rows._step_specs:
                    rows._allocate_steps(traces[k])
                cached = self._trace_addresses.get(k)
                if cached is None or cached[0] is not traces[k]:
                    cached = (traces[k], _trace_sources(traces[k], rows.agent_keys))
                    self._trace_addresses[k] = cached
                for path, address, nbytes in cached[1]:
                    buf = rows.steps[path]
                    if buf[0].nbytes != nbytes:
                        raise ValueError(f"{path}: a step row of {nbytes} bytes does not fit"
                                         f" a buffer row of {buf[0].nbytes}")
                    lines.append((address, _address(buf), nbytes, -1, n_step - n_state))
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
        stopped = _gather_rows(self._table, self._row)
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
@dataclasses.dataclass(frozen=True)
class RecordProgress:
    """Where :func:`record` is: ``step`` steps done in run ``run`` (0-based); ``finished``
    once that run has ended."""

    run: int
    step: int
    finished: bool
    # The writer (None without recording): ``writer.sync()`` waits for the file to hold
    # everything captured so far.
    writer: RecordingWriter | None = dataclasses.field(default=None, compare=False,
                                                      repr=False)


@dataclasses.dataclass
class RecordResult:
    """What :func:`record` did. ``seconds_in_writer``: time the simulation's thread spent in
    the recorder (capturing rows, handing them over, writing inline, waiting for the writer
    at the end); ``seconds_in_background``: time spent in h5py work (in the writer process
    or thread if ``background``, else inside ``seconds_in_writer``)."""

    path: Path
    status: str
    runs_complete: int
    episodes: int
    seconds_in_writer: float
    bytes_recorded: int
    seconds_in_background: float = 0.0
    background: bool = False
    writer: str = "inline"  # where the h5py work ran: "process", "thread" or "inline"


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
    with _kernel_threads(n_copies):
        return _run_episodes(scene, episodes, seed, distribution, agents, n_copies, writer,
                             progress, stop)


@contextlib.contextmanager
def _kernel_threads(n_copies: int) -> Iterator[None]:
    """Run a single-copy session's kernels on one numba thread.

    A parallel loop over one copy has nothing to share out; its second OpenMP thread only
    spins between steps, on the core the recorder's writer needs (measured: the
    thermostat scene, one copy, records at the same speed as it runs only this way).
    Results never depend on the thread count (DESIGN.md, engine rules).
    """
    previous = numba.get_num_threads()
    if n_copies > 1 or previous == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _run_episodes(scene: Scene, episodes: int, seed: int | None, distribution: str | None,
                  agents: Sequence[Sequence[AgentSpec]] | None, n_copies: int,
                  writer: RecordingWriter | None,
                  progress: Callable[[RecordProgress], None] | None,
                  stop: _StopFlag | None) -> int:
    base = scene.model.seed if seed is None else int(seed)
    done_runs = 0
    tuner = _ThreadTuner(n_copies, episodes)
    for k in range(episodes):
        if stop is not None and stop.requested:
            break
        with tuner.run(k) as timing:
            ran, interrupted = _run_one(scene, k, base, distribution, agents, n_copies,
                                        writer, progress, stop)
            timing.steps = ran
        if interrupted:
            break
        done_runs += 1
    return done_runs


class _ThreadTuner:
    """Picks the numba thread count for the runs of a multi-run ensemble recording.

    Whether a second kernel thread pays depends on the world and the ensemble (a thermal
    ensemble of 64 rooms runs 1.6x faster on two threads; a 256-copy maze spends most of
    a step in single-threaded metrics) and on what else wants the core — a writer process
    does. So run 0 uses every thread, run 1 one thread, and the later runs whichever was
    faster per step. Results never depend on the thread count (DESIGN.md, engine rules).
    """

    @dataclasses.dataclass
    class Timing:
        steps: int = 0

    def __init__(self, n_copies: int, episodes: int):
        self.threads = numba.get_num_threads()
        self.active = n_copies > 1 and episodes >= 4 and self.threads > 1
        self.per_step: dict[int, float] = {}

    @contextlib.contextmanager
    def run(self, k: int) -> Iterator[_ThreadTuner.Timing]:
        timing = self.Timing()
        if not self.active:
            yield timing
            return
        threads = self.threads if k == 0 else 1 if k == 1 else min(
            self.per_step, key=self.per_step.__getitem__)
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        t0 = time.perf_counter()
        try:
            yield timing
        finally:
            numba.set_num_threads(previous)
        if k < 2 and timing.steps:
            self.per_step[threads] = (time.perf_counter() - t0) / timing.steps


def _run_one(scene: Scene, k: int, base: int, distribution: str | None,
             agents: Sequence[Sequence[AgentSpec]] | None, n_copies: int,
             writer: RecordingWriter | None,
             progress: Callable[[RecordProgress], None] | None,
             stop: _StopFlag | None) -> tuple[int, bool]:
    """Run k (see :func:`run_episodes`); returns (steps taken, interrupted)."""
    session = Session(scene, seed=episode_seed(base, k), distribution=distribution,
                      n_copies=n_copies, agents=agents)
    tracker = None
    if n_copies > 1:
        from simulator.metrics import MetricsTracker

        tracker = MetricsTracker(session)
    run = writer.begin_run(session, k, reused_traces=True) if writer is not None else None
    steps = 0
    interrupted = False
    while not session.done and steps < session.horizon:
        if stop is not None and stop.requested:
            interrupted = True
            break
        traces = session.step(1, trace=run is not None, reuse_trace=True)
        steps += 1
        if run is not None:
            run.capture(traces)
        if tracker is not None:
            tracker.update()
        if progress is not None:
            progress(RecordProgress(k, steps, False, writer))
    if run is not None:
        metrics = None
        if tracker is not None:
            metrics = [tracker.as_arrays(i) for i in range(len(session.lanes))]
        run.finish(metrics)
    if progress is not None:
        progress(RecordProgress(k, steps, True, writer))
    return steps, interrupted


def background_pays(session: Session, n_copies: int) -> bool:
    """Whether a run of ``session``'s scene with ``n_copies`` copies per lane records faster
    with the writer on a background thread than inline.

    h5py lets go of the GIL only while it writes (and compresses) rows; creating datasets
    and groups, attributes and flushes hold it, so a thread cannot overlap those with the
    simulation's Python. The thread therefore pays only for bulk state — at least
    ``_BACKGROUND_MIN_BYTES`` per step over all lanes, like the thermal world's rooms —
    and only with a core to run on: a single-copy run (its kernels use one numba thread,
    see ``_kernel_threads``) or more cores than numba threads. Many short episodes of
    small state (the maze) are written faster inline. Measured on the 2-core reference
    machine; see ``steersim bench``.
    """
    state_bytes = sum(sum(arr[0].nbytes for arr in lane.state.as_dict().values())
                      for lane in session.lanes)
    free_core = n_copies == 1 or (os.cpu_count() or 1) > numba.get_num_threads()
    return free_core and state_bytes >= _BACKGROUND_MIN_BYTES


def record(scene: Scene, path: str | Path | None = None, *, episodes: int = 1,
           seed: int | None = None, distribution: str | None = None,
           agents: Sequence[Sequence[AgentSpec]] | None = None, n_copies: int = 1,
           force: bool = False, compression: str = "lzf", block_steps: int | None = None,
           progress: Callable[[RecordProgress], None] | None = None,
           handle_signals: bool = True, attrs: Mapping[str, Any] | None = None,
           background: bool | None = None, process: bool | None = None) -> RecordResult:
    """Record ``episodes`` runs of ``scene`` headless into a new HDF5 file.

    Run k draws from seed :func:`episode_seed` (seed, k) and yields one episode per lane.
    SIGINT / SIGTERM (if ``handle_signals``, in the main thread) stop after the current
    step: the unfinished episodes are marked interrupted and the file is closed cleanly.
    UserError for a bad scene option or an existing file without ``force``;
    RecordingWriteError if writing fails. ``process``: do the h5py work in a writer process
    (the default where processes can be forked, see :class:`_ProcessWorker`); otherwise
    ``background`` says whether it runs on a background thread or inline (by default,
    whichever :func:`background_pays` says is cheaper for this run).
    """
    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    base = scene.model.seed if seed is None else int(seed)
    if process is None:
        process = background is None and writer_process_available()
    elif process and not writer_process_available():
        raise UserError("a writer process is not available on this platform"
                        " (use the thread or inline writer)")
    if process:
        prestart_writer_process()  # it starts up while the probe below loads the kernels
    # Validate everything a Session checks before creating the file.
    probe = Session(scene, seed=base, distribution=distribution, n_copies=1, agents=agents)
    target = Path(path) if path is not None else default_output(scene)
    meta = {"distribution": probe.distribution, "episodes_planned": episodes,
            "n_lanes": len(probe.lanes), "n_copies": n_copies,
            "event_kinds": list(probe.driver.event_kinds),
            "n_event_params": probe.driver.n_event_params, **(attrs or {})}
    if background is None:
        background = background_pays(probe, n_copies)
    writer = RecordingWriter(target, scene, base, force=force, compression=compression,
                             block_steps=block_steps, attrs=meta, background=background,
                             process=process)
    with writer, _stop_on_signals(handle_signals) as stop:
        runs = run_episodes(scene, episodes=episodes, seed=base,
                            distribution=probe.distribution, agents=agents,
                            n_copies=n_copies, writer=writer, progress=progress, stop=stop)
        status = STATUS_COMPLETE if runs == episodes else STATUS_INTERRUPTED
        t0 = time.perf_counter()
        writer.close(status)
        writer.seconds += time.perf_counter() - t0  # waiting for the writer to finish
    return RecordResult(target, status, runs, writer.n_episodes, writer.seconds,
                        writer.bytes_recorded, writer.background_seconds,
                        writer.mode != "inline", writer.mode)


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
                # The recorded agents rebuild the lanes (self-contained: a trained agent
                # needs no agents file to verify), so the scene's own lanes are not built.
                self._scene = Scene.from_text(self.scene_toml, Path(f"{self.path}:scene_toml"),
                                              build_lanes=False)
            except UserError as exc:
                raise UserError(f"{self.path}: the recorded scene is not valid here: {exc}"
                                ) from None
        return self._scene

    def check(self) -> None:
        """Read every attribute and every dataset of the file once, and the recorded scene:
        UserError (one line) naming the first object that cannot be read.

        HDF5 checksums its metadata and the compression filters notice most damaged chunks,
        so this finds damage wherever the file holds something; bytes it holds nothing in
        (free space, padding) are never read and cannot matter.
        """
        with reading(self.path):
            _check_group(self.file, self.path)
            self.scene()

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


_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError)


def _check_group(group: h5py.Group, path: Path) -> None:
    """Read ``group``'s attributes and, recursively, every member (see Recording.check)."""
    try:
        _read_attrs(group)
        names = list(group)
    except _READ_ERRORS as exc:
        raise UserError(f"{path}: damaged recording: {group.name}: {_first_line(exc)}"
                        ) from None
    for name in names:
        where = f"{group.name.rstrip('/')}/{name}"
        try:
            obj = group.get(name)
            if obj is None:  # a link whose object header is unreadable
                raise OSError("cannot be opened")
            if isinstance(obj, h5py.Dataset):
                _read_attrs(obj)
                _read_dataset(obj)
        except _READ_ERRORS as exc:
            raise UserError(f"{path}: damaged recording: {where}: {_first_line(exc)}"
                            ) from None
        if isinstance(obj, h5py.Group):
            _check_group(obj, path)


def _read_attrs(obj: h5py.HLObject) -> None:
    for key, value in obj.attrs.items():
        _decode_attr(key, value)  # JSON attributes must parse, too


def _read_dataset(ds: h5py.Dataset) -> None:
    """Read ``ds`` whole, a few MiB at a time (decompressing every chunk)."""
    if not ds.shape:
        ds[()]  # noqa: B018
        return
    row_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
    rows = max(1, _BLOCK_BYTES // max(1, row_bytes))
    for start in range(0, ds.shape[0], rows):
        ds[start:start + rows]  # noqa: B018


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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
        fields = list(state.values()) if state else []
        if any(ds is None for ds in fields):  # h5py's answer for an unreadable object header
            raise OSError(f"{self.name}/state: a field cannot be opened")
        n_state = min((ds.shape[0] for ds in fields), default=0)
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
        from simulator.worlds import get_driver

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
            rows.add_step(trace)
            rows.add_state(lane.state.as_dict())
        first_state_row = t if t == 0 else t + 1
        found: list[tuple[tuple[int, int], str, np.ndarray, np.ndarray]] = []
        for path, simulated in rows.take().arrays().items():
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
