"""A job on a daemon thread, with a cancel flag: what the Train dialog and the outcome
study run their compiled work on, so the window keeps painting."""

from __future__ import annotations

import threading


class BackgroundJob:
    """Subclasses implement ``_run`` (on the worker thread) and check ``cancelled``."""

    def __init__(self, name: str) -> None:
        self.cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s; True if the job has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
