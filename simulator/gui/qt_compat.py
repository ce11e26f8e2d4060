"""Working around a Qt binding bug that would otherwise abort the app.

PySide6 6.12.0 on CPython before 3.12 drops one reference to ``None`` each time Python calls
a C++ method that returns ``void`` (``QLabel.setText``, ``QTimer.start``,
``QCoreApplication.processEvents`` ...), and one to ``True`` at each ``Signal.emit``.
CPython 3.12 made these singletons immortal, so there it is harmless; on 3.11 ``None``'s
count (~16,000 after importing pyqtgraph) reaches zero after a few seconds of a busy window
and the interpreter aborts with "Fatal Python error: none_dealloc" (or "bool_dealloc").
PySide6 6.11.3 does not have the bug.

:func:`guard_none_refcount` detects the leak with a probe and, only if it is there, gives
``None``, ``True`` and ``False`` reference counts no session can exhaust (2**40 each).
"""

from __future__ import annotations

import sys

_GUARDED = False
_HEADROOM = 1 << 40


def none_leak_per_call() -> float:
    """References to None lost per call of a void Qt method (0 for a sound binding)."""
    from PySide6 import QtCore

    probe = QtCore.QTimer()
    n_calls = 64
    before = sys.getrefcount(None)
    for _ in range(n_calls):
        probe.setInterval(1)
    return (before - sys.getrefcount(None)) / n_calls


def guard_none_refcount() -> bool:
    """Apply the guard if this interpreter and binding need it; True if it was applied (now
    or before)."""
    global _GUARDED
    if _GUARDED:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if none_leak_per_call() < 0.5:
        return False
    import ctypes

    # ob_refcnt is the first field of every CPython object (Py_ssize_t).
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
    _GUARDED = True
    return True
