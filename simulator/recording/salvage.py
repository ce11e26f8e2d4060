"""Salvage records: a self-describing copy of each finished episode's index, inside the
recording itself, so that :func:`simulator.recording.recovery.recover` can rebuild every finished
episode from a recording HDF5 can no longer open (a copy cut short, a full disk).

HDF5 keeps the links to a recording's episodes (the root group's link index, its B-trees
and heaps) wherever it last allocated them, often near the end of the file, and refuses
to open a file shorter than its superblock says. The rows themselves sit in chunks and
object headers spread through the file. So when an episode is marked finished, the writer
adds one attribute, ``salvage``, to its group: a *salvage record* framed so that it can be
found by scanning the raw bytes (HDF5 stores an attribute's data verbatim in the group's
object header), holding

- the recording's root attributes (``status`` and ``n_episodes`` left out) and the
  episode's own attributes, as JSON;
- for every dataset stored whole in its object header (compact, at most 4 KiB): its dtype,
  shape, byte size and the CRC-32 of its bytes. HDF5 keeps those bytes verbatim in the
  header's layout message, where the recovery finds them by size and checksum — so they are
  not stored twice;
- for every chunked dataset: its dtype, shape, chunk shape and, per chunk, the chunk's
  offset in the dataset, its byte address and size in the file, its filter mask and the
  CRC-32 of its (compressed) bytes, read back from the file once they were flushed.

This module imports only numpy (and the standard library): the writer process uses it.

Frame, little-endian (a record larger than one attribute message takes several frames,
``salvage_1``, ``salvage_2``, ...)::

    MAGIC (16 bytes) | version u16 | part u16 | n_parts u16 | 0 u16
    | crc32(part) u32 | crc32(whole payload) u32 | len(part) u64 | part bytes

Payload (the parts in order): ``len(json) u32 | json (UTF-8) | root attrs``, the last
the zlib-compressed JSON of the root attributes. The JSON::

    {"root": key of the recording, "episode": "episode_3", "attrs": {...},
     "root_attrs": [offset, length] of the root attrs after the JSON,
     "datasets": [{"path", "dtype" (numpy descr), "row" (shape of one row), "n" (rows),
                   then "size", "crc" (compact)
                   or "chunk" (chunk shape), "chunks": [[address, size, filter mask, crc32,
                                                         *offset], ...]}, ...]}
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAGIC = b"\x89steersim:salv\r\n"  # 16 bytes, never valid UTF-8 text
VERSION = 1
_FRAME = struct.Struct("<HHHHIIQ")
HEADER_BYTES = len(MAGIC) + _FRAME.size
PART_BYTES = 60 << 10  # payload per frame: an attribute message holds at most 64 KiB
ATTR = "salvage"  # the episode attribute holding part 0; part i > 0 is "salvage_{i}"

assert len(MAGIC) == 16


def attr_name(part: int) -> str:
    """The episode attribute holding frame ``part`` of its salvage record."""
    return ATTR if part == 0 else f"{ATTR}_{part}"


def dtype_text(dtype: np.dtype) -> Any:
    """A JSON-able description of ``dtype`` (structured dtypes included; cached)."""
    text = _DTYPE_TEXT.get(dtype)
    if text is None:
        text = _DTYPE_TEXT[dtype] = np.lib.format.dtype_to_descr(dtype)
    return text


_DTYPE_TEXT: dict[np.dtype, Any] = {}


def dtype_from(text: Any) -> np.dtype:
    """The dtype :func:`dtype_text` described (lists come back from JSON as lists)."""
    def tuples(value: Any) -> Any:
        if isinstance(value, list):
            return [tuple(tuples(v) for v in item) if isinstance(item, list) else item
                    for item in value]
        return value

    return np.lib.format.descr_to_dtype(tuples(text) if isinstance(text, list) else text)


def root_blob(attrs: Mapping[str, Any]) -> tuple[str, bytes]:
    """The root attributes as stored in every record: (key, zlib-compressed JSON). The key
    (a hash of the JSON) tells records of the same recording; ``status`` and ``n_episodes``,
    which change while it is written, are left out."""
    plain = {}
    for key, value in attrs.items():
        if key in ("status", "n_episodes"):
            continue
        if isinstance(value, np.generic | np.ndarray):
            value = value.tolist()
        if isinstance(value, bytes):
            value = value.decode()
        plain[key] = value
    text = json.dumps(plain, sort_keys=True).encode()
    return f"{zlib.crc32(text):08x}{len(text):x}", zlib.compress(text, 1)


@dataclass
class RecordBuilder:
    """Collects one episode's salvage record: attributes, then one entry per dataset.

    Entries are JSON text built from cached per-dataset fragments (path, dtype, row shape),
    so a record costs a few microseconds per dataset: it is built for every episode."""

    root_key: str
    root: bytes  # root_blob()'s compressed JSON
    episode: str
    attrs: dict[str, Any]
    entries: list[str] = field(default_factory=list)

    def compact(self, path: str, rows: np.ndarray) -> None:
        """A dataset stored whole in its object header: ``rows`` (n, ...), contiguous, as
        written. Only its length and CRC-32 are kept: :mod:`simulator.recording.recovery` finds its
        bytes in the file by them."""
        self.entries.append(f'{_fragment(path, rows.dtype, rows.shape[1:])}"n":'
                            f'{rows.shape[0]},"size":{rows.nbytes},"crc":{zlib.crc32(rows)}}}')

    def chunked(self, path: str, dtype: np.dtype, shape: Sequence[int],
                chunk: Sequence[int], chunks: list[list[int]]) -> None:
        """A chunked dataset of ``shape`` (n, ...): ``chunks`` rows [address, size, filter
        mask, crc32, *offset]."""
        self.entries.append(f'{_fragment(path, dtype, tuple(shape[1:]))}"n":{shape[0]},'
                            f'"chunk":{json.dumps(list(chunk))},"chunks":{json.dumps(chunks)}}}')

    def table(self, path: str, name: str, dtype: np.dtype, row: Sequence[int],
              chunk: Sequence[int], segments: list[list[int]], chunks: list[list[int]]
              ) -> None:
        """Layout v2: the episode's rows of dataset ``path`` in the shared table ``name``
        (chunk shape ``chunk``): ``segments`` rows [table row, episode row, n], ``chunks``
        rows [address, size, filter mask, crc32, *offset] of every chunk holding them."""
        n = max((start + k for _, start, k in segments), default=0)
        self.entries.append(f'{_fragment(path, dtype, tuple(row))}"n":{n},'
                            f'"table":{json.dumps(name)},"chunk":{json.dumps(list(chunk))},'
                            f'"segments":{json.dumps(segments)},"chunks":{json.dumps(chunks)}}}')

    def frames(self) -> list[np.ndarray]:
        """The record as frames, each a uint8 array for one attribute."""
        text = (f'{{"root":"{self.root_key}","episode":"{self.episode}","attrs":'
                f'{json.dumps(self.attrs)},"root_attrs":[0,{len(self.root)}],'
                f'"datasets":[{",".join(self.entries)}]}}').encode()
        payload = b"".join([struct.pack("<I", len(text)), text, self.root])
        whole = zlib.crc32(payload)
        parts = [payload[i:i + PART_BYTES] for i in range(0, len(payload), PART_BYTES)]
        out = []
        for i, part in enumerate(parts):
            head = MAGIC + _FRAME.pack(VERSION, i, len(parts), 0, zlib.crc32(part), whole,
                                       len(part))
            out.append(np.frombuffer(head + part, np.uint8))
        return out


_FRAGMENTS: dict[tuple[str, np.dtype, tuple[int, ...]], str] = {}


def _fragment(path: str, dtype: np.dtype, row: tuple[int, ...]) -> str:
    """The start of a dataset's JSON entry (cached): path, dtype, row shape."""
    key = (path, dtype, row)
    text = _FRAGMENTS.get(key)
    if text is None:
        if len(_FRAGMENTS) > 4096:
            _FRAGMENTS.clear()
        text = json.dumps({"path": path, "dtype": dtype_text(dtype), "row": list(row)})
        text = _FRAGMENTS[key] = text[:-1] + ","
    return text


