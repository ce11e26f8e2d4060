"""A recording with bytes overwritten anywhere it holds something: inspect, verify and export
each say so in one line and exit 2 (issue 19: inspect died with an AttributeError, export
exited 0 without noticing)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.recording import record
from simulator.scene import Scene

SCENE_TOML = '''
name = "damage_test"
world = "maze"
horizon = 250  # long enough that state/cell is chunked and compressed
seed = 3
base_objective = "reach:green"
lanes = [{ agent = "null" }]

[distributions.default]
map = """
#######
#A...G#
#######
"""

[distributions.default.legend]
G = { kind = "goal", color = "green" }
'''


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("damage")
    scene_path = folder / "damage_test.toml"
    scene_path.write_text(SCENE_TOML)
    path = folder / "small.h5"
    result = record(Scene.load(scene_path), path, episodes=1, handle_signals=False)
    assert result.status == "complete"
    return path


def _contents(path: Path) -> dict[str, object] | None:
    """Every attribute and dataset of the file, or None if any of it cannot be read."""
    out: dict[str, object] = {}
    try:
        with h5py.File(path, "r", locking=False) as f:
            out["/"] = {k: repr(v) for k, v in f.attrs.items()}

            def visit(name: str, obj: object) -> None:
                out[name + "@"] = {k: repr(v) for k, v in obj.attrs.items()}
                if isinstance(obj, h5py.Dataset):
                    values = obj[()]  # text (v2's JSON index columns) by value, not pointer
                    out[name] = (repr(values.tolist()) if values.dtype == object
                                 else values.tobytes())

            f.visititems(visit)
    except Exception:
        return None
    return out


def _chunk_offsets(path: Path) -> list[int]:
    """File offsets of a few compressed data chunks (what export used to read past)."""
    with h5py.File(path, "r") as f:
        group = f["state"] if "state" in f else f["episode_0/state"]  # layout v2, v1
        chunked = [ds for ds in group.values() if ds.chunks is not None]
        assert chunked, "the test scene should give chunked state fields"
        return [ds.id.get_chunk_info(0).byte_offset for ds in chunked[:3]]


def _damaged_copies(recorded: Path, tmp_path: Path) -> list[tuple[int, Path]]:
    data = recorded.read_bytes()
    offsets = sorted(set(np.linspace(0, len(data) - 16, 24).astype(int).tolist()
                         + [off + 4 for off in _chunk_offsets(recorded)]))
    copies = []
    for off in offsets:
        damaged = bytearray(data)
        damaged[off:off + 16] = b"\xff" * 16
        path = tmp_path / f"damaged_{off}.h5"
        path.write_bytes(bytes(damaged))
        copies.append((off, path))
    return copies


def test_damage_wherever_the_file_holds_something_is_one_line_and_exit_2(recorded, tmp_path):
    original = _contents(recorded)
    runner = CliRunner()
    n_found = 0
    for off, path in _damaged_copies(recorded, tmp_path):
        if _contents(path) == original:
            continue  # free space or padding: nothing the file holds changed
        n_found += 1
        for args in (["inspect", str(path)], ["verify", str(path)],
                     ["export", str(path), "-o", str(tmp_path / f"v{off}.gif"), "--size",
                      "128x72"]):
            result = runner.invoke(main, args)
            lines = result.output.strip().splitlines()
            assert result.exit_code == 2, (off, args[0], result.output)
            assert len(lines) == 1 and str(path) in lines[0], (off, args[0], result.output)
        assert not (tmp_path / f"v{off}.gif").exists()
    # A small v2 file also holds unused room (chunk-index nodes sized for more chunks):
    # damage there changes nothing read, and is skipped above.
    assert n_found >= 6


def test_an_intact_recording_still_inspects_and_exports(recorded, tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["inspect", str(recorded)]).exit_code == 0
    result = runner.invoke(main, ["export", str(recorded), "-o", str(tmp_path / "v.gif"),
                                  "--size", "128x72"])
    assert result.exit_code == 0, result.output
