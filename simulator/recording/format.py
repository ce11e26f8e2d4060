"""Names, versions and constants of the recording format, shared by every other module
(numpy and the standard library only: the writer process imports it). See
``docs/recording-format.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from simulator.core.errors import UserError

FORMAT = "steersim"
FORMAT_VERSION = 2  # what new recordings are written as
READ_VERSIONS = (1, 2)  # what the reader reads

BLOCK_BYTES = 4 << 20  # in-memory rows per episode before one resize + write
# With a writer process, smaller blocks: the last one is written after the run ends, while
# the recorder waits, so it should be short work.
PROCESS_BLOCK_BYTES = 1 << 20
MAX_BLOCK_STEPS = 1024
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"
STATUS_CODES = {STATUS_RUNNING: 0, STATUS_COMPLETE: 1, STATUS_INTERRUPTED: 2}  # v2 index
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
COMPRESSIONS = ("lzf", "gzip")

# World status codes every driver shares (Session.done relies on 0 = running).
WORLD_RUNNING, WORLD_TERMINATED, WORLD_TRUNCATED = 0, 1, 2
CHUNK_BYTES = 256 << 10  # target size of one chunk of one dataset
COMPACT_BYTES = 4 << 10  # a whole-episode dataset this small is stored compact
QUEUE_BYTES = 64 << 20  # rows handed to the writer thread and not yet written, at most
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


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def agent_keys(names: Sequence[str]) -> list[str]:
    """Group names under ``agent/``: the agent's name, suffixed by its index if repeated."""
    return [name if names.count(name) == 1 else f"{name}_{a}" for a, name in enumerate(names)]




def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
def rows_per_chunk(row_bytes: int, limit: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Rows per chunk: as many as fit in ``chunk_bytes``, rounded down to a power of two
    (so chunks tile a block, whose rows are a power of two too), at most ``limit``."""
    fit = max(1, chunk_bytes // max(1, row_bytes))
    return max(1, min(1 << (fit.bit_length() - 1), limit))


def event_dtype(event_kinds: Sequence[str], n_params: int) -> np.dtype:
    """The compound row of an events table: step, kind (name), lane, copy, target,
    params (n_params,) float64, source (user / scene / noise)."""
    kind_len = max([8] + [len(kind) for kind in event_kinds])
    return np.dtype([("step", "<i4"), ("kind", f"S{kind_len}"), ("lane", "<i4"),
                     ("copy", "<i4"), ("target", "<i4"), ("params", "<f8", (n_params,)),
                     ("source", "S8")])

class RecordingWriteError(UserError):
    """Writing a recording failed (disk full, file removed, a bug): the first error met by
    the writer, raised once in the thread that drives the recording."""

def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def decode_attr(key: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and key in JSON_ATTRS:
        return json.loads(value)
    return value


JSON_ATTRS = {"agents", "outcome", "versions", "event_kinds"}


# --- layout v2: the index tables (simulator.recording.layout_v2) ---------------------------
EPISODE_DTYPE = np.dtype([("run", "<i4"), ("lane", "<i4"), ("seed", "<i8"),
                          ("n_copies", "<i4"), ("total_steps", "<i8"), ("status", "u1")])
SEGMENT_DTYPE = np.dtype([("episode", "<u4"), ("table", "<u2"), ("row", "<u8"),
                          ("start", "<u8"), ("n", "<u4")])
TABLE_CHUNK_BYTES = 16 << 10  # target chunk of a shared table (appends pad to whole chunks)
TABLE_MAX_CHUNK_ROWS = 1024
BULK_ROW_BYTES = 1 << 10  # a table of rows this wide gets CHUNK_BYTES chunks (as v1)
# Datasets whose rows are at most this many bytes are packed into one compound table per
# kind — the state fields, the step rows — written, indexed and salvaged as one.
PACK_ROW_BYTES = 256
PACK_STATE, PACK_STEPS = "state/.packed", ".steps"  # never a state field or agent key
PACK_METRICS = "metrics/.packed"
AGENTS = "agent/*/"  # a packed field of every agent's internal <name>: agent/*/<name>
PACKS = (PACK_STATE, PACK_STEPS, PACK_METRICS)
