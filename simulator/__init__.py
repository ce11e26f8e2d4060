"""steersim: a visual simulator for agent steering.

The package root deliberately imports nothing heavy: no numba kernels, no Qt, no pygame.
Headless batch jobs import the engine modules they need (``simulator.worlds.maze``,
``simulator.session``); the GUI lives in ``simulator.gui`` and is imported only by it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("steersim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
