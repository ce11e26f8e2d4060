"""``steersim export``: a recording as an MP4 or GIF video, one frame per recorded step.

Frames are :class:`~simulator.reel.Reel` frames — the presenter's picture without its play
controls — drawn off-screen, so export needs no display. They are piped to the ffmpeg that
imageio-ffmpeg ships: H.264 in yuv420p for MP4 (plays in browsers and slide software),
and for GIF one palette computed over the whole clip (``palettegen`` / ``paletteuse``), so
the projector theme's flat colours stay exact.

The video is written to a temporary file next to the output and renamed when complete, so
an interrupted export never leaves a half-written video under the requested name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulator.core.errors import UserError
from simulator.recording import Recording
from simulator.reel import Reel, parse_size

FORMATS = (".mp4", ".gif")
DEFAULT_FPS = 6.0  # recorded steps per second of video
DEFAULT_SIZE = {".mp4": (1280, 720), ".gif": (960, 540)}
_GIF_FILTER = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    frames: int
    size: tuple[int, int]
    fps: float


def check_output(out: str | Path, force: bool = False) -> Path:
    """The output path if it can be written: a known extension, an existing folder, and no
    existing file unless ``force`` (UserError otherwise)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UserError(f"{path}: unknown video format {path.suffix or '(no extension)'!r};"
                        f" use {' or '.join(FORMATS)}")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{parent}: no such directory")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{parent}: not writable")
    return path


def video_size(out: Path, size: str | tuple[int, int] | None) -> tuple[int, int]:
    """The frame size for ``out``: ``size`` ("WxH" or a pair) or the format's default.
    MP4 (yuv420p) needs an even width and height."""
    suffix = out.suffix.lower()
    if size is None:
        return DEFAULT_SIZE[suffix]
    width, height = parse_size(size) if isinstance(size, str) else parse_size(
        f"{size[0]}x{size[1]}")
    if suffix == ".mp4" and (width % 2 or height % 2):
        raise UserError(f"--size {width}x{height}: an MP4 needs an even width and height")
    return width, height


def export(recording: str | Path, out: str | Path, *, fps: float = DEFAULT_FPS,
           size: str | tuple[int, int] | None = None, episode: int | None = None,
           run: int | None = None, force: bool = False,
           progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Write recording ``recording`` as the video ``out`` (.mp4 or .gif).

    Parameters
    ----------
    fps : recorded steps per second of video (one frame per step).
    size : frame size, "WxH" or (W, H); default 1280x720 (MP4) or 960x540 (GIF).
    episode, run : what to show, as for :class:`~simulator.reel.Reel` (default: every lane
        of the first run side by side).
    force : overwrite an existing ``out``.
    progress : called as ``progress(frames_done, frames_total)`` after each frame.

    UserError (one line) for a bad recording, output, size or fps.
    """
    if not 0.1 <= fps <= 120:
        raise UserError(f"--fps {fps:g}: must be between 0.1 and 120")
    path = check_output(out, force)
    frame_size = video_size(path, size)
    with Recording.open(recording) as rec:
        rec.check()  # damage anywhere is found before the first frame, not after exit 0
    with Reel.open(recording, episode, run) as reel:
        n_frames = reel.n_steps + 1
        partial = path.with_name(f".{path.stem}.partial{path.suffix.lower()}")
        try:
            _encode(reel, partial, frame_size, fps, n_frames, progress)
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    return ExportResult(path, n_frames, frame_size, fps)


def _encode(reel: Reel, path: Path, size: tuple[int, int], fps: float, n_frames: int,
            progress: Callable[[int, int], None] | None) -> None:
    """Pipe frames 0..n_frames-1 of ``reel`` into ffmpeg, writing ``path``."""
    import imageio_ffmpeg

    if path.suffix == ".gif":
        options = {"codec": "gif", "pix_fmt_out": "pal8", "quality": None,
                   "macro_block_size": 1, "output_params": ["-vf", _GIF_FILTER]}
    else:
        options = {"codec": "libx264", "pix_fmt_out": "yuv420p", "quality": 8,
                   "macro_block_size": 2, "output_params": ["-movflags", "+faststart"]}
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=float(fps),
                                         ffmpeg_log_level="error", **options)
    try:
        writer.send(None)  # start ffmpeg
        for t in range(n_frames):
            writer.send(reel.frame(t, size))
            if progress is not None:
                progress(t + 1, n_frames)
        writer.close()  # wait for ffmpeg to finish the file
    except (OSError, RuntimeError) as exc:  # ffmpeg died: a broken pipe, a full disk
        writer.close()
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path.name}: ffmpeg failed: {first}") from None
    except BaseException:  # Ctrl-C, a failing progress callback
        # End ffmpeg before the caller removes the partial file: left running, it could
        # still create or write it afterwards.
        writer.close()
        raise
