"""Layout v2's index, read back: which rows of which shared table are an episode's
(:mod:`simulator.recording.layout_v2` writes it). numpy and h5py only, for the reader
and for ``recover``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from simulator.core.errors import UserError
from simulator.recording.format import (
    EPISODE_DTYPE,
    SEGMENT_DTYPE,
    STATUS_NAMES,
    STATUS_RUNNING,
)


class Index:
    """Layout v2's index, read once per Recording: the episode table, the static
    attributes and outcomes, and the segments (sorted by episode, in write order)."""

    def __init__(self, file: h5py.File):
        self.file = file
        episodes = file.get("episodes")
        self.episodes = episodes[()] if episodes is not None else np.zeros(0, EPISODE_DTYPE)
        self.n_episodes = len(self.episodes)
        attrs = file.get("episode_attrs")
        self._attrs = list(attrs[()]) if attrs is not None else []
        outcomes = file.get("episode_outcomes")
        self._outcomes = list(outcomes[()]) if outcomes is not None else []
        seg_ds = file.get("segments")
        if seg_ds is None:
            self.segments = np.zeros(0, SEGMENT_DTYPE)
            self.tables: list[tuple[str, str, list[str] | None]] = []
        else:
            self.segments = seg_ds[()]
            self.tables = [(item[0], item[1], item[2] if len(item) > 2 else None)
                           for item in json.loads(seg_ds.attrs.get("tables", "[]"))]
        order = np.argsort(self.segments["episode"], kind="stable")
        self.segments = self.segments[order]
        self._bounds = np.searchsorted(self.segments["episode"],
                                       np.arange(self.n_episodes + 1))
        self._datasets: dict[int, h5py.Dataset] = {}

    def attrs(self, k: int) -> dict[str, Any]:
        """Episode k's attributes as v1 stores them (JSON ones decoded)."""
        row = self.episodes[k]
        out: dict[str, Any] = {key: int(row[key]) for key in
                               ("run", "lane", "seed", "n_copies", "total_steps")}
        out["status"] = STATUS_NAMES.get(int(row["status"]), STATUS_RUNNING)
        if k < len(self._attrs):
            text = self._attrs[k]
            out.update(json.loads(text.decode() if isinstance(text, bytes) else text))
        if k < len(self._outcomes) and self._outcomes[k]:
            text = self._outcomes[k]
            out["outcome"] = text.decode() if isinstance(text, bytes) else text
        return out

    def fields(self, tid: int) -> list[str] | None:
        """The dataset paths packed into table ``tid`` as its fields (None: not packed)."""
        return self.tables[tid][2]

    def layout(self, k: int) -> dict[str, list[tuple[int, int, int, int]]]:
        """Episode k's rows: table path (a dataset path, or a packed table's) ->
        [(table id, table row, episode row, n), ...] in episode order; a segment starting
        at row 0 replaces those before it."""
        out: dict[str, list[tuple[int, int, int, int]]] = {}
        for seg in self.segments[self._bounds[k]:self._bounds[k + 1]]:
            tid = int(seg["table"])
            if tid >= len(self.tables):
                raise KeyError(f"episode_{k}: segment of table {tid}, which is not listed")
            path = self.tables[tid][1]
            item = (tid, int(seg["row"]), int(seg["start"]), int(seg["n"]))
            if item[2] == 0 or path not in out:
                out[path] = [item]
            else:
                out[path].append(item)
        return out

    def dataset(self, tid: int) -> h5py.Dataset:
        ds = self._datasets.get(tid)
        if ds is None:
            ds = self._datasets[tid] = self.file[self.tables[tid][0]]
        return ds

    def check(self, path: Path) -> None:
        """UserError unless every segment lies inside its table."""
        lengths = {tid: self.dataset(tid).shape[0] for tid in range(len(self.tables))}
        for seg in self.segments:
            tid = int(seg["table"])
            if (tid not in lengths or int(seg["row"]) + int(seg["n"]) > lengths[tid]
                    or int(seg["episode"]) >= self.n_episodes):
                raise UserError(f"{path}: damaged recording: /segments: a segment of"
                                f" episode_{int(seg['episode'])} points outside its table")
