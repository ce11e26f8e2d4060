"""Both recording layouts through every public reader path: the frozen v1 files in
tests/data (the shipped demo as it was, and a short recording with salvage records, both
written by the v1 writer) and fresh v2 recordings; v1 and v2 of the same runs hold the same
episodes; a damaged v2 index is found; a newer format is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import assert_same_recordings, loaded_after_import

from simulator.cli import main
from simulator.core.errors import UserError
from simulator.recording import (
    FORMAT_VERSION,
    READ_VERSIONS,
    Recording,
    StatePager,
    record,
    recover,
    verify,
)
from simulator.scene import Scene

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO_V1 = DATA / "demo_v1.h5"  # recordings/demo.h5 as shipped before v2 (no salvage)
SHORT_V1 = DATA / "short_v1.h5"  # record walled_maze --episodes 2 --seed 7, v1 writer


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict[int, Path]:
    """The runs of SHORT_V1 recorded again, in layout v2 and in layout v1."""
    folder = tmp_path_factory.mktemp("formats")
    scene = Scene.load("walled_maze")
    out = {}
    for version in (2, 1):
        out[version] = folder / f"short_v{version}.h5"
        record(scene, out[version], episodes=2, seed=7, handle_signals=False,
               format_version=version)
    return out


def _assert_same(a: Path, b: Path) -> None:
    assert_same_recordings(a, b, skip_root=("created_utc", "format_version",
                                            "steersim_version", "versions", "scene_path"))


def test_new_recordings_are_v2_and_hold_what_v1_holds(fresh):
    assert FORMAT_VERSION == 2 and READ_VERSIONS == (1, 2)
    with Recording.open(fresh[2]) as v2, Recording.open(fresh[1]) as v1:
        assert (v2.format_version, v1.format_version) == (2, 1)
    _assert_same(fresh[1], fresh[2])
    _assert_same(SHORT_V1, fresh[2])  # the frozen v1 file: the same runs, bit for bit


def _objects(path: Path) -> int:
    names: list[str] = []
    with h5py.File(path) as f:
        f.visit(names.append)
    return len(names)


def test_v2_has_a_fixed_set_of_objects_however_many_episodes(tmp_path):
    scene = Scene.load("walled_maze")
    counts = {}
    for runs in (1, 4):
        for version in (1, 2):
            path = tmp_path / f"{runs}_{version}.h5"
            record(scene, path, episodes=runs, handle_signals=False, format_version=version)
            counts[runs, version] = _objects(path)
    assert counts[1, 2] == counts[4, 2]  # objects per recording, not per episode
    assert counts[4, 1] - counts[1, 1] >= 3 * 3 * 20  # v1: ~25 per episode


@pytest.mark.parametrize("which", ["demo_v1", "short_v1", "v2"])
def test_every_public_reader_path(which, fresh):
    path = {"demo_v1": DEMO_V1, "short_v1": SHORT_V1, "v2": fresh[2]}[which]
    with Recording.open(path) as rec:
        rec.check()
        assert rec.format_version == (2 if which == "v2" else 1)
        assert rec.status == "complete" and rec.world == "maze"
        assert rec.scene_name == "walled_maze" and isinstance(rec.seed, int)
        assert rec.file_size == path.stat().st_size and "scene_toml" not in rec.attrs
        assert rec.scene().name == "walled_maze"
        assert len(rec) == len(rec.episodes) == 6
        assert [ep.name for ep in rec] == [f"episode_{k}" for k in range(6)]
        assert rec["episode_3"].name == rec[3].name == "episode_3"
        with pytest.raises(KeyError):
            rec["episode_99"]  # noqa: B018
        for ep in rec:
            n = ep.n_steps
            assert n == ep.total_steps > 0 and ep.status == "complete"
            assert ep.run == ep.index // 3 and ep.lane == ep.index % 3
            assert ep.lane_label and ep.distribution and ep.n_copies >= 1
            assert isinstance(ep.seed, int) and ep.outcome and len(ep.agents) == 1
            assert ep.agent_keys == [ep.agents[0]["name"]]
            assert ep.attributes["status"] == "complete"
            fields = ep.state_fields
            assert "cell" in fields and "status" in fields
            assert ep.states("t").shape == (n + 1,)
            np.testing.assert_array_equal(ep.states("t"), np.arange(n + 1))
            first = ep.state_at(0)
            assert set(first) == set(fields)
            assert ep.world_state_at(n).agent_pos.shape == (1, 2)
            block = ep.state_rows(0, n + 5)  # clipped to the episode
            assert all(len(rows) == n + 1 for rows in block.values())
            with pytest.raises(IndexError):
                ep.state_at(n + 1)
            assert ep.actions.shape[0] == ep.rewards.shape[0] == n
            assert ep.terminations.dtype == bool and ep.truncations.shape == (n,)
            assert ep.terminations[-1] or ep.truncations[-1]
            internals = ep.internals()
            assert list(internals) == ep.agent_keys
            assert all(len(v) == n for v in internals[ep.agent_keys[0]].values())
            assert isinstance(ep.events(), list)
            metrics = ep.metrics()
            assert (which == "demo_v1") == bool(metrics)  # the demo has an ensemble
            assert all(len(v) >= n + 1 for v in metrics.values())
            assert [a.name for a in ep.agent_specs()] == [ep.agents[0]["name"]]
            session = ep.session()
            assert session.n_copies == 1 and session.lanes[0].index == ep.lane
            pager = StatePager(ep, block_steps=8)
            for t in (0, 9, n, n + 3):
                np.testing.assert_array_equal(pager.at(t)["t"], min(t, n))
        assert all(check.ok for check in verify(rec))


@pytest.mark.parametrize("which", ["demo_v1", "v2"])
def test_inspect_verify_and_export_read_both_layouts(which, fresh, tmp_path):
    path = {"demo_v1": DEMO_V1, "v2": fresh[2]}[which]
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0 and "6 episodes" in result.output, result.output
    result = runner.invoke(main, ["verify", str(path)])
    assert result.exit_code == 0 and "all 6 episodes match bit for bit" in result.output
    video = tmp_path / f"{which}.gif"
    result = runner.invoke(main, ["export", str(path), "-o", str(video), "--size", "128x72"])
    assert result.exit_code == 0 and video.stat().st_size > 0, result.output


def test_a_v1_file_is_recovered_as_v1(tmp_path):
    data = SHORT_V1.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[:int(len(data) * 0.9)])
    with pytest.raises(UserError, match="truncated"):
        Recording.open(cut)
    report = recover(cut, tmp_path / "out.h5")
    assert 0 < len(report.recovered) < 6
    with Recording.open(tmp_path / "out.h5") as rec, Recording.open(SHORT_V1) as intact:
        assert rec.format_version == 1
        for ep in rec:
            want = intact[ep.name]
            np.testing.assert_array_equal(ep.states("cell"), want.states("cell"))
            assert ep.attributes == want.attributes
        assert all(check.ok for check in verify(rec))
    with pytest.raises(UserError, match="holds no salvage records"):
        recover(DEMO_V1, tmp_path / "demo.h5")


def test_a_damaged_v2_index_is_one_line(fresh, tmp_path):
    damaged = tmp_path / "index.h5"
    shutil.copy(fresh[2], damaged)
    with h5py.File(damaged, "r+") as f:
        seg = f["segments"][0:1]
        seg["row"] = 1 << 40  # points far past its table
        f["segments"][0:1] = seg
    with Recording.open(damaged) as rec, pytest.raises(UserError, match="damaged recording"):
        rec.check()
    for command in ("inspect", "verify"):
        result = CliRunner().invoke(main, [command, str(damaged)])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output


def test_a_newer_format_is_refused(fresh, tmp_path):
    newer = tmp_path / "v3.h5"
    shutil.copy(fresh[2], newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 3
    with pytest.raises(UserError, match="reads up to v2: upgrade steersim"):
        Recording.open(newer)


def test_the_writer_process_loads_no_engine():
    """The writer process imports simulator.recording.server: numpy and h5py, never
    numba, the engine, the agents or a GUI (it must start in a fraction of a second)."""
    watched = ("numba", "simulator.session", "simulator.scene", "simulator.worlds",
               "agents", "pygame", "PySide6", "simulator.recording.capture",
               "simulator.recording.reader")
    assert loaded_after_import("simulator.recording.server", watched) == set()
