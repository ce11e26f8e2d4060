"""The file side of a layout-v2 recording: every episode's rows in shared tables.

Layout v1 gives each episode a group of about twenty datasets, and HDF5 needs 20-40 µs to
create each one, so a short episode cost the writer 1-2 ms whatever it held. In v2 the
objects are made once per recording: shared tables hold the rows of every episode, and an
index says which rows are whose (docs/recording-format.md, "Layout v2")::

    /episodes          (n_episodes,) EPISODE_DTYPE: run, lane, seed, n_copies,
                       total_steps, status (0 running, 1 complete, 2 interrupted)
    /episode_attrs     (n_episodes,) JSON text: lane_label, agents, distribution
    /episode_outcomes  (n_episodes,) JSON text: the outcome once finished, else ""
    /segments          (n_segments,) SEGMENT_DTYPE: episode, table, row, start, n —
                       rows [row, row + n) of the table are the episode's rows
                       [start, start + n); attribute ``tables``: JSON list of
                       [table name, table path, packed dataset paths or null]

A dataset whose rows are at most ``PACK_ROW_BYTES`` is a field of a packed compound
table: ``state/.packed`` (the small state fields), ``.steps`` (actions, rewards,
terminations, truncations and every agent's internals stacked as ``agent/*/<name>``),
``metrics/.packed``; a wider one (a thermal room, the metrics funnel) and ``events`` have
a table of their own under their path. One append then writes a block's state, another
its step rows.

Rows handed over (ops ``write``, ``stream``, ``events``, ``add_metrics``) are kept in
memory and written at the next flush (bulk rows streamed in: as soon as they fill whole
chunks), one append per table for everything pending: a run's episodes cost one HDF5
write per table. Each append starts on a chunk boundary and is padded with zero rows to
whole chunks (no segment points at the padding), so a chunk is written once and never
rewritten: the salvage record of a finished episode names chunks whose bytes stay as they
are. Chunks carry a Fletcher-32 checksum, so damage is a read error, never other rows.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from simulator.recording import salvage
from simulator.recording.blocks import Block
from simulator.recording.format import (
    AGENTS,
    BULK_ROW_BYTES,
    CHUNK_BYTES,
    EPISODE_DTYPE,
    PACK_METRICS,
    PACK_ROW_BYTES,
    PACK_STATE,
    PACK_STEPS,
    PACKS,
    SEGMENT_DTYPE,
    STATUS_CODES,
    TABLE_CHUNK_BYTES,
    TABLE_MAX_CHUNK_ROWS,
    rows_per_chunk,
)
from simulator.recording.hdf5 import BYTE_TYPE, DatasetFactory, new_group

_INDEX_CHUNK_ROWS = 256  # rows per chunk of the index tables
SOFT_FLUSH_BYTES = 1 << 20  # pending rows a soft flush writes (fewer wait for a hard one)
_STR_DTYPE = h5py.string_dtype()


def _agents_stacked(arrays: dict[str, np.ndarray], agent_keys: list[str]
                    ) -> dict[str, np.ndarray]:
    """``arrays`` with each agent internal ``agent/<key>/<name>`` of every agent of the
    lane stacked as ``agent/*/<name>`` (n, A, ...), agents in lane order: lanes whose
    agents differ in name but not in number then share one packed table."""
    out: dict[str, np.ndarray] = {}
    stacks: dict[str, list[np.ndarray]] = {}
    for path, rows in arrays.items():
        if path.startswith("agent/"):
            stacks.setdefault(AGENTS + path.split("/", 2)[2], []).append(rows)
        else:
            out[path] = rows
    for path, rows in stacks.items():
        if len(rows) == len(agent_keys):
            out[path] = np.stack(rows, axis=1)
        else:  # not one per agent (cannot happen from a Block): keep them apart
            name = path.removeprefix(AGENTS)
            out.update((f"agent/{key}/{name}", arrays[f"agent/{key}/{name}"])
                       for key in agent_keys)
    return out


def _packed(members: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Rows of several datasets as one compound array, a field per dataset path."""
    n = len(members[0][1])
    dtype = np.dtype([(path, rows.dtype, rows.shape[1:]) for path, rows in members])
    out = np.empty(n, dtype)
    for path, rows in members:
        out[path] = rows
    return out


class _Table:
    """One shared table: its dataset (created with its first rows), chunk rows, rows
    written and rows waiting for the next flush."""

    def __init__(self, tid: int, name: str, path: str, dtype: np.dtype,
                 row: tuple[int, ...]):
        self.tid, self.name, self.path = tid, name, path
        # A packed table (PACK_STATE, PACK_STEPS): the dataset paths of its fields.
        self.fields = list(dtype.names) if path in PACKS else None
        self.dtype, self.row = dtype, row
        row_bytes = self.row_bytes = dtype.itemsize * int(np.prod(row, dtype=np.int64))
        # Small chunks where appends are small (padding a chunk costs little); a bulk
        # field's (a thermal room) chunks as large as v1's, so few chunks per row written.
        chunk_bytes = CHUNK_BYTES if row_bytes >= BULK_ROW_BYTES else TABLE_CHUNK_BYTES
        self.chunk = rows_per_chunk(row_bytes, TABLE_MAX_CHUNK_ROWS, chunk_bytes)
        self.dsid: Any = None
        self.n = 0  # rows in the dataset (padding included)
        self.pending: list[np.ndarray] = []
        self.n_pending = 0
        self.chunk_info: dict[int, list[int]] = {}  # chunk index -> salvage chunk entry

    def chunks_of(self, start: int, n: int, fd: int) -> list[list[int]]:
        """[address, size, filter mask, crc32, *offset] of every chunk holding table rows
        [start, start + n); each is written once, so what was read stays true."""
        out: list[list[int]] = []
        if not self.row_bytes:
            return out  # rows of zero bytes: HDF5 stores no chunk
        zeros = (0,) * len(self.row)
        for ci in range(start // self.chunk, (start + n - 1) // self.chunk + 1):
            entry = self.chunk_info.get(ci)
            if entry is None:
                offset = (ci * self.chunk,) + zeros
                info = self.dsid.get_chunk_info_by_coord(offset)
                data = os.pread(fd, info.size, info.byte_offset)
                entry = [info.byte_offset, info.size, info.filter_mask, zlib.crc32(data),
                         *offset]
                if len(self.chunk_info) > 4096:
                    self.chunk_info.clear()
                self.chunk_info[ci] = entry
            out.append(entry)
        return out


class _IndexTable:
    """One index table, written through HDF5's low-level API (a few writes per flush,
    where h5py's ``ds[a:b] = ...`` would cost several times more)."""

    def __init__(self, ds: h5py.Dataset, dtype: Any):
        self.ds = ds
        self.dsid = ds.id
        self.dtype = dtype
        # Fixed-size rows: the memory type made once (h5py would make one per write);
        # text is left to h5py's own conversion.
        self.mtype = None if np.dtype(dtype).kind == "O" else h5py.h5t.py_create(dtype)
        self.n = 0

    def write(self, start: int, values: Any) -> None:
        rows = np.asarray(values, dtype=self.dtype)
        end = start + len(rows)
        if not len(rows):
            return
        if end > self.n:
            self.dsid.set_extent((end,))
            self.n = end
        space = self.dsid.get_space()
        space.select_hyperslab((start,), (len(rows),))
        self.dsid.write(h5py.h5s.create_simple((len(rows),)), space, rows, mtype=self.mtype)


class _Episode:
    """What the writer keeps of one episode: its index row, rows per path so far, and
    its segments (table id, table row, episode row, n) once written."""

    def __init__(self, k: int):
        self.k = k
        self.rows: dict[str, int] = {}  # dataset path -> episode rows handed over
        self.segments: list[tuple[int, int, int, int]] = []
        self.attrs: dict[str, Any] = {}
        self.metrics: dict[str, np.ndarray] = {}  # series stored so far (add_metrics)


class TableFile:
    """Layout v2's file side (see the module notes), driven by :class:`FileSide`'s ops."""

    def __init__(self, file: h5py.File, factory: DatasetFactory):
        self.file = file
        self.factory = factory
        self.tables: list[_Table] = []
        self._by_key: dict[tuple[str, str, tuple[int, ...]], _Table] = {}
        self._names: set[str] = set()
        self._groups: dict[str, Any] = {"": file.id}
        self.episodes: dict[str, _Episode] = {}  # by name, until marked
        self._index = np.zeros(0, EPISODE_DTYPE)  # every episode's index row
        self._n_index = 0
        self._attrs_json: list[str] = []
        self._outcomes: list[str] = []
        self._dirty: list[int] = []  # index rows changed since the last flush
        self._steps_dirty: list[int] = []  # rows whose total_steps only changed
        self._n_attrs_written = 0
        self._segments: list[tuple[_Episode, _Table, int, int]] = []  # (ep, table, start, n)
        self._n_segments = 0
        self._index_ds: dict[str, _IndexTable] = {}
        self.changed = False  # the file changed since the last flush
        self._tables_listed = 0

    # --- ops ---------------------------------------------------------------------------
    def create(self, name: str, attrs: Mapping[str, Any]) -> None:
        k = int(name.rpartition("_")[2])
        if k != self._n_index:
            raise ValueError(f"{name}: episodes are created in order (expected"
                             f" episode_{self._n_index})")
        episode = self.episodes[name] = _Episode(k)
        episode.attrs = dict(attrs)
        if k >= len(self._index):
            grown = np.zeros(max(64, 2 * len(self._index)), EPISODE_DTYPE)
            grown[:len(self._index)] = self._index
            self._index = grown
        self._n_index = k + 1
        row = self._index[k]
        for key in ("run", "lane", "seed", "n_copies", "total_steps"):
            row[key] = int(attrs.get(key, 0))
        row["status"] = STATUS_CODES[str(attrs.get("status", "running"))]
        static = {key: value for key, value in attrs.items()
                  if key not in EPISODE_DTYPE.names}
        self._attrs_json.append(json.dumps(static))
        self._outcomes.append("")
        self._dirty.append(k)

    def put(self, name: str, path: str, rows: np.ndarray, replace: bool = False) -> None:
        """Append ``rows`` (n, ...) to episode ``name``'s rows of ``path``; ``replace``:
        they replace the rows handed over before (a metric stored again)."""
        episode = self.episodes[name]
        rows = np.ascontiguousarray(rows)
        table = self._table(path, rows.dtype, rows.shape[1:])
        start = 0 if replace else episode.rows.get(path, 0)
        if len(rows) == 0 and path in episode.rows and not replace:
            return  # nothing to add: only an episode's first rows of a path may be none
        episode.rows[path] = start + len(rows)
        table.pending.append(rows)
        table.n_pending += len(rows)
        self._segments.append((episode, table, start, len(rows)))

    def write(self, name: str, block: Block, events: np.ndarray | None, final: bool,
              total_steps: int) -> None:
        packs: dict[str, list[tuple[str, np.ndarray]]] = {}
        for path, rows in _agents_stacked(block.arrays(), block.agent_keys).items():
            row_bytes = rows.itemsize * int(np.prod(rows.shape[1:], dtype=np.int64))
            # (HDF5 has no compound field of a zero-sized shape: such rows stay apart.)
            if 0 < row_bytes <= PACK_ROW_BYTES and rows.dtype.fields is None:
                packs.setdefault(PACK_STATE if path.startswith("state/") else PACK_STEPS,
                                 []).append((path, rows))
            else:
                self.put(name, path, rows)
        for key, members in packs.items():
            self.put(name, key, _packed(members))
        self.events(name, events, total_steps)

    def events(self, name: str, events: np.ndarray | None, total_steps: int,
               final: bool = True) -> None:
        if events is not None:
            self.put(name, "events", events)
        episode = self.episodes[name]
        episode.attrs["total_steps"] = total_steps
        self._index[episode.k]["total_steps"] = total_steps
        self._steps_dirty.append(episode.k)  # written with the rows (a hard flush)

    def stream(self, name: str, parts: Mapping[str, np.ndarray], capacity: int) -> None:
        """Rows of bulk state fields handed over a chunk at a time, ahead of their block:
        written at once when they fill whole chunks, so their compression overlaps the
        run as it does in v1."""
        for path, rows in parts.items():
            self.put(name, path, rows)
        self._write_tables([table for table in self.tables
                            if table.n_pending and table.n_pending % table.chunk == 0])

    def add_metrics(self, name: str, series: Mapping[str, np.ndarray]) -> None:
        """Store metric series (a name stored again is replaced): packed into one table
        when they are all of one length and small rows, else one table each."""
        episode = self.episodes[name]
        episode.metrics.update(series)
        merged = {f"metrics/{metric}": np.ascontiguousarray(rows)
                  for metric, rows in episode.metrics.items()}
        small = {path: rows for path, rows in merged.items()
                 if 0 < rows.itemsize * int(np.prod(rows.shape[1:], dtype=np.int64))
                 <= PACK_ROW_BYTES and rows.dtype.fields is None and rows.ndim >= 1}
        if len(small) < 2 or len({len(rows) for rows in small.values()}) != 1:
            small = {}
        if small:
            self.put(name, PACK_METRICS, _packed(list(small.items())), replace=True)
        for metric, rows in series.items():
            if f"metrics/{metric}" not in small:
                self.put(name, f"metrics/{metric}", rows, replace=True)

    def mark(self, name: str, status: str, outcome: str | None,
             root: tuple[str, bytes] | None = None, fd: int = -1) -> None:
        """Mark episode ``name`` finished and (given ``root``) add its salvage record; its
        rows are flushed already (:class:`FileSide` flushes before every mark)."""
        episode = self.episodes.pop(name)
        if any(ep is episode for ep, *_ in self._segments):
            self.flush_pending()  # rows handed over after the last flush: write them first
        self._index[episode.k]["status"] = STATUS_CODES[status]
        episode.attrs["status"] = status
        if outcome is not None:
            self._outcomes[episode.k] = outcome
            episode.attrs["outcome"] = outcome
        self._dirty.append(episode.k)
        if root is not None:
            self._add_salvage(episode, root, fd)

    # --- tables --------------------------------------------------------------------------
    def _table(self, path: str, dtype: np.dtype, row: tuple[int, ...]) -> _Table:
        key = (path, dtype.str if dtype.fields is None else str(dtype.descr), row)
        table = self._by_key.get(key)
        if table is None:
            name, i = path, 1
            while name in self._names:  # a second dtype or row shape for this path
                name, i = f"{path}@{i}", i + 1
            table = _Table(len(self.tables), name, path, dtype, row)
            self.tables.append(table)
            self._by_key[key] = table
            self._names.add(name)
        return table

    def _parent(self, path: str) -> Any:
        group = self._groups.get(path)
        if group is None:
            up, _, name = path.rpartition("/")
            group = self._groups[path] = new_group(self._parent(up), name)
        return group

    def _append_table(self, table: _Table) -> int:
        """Write ``table``'s pending rows, padded to whole chunks; returns their first
        row in the table."""
        rows = (table.pending[0] if len(table.pending) == 1
                else np.concatenate(table.pending))
        table.pending, table.n_pending = [], 0
        n = len(rows)
        padded = -(-n // table.chunk) * table.chunk
        if padded != n:
            full = np.zeros((padded,) + rows.shape[1:], rows.dtype)
            full[:n] = rows
            rows = full
        start = table.n
        if table.dsid is None:
            up, _, leaf = table.name.rpartition("/")
            table.dsid = self.factory.create(self._parent(up), leaf, rows,
                                             chunk_rows=table.chunk, cache=False)
        else:
            self.factory.append(table.dsid, rows)
        table.n = start + padded
        self.changed = True
        return start

    def _index_table(self, name: str, dtype: Any) -> _IndexTable:
        """The index table ``name`` (created on first use)."""
        table = self._index_ds.get(name)
        if table is None:
            kwargs = {} if dtype is _STR_DTYPE else {"compression": "lzf", "shuffle": True,
                                                      "fletcher32": True}
            ds = self.file.create_dataset(name, (0,), dtype=dtype, maxshape=(None,),
                                          chunks=(_INDEX_CHUNK_ROWS,), **kwargs)
            table = self._index_ds[name] = _IndexTable(ds, dtype)
        return table

    def flush_pending(self, everything: bool = True) -> None:
        """Write the pending rows (one append per table), their segments and the index
        rows changed. Not ``everything`` (a soft flush): the index, and the rows only once
        ``SOFT_FLUSH_BYTES`` wait — a run's episodes are then written with one append per
        table at the hard flush before they are marked, not one per lane that stops."""
        pending = sum(table.n_pending * table.row_bytes for table in self.tables)
        if self._segments and (everything or pending >= SOFT_FLUSH_BYTES):
            # A soft flush writes only the tables with a whole chunk waiting (bulk state
            # streamed in), so the small ones are not padded at every flush.
            self._write_tables([table for table in self.tables if table.n_pending and (
                everything or table.n_pending >= table.chunk)])
        self._write_index(everything)

    def _write_tables(self, tables: list[_Table]) -> None:
        """Append the pending rows of ``tables`` and write their segments (and the empty
        segments waiting, which need no rows)."""
        if tables or any(not item[3] for item in self._segments):
            offsets = {table.tid: self._append_table(table) for table in tables}
            written, kept = [], []
            for item in self._segments:  # an empty one (no events yet) needs no rows
                (written if item[1].tid in offsets or not item[3] else kept).append(item)
            self._segments = kept
            seg = np.zeros(len(written), SEGMENT_DTYPE)
            for i, (episode, table, start, n) in enumerate(written):
                row = offsets.get(table.tid, table.n)
                offsets[table.tid] = row + n
                seg[i] = (episode.k, table.tid, row, start, n)
                episode.segments.append((table.tid, row, start, n))
            segments = self._index_table("segments", SEGMENT_DTYPE)
            segments.write(self._n_segments, seg)
            self._n_segments += len(seg)
            self.changed = True
            if self._tables_listed != len(self.tables):
                for table in self.tables:
                    if table.dsid is None:  # only empty rows so far: an empty table
                        up, _, leaf = table.name.rpartition("/")
                        table.dsid = self.factory.create(
                            self._parent(up), leaf, np.zeros((0,) + table.row, table.dtype),
                            chunk_rows=table.chunk, cache=False)
                segments.ds.attrs["tables"] = json.dumps([[t.name, t.path, t.fields]
                                                          for t in self.tables])
                self._tables_listed = len(self.tables)

    def _write_index(self, everything: bool) -> None:
        """Write the index rows changed (with ``everything``, those whose total_steps
        alone changed, too)."""
        if everything and self._steps_dirty:
            self._dirty += self._steps_dirty
            self._steps_dirty = []
        if self._dirty:
            lo, hi = min(self._dirty), max(self._dirty) + 1
            self._dirty = []
            n = self._n_index
            self.changed = True
            self._index_table("episodes", EPISODE_DTYPE).write(lo, self._index[lo:hi])
            attrs = self._index_table("episode_attrs", _STR_DTYPE)
            outcomes = self._index_table("episode_outcomes", _STR_DTYPE)
            if self._n_attrs_written < n:
                attrs.write(self._n_attrs_written, self._attrs_json[self._n_attrs_written:n])
                outcomes.write(self._n_attrs_written, [""] * (n - self._n_attrs_written))
                self._n_attrs_written = n
            changed = [k for k in range(lo, hi) if self._outcomes[k]]
            if changed:
                a, b = min(changed), max(changed) + 1
                outcomes.write(a, self._outcomes[a:b])

    # --- salvage -------------------------------------------------------------------------
    def _add_salvage(self, episode: _Episode, root: tuple[str, bytes], fd: int) -> None:
        """The episode's salvage record (:mod:`simulator.recording.salvage`), as an
        attribute ``episode_{k}`` (parts ``episode_{k}_1``, ...) of the group
        ``/salvage``: per table, the episode's segments and the chunks holding them."""
        record = salvage.RecordBuilder(root[0], root[1], f"episode_{episode.k}",
                                       episode.attrs)
        by_table: dict[int, list[list[int]]] = {}
        for tid, row, start, n in episode.segments:
            if start == 0 and tid in by_table:  # replaced (a metric stored again)
                by_table[tid] = []
            by_table.setdefault(tid, []).append([row, start, n])
        for tid, segments in by_table.items():
            table = self.tables[tid]
            chunks: list[list[int]] = []
            seen: set[int] = set()
            for row, _, n in segments:
                if n:
                    for entry in table.chunks_of(row, n, fd):
                        if entry[4] not in seen:
                            seen.add(entry[4])
                            chunks.append(entry)
            record.table(table.path, table.name, table.dtype, table.row,
                         (table.chunk,) + tuple(max(1, d) for d in table.row),
                         segments, chunks)
        group = self._parent("salvage")
        self.changed = True
        for part, frame in enumerate(record.frames()):
            attr = f"episode_{episode.k}" + (f"_{part}" if part else "")
            h5py.h5a.create(group, attr.encode(), BYTE_TYPE,
                            h5py.h5s.create_simple(frame.shape)).write(frame)
