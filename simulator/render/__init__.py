"""The one renderer: pygame drawing onto off-screen Surfaces, returned as RGB arrays.

The Qt world views, the pygame presenter and video export all show frames made here, so a
world looks the same everywhere. Nothing in this package opens a display: it draws on plain
``pygame.Surface`` objects (``pygame.display`` is never initialised, and it works with
``SDL_VIDEODRIVER=dummy``). Only this package imports pygame; the engine, the session and
the agents never do.

Each world kind has a drawing module (``simulator/worlds/<kind>/render.py``) providing

- ``draw(surface, scene, state, copy, theme, overlays)``: the world (copy ``copy`` of the
  ensemble ``state``), the ensemble's ghosts and the overlays, filling the surface;
- ``draw_ghosts(surface, scene, state, theme, strength)``: only the ensemble density cloud,
  on a transparent surface;
- ``locate(scene, state, size, x, y, overlays, theme)``: the world coordinate under pixel
  (x, y) of a frame of ``size`` (maze: ``(row, col)``), or None — so a mouse gesture on
  any view lands where the user sees it;
- optionally ``fit(state, room)``: the frame size the world fills inside ``room``.

and is named by its world's ``renderer`` entry point (:mod:`simulator.worlds`); modules
load on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (the environment variable must be set before the import)

from simulator.render.theme import THEMES, Theme, get_theme  # noqa: E402
from simulator.worlds import world  # noqa: E402

ThemeName = Literal["light", "dark", "projector"]

@dataclass
class Flash:
    """A perturbation to highlight: where it hit (world coordinates: maze ``(row, col)``;
    None for the whole world) and how fresh it is (1 = just now, fading to 0)."""

    where: tuple[float, ...] | None
    strength: float = 1.0
    label: str = ""


@dataclass
class Overlays:
    """What is drawn over a world besides the world itself.

    ghosts : draw the ensemble's density cloud (the copies other than the one shown).
    expanded : (H, W) bool cells a tree search expanded, when the agent reports them.
    internals : short lines about the agent's insides ("rule 3: dy=-1 -> up",
        "search: 412 nodes", "heater ON"), drawn in a caption band.
    heater : thermal only: whether the heater is on (drawn on the heater itself).
    flashes : perturbations to highlight.
    pending : perturbations logged for the next step but not applied yet, as
        ``(kind, params)`` with the driver's named params ({"row": r, "col": c} ...): drawn
        as previews so a click shows at once even while paused.
    hover : the world coordinate under the mouse, outlined.
    caption : extra caption lines (titles, step counters) for the presenter and export.
    """

    ghosts: bool = True
    expanded: np.ndarray | None = None
    internals: list[str] = field(default_factory=list)
    heater: bool | None = None
    flashes: list[Flash] = field(default_factory=list)
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hover: tuple[int, ...] | None = None
    caption: list[str] = field(default_factory=list)


def world_renderer(kind: str) -> ModuleType:
    """The drawing module of world ``kind``; KeyError names the kinds there are."""
    return world(kind).load("renderer")


def has_renderer(kind: str) -> bool:
    """Whether world ``kind`` can be drawn."""
    try:
        world_renderer(kind)
    except KeyError:
        return False
    return True


_SURFACES: dict[tuple[tuple[int, int], bool], pygame.Surface] = {}


def _surface(size: tuple[int, int], alpha: bool = False) -> pygame.Surface:
    """A reused off-screen surface of ``size`` (allocating one per frame costs more than
    drawing a small world)."""
    key = (size, alpha)
    surf = _SURFACES.get(key)
    if surf is None:
        if len(_SURFACES) > 32:  # window resizes leave old sizes behind
            _SURFACES.clear()
        surf = pygame.Surface(size, pygame.SRCALPHA if alpha else 0, 32)
        _SURFACES[key] = surf
    return surf


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {size!r}")
    return width, height


def surface_to_array(surface: pygame.Surface, mode: str = "RGB") -> np.ndarray:
    """(h, w, 3) — or (h, w, 4) for ``mode="RGBA"`` — uint8 pixels of ``surface``, row-major
    as images are stored (read-only: it wraps the bytes pygame returns)."""
    width, height = surface.get_size()
    raw = pygame.image.tobytes(surface, mode)
    return np.frombuffer(raw, np.uint8).reshape(height, width, len(mode))


def render_world(kind: str, scene: Any, state: Any, copy: int = 0,
                 size: tuple[int, int] = (480, 480), theme: ThemeName | Theme = "light",
                 overlays: Overlays | None = None) -> np.ndarray:
    """Draw copy ``copy`` of the ensemble ``state`` of a ``kind`` world.

    Parameters
    ----------
    kind : world kind ("maze", ...).
    scene : the :class:`~simulator.scene.Scene` the state belongs to.
    state : the world's struct-of-arrays state with a leading copy axis (E, ...).
    copy : which copy is the shown world; the others make the ghost cloud.
    size : (width, height) of the frame in pixels.
    theme : "light", "dark", "projector" (high contrast for talks) or a :class:`Theme`.
    overlays : ghosts, agent internals, flashes, pending events (default: ghosts only).

    Returns
    -------
    (height, width, 3) uint8 RGB array (read-only).
    """
    size = _check_size(size)
    surface = _surface(size)
    world_renderer(kind).draw(surface, scene, state, copy, get_theme(theme),
                              overlays if overlays is not None else Overlays())
    return surface_to_array(surface)


def render_world_rgb32(kind: str, scene: Any, state: Any, copy: int = 0,
                      size: tuple[int, int] = (480, 480), theme: ThemeName | Theme = "light",
                      overlays: Overlays | None = None) -> np.ndarray:
    """The frame :func:`render_world` draws, as an (height, width) uint32 array of
    ``0xffRRGGBB`` pixels (Qt's ``QImage.Format_RGB32``): the off-screen surface's own
    layout, so no per-pixel repacking into RGB bytes. A fresh, contiguous copy."""
    size = _check_size(size)
    surface = _surface(size)
    world_renderer(kind).draw(surface, scene, state, copy, get_theme(theme),
                              overlays if overlays is not None else Overlays())
    return surface_to_rgb32(surface)


def surface_to_rgb32(surface: pygame.Surface) -> np.ndarray:
    """(h, w) uint32 ``0xffRRGGBB`` pixels of an opaque 32-bit ``surface`` (a copy)."""
    width, height = surface.get_size()
    if surface.get_bitsize() == 32 and surface.get_masks()[:3] == (0xFF0000, 0xFF00, 0xFF):
        rows = np.frombuffer(surface.get_buffer(), np.uint32).reshape(
            height, surface.get_pitch() // 4)[:, :width]
        return np.bitwise_or(rows, np.uint32(0xFF000000))
    rgb = surface_to_array(surface).astype(np.uint32)
    return (np.uint32(0xFF000000) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])


def rgb32_to_array(pixels: np.ndarray) -> np.ndarray:
    """(h, w) uint32 ``0xffRRGGBB`` pixels → (h, w, 3) uint8 RGB."""
    rgb = np.empty(pixels.shape + (3,), np.uint8)
    rgb[..., 0] = (pixels >> 16) & 0xFF
    rgb[..., 1] = (pixels >> 8) & 0xFF
    rgb[..., 2] = pixels & 0xFF
    return rgb


def render_ghosts(kind: str, scene: Any, state: Any, size: tuple[int, int] = (480, 480),
                  theme: ThemeName | Theme = "light", strength: float = 1.0) -> np.ndarray:
    """Only the ensemble's density cloud, for compositing over another frame.

    The cloud shows where the copies' agents are (maze: the density of agent cells), in the
    same geometry as :func:`render_world` at the same ``size``.

    Returns
    -------
    (height, width, 4) uint8 RGBA array, transparent where no copy is (read-only).
    """
    size = _check_size(size)
    surface = _surface(size, alpha=True)
    surface.fill((0, 0, 0, 0))
    world_renderer(kind).draw_ghosts(surface, scene, state, get_theme(theme), strength)
    return surface_to_array(surface, "RGBA")


def locate(kind: str, scene: Any, state: Any, size: tuple[int, int], x: float, y: float,
           theme: ThemeName | Theme = "light",
           overlays: Overlays | None = None) -> tuple[int, ...] | None:
    """The world coordinate under pixel (x, y) of a frame of ``size`` drawn by
    :func:`render_world` with the same theme and overlays (they may reserve caption bands):
    maze ``(row, col)``; None outside the world."""
    return world_renderer(kind).locate(scene, state, _check_size(size), x, y,
                                       overlays, get_theme(theme))


__all__ = ["THEMES", "Flash", "Overlays", "Theme", "get_theme", "has_renderer", "locate",
           "render_ghosts", "render_world", "render_world_rgb32", "rgb32_to_array",
           "surface_to_array", "surface_to_rgb32", "world_renderer"]
