"""``steersim verify``: re-simulate every episode from its seed, agents and event log and
compare every recorded row bit for bit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from simulator.recording.capture import StepRows
from simulator.recording.reader import Episode, Recording

_VERIFY_BLOCK = 512


def _mismatched_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bool (n,) per leading row: does any byte differ? Bitwise, so NaN == NaN and
    -0.0 != 0.0 — "bit-identical" means exactly that."""
    n = a.shape[0]
    if a.shape != b.shape or a.dtype != b.dtype:
        return np.ones(n, bool)
    bytes_a = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1)
    bytes_b = np.ascontiguousarray(b).view(np.uint8).reshape(n, -1)
    return np.any(bytes_a != bytes_b, axis=1)


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
    if not episode.paths("state/"):  # killed before its first block: nothing to compare
        return check
    session = episode.session()
    lane = session.lanes[0]
    rows = StepRows(lane.state.as_dict(), episode.agent_keys, _VERIFY_BLOCK + 1)
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
            if not episode.has(path):
                if len(simulated):
                    found.append(((t, 0), path, np.array("missing"), simulated[0]))
                continue
            start = first_state_row if is_state else t
            recorded = episode.rows(path, start, start + len(simulated))
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