# --- reading records back ------------------------------------------------------------------
@dataclass
class Record:
    """One episode's salvage record, as found in a file."""

    root_key: str
    episode: str
    attrs: dict[str, Any]
    root_attrs: dict[str, Any]
    datasets: list[dict[str, Any]]
    payload: bytes  # the whole payload (blobs start after the JSON)
    blob_start: int

    def blob(self, span: Sequence[int]) -> bytes:
        start = self.blob_start + int(span[0])
        return self.payload[start:start + int(span[1])]

    def shape(self, ds: Mapping[str, Any]) -> tuple[int, ...]:
        """Dataset entry ``ds``'s shape (n, ...)."""
        return (int(ds["n"]), *(int(d) for d in ds["row"]))

    @property
    def index(self) -> int:
        return int(self.episode.rpartition("_")[2])


def scan(data: bytes | memoryview | Any) -> Iterator[Record]:
    """Every intact salvage record in ``data`` (a file's bytes, e.g. an mmap), in file
    order of their first frame; frames whose checksum or length does not hold are
    skipped."""
    parts: dict[tuple[int, int], dict[int, bytes]] = {}
    size = len(data)
    at = data.find(MAGIC)
    while at >= 0:
        head = at + len(MAGIC)
        if head + _FRAME.size <= size:
            version, part, n_parts, _, part_crc, whole, n = _FRAME.unpack(
                data[head:head + _FRAME.size])
            start = head + _FRAME.size
            if (version == VERSION and part < n_parts and start + n <= size
                    and zlib.crc32(data[start:start + n]) == part_crc):
                got = parts.setdefault((whole, n_parts), {})
                got.setdefault(part, bytes(data[start:start + n]))
                if len(got) == n_parts:
                    record = _decode(b"".join(got[i] for i in range(n_parts)), whole)
                    if record is not None:
                        yield record
                    got.clear()  # a second copy of the same record assembles again
        at = data.find(MAGIC, at + 1)


def _decode(payload: bytes, whole: int) -> Record | None:
    if zlib.crc32(payload) != whole or len(payload) < 4:
        return None
    (n_json,) = struct.unpack_from("<I", payload)
    try:
        meta = json.loads(payload[4:4 + n_json])
        start = 4 + n_json
        span = meta["root_attrs"]
        root = json.loads(zlib.decompress(payload[start + span[0]:start + span[0] + span[1]]))
        return Record(meta["root"], meta["episode"], meta["attrs"], root, meta["datasets"],
                      payload, start)
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
