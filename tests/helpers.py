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
