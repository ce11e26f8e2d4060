"""Video export: the written file decodes (with imageio-ffmpeg's own reader) to one frame per
recorded step at the requested size, looking like the presenter's frames; bad input is one
line and exit code 2 and never leaves a file behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import imageio_ffmpeg
import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.core.errors import UserError
from simulator.export import export
from simulator.reel import Reel

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recordings" / "demo.h5"


def _decode(path: Path) -> tuple[dict, list[np.ndarray]]:
    """(metadata, frames as (H, W, 3) uint8) of a video file."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    width, height = meta["size"]
    frames = [np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader]
    return meta, frames


@pytest.mark.parametrize(("suffix", "size", "tolerance"), [
    (".mp4", (320, 180), 12.0),  # H.264 is lossy
    (".gif", (300, 170), 2.0),  # one palette for the clip, no dithering: near exact
])
def test_export_decodes_to_one_frame_per_step_at_the_size_asked(tmp_path, suffix, size,
                                                                tolerance):
    out = tmp_path / f"demo{suffix}"
    result = CliRunner().invoke(main, ["export", str(DEMO), "-o", str(out), "--fps", "10",
                                       "--size", f"{size[0]}x{size[1]}"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    meta, frames = _decode(out)
    with Reel.open(DEMO) as reel:
        n_expected = reel.n_steps + 1
        first, last = reel.frame(0, size), reel.frame(reel.n_steps, size)
    assert tuple(meta["size"]) == size
    assert len(frames) == n_expected
    for decoded, drawn in ((frames[0], first), (frames[-1], last)):
        error = np.abs(decoded.astype(np.int16) - drawn.astype(np.int16)).mean()
        assert error < tolerance
    assert np.abs(frames[0].astype(np.int16) - frames[-1]).mean() > 1.0  # it moves
    assert not list(tmp_path.glob(".*partial*"))


def test_export_one_episode_with_progress(tmp_path):
    calls: list[tuple[int, int]] = []
    result = export(DEMO, tmp_path / "ep.mp4", size=(256, 144), episode=1,
                    progress=lambda done, total: calls.append((done, total)))
    with Reel.open(DEMO, episode=1) as reel:
        n_frames = reel.lanes[0].n_steps + 1
    assert result.frames == n_frames
    assert len(_decode(result.path)[1]) == n_frames
    assert calls == [(k, n_frames) for k in range(1, n_frames + 1)]


def test_an_interrupted_export_leaves_nothing_behind(tmp_path):
    out = tmp_path / "cut.mp4"

    def stop(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(DEMO, out, size=(128, 72), progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_force_overwrites_an_existing_output(tmp_path):
    out = tmp_path / "again.gif"
    out.write_bytes(b"old")
    with pytest.raises(UserError, match="already exists"):
        export(DEMO, out, size=(128, 72), episode=1)
    assert out.read_bytes() == b"old"
    export(DEMO, out, size=(128, 72), episode=1, force=True)
    assert out.read_bytes()[:3] == b"GIF"


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _newer_format(tmp_path: Path) -> Path:
    path = tmp_path / "future.h5"
    shutil.copy(DEMO, path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    return path


@pytest.mark.parametrize(("make_input", "extra", "message"), [
    (lambda tmp: tmp / "missing.h5", [], "no such file"),
    (lambda tmp: _file(tmp / "empty.h5", b""), [], "empty file"),
    (lambda tmp: _file(tmp / "text.h5", b"hello"), [], "not an HDF5 file"),
    (_newer_format, [], "format v99"),
    (lambda tmp: DEMO, ["--size", "100"], "expected WIDTHxHEIGHT"),
    (lambda tmp: DEMO, ["--size", "20x20"], "between 64 and 7680"),
    (lambda tmp: DEMO, ["--size", "321x180"], "even width and height"),
    (lambda tmp: DEMO, ["--fps", "0"], "--fps 0"),
    (lambda tmp: DEMO, ["--episode", "40"], "no episode 40"),
    (lambda tmp: DEMO, ["-o", "{tmp}/out.avi"], "unknown video format '.avi'"),
    (lambda tmp: DEMO, ["-o", "{tmp}/nowhere/out.mp4"], "no such directory"),
    (lambda tmp: DEMO, ["-o", "{tmp}/taken.mp4"], "already exists (use --force"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, make_input, extra, message):
    (tmp_path / "taken.mp4").write_bytes(b"mine")
    source = make_input(tmp_path)
    extra = [arg.format(tmp=tmp_path) for arg in extra]
    args = ["export", str(source)] + (extra if "-o" in extra else
                                      ["-o", str(tmp_path / "out.mp4"), *extra])
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steersim: error:"), result.output
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert (tmp_path / "taken.mp4").read_bytes() == b"mine"
