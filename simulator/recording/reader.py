"""Reading recordings: :class:`Recording` (root attributes, episodes, ``check``) and
:class:`Episode` (attributes and arrays), for layout v1 (one group per episode) and v2
(shared tables indexed by episode segments); the reader dispatches on
``format_version``.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from agents.registry import AgentSpec
from simulator import __version__
from simulator.core.errors import UserError
from simulator.recording.codec import agent_from_dict
from simulator.recording.format import (
    AGENTS,
    BLOCK_BYTES,
    FORMAT,
    READ_VERSIONS,
    STATUS_RUNNING,
    agent_keys,
    decode_attr,
    first_line,
)
from simulator.recording.index import Index
from simulator.scene import Scene
from simulator.session import Event, Session
from simulator.worlds import get_driver


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
        if version not in READ_VERSIONS:
            file.close()
            raise UserError(
                f"{path}: recorded in format v{version} by steersim "
                f"{attrs.get('steersim_version', '?')}; this steersim ({__version__}) reads up"
                f" to v{max(READ_VERSIONS)}: upgrade steersim")
        self.format_version = int(version)
        self._scene: Scene | None = None
        self._index: Index | None = None
        if self.format_version == 1:
            names = [name for name in file if name.startswith("episode_")]
            self._names = sorted(names, key=lambda n: int(n.rpartition("_")[2])
                                 if n.rpartition("_")[2].isdigit() else 1 << 62)
        else:
            try:
                self._index = Index(file)
            except BaseException:
                file.close()
                raise
            self._names = [f"episode_{k}" for k in range(self._index.n_episodes)]

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
            out[key] = decode_attr(key, value)
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
            if self._index is not None:
                self._index.check(self.path)
            self.scene()

    # --- episodes --------------------------------------------------------------------------
    @property
    def episodes(self) -> list[Episode]:
        return [self._episode(name) for name in self._names]

    def _episode(self, name: str) -> Episode:
        if self._index is None:
            return EpisodeV1(self, self.file[name])
        return EpisodeV2(self, name, self._index)

    def __iter__(self) -> Iterator[Episode]:
        return iter(self.episodes)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, key: int | str) -> Episode:
        """Episode by position (0, 1, ...) or by group name (``episode_3``)."""
        if isinstance(key, str):
            if key not in self._names:
                raise KeyError(f"{self.path}: no {key}")
            return self._episode(key)
        return self._episode(self._names[key])


_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError)


def _check_group(group: h5py.Group, path: Path) -> None:
    """Read ``group``'s attributes and, recursively, every member (see Recording.check)."""
    try:
        _read_attrs(group)
        names = list(group)
    except _READ_ERRORS as exc:
        raise UserError(f"{path}: damaged recording: {group.name}: {first_line(exc)}"
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
            raise UserError(f"{path}: damaged recording: {where}: {first_line(exc)}"
                            ) from None
        if isinstance(obj, h5py.Group):
            _check_group(obj, path)


def _read_attrs(obj: h5py.HLObject) -> None:
    for key, value in obj.attrs.items():
        decode_attr(key, value)  # JSON attributes must parse, too


def _read_dataset(ds: h5py.Dataset) -> None:
    """Read ``ds`` whole, a few MiB at a time (decompressing every chunk)."""
    if not ds.shape:
        ds[()]  # noqa: B018
        return
    row_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
    rows = max(1, BLOCK_BYTES // max(1, row_bytes))
    for start in range(0, ds.shape[0], rows):
        ds[start:start + rows]  # noqa: B018



class Episode:
    """One recorded episode: copy 0 of one lane in one run (``episode_{k}``).

    Arrays come back as NumPy arrays: state fields (N+1, ...), actions (N, A, ...),
    rewards (N, A), terminations / truncations (N,) bool, where N = :attr:`n_steps`.
    The same API reads both layouts: :class:`EpisodeV1` (a group ``/episode_{k}``) and
    :class:`EpisodeV2` (rows in shared tables, found through the index).
    """

    recording: Recording
    name: str

    # --- what a layout provides ------------------------------------------------------------
    def _attr(self, key: str, default: Any = None) -> Any:
        raise NotImplementedError

    def paths(self, prefix: str) -> list[str]:
        """The episode's dataset paths under ``prefix`` (``state/``, ``agent/``,
        ``metrics/``), in recording order."""
        raise NotImplementedError

    def has(self, path: str) -> bool:
        """Whether the episode has rows of dataset ``path`` (``state/cell``, ``actions``)."""
        raise NotImplementedError

    def length(self, path: str) -> int:
        """Rows of ``path`` readable (0 if it has none)."""
        raise NotImplementedError

    def rows(self, path: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start, stop) of dataset ``path`` (all of them by default)."""
        raise NotImplementedError

    # --- attributes --------------------------------------------------------------------
    def _attr_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute of the episode (JSON ones decoded; salvage records left out),
        as layout v1 names them whatever the layout."""
        return {key: self._attr(key) for key in self._attr_names()}

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
        fields = self.paths("state/")
        n_state = min((self.length(path) for path in fields), default=0)
        if not self.has("actions"):
            return 0
        return max(0, min(n_state - 1, self.length("actions")))

    @property
    def total_steps(self) -> int:
        return int(self._attr("total_steps", 0))

    # --- arrays ----------------------------------------------------------------------------
    @property
    def state_fields(self) -> list[str]:
        return [path.removeprefix("state/") for path in self.paths("state/")]

    def state_rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Copy 0's state rows [start, stop) (clipped to 0..N+1): field -> (n, ...)."""
        stop = min(stop, self.n_steps + 1)
        return {path.removeprefix("state/"): self.rows(path, start, stop)
                for path in self.paths("state/")}

    def state_at(self, t: int) -> dict[str, np.ndarray]:
        """Copy 0's full state at step ``t`` (0 = initial, N = final): field → array."""
        n = self.n_steps
        if not 0 <= t <= n:
            raise IndexError(f"{self.name}: step {t} outside 0..{n}")
        return {name: rows[0] for name, rows in self.state_rows(t, t + 1).items()}

    def world_state_at(self, t: int) -> Any:
        """The state at step ``t`` as the world's own state object with one copy (E = 1),
        ready for a renderer or a Session."""
        state_type = get_driver(self.recording.world).state_type
        return state_type(**{name: value[None] for name, value in self.state_at(t).items()})

    def states(self, field: str) -> np.ndarray:
        """(N+1, ...) values of one state field over the episode."""
        return self.rows(f"state/{field}", 0, self.n_steps + 1)

    def _steps(self, path: str) -> np.ndarray:
        if not self.has(path):
            return np.zeros(0)
        return self.rows(path, 0, self.n_steps)

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
        out: dict[str, dict[str, np.ndarray]] = {}
        for path in self.paths("agent/"):
            _, key, name = path.split("/", 2)
            out.setdefault(key, {})[name] = self.rows(path, 0, self.n_steps)
        return out

    def events(self) -> list[Event]:
        """The episode's perturbation log (scene schedule, user, noise), in logged order."""
        if not self.has("events"):
            return []
        return [
            Event(int(row["step"]), row["kind"].decode(), int(row["target"]),
                  tuple(float(p) for p in row["params"]), int(row["lane"]), int(row["copy"]),
                  row["source"].decode())  # type: ignore[arg-type]
            for row in self.rows("events")
        ]

    def metrics(self) -> dict[str, np.ndarray]:
        """Per-step metric series: name → (T, ...); row t is the value at step t."""
        return {path.removeprefix("metrics/"): self.rows(path)
                for path in self.paths("metrics/")}

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


class EpisodeV1(Episode):
    """An episode of layout v1: the group ``/episode_{k}`` and its datasets."""

    def __init__(self, recording: Recording, group: h5py.Group):
        self.recording = recording
        self.group = group
        self.name = group.name.lstrip("/")

    def _attr(self, key: str, default: Any = None) -> Any:
        if key not in self.group.attrs:
            return default
        return decode_attr(key, self.group.attrs[key])

    def _attr_names(self) -> list[str]:
        return [key for key in self.group.attrs if not key.startswith("salvage")]

    def paths(self, prefix: str) -> list[str]:
        group = self.group.get(prefix.rstrip("/"))
        if group is None:
            return []
        if prefix == "agent/":
            return [f"agent/{key}/{name}" for key, sub in group.items() for name in sub]
        out = []
        for name, ds in group.items():
            if ds is None:  # h5py's answer for an unreadable object header
                raise OSError(f"{self.name}/{prefix}{name}: cannot be opened")
            out.append(f"{prefix}{name}")
        return out

    def has(self, path: str) -> bool:
        return path in self.group

    def length(self, path: str) -> int:
        return int(self.group[path].shape[0]) if path in self.group else 0

    def rows(self, path: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        ds = self.group[path]
        if stop is None and start == 0:
            return ds[()]
        return ds[start:stop]


class EpisodeV2(Episode):
    """An episode of layout v2: index row k, its segments in the shared tables (a small
    dataset's rows may be a field of a packed table)."""

    def __init__(self, recording: Recording, name: str, index: Index):
        self.recording = recording
        self.name = name
        self._index = index
        self._k = int(name.rpartition("_")[2])
        self._attrs = index.attrs(self._k)
        self._layout = index.layout(self._k)
        # dataset path -> (table path, its field or None, agent index or None)
        self._where: dict[str, tuple[str, str | None, int | None]] = {}
        keys = self.agent_keys
        for key, segments in self._layout.items():
            fields = index.fields(segments[0][0]) if segments else None
            for field in fields or [key]:
                if field.startswith(AGENTS):  # every agent's internal, agents stacked
                    name = field.removeprefix(AGENTS)
                    for a, agent in enumerate(keys):
                        self._where[f"agent/{agent}/{name}"] = (key, field, a)
                else:
                    self._where[field] = (key, field if fields else None, None)
        self._last: tuple[tuple[str, int, int], np.ndarray] | None = None

    def _attr(self, key: str, default: Any = None) -> Any:
        if key not in self._attrs:
            return default
        return decode_attr(key, self._attrs[key])

    def _attr_names(self) -> list[str]:
        return list(self._attrs)

    def paths(self, prefix: str) -> list[str]:
        return [path for path in self._where if path.startswith(prefix)]

    def has(self, path: str) -> bool:
        return path in self._where

    def length(self, path: str) -> int:
        if path not in self._where:
            return 0
        n = 0
        for _, _, start, k in self._layout[self._where[path][0]]:
            if start != n:
                break  # a gap: only the rows before it are readable
            n += k
        return n

    def rows(self, path: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        key, field, agent = self._where[path]
        n = self.length(path)
        stop = n if stop is None else min(stop, n)
        start = min(max(start, 0), stop)
        if self._last is not None and self._last[0] == (key, start, stop):
            table_rows = self._last[1]  # the packed rows read for the field before
        else:
            table_rows = self._table_rows(key, start, stop)
            if field is not None:
                self._last = ((key, start, stop), table_rows)
        if field is None:
            return table_rows
        values = table_rows[field]
        return np.ascontiguousarray(values if agent is None else values[:, agent])

    def _table_rows(self, key: str, start: int, stop: int) -> np.ndarray:
        segments = self._layout[key]
        parts = []
        for tid, row, first, k in segments:
            a, b = max(start, first), min(stop, first + k)
            if a < b:
                parts.append(self._index.dataset(tid)[row + a - first:row + b - first])
        if len(parts) == 1:
            return parts[0]
        if not parts:
            ds = self._index.dataset(segments[0][0])
            return np.zeros((0,) + ds.shape[1:], ds.dtype)
        return np.concatenate(parts)
