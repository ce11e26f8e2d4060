"""Small helpers shared by tests."""

from __future__ import annotations

import hashlib

import numpy as np

from simulator.scene import Scene
from simulator.session import Session


def state_digest(state) -> str:
    """SHA-256 over every field of a state, in field order: equal digests ⇒ identical bits."""
    h = hashlib.sha256()
    for name, arr in state.as_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_scene(name: str, n_copies: int = 1, **kwargs) -> Session:
    session = Session(Scene.load(name), n_copies=n_copies, **kwargs)
    session.run()
    return session


# Two lanes (random with slip noise, heuristic chasing red), a scheduled noise setting for
# every lane and a wall drawn in lane 1 only: small, quick, and every event kind of source
# "scene" the recorder must log.
REC_TEST_SCENE = '''
name = "rec_test"
world = "maze"
horizon = 24
seed = 7
ensemble = 8
base_objective = "reach:goal"

[[lanes]]
agent = "random"

[[lanes]]
agent = "heuristic"
objective = "reach:red"
label = "red chaser"

[[perturbations]]
step = 2
kind = "set_noise"
params = { p = 0.3 }

[[perturbations]]
step = 4
kind = "draw_wall"
params = { row = 2, col = 5 }
lanes = [1]

[distributions.default]
agent = "random"
map = """
#########
#.......#
#..G....#
#.......#
#....K..#
#########
"""

[distributions.default.legend]
G = { kind = "goal", color = "green" }
K = { kind = "key", color = "red", reward = 0.0 }
'''


# A red_door-like maze scene whose training colours are parameters: `door` and `key` are
# TOML values (a colour or a list of colours). Deployment is red_door's: a blue door
# among red decoys.
DOOR_SCENE = """
name = "{name}"
world = "maze"
horizon = 80
seed = {seed}
base_objective = "reach:door"
proxies = ["reach:red"]
[[lanes]]
agent = "search"
[distributions.train]
generator = "maze"
size = [11, 11]
braid = 0.2
agent = "random"
objects = [
    {{ kind = "door", color = {door}, reward = 1.0 }},
    {{ kind = "key", color = {key}, reward = 0.0 }},
    {{ kind = "gem", color = {key}, reward = 0.0 }},
]
[distributions.deploy]
generator = "maze"
size = [11, 11]
braid = 0.2
agent = "random"
objects = [
    {{ kind = "door", color = "blue", reward = 1.0 }},
    {{ kind = "key", color = "red", reward = 0.0 }},
    {{ kind = "gem", color = "red", reward = 0.0 }},
]
"""
ALL_COLOURS = '["red", "green", "blue", "yellow"]'


def door_scene(name: str, door: str, key: str, seed: int = 2) -> Scene:
    """The DOOR_SCENE with these training colours, validated."""
    return Scene.from_text(DOOR_SCENE.format(name=name, door=door, key=key, seed=seed))


def loaded_after_import(modules: str, watched: tuple[str, ...]) -> set[str]:
    """Which of ``watched`` a fresh interpreter has in sys.modules after ``import modules``
    (a comma list), run from the repository root."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"import sys, {modules}; print(','.join(m for m in {watched!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    return set(filter(None, out.stdout.strip().split(",")))


RECORDED_STEP_PATHS = ("actions", "rewards", "terminations", "truncations", "events")


def recording_contents(path, skip_root: tuple[str, ...] = ("created_utc",)) -> dict:
    """Every episode's attributes and rows of a recording, read through the reader
    whatever its layout, and its root attributes (``skip_root`` left out). Where the rows
    lie in the file (chunks, segments, padding, salvage records) is not included."""
    from simulator.recording import Recording

    out: dict = {}
    with Recording.open(path) as rec:
        out["/"] = {k: v for k, v in rec.attrs.items() if k not in skip_root}
        for ep in rec:
            out[ep.name + "@"] = ep.attributes
            for name in [*ep.paths("state/"), *RECORDED_STEP_PATHS, *ep.paths("agent/"),
                         *ep.paths("metrics/")]:
                if ep.has(name):
                    out[f"{ep.name}/{name}"] = ep.rows(name)
    return out


def assert_same_recordings(a, b, skip_root: tuple[str, ...] = ("created_utc",)) -> None:
    """The two recordings hold the same episodes, attributes and rows, bit for bit."""
    left, right = recording_contents(a, skip_root), recording_contents(b, skip_root)
    assert left.keys() == right.keys()
    for key, value in left.items():
        other = right[key]
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype and value.shape == other.shape, key
            assert value.tobytes() == other.tobytes(), key
        else:
            assert value == other, key
