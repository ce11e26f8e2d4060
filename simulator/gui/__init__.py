"""The desktop GUI (PySide6 + pyqtgraph). Imported only by ``steersim gui``: nothing in the
engine, the session or the agents imports Qt.

:func:`launch` opens the main window on a scene or a recording and runs the event loop.
"""

from __future__ import annotations

import sys
import traceback
from types import TracebackType


def launch(target: str | None = None, argv: list[str] | None = None) -> int:
    """Open the main window on ``target`` (scene name or path, or a recording .h5; None:
    the last one used) and run until it closes. Returns the exit code.

    UserError (one line) before Qt loads if it could not open a window here: no display,
    or system libraries its platform plugin needs are missing (see :mod:`.preflight`).
    """
    from simulator.core.errors import UserError
    from simulator.gui.preflight import preflight

    problem = preflight()
    if problem:
        raise UserError(problem)
    from PySide6 import QtWidgets

    from simulator.gui.main_window import MainWindow
    from simulator.gui.qt_compat import guard_none_refcount

    guard_none_refcount()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(argv or sys.argv[:1])
    app.setApplicationName("steersim")
    app.setOrganizationName("steersim")
    app.setStyle("Fusion")
    window = MainWindow(target)

    def show_unexpected(kind: type[BaseException], exc: BaseException,
                        tb: TracebackType | None) -> None:
        """A bug in a slot is shown to the user; it never takes the window down."""
        if issubclass(kind, KeyboardInterrupt):
            app.quit()
            return
        text = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(text)
        window.show_error(f"internal error: {exc}", text)

    sys.excepthook = show_unexpected
    window.show()
    return int(app.exec())


__all__ = ["launch"]
