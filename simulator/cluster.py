"""dask.distributed for sweeps and studies: a LocalCluster on this machine by default, or an
existing scheduler by address. The only module that imports Dask (inside its functions, so
importing it costs nothing); the engine, agents and the rest of the simulator never do.

Tasks are plain functions of their inputs (a scene's text, parameters, seeds), so a task
gives the same result on any worker, and the scheduler may re-run one whose worker died.
Workers on another machine need steersim installed and the files the scene names (trained
agents) at the same paths.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator.core.errors import UserError
from simulator.scene import Scene

# Each worker is one process with one thread; its numba kernels use one thread too, so two
# workers on two cores do not fight over them.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


@contextmanager
def connect(scheduler: str | None = None, n_workers: int | None = None,
            dashboard_address: str | None = ":0",
            say: Callable[[str], None] | None = None, timeout: str = "10s") -> Iterator[Any]:
    """A dask.distributed Client: on ``scheduler`` (``tcp://host:8786``) when given, else on
    a LocalCluster of ``n_workers`` single-threaded worker processes on 127.0.0.1. ``say``
    is told the dashboard address. UserError when the scheduler cannot be reached."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserError("Dask is not installed: pip install 'steersim[sweep]'") from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    else:
        cluster = LocalCluster(n_workers=n_workers or default_workers(), threads_per_worker=1,
                               processes=True, host="127.0.0.1",
                               dashboard_address=dashboard_address,
                               silence_logs=logging.ERROR, env=dict(WORKER_ENV))
        client = Client(cluster)
        # Ctrl-C reaches the whole process group: the workers leave it to this process,
        # which stops the sweep with its table intact and closes the cluster.
        client.register_plugin(_ignore_sigint_plugin(), name="steersim-ignore-sigint")
    try:
        if say is not None:
            link = client.dashboard_link if dashboard_address is not None or scheduler else None
            where = scheduler or f"LocalCluster of {len(client.scheduler_info()['workers'])}" \
                                 " workers"
            say(f"dask: {where}" + (f"; dashboard {link}" if link else ""))
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ignore_sigint_plugin() -> Any:
    """A worker plugin: the worker process ignores SIGINT (set from its main thread)."""
    from distributed import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


def map_unordered(client: Any, fn: Callable[..., Any], items: Sequence[Any], *args: Any,
                  **kwargs: Any) -> Iterator[Any]:
    """``fn(*args, item, **kwargs)`` for every item as one task each; yields results as
    tasks finish (any order). Tasks lost with a dead worker are re-run by the scheduler.
    Closing the iterator early (an error, Ctrl-C) cancels the tasks not yet done."""
    from dask.distributed import as_completed

    futures = [client.submit(fn, *args, item, **kwargs, pure=False) for item in items]
    try:
        for fut in as_completed(futures):
            yield _result(fut)
    finally:
        client.cancel([f for f in futures if not f.done()])


def map_ordered(client: Any, fn: Callable[..., Any], items: Sequence[Any], *args: Any,
                finished: Callable[[int], None] | None = None, **kwargs: Any) -> list[Any]:
    """Like :func:`map_unordered` but returns the results in the order of ``items``;
    ``finished(i)`` when item i's task is done."""
    from dask.distributed import as_completed

    futures = [client.submit(fn, *args, item, **kwargs, pure=False) for item in items]
    index = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    try:
        for fut in as_completed(futures):
            i = index[fut.key]
            out[i] = _result(fut)
            if finished is not None:
                finished(i)
    finally:
        client.cancel([f for f in futures if not f.done()])
    return out


def _result(fut: Any) -> Any:
    from distributed import KilledWorker

    try:
        return fut.result()
    except KilledWorker as exc:
        raise UserError(f"dask: a task kept killing its workers and was given up ({exc})"
                        ) from None


def chunks(n: int, n_workers: int, per_worker: int = 4) -> list[tuple[int, int]]:
    """Split ``range(n)`` into about ``per_worker`` pieces per worker: (start, stop)."""
    size = max(1, math.ceil(n / max(1, n_workers * per_worker)))
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def n_workers(client: Any) -> int:
    return max(1, len(client.scheduler_info()["workers"]))


def _path(scene: Any) -> str | None:
    return str(scene.path) if scene.path else None


def scene_args(scene: Any) -> tuple[str, str | None]:
    """What a task needs to rebuild ``scene`` on a worker: its text and path."""
    return scene.text, _path(scene)


@functools.lru_cache(maxsize=8)
def scene_from_text(text: str, path: str | None) -> Scene:
    """A worker's copy of a scene sent as text, built once per process (lanes not built:
    tasks name their agents themselves)."""
    return Scene.from_text(text, Path(path) if path else None, build_lanes=False)
