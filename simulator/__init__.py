"""steersim: a visual simulator for agent steering.

The package root deliberately imports nothing heavy: no numba kernels, no Qt, no pygame.
Headless batch jobs import the engine modules they need (``simulator.worlds.maze.kernels``,
``simulator.session``); the GUI lives in ``simulator.gui`` and is imported only by it.
"""

import hashlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("steersim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"



def _use_source_keyed_numba_cache() -> None:
    """Point numba's on-disk cache at a folder named by a hash of the engine's source.

    Numba revalidates a cached kernel only against its own file, yet our kernels inline
    functions from other files (policies into rollouts): after editing a policy kernel
    (``simulator/worlds/maze/policies.py``) a
    cached ``maze_rollout`` would silently keep the old policy. Keying the whole cache on
    source file that holds kernels makes any change to one recompile them all, once. A user's
    own NUMBA_CACHE_DIR wins.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    root = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for folder in (root, root.parent / "agents"):
        for path in sorted(folder.rglob("*.py")):
            text = path.read_bytes()
            if b"njit" in text:  # only files with kernels decide what compiled code is valid
                digest.update(path.name.encode())
                digest.update(text)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "steersim" / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(base / digest.hexdigest()[:16])
    if "numba" in sys.modules:  # imported before us: make it read the setting again
        from numba.core import config

        config.reload_config()


_use_source_keyed_numba_cache()

__all__ = ["__version__"]
