"""Test-wide set-up: no screen on CI, so Qt renders offscreen and SDL uses its dummy driver.
Set before any test module imports Qt or pygame."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
