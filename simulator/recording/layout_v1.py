"""The file side of one episode in layout v1: a group ``/episode_{k}`` holding its own
datasets (about twenty per episode), and its salvage record. New recordings use layout
v2 (:mod:`simulator.recording.layout_v2`); this one is kept to write v1 files on
request (``format_version=1``: the benchmark's side-by-side figures, tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from simulator.recording import salvage
from simulator.recording.blocks import Block
from simulator.recording.hdf5 import (
    BYTE_TYPE,
    DatasetFactory,
    as_rows,
    chunk_list,
    new_group,
    set_attrs,
)


class EpisodeGroupFile:
    """The file side of one episode: its group ``/episode_{k}`` and datasets. Its methods run
    wherever the recording's h5py work runs (:class:`FileWorker`), never elsewhere."""

    def __init__(self, name: str):
        self.name = name
        self.group: Any = None
        self._groups: dict[str, Any] = {}
        self._datasets: dict[str, Any] = {}
        self._metrics: set[str] = set()
        # For the salvage record (simulator.salvage): the attributes as set, the rows of
        # compact datasets (kept, not copied: nobody writes to them any more) and the
        # metrics' handles.
        self._attrs: dict[str, str | int | float] = {}
        self._inline: dict[str, np.ndarray] = {}
        self._metric_ids: dict[str, Any] = {}
        self._dtypes: dict[str, np.dtype] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}  # rows written so far
        self._chunks: dict[str, tuple[int, ...]] = {}

    def create(self, root: Any, attrs: Mapping[str, str | int | float]) -> None:
        self.group = new_group(root, self.name)
        self._groups[""] = self.group
        set_attrs(self.group, fresh=True, **attrs)
        self._attrs = dict(attrs)

    def _create(self, factory: DatasetFactory, parent: Any, path: str, rows: np.ndarray,
                final: bool, chunk_rows: int | None = None, cache: bool = True) -> Any:
        """``factory.create`` of dataset ``path`` (its last name under ``parent``), keeping
        a compact dataset's rows for the salvage record."""
        if factory.compact(rows, final):
            self._inline[path] = as_rows(rows)
        else:
            self._chunks[path] = factory.chunks(rows, chunk_rows)
        self._dtypes[path] = rows.dtype  # as given: h5py's own carries metadata
        self._shapes[path] = rows.shape
        return factory.create(parent, path.rpartition("/")[2], rows, final, chunk_rows, cache)

    def _append(self, factory: DatasetFactory, path: str, dsid: Any, rows: np.ndarray
                ) -> None:
        factory.append(dsid, rows)
        shape = self._shapes[path]
        self._shapes[path] = (shape[0] + rows.shape[0],) + shape[1:]

    def _parent(self, path: str) -> Any:
        group = self._groups.get(path)
        if group is None:
            parent, _, name = path.rpartition("/")
            group = self._groups[path] = new_group(self._parent(parent), name)
        return group

    def write(self, factory: DatasetFactory, block: Block, events: np.ndarray | None,
              final: bool, total_steps: int) -> None:
        """Create or extend every dataset with ``block``'s rows and ``events``' rows."""
        chunk_rows = None if final else block.capacity
        for path, rows in block.arrays().items():
            dsid = self._datasets.get(path)
            if dsid is None:
                self._datasets[path] = self._create(factory, self._parent(path.rpartition("/")[0]),
                                                    path, rows, final, chunk_rows)
            else:
                self._append(factory, path, dsid, rows)
        self.events(factory, events, total_steps, final)

    def events(self, factory: DatasetFactory, events: np.ndarray | None, total_steps: int,
               final: bool = True) -> None:
        """Create or extend the events table with ``events``' rows (if any); set
        ``total_steps``."""
        if events is not None:
            dsid = self._datasets.get("events")
            if dsid is None:
                self._datasets["events"] = self._create(factory, self.group, "events", events,
                                                        final, chunk_rows=64)
            else:
                self._append(factory, "events", dsid, events)
        set_attrs(self.group, total_steps=total_steps)
        self._attrs["total_steps"] = total_steps

    def stream(self, factory: DatasetFactory, parts: Mapping[str, np.ndarray],
               capacity: int) -> None:
        """Create or extend state datasets with rows streamed ahead of their block, whole
        chunks at a time."""
        for path, rows in parts.items():
            dsid = self._datasets.get(path)
            if dsid is None:
                self._datasets[path] = self._create(factory, self._parent(path.rpartition("/")[0]),
                                                    path, rows, False, capacity, cache=False)
            else:
                self._append(factory, path, dsid, rows)

    def add_metrics(self, factory: DatasetFactory, series: Mapping[str, np.ndarray]) -> None:
        group = self._parent("metrics")
        for name, rows in series.items():
            if name in self._metrics:
                group.unlink(name.encode())
                self._inline.pop(f"metrics/{name}", None)
            self._metric_ids[name] = self._create(factory, group, f"metrics/{name}", rows,
                                                  final=True)
            self._metrics.add(name)

    def mark(self, status: str, outcome: str | None) -> None:
        set_attrs(self.group, status=status)
        if outcome is not None:
            set_attrs(self.group, outcome=outcome)

    def add_salvage(self, root: tuple[str, bytes], fd: int, status: str,
                    outcome: str | None) -> None:
        """Add the episode's salvage record (:mod:`simulator.salvage`) as it will be once
        marked ``status``: its rows must be flushed already (chunks are read back from the
        file descriptor ``fd`` to checksum them)."""
        attrs = dict(self._attrs, status=status)
        if outcome is not None:
            attrs["outcome"] = outcome
        record = salvage.RecordBuilder(root[0], root[1], self.name, attrs)
        handles = dict(self._datasets)
        handles.update((f"metrics/{name}", dsid) for name, dsid in self._metric_ids.items())
        for path, dsid in handles.items():
            rows = self._inline.get(path)
            if rows is None:
                record.chunked(path, self._dtypes[path], self._shapes[path],
                               self._chunks[path], chunk_list(dsid, fd))
            else:
                record.compact(path, rows)
        for part, frame in enumerate(record.frames()):
            h5py.h5a.create(self.group, salvage.attr_name(part).encode(), BYTE_TYPE,
                            h5py.h5s.create_simple(frame.shape)).write(frame)

    def close(self) -> None:
        """Drop the HDF5 handles (the datasets close; the file stays open)."""
        self._datasets.clear()
        self._groups.clear()
        self._inline.clear()
        self._metric_ids.clear()
        self._dtypes.clear()
        self._shapes.clear()
        self._chunks.clear()
        self.group = None


