"""``steersim recover``: rebuild every finished episode of a damaged recording (one HDF5
cannot open: cut short by a copy or a full disk, or killed) into a new, valid recording.

It does not need HDF5's own index of the file. Each finished episode carries a *salvage
record* (:mod:`simulator.salvage`): its attributes, its small datasets' bytes and, for each
chunked dataset, where each chunk lies in the file with its CRC-32. :func:`recover` scans
the damaged file's bytes for records, checks every chunk an episode needs (inside the
file, checksum equal), and writes the episodes whose every chunk holds into a new file,
copying the chunks' compressed bytes as they are (``write_direct_chunk``), so every
recovered row is the original bit for bit. An episode with any chunk missing or altered
is reported lost, never written in part. The new file is written under a temporary name
and renamed into place once it is whole and read back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import mmap
import os
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from simulator.core.errors import UserError
from simulator.recording import salvage
from simulator.recording.format import (
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_NAMES,
    STATUS_RUNNING,
)
from simulator.recording.hdf5 import DatasetFactory, new_group, set_attrs
from simulator.recording.index import Index
from simulator.recording.layout_v2 import TableFile


@dataclasses.dataclass
class Lost:
    """An episode not recovered, and why (one line)."""

    episode: str
    reason: str

    @property
    def line(self) -> str:
        return f"{self.episode}: {self.reason}"


@dataclasses.dataclass
class RecoveryReport:
    """What :func:`recover` did: episodes written to ``output`` (name, status, steps),
    those it could not recover, and how many the recording meant to hold (None if it does
    not say)."""

    source: Path
    output: Path
    recovered: list[tuple[str, str, int]]
    lost: list[Lost]
    planned: int | None

    @property
    def summary(self) -> str:
        n = len(self.recovered)
        known = max(self.planned or 0, n + len(self.lost))
        steps = sum(s for _, _, s in self.recovered)
        interrupted = sum(status != STATUS_COMPLETE for _, status, _ in self.recovered)
        note = f", {interrupted} of them marked interrupted" if interrupted else ""
        return (f"recovered {n} of {known} episodes ({steps} steps{note}) into"
                f" {self.output}; lost {len(self.lost)}")


def recover(source: str | Path, output: str | Path, *, force: bool = False) -> RecoveryReport:
    """Write every finished episode of the (damaged) recording ``source`` whose rows are
    all intact into a new recording ``output``; UserError (one line) when none can be, or
    for a bad path. ``output`` is never ``source``; an existing one only with ``force``."""
    source, output = Path(source), Path(output)
    _check_paths(source, output, force)
    with open(source, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        records = _records(data)
        readable = _readable_episodes(source)
        if not records:
            if readable:
                raise UserError(f"{source}: opens as it is (inspect and verify read it) but"
                                " holds no salvage records (recorded before steersim wrote"
                                " them): nothing to recover")
            raise UserError(f"{source}: nothing to recover: no finished episode's salvage"
                            " record in the readable part of the file (cut before an"
                            " episode finished, or not a steersim recording)")
        root = records[0].root_attrs
        planned = _planned(root)
        compact = _compact_data(data, records)
        good, lost = [], []
        for rec in records:
            why = _damage(rec, data, compact)
            if why is None:
                good.append(rec)
            else:
                lost.append(Lost(rec.episode, why))
        found = {rec.index for rec in records}
        last = max(max(found) + 1, planned or 0)
        for k in range(last):
            if k not in found:
                lost.append(Lost(f"episode_{k}", _missing_reason(readable.get(f"episode_{k}"))))
        lost.sort(key=lambda item: int(item.episode.rpartition("_")[2]))
        if not good:
            raise UserError(f"{source}: nothing to recover: {len(lost)} episodes lost"
                            f" ({lost[0].line})")
        _write(source, output, root, good, data, compact, lost, planned)
    recovered = [(rec.episode, str(rec.attrs.get("status")), int(rec.attrs.get("total_steps", 0)))
                 for rec in good]
    return RecoveryReport(source, output, recovered, lost, planned)


def _check_paths(source: Path, output: Path, force: bool) -> None:
    if not source.exists():
        raise UserError(f"{source}: no such file")
    if source.is_dir():
        raise UserError(f"{source}: is a directory, not a recording")
    if source.stat().st_size == 0:
        raise UserError(f"{source}: empty file, nothing to recover")
    if output.is_dir():
        raise UserError(f"{output}: is a directory; give a file name")
    if output.exists():
        if output.resolve() == source.resolve() or os.path.samefile(output, source):
            raise UserError(f"{output}: is the damaged file itself; write to another file")
        if not force:
            raise UserError(f"{output}: already exists (use --force to overwrite)")
    if not output.parent.is_dir():
        raise UserError(f"{output.parent}: no such directory")


def _records(data: Any) -> list[salvage.Record]:
    """The salvage records of the recording in ``data``, one per episode, by index. Should
    the bytes hold records of more than one recording, those of the most episodes win."""
    by_episode: dict[tuple[str, str], salvage.Record] = {}
    for rec in salvage.scan(data):
        by_episode.setdefault((rec.root_key, rec.episode), rec)
    if not by_episode:
        return []
    root_key = Counter(key for key, _ in by_episode).most_common(1)[0][0]
    return sorted((rec for (key, _), rec in by_episode.items() if key == root_key),
                  key=lambda rec: rec.index)


def _planned(root: dict[str, Any]) -> int | None:
    """Episodes the recording was to hold (runs × lanes), if its root attributes say."""
    runs, lanes = root.get("episodes_planned"), root.get("n_lanes")
    if isinstance(runs, int) and isinstance(lanes, int):
        return runs * lanes
    return None


def _readable_episodes(source: Path) -> dict[str, tuple[str, int]]:
    """If HDF5 can still open ``source``: each episode group's status and steps written
    (to say more about the episodes not recovered); else nothing."""
    out: dict[str, tuple[str, int]] = {}
    with contextlib.suppress(Exception), h5py.File(source, "r", locking=False) as f:
        if int(f.attrs.get("format_version", 1)) >= 2:  # layout v2: the episode table
            for k, row in enumerate(f["episodes"][()]):
                out[f"episode_{k}"] = (STATUS_NAMES.get(int(row["status"]), "running"),
                                       int(row["total_steps"]))
            return out
        for name in f:
            with contextlib.suppress(Exception):
                attrs = f[name].attrs
                out[name] = (str(attrs.get("status", "running")),
                             int(attrs.get("total_steps", 0)))
    return out


def _missing_reason(readable: tuple[str, int] | None) -> str:
    if readable is not None:
        status, steps = readable
        return (f"unfinished ({status}, {steps} steps written when its recorder stopped):"
                " not recovered")
    return "lost: not finished within the readable part of the file"


def _damage(rec: salvage.Record, data: Any, compact: dict[tuple[int, int], int]
            ) -> str | None:
    """Why ``rec``'s episode cannot be recovered from ``data``, or None if every chunk it
    needs is there with its checksum and the bytes of each of its compact datasets were
    found (``compact``: :func:`_compact_data`)."""
    size = len(data)
    for ds in rec.datasets:
        if "chunks" not in ds:
            if ds["size"] and (ds["size"], ds["crc"]) not in compact:
                return (f"lost: the bytes of {ds['path']} (stored in its object header) are"
                        " not in the readable part of the file")
            continue
        for address, n, _, crc, *_ in ds["chunks"]:
            if address + n > size:
                return (f"lost: {ds['path']} has a chunk at byte {address}, past the end of"
                        f" the file ({size} bytes)")
            if zlib.crc32(data[address:address + n]) != crc:
                return f"damaged: a chunk of {ds['path']} at byte {address} fails its checksum"
    return None


def _compact_data(data: Any, records: list[salvage.Record]) -> dict[tuple[int, int], int]:
    """Where the bytes of the records' compact datasets lie: (size, crc32) → address.

    HDF5 stores a compact dataset's data verbatim in a layout message of its object
    header. Every version-2 object header in ``data`` (signature ``OHDR``) is walked
    message by message; each compact layout message whose data has a (size, CRC-32) some
    record asks for is kept. Equal size and checksum mean equal bytes, whichever dataset
    they belong to."""
    wanted = {(ds["size"], ds["crc"]) for rec in records for ds in rec.datasets
              if "chunks" not in ds and ds["size"]}
    sizes = {n for n, _ in wanted}
    out: dict[tuple[int, int], int] = {}
    end_of_file = len(data)
    at = data.find(b"OHDR") if wanted else -1
    while at >= 0:
        p = at + 4
        if p + 2 <= end_of_file and data[p] == 2:
            flags = data[p + 1]
            p += 2 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
            width = 1 << (flags & 3)
            end = min(p + width + int.from_bytes(data[p:p + width], "little"), end_of_file)
            p += width
            order = 2 if flags & 0x04 else 0
            while p + 4 + order <= end:  # message: type u8, size u16, flags u8, [order u16]
                kind, n_msg = data[p], int.from_bytes(data[p + 1:p + 3], "little")
                p += 4 + order
                if kind == 8 and p + 4 <= end and data[p] == 3 and data[p + 1] == 0:
                    n = int.from_bytes(data[p + 2:p + 4], "little")
                    if n in sizes and p + 4 + n <= end_of_file:
                        key = (n, zlib.crc32(data[p + 4:p + 4 + n]))
                        if key in wanted:
                            out.setdefault(key, p + 4)
                p += n_msg
        at = data.find(b"OHDR", at + 4)
    return out


def _write(source: Path, output: Path, root: dict[str, Any], records: list[salvage.Record],
           data: Any, compact: dict[tuple[int, int], int], lost: list[Lost],
           planned: int | None) -> None:
    """Write ``records``' episodes into ``output`` (via a temporary file, read back before
    it is renamed into place)."""
    tmp = output.with_name(f".{output.name}.recovering-{os.getpid()}")
    try:
        with h5py.File(tmp, "w", libver=("v108", "v108")) as f:
            for key, value in root.items():
                f.attrs[key] = value
            everything = planned is not None and len(records) == planned and all(
                rec.attrs.get("status") == STATUS_COMPLETE for rec in records)
            f.attrs["status"] = STATUS_COMPLETE if everything else STATUS_INTERRUPTED
            f.attrs["n_episodes"] = len(records)
            f.attrs["recovered_from"] = str(source)
            f.attrs["recovered_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
            f.attrs["recovered_lost"] = json.dumps([item.episode for item in lost])
            factory = DatasetFactory(str(root.get("compression", "lzf")),
                                     checksum=_is_v2(records))
            if _is_v2(records):
                f.attrs["recovered_names"] = json.dumps([rec.episode for rec in records])
                rows = _decode_v2(records, data, factory)
                _write_v2(f, factory, records, rows)
            else:
                for rec in records:
                    _write_episode(f, factory, rec, data, compact)
        if _is_v2(records):
            _read_back_v2(tmp, records, rows)
        else:
            _read_back(tmp, records, data, compact)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_episode(f: h5py.File, factory: DatasetFactory, rec: salvage.Record,
                   data: Any, compact: dict[tuple[int, int], int]) -> None:
    group = new_group(f.id, rec.episode)
    set_attrs(group, fresh=True, **rec.attrs)
    groups = {"": group}

    def parent_of(path: str) -> Any:
        if path not in groups:
            up, _, name = path.rpartition("/")
            groups[path] = new_group(parent_of(up), name)
        return groups[path]

    for ds in rec.datasets:
        up, _, name = ds["path"].rpartition("/")
        parent = parent_of(up)
        dtype, shape = salvage.dtype_from(ds["dtype"]), rec.shape(ds)
        if "chunks" not in ds:
            rows = np.frombuffer(_stored(ds, data, compact), dtype).reshape(shape)
            factory.create(parent, name, rows, final=True)
            continue
        dsid = h5py.h5d.create(parent, name.encode(), factory._type(dtype),
                               factory.space(shape, unlimited=True),
                               dcpl=factory._plist(tuple(ds["chunk"])))
        for address, n, mask, _, *offset in ds["chunks"]:
            dsid.write_direct_chunk(tuple(offset), bytes(data[address:address + n]), mask)


def _stored(ds: dict[str, Any], data: Any, compact: dict[tuple[int, int], int]) -> bytes:
    """The bytes of a compact dataset, found in the file by :func:`_compact_data`."""
    if not ds["size"]:
        return b""
    address = compact[(ds["size"], ds["crc"])]
    return bytes(data[address:address + ds["size"]])


def _read_back(path: Path, records: list[salvage.Record], data: Any,
               compact: dict[tuple[int, int], int]) -> None:
    """Read every recovered dataset of ``path`` whole (each chunk decompressed) and check
    its shape and, for compact ones, its bytes."""
    with h5py.File(path, "r") as f:
        for rec in records:
            group = f[rec.episode]
            for ds in rec.datasets:
                rows = group[ds["path"]][()]
                if rows.shape != rec.shape(ds) or (
                        "chunks" not in ds and rows.tobytes() != _stored(ds, data, compact)):
                    raise UserError(f"{path}: {rec.episode}/{ds['path']} did not read back"
                                    " as recovered (a bug): nothing written")


# --- layout v2 -------------------------------------------------------------------------------
def _is_v2(records: list[salvage.Record]) -> bool:
    """Whether the records describe layout-v2 episodes (rows in shared tables)."""
    return any("table" in ds for rec in records for ds in rec.datasets)


def _decode_v2(records: list[salvage.Record], data: Any, factory: DatasetFactory
               ) -> list[dict[str, np.ndarray]]:
    """Every recovered episode's rows, path -> (n, ...): each chunk a record names is
    copied as it is (compressed) into a table of an in-memory HDF5 file with the same
    chunk shape and filters, which decompresses it when the episode's segments are read."""
    out = []
    with h5py.File(io.BytesIO(), "w") as scratch:
        tables: dict[tuple[str, str], Any] = {}
        for rec in records:
            episode: dict[str, np.ndarray] = {}
            for ds in rec.datasets:
                dtype = salvage.dtype_from(ds["dtype"])
                row = tuple(int(d) for d in ds["row"])
                chunk = tuple(int(c) for c in ds["chunk"])
                key = (ds["table"], json.dumps(ds["dtype"]))
                table = tables.get(key)
                if table is None:
                    table = tables[key] = h5py.h5d.create(
                        scratch.id, f"t{len(tables)}".encode(), factory._type(dtype),
                        factory.space((0,) + row, unlimited=True),
                        dcpl=factory._plist(chunk))
                for address, n, mask, _, *offset in ds["chunks"]:
                    end = offset[0] + chunk[0]
                    if table.shape[0] < end:
                        table.set_extent((end,) + row)
                    table.write_direct_chunk(tuple(offset), bytes(data[address:address + n]),
                                             mask)
                pieces = []
                for first_row, start, n in ds["segments"]:
                    rows = np.empty((n,) + row, dtype)
                    if rows.size:
                        space = table.get_space()
                        space.select_hyperslab((first_row,) + (0,) * len(row), (n,) + row)
                        table.read(h5py.h5s.create_simple((n,) + row), space, rows)
                    if start == 0:
                        pieces = []
                    pieces.append(rows)
                episode[ds["path"]] = (np.concatenate(pieces) if len(pieces) != 1
                                       else pieces[0]) if pieces else np.empty((0,) + row, dtype)
            out.append(episode)
    return out


