"""Drawing the thermal world: the room's temperature field, walls, windows, heaters and
sensors, and a thermometer strip where the ensemble's readings are the ghost cloud.

The temperature colours span the range the metrics bin sensor readings over (the driver's
``bins``), so the same colour means the same temperature in every frame of a scene.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pygame

from simulator.render import Flash, Overlays
from simulator.render.theme import Theme, caption_bands, draw_caption, font
from simulator.worlds.thermal import kernels as thermal


@dataclass(frozen=True)
class Layout:
    """The room's grid (square cells of ``cell`` pixels at (left, top)) and, to its right,
    the thermometer strip ``strip``."""

    cell: int
    left: int
    top: int
    rows: int
    cols: int
    strip: pygame.Rect

    def rect(self, row: int, col: int) -> pygame.Rect:
        return pygame.Rect(self.left + col * self.cell, self.top + row * self.cell,
                           self.cell, self.cell)

    def center(self, row: float, col: float) -> tuple[int, int]:
        return (int(self.left + (col + 0.5) * self.cell),
                int(self.top + (row + 0.5) * self.cell))



def layout(shape: tuple[int, int], size: tuple[int, int], theme: Theme | None = None,
           overlays: Overlays | None = None) -> Layout:
    """Fit the room and the thermometer strip into ``size`` (width, height)."""
    rows, cols = shape
    width, height = size
    top_band = bottom_band = 0
    if overlays is not None and theme is not None:
        top_band, bottom_band = caption_bands(overlays.caption, overlays.internals, height, theme)
    strip_w = max(int(width * 0.16), 36) if width >= 120 else 0
    avail_w = max(width - strip_w - 6, 1)
    avail_h = max(height - top_band - bottom_band, 1)
    cell = max(min(avail_w // cols, avail_h // rows), 1)
    left = (avail_w - cell * cols) // 2
    top = top_band + (avail_h - cell * rows) // 2
    strip = pygame.Rect(width - strip_w, top_band + 4, strip_w, max(avail_h - 8, 1))
    return Layout(cell, left, top, rows, cols, strip)


def locate(scene: Any, state: thermal.ThermalState, size: tuple[int, int], x: float,
           y: float, overlays: Overlays | None = None, theme: Theme | None = None
           ) -> tuple[int, int] | None:
    """(row, col) of the room cell under pixel (x, y), or None."""
    from simulator.render.theme import THEMES

    lay = layout(state.temp.shape[1:], size, theme or THEMES["light"], overlays)
    col = int((x - lay.left) // lay.cell)
    row = int((y - lay.top) // lay.cell)
    if 0 <= row < lay.rows and 0 <= col < lay.cols:
        return row, col
    return None


# --- colours ----------------------------------------------------------------------------
_RANGES: weakref.WeakKeyDictionary[Any, tuple[float, float]] = weakref.WeakKeyDictionary()


def temperature_range(scene: Any) -> tuple[float, float]:
    """(low, high) °C the colours span: the metrics' binning range of the scene."""
    if scene not in _RANGES:
        from simulator.worlds import get_driver

        lows, highs, _ = get_driver("thermal").bins(scene)
        _RANGES[scene] = (float(np.min(lows)), float(np.max(highs)))
    return _RANGES[scene]


# Cold → cool → pale → warm → hot; a diverging map reads as "too cold / too hot" at a glance.
_STOPS = np.array([
    [0.00, 33, 80, 170],
    [0.30, 110, 170, 225],
    [0.50, 246, 244, 238],
    [0.70, 245, 165, 95],
    [1.00, 190, 30, 40],
], np.float64)


def temperature_colors(temp: np.ndarray, low: float, high: float) -> np.ndarray:
    """temp (...) °C → (..., 3) uint8 colours on the cold-to-hot map over [low, high]."""
    x = np.clip((temp - low) / max(high - low, 1e-9), 0.0, 1.0)
    out = np.empty(temp.shape + (3,), np.uint8)
    for channel in range(3):
        out[..., channel] = np.interp(x, _STOPS[:, 0], _STOPS[:, channel + 1]).astype(np.uint8)
    return out


def _base_objective(scene: Any) -> Any:
    from simulator.worlds import parse_objective

    return parse_objective(scene.model.base_objective, "thermal")


