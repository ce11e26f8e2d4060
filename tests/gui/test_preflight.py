"""The GUI's checks before it creates a window (issue 19, item 1): one line naming what is
missing — no display, or the system packages Qt's xcb plugin needs — instead of Qt's abort.
Inputs are monkeypatched: no system package is removed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from simulator.cli import main
from simulator.gui import preflight as pf

ROOT = Path(__file__).resolve().parents[2]
LDD_DEBIAN12 = """\
\tlinux-vdso.so.1 (0x00007ffd5b5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007fe8f2538000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007fe8f2513000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fe8f1000000)
"""
LDD_OK = "\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x1)\n"
PLUGIN = Path("/venv/PySide6/Qt/plugins/platforms/libqxcb.so")


def _preflight(env: dict[str, str], ldd_output: str | None = LDD_OK,
               platform: str = "linux") -> str | None:
    return pf.preflight(env, platform, ldd=lambda path: ldd_output, plugin=lambda: PLUGIN)


def test_missing_xcb_libraries_name_their_debian_packages_in_one_line():
    problem = _preflight({"DISPLAY": ":0"}, LDD_DEBIAN12)
    assert problem is not None and "\n" not in problem
    assert "missing libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-keysyms.so.1" in problem
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in problem


def test_an_unknown_missing_library_is_named_as_it_is():
    problem = _preflight({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"},
                         "\tlibfoo.so.3 => not found\n")
    assert problem is not None and "apt-get install libfoo.so.3 " in problem


def test_no_display_says_so_and_suggests_the_ways_out():
    problem = _preflight({})
    assert problem is not None and problem.startswith("no display")
    for hint in ("QT_QPA_PLATFORM=offscreen", "Xvfb", "steersim run, record, export"):
        assert hint in problem


def test_nothing_stops_a_complete_machine_or_a_headless_platform():
    assert _preflight({"DISPLAY": ":0"}) is None
    assert _preflight({"QT_QPA_PLATFORM": "offscreen"}, LDD_DEBIAN12) is None
    assert _preflight({"QT_QPA_PLATFORM": "minimal"}) is None
    # A Wayland session uses Qt's wayland plugin by default: xcb's libraries do not matter.
    assert _preflight({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, LDD_DEBIAN12) is None
    assert _preflight({}, LDD_DEBIAN12, platform="darwin") is None
    assert _preflight({"DISPLAY": ":0"}, None) is None  # no ldd: nothing to say


def test_the_gui_command_exits_2_with_one_line_before_loading_qt(monkeypatch):
    original = pf.preflight
    monkeypatch.setattr(pf, "preflight", lambda: original({}, "linux", ldd=lambda p: LDD_OK,
                                                         plugin=lambda: PLUGIN))
    result = CliRunner().invoke(main, ["gui"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steersim: error: no display")


def test_steersim_with_no_display_exits_2_in_a_subprocess_without_importing_qt():
    code = ("import os, sys; from simulator.cli import main\n"
            "try:\n    main(['gui'])\n"
            "except SystemExit as e:\n"
            "    assert 'PySide6' not in sys.modules\n    sys.exit(e.code)\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=60)
    if sys.platform.startswith("linux"):
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "no display" in out.stderr


def test_the_real_ldd_output_of_this_machine_parses():
    plugin = pf.xcb_plugin()
    if plugin is None or sys.platform != "linux":
        return
    output = pf._ldd(plugin)
    if output:
        assert all(lib.endswith(tuple("0123456789")) for lib in pf.missing_libraries(output))
