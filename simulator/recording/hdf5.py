"""Low-level h5py for writing recordings: datasets created through HDF5's own API with
cached property lists, attributes, groups, chunk lists (numpy and h5py only).
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import h5py
import numpy as np

from simulator.core.errors import UserError
from simulator.recording.format import COMPACT_BYTES, COMPRESSIONS, rows_per_chunk

_GZIP_LEVEL = 4




_SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)
_STR_TYPE = h5py.h5t.py_create(h5py.string_dtype(), logical=True)
_INT_TYPE = h5py.h5t.py_create(np.dtype(np.int64))
_FLOAT_TYPE = h5py.h5t.py_create(np.dtype(np.float64))


def set_attrs(oid: Any, fresh: bool = False, **values: str | int | float) -> None:
    """Set scalar attributes of the HDF5 object ``oid`` (an ObjectID) through the low-level
    API: a dozen attributes per episode, and the high-level ``attrs[k] =`` costs twice as
    much. Strings are stored as h5py stores them, variable-length UTF-8. ``fresh``: the
    object was just created, so none of them exists yet; otherwise an existing attribute
    (same type) is rewritten in place."""
    for key, value in values.items():
        if isinstance(value, str):
            arr, tid = np.array(value, dtype=h5py.string_dtype()), _STR_TYPE
        elif isinstance(value, float):
            arr, tid = np.array(value, np.float64), _FLOAT_TYPE
        else:
            arr, tid = np.array(value, np.int64), _INT_TYPE
        name = key.encode()
        if not fresh and h5py.h5a.exists(oid, name):
            h5py.h5a.open(oid, name).write(arr)
        else:
            h5py.h5a.create(oid, name, tid, _SCALAR_SPACE).write(arr)


def new_group(parent: Any, name: str) -> Any:
    """A new group (GroupID) in ``parent`` (an ObjectID) whose attributes stay in its header
    (no dense storage) and that carries no timestamps, so identical recordings are identical
    bytes."""
    return h5py.h5g.create(parent, name.encode(), gcpl=_GROUP_PLIST)


_GROUP_PLIST = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
_GROUP_PLIST.set_attr_phase_change(32, 24)
_GROUP_PLIST.set_obj_track_times(False)


def as_rows(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values)


# --- low-level dataset writing -------------------------------------------------------------

class DatasetFactory:
    """Creates the datasets of a recording with HDF5's low-level API and cached property
    lists, types and dataspaces: an episode has two dozen datasets, and h5py's high-level
    ``create_dataset`` would cost more than the data.

    A dataset is chunked, unlimited along axis 0 and compressed (shuffle + lzf or gzip), so
    later blocks extend it. The one exception is a dataset written whole when its episode
    ends (the episode fit in one block) holding under ``COMPACT_BYTES``: it is stored
    *compact*, inside its object header, since a chunk index alone (~2.5 KiB per dataset)
    would outweigh a few hundred bytes of data.
    """

    def __init__(self, compression: str, checksum: bool = False):
        """``checksum``: chunks carry a Fletcher-32 checksum that HDF5 checks on every read
        (layout v2), so a damaged chunk is an error, never different rows."""
        if compression not in COMPRESSIONS:
            raise UserError(f"compression {compression!r}: choose from {', '.join(COMPRESSIONS)}")
        self.compression = compression
        self.checksum = checksum
        self._dcpl: dict[tuple[int, ...] | None, Any] = {}
        self._types: dict[np.dtype, Any] = {}
        self._spaces: dict[tuple[tuple[int, ...], bool], Any] = {}
        # Without a chunk cache a chunk is compressed inside H5Dwrite, which h5py runs
        # without the GIL, instead of at the next flush, which holds it.
        self._no_cache = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
        self._no_cache.set_chunk_cache(1, 0, 1.0)

    def _plist(self, chunks: tuple[int, ...] | None) -> Any:
        if chunks not in self._dcpl:
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            if chunks is None:
                dcpl.set_layout(h5py.h5d.COMPACT)
            else:
                dcpl.set_chunk(chunks)
                dcpl.set_shuffle()
                if self.compression == "gzip":
                    dcpl.set_deflate(_GZIP_LEVEL)
                else:
                    dcpl.set_filter(h5py.h5z.FILTER_LZF, h5py.h5z.FLAG_OPTIONAL)
                if self.checksum:  # last: it checks the bytes as stored
                    dcpl.set_fletcher32()
                dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            dcpl.set_obj_track_times(False)  # deterministic bytes, fewer header updates
            self._dcpl[chunks] = dcpl
        return self._dcpl[chunks]

    def _type(self, dtype: np.dtype) -> Any:
        if dtype not in self._types:
            self._types[dtype] = h5py.h5t.py_create(dtype, logical=True)
        return self._types[dtype]

    def space(self, shape: tuple[int, ...], unlimited: bool = False) -> Any:
        """A simple dataspace of ``shape`` (resizable along every axis if ``unlimited``);
        cached, as HDF5 only reads it."""
        key = (shape, unlimited)
        space = self._spaces.get(key)
        if space is None:
            if len(self._spaces) > 512:
                self._spaces.clear()
            if unlimited:
                maxshape = tuple(h5py.h5s.UNLIMITED for _ in shape)
                space = h5py.h5s.create_simple(shape, maxshape)
            else:
                space = h5py.h5s.create_simple(shape)
            self._spaces[key] = space
        return space

    def create(self, parent: Any, name: str, rows: np.ndarray, final: bool = False,
               chunk_rows: int | None = None, cache: bool = True) -> Any:
        """A new dataset ``parent/name`` (parent: a GroupID) holding ``rows`` (n, ...);
        returns its DatasetID.

        Chunks hold ``chunk_rows`` rows (default: as many as the first write), at most
        ~256 KiB (see :func:`chunk_rows`). ``final``: no rows will follow, so a small
        dataset may be compact. ``cache=False`` for a dataset written a whole chunk at a
        time: its chunks are compressed as they are written.
        """
        rows = as_rows(rows)
        if self.compact(rows, final):
            dsid = h5py.h5d.create(parent, name.encode(), self._type(rows.dtype),
                                   self.space(rows.shape), dcpl=self._plist(None))
        else:
            dsid = h5py.h5d.create(parent, name.encode(), self._type(rows.dtype),
                                   self.space(rows.shape, unlimited=True),
                                   dcpl=self._plist(self.chunks(rows, chunk_rows)),
                                   dapl=None if cache else self._no_cache)
        if rows.size:
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, rows, mtype=self._type(rows.dtype))
        return dsid

    @staticmethod
    def chunks(rows: np.ndarray, chunk_rows: int | None) -> tuple[int, ...]:
        """The chunk shape :meth:`create` gives a chunked dataset of ``rows`` (n, ...)."""
        row_shape = rows.shape[1:]
        row_bytes = rows.dtype.itemsize * int(np.prod(row_shape, dtype=np.int64))
        n_chunk = rows_per_chunk(row_bytes, chunk_rows or rows.shape[0])
        return (n_chunk,) + tuple(max(1, d) for d in row_shape)

    @staticmethod
    def compact(rows: np.ndarray, final: bool) -> bool:
        """Whether :meth:`create` stores ``rows`` compact, in the dataset's object header."""
        return final and rows.nbytes <= COMPACT_BYTES

    def append(self, dsid: Any, rows: np.ndarray) -> None:
        """Extend dataset ``dsid`` (a DatasetID) by ``rows`` (n, ...): one resize, one
        write."""
        n = rows.shape[0]
        if n == 0:
            return
        start = dsid.shape[0]
        dsid.set_extent((start + n,) + tuple(rows.shape[1:]))
        file_space = dsid.get_space()
        file_space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
        rows = as_rows(rows)  # the memory type cached: h5py would make one per write
        dsid.write(self.space(rows.shape), file_space, rows, mtype=self._type(rows.dtype))


BYTE_TYPE = h5py.h5t.py_create(np.dtype(np.uint8))


def chunk_list(dsid: Any, fd: int) -> list[list[int]]:
    """Every chunk of dataset ``dsid`` as [file address, size, filter mask, crc32 of its
    bytes, *offset in the dataset]; the bytes are read back through ``fd``."""
    out: list[list[int]] = []

    def visit(info: Any) -> None:
        data = os.pread(fd, info.size, info.byte_offset)
        out.append([info.byte_offset, info.size, info.filter_mask, zlib.crc32(data),
                    *info.chunk_offset])

    if hasattr(dsid, "chunk_iter"):  # HDF5 >= 1.14: one pass over the chunk index
        dsid.chunk_iter(visit)
    else:
        for i in range(dsid.get_num_chunks()):
            visit(dsid.get_chunk_info(i))
    return out


