"""``steersim recover``: salvage records and rebuilding the finished episodes of a recording
cut short (many offsets), altered, or killed mid-record."""

from __future__ import annotations

import json
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import REC_TEST_SCENE

from simulator.cli import main
from simulator.core.errors import UserError
from simulator.recording import Recording, record, salvage, verify
from simulator.recording.recovery import recover
from simulator.scene import Scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Scene:
    path = tmp_path_factory.mktemp("scene") / "rec_test.toml"
    path.write_text(REC_TEST_SCENE)
    return Scene.load(path)


@pytest.fixture(scope="module", params=[2, 1], ids=["v2", "v1"])
def recorded(scene, tmp_path_factory, request) -> Path:
    """Four runs (eight episodes) in blocks of 4 steps, with the default writer, in layout
    v2 (what ``record`` writes) and in layout v1 (``format_version=1``)."""
    path = tmp_path_factory.mktemp("rec") / f"intact_v{request.param}.h5"
    result = record(scene, path, episodes=4, block_steps=4, n_copies=4, handle_signals=False,
                    format_version=request.param)
    assert result.status == "complete" and result.episodes == 8
    return path


def _version(path: Path) -> int:
    with h5py.File(path) as f:
        return int(f.attrs["format_version"])


def _frame_ends(data: bytes, attrs: h5py.AttributeManager, names: list[str]) -> list[int]:
    """Where each salvage frame held by ``attrs`` (under ``names``) ends in ``data``."""
    ends = []
    for key in names:
        if key not in attrs:
            break
        frame = attrs[key].tobytes()
        at = data.find(frame)
        assert at >= 0 and data.find(frame, at + 1) < 0
        ends.append(at + len(frame))
    return ends


