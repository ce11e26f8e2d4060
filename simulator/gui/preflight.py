"""Checks made before the GUI creates its window, so a fresh machine gets one line saying
what is missing instead of Qt's abort ("Could not load the Qt platform plugin "xcb" ... even
though it was found", then a core dump).

Two things can stop Qt on Linux: no display to draw on, and system libraries that Qt's
``xcb`` platform plugin links against but PySide6's wheel does not ship (on Debian 12:
``libxcb-icccm4``, ``libxcb-keysyms1`` and, for Qt >= 6.5, ``libxcb-cursor0``). The second
is found the way a person would: ``ldd`` on the plugin, reading the "not found" lines.
Nothing here imports Qt.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# Platforms that need no display server (Qt's offscreen and minimal draw into memory).
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")

# Library (soname) → the Debian/Ubuntu package that ships it, for the libraries the xcb
# plugin and Qt's GUI module load. A library not listed is named as it is.
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
}


def display_problem(env: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why Qt has nowhere to draw, or None: on Linux with neither $DISPLAY nor
    $WAYLAND_DISPLAY set and no headless QT_QPA_PLATFORM."""
    if not platform.startswith("linux"):
        return None  # macOS and Windows always have their own platform plugin
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if qpa in HEADLESS_PLATFORMS or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: neither $DISPLAY nor $WAYLAND_DISPLAY is set; start the GUI from a"
            " desktop session or under Xvfb (xvfb-run steersim gui), set"
            " QT_QPA_PLATFORM=offscreen to draw off screen, or use the headless commands"
            " (steersim run, record, export)")


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing Qt (None if absent)."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as "not found", in its order, without repeats."""
    missing: list[str] = []
    for line in ldd_output.splitlines():
        name, arrow, where = line.strip().partition("=>")
        if arrow and where.strip().startswith("not found") and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def _ldd(path: Path) -> str | None:
    """``ldd path``'s output, or None where ldd is unavailable or fails."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will load the xcb plugin: asked for, or the default on an X display."""
    if not platform.startswith("linux"):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if qpa:
        return qpa == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def library_problem(missing: list[str]) -> str:
    """One line naming the missing libraries and the packages that ship them."""
    packages = list(dict.fromkeys(DEBIAN_PACKAGES.get(lib, lib) for lib in missing))
    return (f"Qt's xcb platform plugin cannot load: missing {', '.join(missing)}; on"
            f" Debian/Ubuntu install them with: sudo apt-get install {' '.join(packages)}"
            " (other systems: README.md, System packages; or set QT_QPA_PLATFORM=offscreen)")


def preflight(env: Mapping[str, str] | None = None, platform: str = sys.platform,
              ldd: Callable[[Path], str | None] = _ldd,
              plugin: Callable[[], Path | None] = xcb_plugin) -> str | None:
    """Why the GUI cannot open here, in one line, or None if nothing is known to stop it."""
    env = os.environ if env is None else env
    problem = display_problem(env, platform)
    if problem or not uses_xcb(env, platform):
        return problem
    path = plugin()
    output = ldd(path) if path is not None else None
    missing = missing_libraries(output) if output else []
    return library_problem(missing) if missing else None