def _write_v2(f: h5py.File, factory: DatasetFactory, records: list[salvage.Record],
              rows: list[dict[str, np.ndarray]]) -> None:
    """The recovered episodes as a v2 recording, numbered 0, 1, ... in their order
    (``recovered_names`` keeps the names they had); no salvage records of its own."""
    tables = TableFile(f, factory)
    for k, (rec, episode) in enumerate(zip(records, rows, strict=True)):
        name = f"episode_{k}"
        attrs = {key: value for key, value in rec.attrs.items() if key != "outcome"}
        tables.create(name, dict(attrs, status=STATUS_RUNNING))
        for path, values in episode.items():
            tables.put(name, path, values, replace=path.startswith("metrics/"))
        tables.events(name, None, int(rec.attrs.get("total_steps", 0)))
        tables.flush_pending()
        tables.mark(name, str(rec.attrs.get("status")), rec.attrs.get("outcome"))
    tables.flush_pending()


def _read_back_v2(path: Path, records: list[salvage.Record],
                  rows: list[dict[str, np.ndarray]]) -> None:
    """Read every recovered episode of ``path`` back through the index and compare each
    dataset's rows byte for byte with what was recovered."""
    with h5py.File(path, "r") as f:
        index = Index(f)
        for k, (rec, episode) in enumerate(zip(records, rows, strict=True)):
            layout = index.layout(k)
            for ds_path, values in episode.items():
                got = [index.dataset(tid)[row:row + n] for tid, row, _, n in
                       layout.get(ds_path, [])]
                back = np.concatenate(got) if got else np.empty((0,) + values.shape[1:],
                                                                values.dtype)
                if back.shape != values.shape or back.tobytes() != values.tobytes():
                    raise UserError(f"{path}: {rec.episode}/{ds_path} did not read back as"
                                    " recovered (a bug): nothing written")