def _needed_bytes(path: Path) -> dict[str, int]:
    """Per episode of an intact recording, how many leading bytes of the file it needs:
    the end of its salvage record, of every chunk it stores (HDF5's own chunk index,
    independent of the record) and of each compact dataset's bytes (v1)."""
    data = path.read_bytes()
    out = {}
    with h5py.File(path) as f:
        if int(f.attrs["format_version"]) >= 2:
            from simulator.recording.index import Index

            index = Index(f)
            for k in range(index.n_episodes):
                ends = _frame_ends(data, f["salvage"].attrs,
                                   [f"episode_{k}"] + [f"episode_{k}_{i}" for i in range(1, 99)])
                for tid, row, _, n in (seg for segs in index.layout(k).values()
                                       for seg in segs):
                    ds = index.dataset(tid)
                    for c in range(row // ds.chunks[0], (row + n - 1) // ds.chunks[0] + 1):
                        offset = (c * ds.chunks[0],) + (0,) * (ds.ndim - 1)
                        info = ds.id.get_chunk_info_by_coord(offset)
                        ends.append(info.byte_offset + info.size)
                out[f"episode_{k}"] = max(ends, default=0)
            return out
        for name in f:
            group = f[name]
            ends = _frame_ends(data, group.attrs, [salvage.attr_name(i) for i in range(1000)])

            def visit(_: str, obj: object, ends: list[int] = ends) -> None:
                if not isinstance(obj, h5py.Dataset):
                    return
                if obj.chunks is not None:
                    for i in range(obj.id.get_num_chunks()):
                        info = obj.id.get_chunk_info(i)
                        ends.append(info.byte_offset + info.size)
                elif obj.nbytes:  # compact: the first layout message holding its bytes
                    raw = obj[()].tobytes()
                    at = data.find(struct.pack("<BBH", 3, 0, len(raw)) + raw)
                    assert at > 0
                    ends.append(at + 4 + len(raw))

            group.visititems(visit)
            out[name] = max(ends, default=0)
    return out


_STEP_PATHS = ("actions", "rewards", "terminations", "truncations", "events")


def _by_name(rec: Recording) -> dict:
    """The recording's episodes by the name they had when recorded (a v2 recovery numbers
    them afresh and keeps the old names in ``recovered_names``)."""
    names = rec.attrs.get("recovered_names")
    names = json.loads(names) if isinstance(names, str) else [ep.name for ep in rec]
    return dict(zip(names, rec, strict=True))


def _assert_equal_episode(got, want) -> None:
    """Every dataset's rows bit for bit (dtype and shape too) and every attribute equal."""
    paths = [*want.paths("state/"), *_STEP_PATHS, *want.paths("agent/"),
             *want.paths("metrics/")]
    assert sorted(p for p in paths if got.has(p)) == sorted(p for p in paths if want.has(p))
    for path in paths:
        if want.has(path):
            x, y = got.rows(path), want.rows(path)
            assert x.dtype == y.dtype and x.shape == y.shape, path
            assert x.tobytes() == y.tobytes(), f"{want.name}/{path}"
    assert {k: str(v) for k, v in got.attributes.items()} == {
        k: str(v) for k, v in want.attributes.items()}, want.name


def test_every_finished_episode_carries_a_salvage_record(recorded):
    with h5py.File(recorded) as f:
        if _version(recorded) >= 2:
            assert sorted(f["salvage"].attrs) == sorted(f"episode_{k}" for k in range(8))
        else:
            assert all(salvage.ATTR in f[name].attrs for name in f)
    records = list(salvage.scan(recorded.read_bytes()))
    assert sorted(r.episode for r in records) == [f"episode_{k}" for k in range(8)]
    assert {r.root_attrs["scene_name"] for r in records} == {"rec_test"}


def test_recover_a_file_cut_at_many_offsets_never_writes_a_wrong_row(recorded, tmp_path):
    data = recorded.read_bytes()
    needed = _needed_bytes(recorded)
    ends = sorted(needed.values())
    # 20 cuts spread over the file, plus one inside the last episode's bytes and one just
    # before each episode becomes recoverable.
    cuts = {int(c) for c in np.linspace(64, len(data) - 1, 20)}
    cuts |= {(ends[-2] + ends[-1]) // 2} | {end - 1 for end in ends} | {len(data)}
    runner = CliRunner()
    seen_partial = False
    with Recording.open(recorded) as intact_rec:
        intact = _by_name(intact_rec)
        for cut in sorted(cuts):
            src, out = tmp_path / "cut.h5", tmp_path / "recovered.h5"
            src.write_bytes(data[:cut])
            out.unlink(missing_ok=True)
            expected = sorted((name for name, end in needed.items() if end <= cut),
                              key=lambda n: int(n.rpartition("_")[2]))
            result = runner.invoke(main, ["recover", str(src), "-o", str(out)])
            lines = result.output.strip().splitlines()
            if not expected:
                assert result.exit_code == 2, (cut, result.output)
                assert len(lines) == 1 and "nothing to recover" in lines[0], result.output
                assert not out.exists()
                continue
            assert result.exit_code == 0, (cut, result.output)
            lost = [f"episode_{k}" for k in range(8) if f"episode_{k}" not in expected]
            assert [line.split(":")[0] for line in lines[:-1]] == lost, (cut, result.output)
            assert lines[-1].startswith(f"recovered {len(expected)} of 8 episodes")
            seen_partial |= 0 < len(lost)
            with Recording.open(out) as rec:
                got = _by_name(rec)
                assert list(got) == expected
                for name in expected:
                    _assert_equal_episode(got[name], intact[name])
                assert rec.attrs["n_episodes"] == len(expected)
                assert rec.status == ("complete" if not lost else "interrupted")
                assert rec.scene_toml == intact_rec.scene_toml
                assert rec.format_version == intact_rec.format_version
    assert seen_partial


def test_a_recovered_file_inspects_and_verifies(recorded, tmp_path):
    data = recorded.read_bytes()
    needed = _needed_bytes(recorded)
    src, out = tmp_path / "cut.h5", tmp_path / "recovered.h5"
    src.write_bytes(data[:sorted(needed.values())[4]])
    report = recover(src, out)
    assert len(report.recovered) == 5 and [item.episode for item in report.lost] == [
        "episode_5", "episode_6", "episode_7"]
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(src)])
    assert result.exit_code == 2 and "truncated" in result.output  # the cut file itself
    result = runner.invoke(main, ["inspect", str(out)])
    assert result.exit_code == 0 and "5 episodes: 5 complete" in result.output, result.output
    result = runner.invoke(main, ["verify", str(out)])
    assert result.exit_code == 0 and "all 5 episodes match bit for bit" in result.output
    with Recording.open(out) as rec:
        assert rec.status == "interrupted" and rec.attrs["recovered_from"] == str(src)