# --- drawing ----------------------------------------------------------------------------
def _draw_room(surface: pygame.Surface, lay: Layout, state: thermal.ThermalState, copy: int,
               theme: Theme, low: float, high: float) -> None:
    temp, cell = state.temp[copy], state.cell[copy]
    rgb = temperature_colors(temp, low, high)
    rgb[cell == thermal.CELL_WALL] = theme.wall
    glass = (200, 222, 235) if theme.name != "dark" else (90, 120, 140)
    rgb[cell == thermal.CELL_WINDOW] = glass
    rows, cols = cell.shape
    image = pygame.image.frombuffer(np.ascontiguousarray(rgb).tobytes(), (cols, rows), "RGB")
    surface.blit(pygame.transform.scale(image, (cols * lay.cell, rows * lay.cell)),
                 (lay.left, lay.top))
    lw = max(1, int(round(lay.cell * 0.08 * theme.line_scale)))
    for row, col in np.argwhere(cell == thermal.CELL_OPEN_WINDOW):
        rect = lay.rect(int(row), int(col))
        pygame.draw.rect(surface, theme.hover, rect, lw)
        pygame.draw.line(surface, theme.hover, rect.topleft, rect.bottomright, lw)
    for row, col in np.argwhere(cell == thermal.CELL_WINDOW):
        rect = lay.rect(int(row), int(col))
        pygame.draw.line(surface, theme.wall_edge, (rect.left, rect.centery),
                         (rect.right, rect.centery), max(lw // 2, 1))
    for row, col in np.argwhere(cell == thermal.CELL_RESERVOIR):
        rect = lay.rect(int(row), int(col))
        for k in range(0, rect.width, max(rect.width // 3, 2)):
            pygame.draw.line(surface, theme.wall_edge, (rect.left + k, rect.bottom),
                             (rect.left + k + rect.width // 3, rect.top), 1)


def _draw_devices(surface: pygame.Surface, lay: Layout, state: thermal.ThermalState,
                  copy: int, theme: Theme) -> None:
    """Heaters (orange) and coolers (blue): a radiator glyph, filled as strongly as the
    power the agent set."""
    tag, cell = state.tag[copy], state.cell[copy]
    watts, power = state.heater_watts[copy], state.heater_power[copy]
    lw = max(1, int(round(lay.cell * 0.07 * theme.line_scale)))
    heater_cells = np.argwhere((tag >= 0) & (cell == thermal.CELL_AIR))
    for row, col in heater_cells:
        k = int(tag[row, col])
        if k >= len(watts):
            continue
        hot = watts[k] >= 0
        color = (240, 120, 20) if hot else (40, 120, 230)
        rect = lay.rect(int(row), int(col)).inflate(-lay.cell * 0.2, -lay.cell * 0.2)
        level = float(np.clip(power[k], 0.0, 1.0))
        if level > 0:
            fill = pygame.Surface(rect.size, pygame.SRCALPHA)
            fill.fill((*color, int(80 + 175 * level)))
            surface.blit(fill, rect.topleft)
        pygame.draw.rect(surface, color, rect, lw)
        for j in (1, 2, 3):  # radiator fins
            x = rect.left + rect.width * j // 4
            pygame.draw.line(surface, color, (x, rect.top), (x, rect.bottom), max(lw // 2, 1))


def _draw_sensors(surface: pygame.Surface, lay: Layout, state: thermal.ThermalState,
                  copy: int, theme: Theme) -> None:
    px = int(max(14, lay.cell * 0.6) * theme.text_scale)
    f = font(px, bold=True)
    radius = max(int(lay.cell * 0.3), 3)
    for k in range(state.sensor_pos.shape[1]):
        row, col = state.sensor_pos[copy, k]
        center = lay.center(int(row), int(col))
        pygame.draw.circle(surface, theme.agent_ring, center, radius + 2)
        pygame.draw.circle(surface, theme.agent, center, radius)
        reading = state.temp[copy, row, col]
        label = f.render(f"{reading:.1f}°", True, theme.text)
        box = label.get_rect(midleft=(center[0] + radius + 4, center[1]))
        back = pygame.Surface(box.inflate(6, 2).size, pygame.SRCALPHA)
        back.fill((*theme.text_background, 200))
        surface.blit(back, box.inflate(6, 2).topleft)
        surface.blit(label, box)


def _sensor_readings(state: thermal.ThermalState, sensor: int) -> np.ndarray:
    """(E,) every copy's reading of sensor ``sensor``."""
    rows = state.sensor_pos[:, sensor, 0]
    cols = state.sensor_pos[:, sensor, 1]
    return state.temp[np.arange(state.n_copies), rows, cols]


def _draw_thermometer(surface: pygame.Surface, lay: Layout, scene: Any,
                      state: thermal.ThermalState, copy: int, theme: Theme, low: float,
                      high: float, ghosts: bool, strength: float = 1.0) -> None:
    """A vertical scale of the colour map, the base objective's band, the ensemble's
    readings as a density (the ghosts) and the shown copy's reading."""
    strip = lay.strip
    if strip.width <= 0 or strip.height < 20:
        return
    bar = pygame.Rect(strip.right - max(strip.width // 4, 8) - 2, strip.top, max(
        strip.width // 4, 8), strip.height)

    def y_of(temp: float) -> int:
        x = (temp - low) / max(high - low, 1e-9)
        return int(bar.bottom - np.clip(x, 0.0, 1.0) * bar.height)

    column = temperature_colors(np.linspace(high, low, bar.height), low, high)
    image = pygame.image.frombuffer(np.ascontiguousarray(
        np.repeat(column[:, None, :], bar.width, axis=1)).tobytes(), bar.size, "RGB")
    surface.blit(image, bar.topleft)
    pygame.draw.rect(surface, theme.wall_edge, bar, 1)
    objective = _base_objective(scene)
    top, bottom = y_of(objective.high), y_of(objective.low)
    band = pygame.Rect(strip.left, top, strip.width, max(bottom - top, 2))
    tint = pygame.Surface(band.size, pygame.SRCALPHA)
    tint.fill((46, 160, 67, 60))
    surface.blit(tint, band.topleft)
    pygame.draw.rect(surface, (46, 160, 67), band, max(1, int(theme.line_scale)))
    if ghosts and state.n_copies > 1:
        readings = _sensor_readings(state, objective.sensor)
        n_bins = max(bar.height // 4, 4)
        counts, _ = np.histogram(np.clip(readings, low, high), bins=n_bins, range=(low, high))
        density = counts / counts.max() if counts.max() else counts.astype(float)
        room = bar.left - strip.left - 4
        cloud = pygame.Surface(strip.size, pygame.SRCALPHA)
        for i, d in enumerate(density):
            if d <= 0:
                continue
            y0 = y_of(low + (high - low) * (i + 1) / n_bins) - strip.top
            y1 = y_of(low + (high - low) * i / n_bins) - strip.top
            w = max(int(room * d), 1)
            alpha = int((90 + 150 * d) * strength)
            pygame.draw.rect(cloud, (*theme.ghost, min(alpha, 255)),
                             (bar.left - strip.left - 2 - w, y0, w, max(y1 - y0, 1)))
        surface.blit(cloud, strip.topleft)
    reading = float(_sensor_readings(state.select(copy), objective.sensor)[0])
    y = y_of(reading)
    pygame.draw.line(surface, theme.agent, (strip.left, y), (bar.right + 1, y),
                     max(2, int(2 * theme.line_scale)))
    px = int(max(10, min(16, strip.height / 18)) * theme.text_scale)
    f = font(px)
    for temp in (low, high):
        label = f.render(f"{temp:.0f}°", True, theme.text)
        surface.blit(label, label.get_rect(midright=(bar.left - 3, y_of(temp) + (
            -label.get_height() // 2 if temp == low else label.get_height() // 2))))


def _draw_pending(surface: pygame.Surface, lay: Layout, state: thermal.ThermalState,
                  copy: int, pending: list[tuple[str, dict[str, Any]]], theme: Theme) -> None:
    overlay = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
    for kind, params in pending:
        if kind in ("heat", "cool") and "row" in params:
            color = (240, 120, 20) if kind == "heat" else (40, 120, 230)
            center = lay.center(float(params["row"]), float(params["col"]))
            radius = int(float(params.get("radius", 1.5)) * lay.cell)
            pygame.draw.circle(overlay, (*color, 90), center, max(radius, 2))
            pygame.draw.circle(overlay, (*color, 255), center, max(radius, 2), 2)
        elif kind in ("open_window", "close_window"):
            target = int(params.get("target", -1))
            tags = state.tag[copy]
            cells = state.cell[copy]
            windows = (cells == thermal.CELL_WINDOW) | (cells == thermal.CELL_OPEN_WINDOW)
            hit = windows & ((tags == target) if target >= 0 else True)
            for row, col in np.argwhere(hit):
                pygame.draw.rect(overlay, (*theme.pending, 255), lay.rect(int(row), int(col)),
                                 3)
    surface.blit(overlay, (0, 0))


def _draw_flashes(surface: pygame.Surface, lay: Layout, flashes: list[Flash],
                  theme: Theme) -> None:
    width, height = surface.get_size()
    for flash in flashes:
        alpha = int(255 * min(max(flash.strength, 0.0), 1.0))
        if alpha <= 0:
            continue
        overlay = pygame.Surface((width, height), pygame.SRCALPHA)
        if flash.where is None:
            pygame.draw.rect(overlay, (*theme.flash, alpha), (0, 0, width, height), 6)
        else:
            center = lay.center(float(flash.where[0]), float(flash.where[1]))
            radius = int(lay.cell * (1.0 + 1.5 * (1.0 - flash.strength)))
            pygame.draw.circle(overlay, (*theme.flash, alpha), center, radius, 3)
        surface.blit(overlay, (0, 0))


def fit(state: Any, room: tuple[int, int]) -> tuple[int, int]:
    """The frame size the room fills inside ``room``: the thermometer strip beside it is as
    tall as the frame, so leave it twice the room's height for a readable scale."""
    lay = layout(state.temp.shape[1:], room)
    return (room[0], min(room[1], 2 * lay.cell * lay.rows + 8))


def draw(surface: pygame.Surface, scene: Any, state: thermal.ThermalState, copy: int,
         theme: Theme, overlays: Overlays) -> None:
    """Draw copy ``copy`` of ``state`` filling ``surface``; see :mod:`simulator.render`."""
    if not 0 <= copy < state.n_copies:
        raise IndexError(f"copy {copy} outside an ensemble of {state.n_copies}")
    surface.fill(theme.background)
    low, high = temperature_range(scene)
    lay = layout(state.temp.shape[1:], surface.get_size(), theme, overlays)
    _draw_room(surface, lay, state, copy, theme, low, high)
    _draw_devices(surface, lay, state, copy, theme)
    _draw_sensors(surface, lay, state, copy, theme)
    _draw_thermometer(surface, lay, scene, state, copy, theme, low, high, overlays.ghosts)
    if overlays.pending:
        _draw_pending(surface, lay, state, copy, overlays.pending, theme)
    _draw_flashes(surface, lay, overlays.flashes, theme)
    if overlays.hover is not None and len(overlays.hover) == 2:
        r, c = overlays.hover
        if 0 <= r < lay.rows and 0 <= c < lay.cols:
            pygame.draw.rect(surface, theme.hover, lay.rect(r, c), 2)
    draw_caption(surface, overlays.caption, theme, "top")
    draw_caption(surface, overlays.internals, theme, "bottom")


def draw_ghosts(surface: pygame.Surface, scene: Any, state: thermal.ThermalState,
                theme: Theme, strength: float = 1.0) -> None:
    """Only the ensemble's reading density on the thermometer strip (transparent elsewhere)."""
    low, high = temperature_range(scene)
    lay = layout(state.temp.shape[1:], surface.get_size())
    objective = _base_objective(scene)
    readings = _sensor_readings(state, objective.sensor)
    strip = lay.strip
    if strip.height < 20:
        return
    n_bins = max(strip.height // 4, 4)
    counts, _ = np.histogram(np.clip(readings, low, high), bins=n_bins, range=(low, high))
    density = counts / counts.max() if counts.max() else counts.astype(float)
    for i, d in enumerate(density):
        if d <= 0:
            continue
        y1 = strip.bottom - int(strip.height * i / n_bins)
        y0 = strip.bottom - int(strip.height * (i + 1) / n_bins)
        w = max(int(strip.width * 0.7 * d), 1)
        pygame.draw.rect(surface, (*theme.ghost, int((90 + 150 * d) * strength)),
                         (strip.left, y0, w, max(y1 - y0, 1)))
