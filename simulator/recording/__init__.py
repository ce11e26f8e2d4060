"""HDF5 recordings: ``steersim record``'s writer, the reader API, ``verify`` and
``recover`` (layout: ``docs/recording-format.md``; DESIGN.md, "HDF5 recording layout").

The modules, each importing only the ones above it::

    format      names, format versions, statuses, dtypes, JSON attributes (numpy only)
    salvage     salvage records: framing, building, scanning (numpy only)
    blocks      Block: one block of an episode's rows, as handed to the file (numpy only)
    hdf5        low-level h5py: datasets, groups, attributes, chunk lists
    layout_v1   the file side of one v1 episode (a group of datasets)
    layout_v2   the file side of a v2 recording (shared per-recording tables + index)
    files       FileSide (ops -> h5py) and FileWorker (inline or on a thread)
    server      the writer process: its pipe protocol and ``serve``
    codec       AgentSpec / Event <-> what the file stores
    capture     per-step row capture from a Session's states and traces into blocks
    process     the recorder's side of the writer process
    writer      RecordingWriter, EpisodeWriter, RunRecorder
    headless    the headless record loop (``record``, ``run_episodes``)
    index       layout v2's index read back (numpy and h5py only)
    reader      Recording, Episode: open, list episodes, read arrays (v1 and v2)
    verifier    re-simulate and compare bit for bit
    playback    paging through a recording's states (replay, presenter, reel)
    recovery    rebuild the finished episodes of a damaged file

The writer process imports ``simulator.recording.server``, which needs numpy and h5py
only; so this package's ``__init__`` imports nothing itself (as ``simulator/__init__``
does not) and hands out its public names on first use (:func:`__getattr__`): importing
``simulator.recording.server`` must not load numba, the engine or the agents.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS = {
    **dict.fromkeys(
        ("FORMAT", "FORMAT_VERSION", "READ_VERSIONS", "STATUS_RUNNING", "STATUS_COMPLETE",
         "STATUS_INTERRUPTED", "COMPRESSIONS", "RecordingWriteError", "agent_keys",
         "episode_seed", "event_dtype"), "format"),
    **dict.fromkeys(("agent_from_dict", "agent_to_dict", "events_table"), "codec"),
    **dict.fromkeys(("writer_process_available", "prestart_writer_process",
                     "writer_process_start_seconds"), "process"),
    **dict.fromkeys(("EpisodeWriter", "RecordingWriter", "RunRecorder", "check_target"),
                    "writer"),
    **dict.fromkeys(("RECORDINGS_DIR", "RecordProgress", "RecordResult", "background_pays",
                     "default_output", "record", "run_episodes"), "headless"),
    **dict.fromkeys(("Episode", "Recording", "reading"), "reader"),
    **dict.fromkeys(("EpisodeCheck", "verify", "verify_episode"), "verifier"),
    **dict.fromkeys(("StatePager",), "playback"),
    **dict.fromkeys(("Lost", "RecoveryReport", "recover"), "recovery"),
}
__all__ = [
    "COMPRESSIONS",
    "Episode",
    "EpisodeCheck",
    "EpisodeWriter",
    "FORMAT",
    "FORMAT_VERSION",
    "Lost",
    "READ_VERSIONS",
    "RECORDINGS_DIR",
    "RecordProgress",
    "RecordResult",
    "Recording",
    "RecordingWriteError",
    "RecordingWriter",
    "RecoveryReport",
    "RunRecorder",
    "STATUS_COMPLETE",
    "STATUS_INTERRUPTED",
    "STATUS_RUNNING",
    "StatePager",
    "agent_from_dict",
    "agent_keys",
    "agent_to_dict",
    "background_pays",
    "check_target",
    "default_output",
    "episode_seed",
    "event_dtype",
    "events_table",
    "prestart_writer_process",
    "reading",
    "record",
    "recover",
    "run_episodes",
    "verify",
    "verify_episode",
    "writer_process_available",
    "writer_process_start_seconds",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the same names, for type checkers and readers
    from simulator.recording.codec import agent_from_dict, agent_to_dict, events_table
    from simulator.recording.format import (
        COMPRESSIONS,
        FORMAT,
        FORMAT_VERSION,
        READ_VERSIONS,
        STATUS_COMPLETE,
        STATUS_INTERRUPTED,
        STATUS_RUNNING,
        RecordingWriteError,
        agent_keys,
        episode_seed,
        event_dtype,
    )
    from simulator.recording.headless import (
        RECORDINGS_DIR,
        RecordProgress,
        RecordResult,
        background_pays,
        default_output,
        record,
        run_episodes,
    )
    from simulator.recording.playback import StatePager
    from simulator.recording.process import (
        prestart_writer_process,
        writer_process_available,
        writer_process_start_seconds,
    )
    from simulator.recording.reader import Episode, Recording, reading
    from simulator.recording.recovery import Lost, RecoveryReport, recover
    from simulator.recording.verifier import EpisodeCheck, verify, verify_episode
    from simulator.recording.writer import (
        EpisodeWriter,
        RecordingWriter,
        RunRecorder,
        check_target,
    )