def test_an_altered_chunk_loses_only_the_episodes_it_holds_rows_of(recorded, tmp_path):
    """Layout v2: a chunk of a shared table holds rows of every episode flushed with it
    (a run's lanes); altering it loses those episodes, reported by its checksum, and
    nothing else."""
    if _version(recorded) < 2:
        pytest.skip("layout v2: shared tables")
    from simulator.recording.index import Index

    data = bytearray(recorded.read_bytes())
    with h5py.File(recorded) as f:
        index = Index(f)
        tid = next(i for i, table in enumerate(index.tables) if table[0] == "state/.packed")
        ds = index.dataset(tid)
        info = ds.id.get_chunk_info_by_coord((0,) + (0,) * (ds.ndim - 1))
        holders = [f"episode_{k}" for k in range(index.n_episodes)
                   if any(row < ds.chunks[0] for t_id, row, _, n in
                          index.layout(k)["state/.packed"] if t_id == tid)]
    assert 0 < len(holders) < 8
    data[info.byte_offset + info.size // 2] ^= 0x40
    src, out = tmp_path / "altered.h5", tmp_path / "recovered.h5"
    src.write_bytes(bytes(data))
    report = recover(src, out)
    assert [item.episode for item in report.lost] == holders
    assert all("checksum" in item.reason and "state/.packed" in item.reason
               for item in report.lost)
    assert len(report.recovered) == 8 - len(holders)
    with Recording.open(out) as rec, Recording.open(recorded) as intact_rec:
        intact, got = _by_name(intact_rec), _by_name(rec)
        assert not set(holders) & set(got)
        for name, episode in got.items():
            _assert_equal_episode(episode, intact[name])


def test_an_altered_chunk_or_compact_dataset_loses_only_its_episode(recorded, tmp_path):
    if _version(recorded) >= 2:
        pytest.skip("layout v1: a group of datasets per episode, small ones compact")
    data = bytearray(recorded.read_bytes())
    with h5py.File(recorded) as f:
        info = f["episode_0/state/cell"].id.get_chunk_info(0)
        compact = f["episode_3/state/agent_pos"]
        assert compact.id.get_create_plist().get_layout() == h5py.h5d.COMPACT
        raw = compact[()].tobytes()
    data[info.byte_offset + info.size // 2] ^= 0x40
    at = bytes(data).find(struct.pack("<BBH", 3, 0, len(raw)) + raw)  # its layout message
    assert at > 0
    data[at + 4 + len(raw) // 2] ^= 0x01
    src, out = tmp_path / "altered.h5", tmp_path / "recovered.h5"
    src.write_bytes(bytes(data))
    report = recover(src, out)
    assert [item.episode for item in report.lost] == ["episode_0", "episode_3"]
    assert "checksum" in report.lost[0].reason and "state/cell" in report.lost[0].reason
    assert "state/agent_pos" in report.lost[1].reason
    assert len(report.recovered) == 6
    with Recording.open(out) as rec, Recording.open(recorded) as intact_rec:
        intact, got = _by_name(intact_rec), _by_name(rec)
        assert "episode_0" not in got and "episode_3" not in got
        for name, episode in got.items():
            _assert_equal_episode(episode, intact[name])


@pytest.mark.parametrize("version", [2, 1])
def test_records_split_over_several_attributes(scene, tmp_path, monkeypatch, version):
    """A record larger than one attribute message takes several frames."""
    monkeypatch.setattr(salvage, "PART_BYTES", 700)
    path = tmp_path / "split.h5"
    record(scene, path, episodes=2, block_steps=4, n_copies=4, handle_signals=False,
           background=False, format_version=version)
    with h5py.File(path) as f:
        if version >= 2:
            assert "episode_0_3" in f["salvage"].attrs
        else:
            assert salvage.attr_name(3) in f["episode_0"].attrs
    needed = _needed_bytes(path)
    src, out = tmp_path / "cut.h5", tmp_path / "recovered.h5"
    src.write_bytes(path.read_bytes()[:max(needed.values()) - 1])
    report = recover(src, out)
    assert len(report.recovered) == 3 and len(report.lost) == 1
    with Recording.open(out) as rec, Recording.open(path) as intact_rec:
        intact = _by_name(intact_rec)
        for name, episode in _by_name(rec).items():
            _assert_equal_episode(episode, intact[name])


def test_user_errors_are_one_line(recorded, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out.h5"
    out.write_bytes(b"taken")
    cases = {
        "no such file": [str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.h5")],
        "already exists": [str(recorded), "-o", str(out)],
        "damaged file itself": [str(recorded), "-o", str(recorded), "--force"],
        "holds no salvage records": [str(ROOT / "tests" / "data" / "demo_v1.h5"), "-o",
                                     str(tmp_path / "y.h5")],
    }
    for message, args in cases.items():
        result = runner.invoke(main, ["recover", *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert out.read_bytes() == b"taken"
    with pytest.raises(UserError, match="nothing to recover"):
        (tmp_path / "head.h5").write_bytes(recorded.read_bytes()[:2000])
        recover(tmp_path / "head.h5", tmp_path / "z.h5")
    assert not (tmp_path / "z.h5").exists()
    assert not list(tmp_path.glob(".*recovering*"))


_RECORDER = '''
import sys, time
from simulator.recording import record
from simulator.scene import Scene

def progress(p):
    if p.run == 1 and p.step == 6 and not p.finished:
        p.writer.sync()
        print("READY", flush=True)
        time.sleep(600)

record(Scene.load(sys.argv[1]), sys.argv[2], episodes=3, block_steps=4, n_copies=4,
       progress=progress)
'''


def test_a_recorder_killed_mid_record_recovers_its_finished_episodes(scene, tmp_path):
    script, out = tmp_path / "recorder.py", tmp_path / "killed.h5"
    script.write_text(_RECORDER)
    proc = subprocess.Popen([sys.executable, str(script), str(scene.path), str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 300)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "READY":
        proc.kill()
        pytest.fail(f"recorder did not get ready: {line!r} {proc.stderr.read()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60  # the writer process closes the file after the kill
    while True:
        try:
            with h5py.File(out, "r", locking=True):
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with Recording.open(out) as rec:
        finished = [ep.name for ep in rec if ep.status == "complete"]
        running = [ep.name for ep in rec if ep.status == "running"]
    assert finished == ["episode_0", "episode_1"] and running == ["episode_2", "episode_3"]
    for src in (out, tmp_path / "killed_and_cut.h5"):
        if src != out:  # and the same file cut short after the kill
            src.write_bytes(out.read_bytes()[:max(_needed_bytes(out).values()) + 1])
        target = tmp_path / f"recovered_{src.name}"
        result = CliRunner().invoke(main, ["recover", str(src), "-o", str(target)])
        assert result.exit_code == 0, result.output
        lines = result.output.strip().splitlines()
        assert [line.split(":")[0] for line in lines[:-1]] == [
            "episode_2", "episode_3", "episode_4", "episode_5"], result.output
        if src == out:  # HDF5 still opens it: the unfinished ones are named as such
            assert "unfinished (running" in lines[0]
        assert lines[-1].startswith("recovered 2 of 6 episodes")
        with Recording.open(target) as rec, Recording.open(out) as intact_rec:
            got, intact = _by_name(rec), _by_name(intact_rec)
            assert list(got) == finished
            for name in finished:
                _assert_equal_episode(got[name], intact[name])
            assert all(check.ok for check in verify(rec))
