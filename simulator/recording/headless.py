"""The headless record loop: :func:`record` (``steersim record``), :func:`run_episodes`
(the same loop without recording: the benchmark's baseline), signals, thread tuning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba

from agents.registry import AgentSpec
from simulator.core.errors import UserError
from simulator.recording.format import (
    FORMAT_VERSION,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    episode_seed,
)
from simulator.recording.process import prestart_writer_process, writer_process_available
from simulator.recording.writer import RecordingWriter
from simulator.scene import Scene
from simulator.session import Session

RECORDINGS_DIR = Path("recordings")

_BACKGROUND_MIN_BYTES = 4 << 10  # state per step (all lanes) worth a writer thread


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
           background: bool | None = None, process: bool | None = None,
           format_version: int = FORMAT_VERSION) -> RecordResult:
    """Record ``episodes`` runs of ``scene`` headless into a new HDF5 file.

    Run k draws from seed :func:`episode_seed` (seed, k) and yields one episode per lane.
    SIGINT / SIGTERM (if ``handle_signals``, in the main thread) stop after the current
    step: the unfinished episodes are marked interrupted and the file is closed cleanly.
    UserError for a bad scene option or an existing file without ``force``;
    RecordingWriteError if writing fails. ``process``: do the h5py work in a writer process
    (the default where processes can be forked, see :class:`ProcessWorker`); otherwise
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
                             process=process, format_version=format_version)
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


