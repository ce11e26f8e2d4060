"""``steersim recover``: salvage records and rebuilding the finished episodes of a recording
cut short (many offsets), altered, or killed mid-record."""

from __future__ import annotations

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
from simulator.errors import UserError
from simulator.recording import Recording, record, salvage, verify
from simulator.recording.recovery import recover
from simulator.scene import Scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Scene:
    path = tmp_path_factory.mktemp("scene") / "rec_test.toml"
    path.write_text(REC_TEST_SCENE)
    return Scene.load(path)


@pytest.fixture(scope="module")
def recorded(scene, tmp_path_factory) -> Path:
    """Four runs (eight episodes) in blocks of 4 steps, with the default writer."""
    path = tmp_path_factory.mktemp("rec") / "intact.h5"
    result = record(scene, path, episodes=4, block_steps=4, n_copies=4, handle_signals=False)
    assert result.status == "complete" and result.episodes == 8
    return path


def _needed_bytes(path: Path) -> dict[str, int]:
    """Per episode of an intact recording, how many leading bytes of the file it needs:
    the end of its salvage record, of every chunk it stores (HDF5's own chunk index,
    independent of the record) and of each compact dataset's bytes."""
    data = path.read_bytes()
    out = {}
    with h5py.File(path) as f:
        for name in f:
            group = f[name]
            ends = []
            for part in range(1000):
                key = salvage.attr_name(part)
                if key not in group.attrs:
                    break
                frame = group.attrs[key].tobytes()
                at = data.find(frame)
                assert at >= 0 and data.find(frame, at + 1) < 0
                ends.append(at + len(frame))

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


def _assert_equal_episode(got: h5py.Group, want: h5py.Group) -> None:
    """Every dataset bit for bit (dtype and shape too) and every attribute equal."""
    names: list[str] = []
    want.visit(names.append)
    got_names: list[str] = []
    got.visit(got_names.append)
    assert sorted(got_names) == sorted(names), want.name
    for path in names:
        a, b = got[path], want[path]
        assert isinstance(a, h5py.Dataset) == isinstance(b, h5py.Dataset), path
        if isinstance(b, h5py.Dataset):
            x, y = a[()], b[()]
            assert x.dtype == y.dtype and x.shape == y.shape, path
            assert x.tobytes() == y.tobytes(), f"{want.name}/{path}"
    kept = {k: str(v) for k, v in want.attrs.items() if not k.startswith("salvage")}
    assert {k: str(v) for k, v in got.attrs.items()} == kept, want.name


def test_every_finished_episode_carries_a_salvage_record(recorded):
    with h5py.File(recorded) as f:
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
    with h5py.File(recorded) as intact:
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
            with h5py.File(out) as f:
                assert sorted(f, key=lambda n: int(n.rpartition("_")[2])) == expected
                for name in expected:
                    _assert_equal_episode(f[name], intact[name])
                assert f.attrs["n_episodes"] == len(expected)
                assert f.attrs["status"] == ("complete" if not lost else "interrupted")
                assert f.attrs["scene_toml"] == intact.attrs["scene_toml"]
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


def test_an_altered_chunk_or_compact_dataset_loses_only_its_episode(recorded, tmp_path):
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
    with h5py.File(out) as f, h5py.File(recorded) as intact:
        assert "episode_0" not in f and "episode_3" not in f
        for name in f:
            _assert_equal_episode(f[name], intact[name])


def test_records_split_over_several_attributes(scene, tmp_path, monkeypatch):
    """A record larger than one attribute message takes several frames."""
    monkeypatch.setattr(salvage, "PART_BYTES", 700)
    path = tmp_path / "split.h5"
    record(scene, path, episodes=2, block_steps=4, n_copies=4, handle_signals=False,
           background=False)
    with h5py.File(path) as f:
        assert salvage.attr_name(3) in f["episode_0"].attrs
    needed = _needed_bytes(path)
    src, out = tmp_path / "cut.h5", tmp_path / "recovered.h5"
    src.write_bytes(path.read_bytes()[:max(needed.values()) - 1])
    report = recover(src, out)
    assert len(report.recovered) == 3 and len(report.lost) == 1
    with h5py.File(out) as f, h5py.File(path) as intact:
        for name in f:
            _assert_equal_episode(f[name], intact[name])


def test_user_errors_are_one_line(recorded, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out.h5"
    out.write_bytes(b"taken")
    cases = {
        "no such file": [str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.h5")],
        "already exists": [str(recorded), "-o", str(out)],
        "damaged file itself": [str(recorded), "-o", str(recorded), "--force"],
        "holds no salvage records": [str(ROOT / "recordings" / "demo.h5"), "-o",
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
        with Recording.open(target) as rec, h5py.File(out) as intact:
            assert [ep.name for ep in rec] == finished
            for name in finished:
                _assert_equal_episode(rec.file[name], intact[name])
            assert all(check.ok for check in verify(rec))
