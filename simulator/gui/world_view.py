"""A world view: shows frames from :mod:`simulator.render` and reports mouse gestures in
world coordinates.

The view renders at its own size in device pixels, so nothing is rescaled by Qt and the
pixel under the mouse is the pixel the renderer drew; :func:`simulator.render.locate` turns
it into a world coordinate with the same geometry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from simulator.render import Overlays, has_renderer, locate, render_world_rgb32, rgb32_to_array


class WorldView(QtWidgets.QWidget):
    """Paints one lane's world; emits gestures as (lane, world coordinate, button), with
    ``()`` for a point outside the world.

    ``frame_source`` returns (kind, scene, state, overlays) for the current frame, or None
    when there is nothing to show.
    """

    # "Nowhere" travels as an empty tuple: PySide6 on Python 3.11 loses a reference to None
    # each time None goes through a Signal(object), and the interpreter eventually aborts.
    pressed = QtCore.Signal(int, tuple, str)
    dragged = QtCore.Signal(int, tuple, str)
    released = QtCore.Signal(int, tuple, str)
    hovered = QtCore.Signal(int, tuple)
    painted = QtCore.Signal(int, float)  # lane, perf_counter() when the frame was painted

    def __init__(self, lane: int, frame_source: Callable[[], Any], theme: str = "light",
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.lane = lane
        self.frame_source = frame_source
        self.theme = theme
        self._image: QtGui.QImage | None = None
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._rgb: np.ndarray | None = None  # frame() as RGB bytes, made on demand
        self._button: str | None = None
        self._last_overlays: Overlays | None = None
        self._dirty = True
        self.render_seconds = 0.0
        self.setMouseTracking(True)
        self.setMinimumSize(160, 140)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                           QtWidgets.QSizePolicy.Policy.Expanding)
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # --- frames ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """The world or its overlays changed: render again at the next paint."""
        self._dirty = True
        self.update()

    def _pixel_size(self) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return max(int(self.width() * ratio), 1), max(int(self.height() * ratio), 1)

    def _render(self) -> None:
        frame = self.frame_source()
        self._dirty = False
        if frame is None:
            self._image = None
            return
        kind, scene, state, overlays = frame
        size = self._pixel_size()
        start = time.perf_counter()
        if has_renderer(kind):
            # 0xffRRGGBB words: the pygame surface's own layout and Qt's RGB32, so neither
            # side repacks pixels, and painting is a plain copy.
            pixels = render_world_rgb32(kind, scene, state, 0, size, self.theme, overlays)
        else:
            pixels = np.full((size[1], size[0]), 0xFF808080, np.uint32)
        self.render_seconds = time.perf_counter() - start
        self._last_overlays = overlays
        self._pixels = np.ascontiguousarray(pixels)
        self._rgb = None
        height, width = self._pixels.shape[:2]
        # The QImage wraps self._pixels without copying; the array outlives it.
        image = QtGui.QImage(self._pixels.data, width, height, 4 * width,
                             QtGui.QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(self.devicePixelRatioF())
        self._image = image

    @property
    def last_overlays(self) -> Overlays | None:
        """The overlays of the last frame (their caption bands shift the world)."""
        return self._last_overlays

    def frame(self) -> np.ndarray | None:
        """The last rendered frame, (h, w, 3) uint8 (for tests and screenshots)."""
        if self._pixels is None:
            return None
        if self._rgb is None:
            self._rgb = rgb32_to_array(self._pixels)
        return self._rgb

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt override)
        if self._dirty or self._image is None or self._image.size() != QtCore.QSize(
                *self._pixel_size()):
            self._render()
        painter = QtGui.QPainter(self)
        if self._image is None:
            painter.fillRect(self.rect(), self.palette().window())
            painter.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, "no world")
        else:
            painter.drawImage(0, 0, self._image)
        painter.end()
        self.painted.emit(self.lane, time.perf_counter())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        self._dirty = True
        super().resizeEvent(event)

    # --- gestures --------------------------------------------------------------------------
    def world_at(self, pos: QtCore.QPointF) -> tuple[int, ...] | None:
        """World coordinate under widget position ``pos`` (None outside the world)."""
        frame = self.frame_source()
        if frame is None or not has_renderer(frame[0]):
            return None
        kind, scene, state, _ = frame
        ratio = self.devicePixelRatioF()
        return locate(kind, scene, state, self._pixel_size(), pos.x() * ratio,
                      pos.y() * ratio, self.theme, self._last_overlays)

    @staticmethod
    def _button_name(button: QtCore.Qt.MouseButton) -> str | None:
        if button == QtCore.Qt.MouseButton.LeftButton:
            return "left"
        if button == QtCore.Qt.MouseButton.RightButton:
            return "right"
        return None

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        name = self._button_name(event.button())
        where = self.world_at(event.position())
        if name is None or where is None:
            return
        self._button = name
        self.pressed.emit(self.lane, where, name)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        where = self.world_at(event.position())
        self.hovered.emit(self.lane, where or ())
        if self._button is not None and where is not None:
            self.dragged.emit(self.lane, where, self._button)

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._button is None:
            return
        name, self._button = self._button, None
        self.released.emit(self.lane, self.world_at(event.position()) or (), name)

    def leaveEvent(self, event: QtCore.QEvent) -> None:  # noqa: N802
        self.hovered.emit(self.lane, ())
        super().leaveEvent(event)

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:  # noqa: N802
        event.accept()  # the right button is a gesture here, not a menu
