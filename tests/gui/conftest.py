"""Fixtures shared by the GUI tests."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
from PySide6 import QtCore  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> QtCore.QSettings:
    """Window settings in a temporary file, recordings into a temporary folder."""
    s = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    s.setValue("record/dir", str(tmp_path / "recordings"))
    return s
