"""Drawing the arena world: the box, walls, goal regions, pushers and balls, the ensemble's
balls as a ghost cloud, and overlays.

World coordinates are metres with y up; the frame's y grows downwards, so every point goes
through :meth:`Layout.to_px` / :meth:`Layout.to_world`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pygame

from simulator.render import Overlays
from simulator.render.theme import Theme, caption_bands, draw_caption, font
from simulator.worlds.arena import kernels as arena

_BALL_COLOR = (232, 110, 30)
_GOAL_COLOR = (46, 160, 67)
_OTHER_GOAL_COLOR = (150, 150, 150)
_CLOUD_BINS = 40  # ghost cloud resolution along the arena's longer side
_BLUR = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0  # separable smoothing of the cloud


@dataclass(frozen=True)
class Layout:
    """``scale`` pixels per metre; the arena's (0, 0) corner (bottom left) at pixel
    (left, bottom)."""

    scale: float
    left: float
    bottom: float
    width_m: float
    height_m: float

    def to_px(self, x: float, y: float) -> tuple[int, int]:
        return int(round(self.left + x * self.scale)), int(round(self.bottom - y * self.scale))

    def to_world(self, px: float, py: float) -> tuple[float, float]:
        return (px - self.left) / self.scale, (self.bottom - py) / self.scale

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> pygame.Rect:
        left, top = self.to_px(x0, y1)
        right, bottom = self.to_px(x1, y0)
        return pygame.Rect(left, top, max(right - left, 1), max(bottom - top, 1))



def layout(box: tuple[float, float], size: tuple[int, int], theme: Theme | None = None,
           overlays: Overlays | None = None) -> Layout:
    """Fit a ``box`` (width, height) m arena, centred, into a frame of ``size`` pixels."""
    width, height = size
    top_band = bottom_band = 0
    if overlays is not None and theme is not None:
        top_band, bottom_band = caption_bands(overlays.caption, overlays.internals, height, theme)
    margin = 6
    avail_w = max(width - 2 * margin, 1)
    avail_h = max(height - top_band - bottom_band - 2 * margin, 1)
    box_w, box_h = max(float(box[0]), 1e-6), max(float(box[1]), 1e-6)
    scale = min(avail_w / box_w, avail_h / box_h)
    left = margin + (avail_w - box_w * scale) / 2
    bottom = top_band + margin + (avail_h + box_h * scale) / 2
    return Layout(scale, left, bottom, box_w, box_h)


def locate(scene: Any, state: arena.ArenaState, size: tuple[int, int], x: float, y: float,
           overlays: Overlays | None = None, theme: Theme | None = None
           ) -> tuple[float, float] | None:
    """(x, y) metres under pixel (x, y), or None outside the arena."""
    from simulator.render.theme import THEMES

    lay = layout(tuple(state.box[0]), size, theme or THEMES["light"], overlays)
    wx, wy = lay.to_world(x, y)
    if 0.0 <= wx <= lay.width_m and 0.0 <= wy <= lay.height_m:
        return wx, wy
    return None


_GOAL_NAMES: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()


def goal_names(scene: Any) -> dict[int, str]:
    """Goal name code → name, from every distribution of the scene."""
    if scene not in _GOAL_NAMES:
        names = {}
        for dist in scene.model.distributions.values():
            for goal in dist.get("goals", []) if isinstance(dist, dict) else []:
                name = goal.get("name") if isinstance(goal, dict) else None
                if name:
                    names[arena.goal_name_code(name)] = name
        _GOAL_NAMES[scene] = names
    return _GOAL_NAMES[scene]


def _base_goal_code(scene: Any) -> int:
    text = scene.model.base_objective.split(":")
    name = text[1] if len(text) > 1 else "any"
    return arena.goal_name_code(name) if name not in ("any",) and not name.isdigit() else 0


def _draw_walls(surface: pygame.Surface, lay: Layout, state: arena.ArenaState, copy: int,
                theme: Theme) -> None:
    for k in range(state.wall_kind.shape[1]):
        kind = int(state.wall_kind[copy, k])
        x0, y0, x1, y1, half = state.wall[copy, k]
        if kind == arena.WALL_SEGMENT:
            width = max(int(2 * half * lay.scale), 2)
            a, b = lay.to_px(x0, y0), lay.to_px(x1, y1)
            pygame.draw.line(surface, theme.wall, a, b, width)
            for end in (a, b):  # a segment is a capsule: round ends
                pygame.draw.circle(surface, theme.wall, end, width // 2)
        elif kind == arena.WALL_BOX:
            pygame.draw.rect(surface, theme.wall, lay.rect(x0 - half, y0 - half, x1 + half,
                                                           y1 + half))


def _ball_density(state: arena.ArenaState, lay: Layout) -> tuple[np.ndarray, int, int]:
    """(ny, nx) fraction of the ensemble's balls per bin, y up; and the bin counts."""
    balls = state.role[0] == arena.ROLE_BALL
    pos = state.pos[:, balls, :].reshape(-1, 2)
    longer = max(lay.width_m, lay.height_m)
    nx = max(int(_CLOUD_BINS * lay.width_m / longer), 4)
    ny = max(int(_CLOUD_BINS * lay.height_m / longer), 4)
    hist, _, _ = np.histogram2d(pos[:, 1], pos[:, 0], bins=(ny, nx),
                                range=((0.0, lay.height_m), (0.0, lay.width_m)))
    # A few hundred balls over 40 x 30 bins are sparse: smooth them into a cloud.
    for axis in (0, 1):
        hist = np.apply_along_axis(np.convolve, axis, hist, _BLUR, mode="same")
    return hist / max(pos.shape[0], 1), nx, ny


def _draw_ghost_cloud(surface: pygame.Surface, lay: Layout, state: arena.ArenaState,
                      theme: Theme, strength: float) -> None:
    """Where the ensemble's balls are, as a translucent cloud (brighter = more copies)."""
    if state.n_copies <= 1:
        return
    density, nx, ny = _ball_density(state, lay)
    concentration = density * nx * ny  # 1 = an even spread over the arena
    alpha = np.clip(np.sqrt(concentration) * 0.22, 0.0, 0.85) * strength
    alpha[density < 1e-4] = 0.0
    rgba = np.empty((ny, nx, 4), np.uint8)
    rgba[..., :3] = theme.ghost
    rgba[..., 3] = (alpha[::-1] * 255).astype(np.uint8)  # row 0 of the image is the top
    small = pygame.image.frombuffer(rgba.tobytes(), (nx, ny), "RGBA")
    area = lay.rect(0.0, 0.0, lay.width_m, lay.height_m)
    big = pygame.transform.smoothscale(pygame.transform.scale(small, (nx * 2, ny * 2)),
                                       area.size)
    surface.blit(big, area.topleft)


def _draw_bodies(surface: pygame.Surface, lay: Layout, state: arena.ArenaState, copy: int,
                 theme: Theme) -> None:
    lw = max(1, int(round(2 * theme.line_scale)))
    for i in range(state.pos.shape[1]):
        x, y = state.pos[copy, i]
        r = max(int(state.radius[copy, i] * lay.scale), 2)
        center = lay.to_px(x, y)
        if state.role[copy, i] == arena.ROLE_PUSHER:
            pygame.draw.circle(surface, theme.agent_ring, center, r + lw)
            pygame.draw.circle(surface, theme.agent, center, r)
        else:
            pygame.draw.circle(surface, _BALL_COLOR, center, r)
            pygame.draw.circle(surface, theme.wall_edge, center, r, lw)
        vx, vy = state.vel[copy, i]
        if vx * vx + vy * vy > 1e-4:  # a short tail: where it is heading
            tip = lay.to_px(x + 0.25 * vx, y + 0.25 * vy)
            pygame.draw.line(surface, theme.pending, center, tip, lw)


def _draw_overlays(surface: pygame.Surface, lay: Layout, state: arena.ArenaState, copy: int,
                   overlays: Overlays, theme: Theme) -> None:
    if not (overlays.pending or overlays.flashes or overlays.hover):
        return
    overlay = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
    for kind, params in overlays.pending:
        target = int(params.get("target", -1))
        if kind in ("teleport", "drag") and "x" in params:
            to = lay.to_px(float(params["x"]), float(params["y"]))
            if 0 <= target < state.pos.shape[1]:
                r = max(int(state.radius[copy, target] * lay.scale), 3)
                pygame.draw.circle(overlay, (*theme.hover, 255), to, r, 2)
                pygame.draw.line(overlay, (*theme.hover, 200),
                                 lay.to_px(*state.pos[copy, target]), to, 2)
        elif kind == "impulse" and "jx" in params and 0 <= target < state.pos.shape[1]:
            x, y = state.pos[copy, target]
            tip = lay.to_px(x + 0.3 * float(params["jx"]), y + 0.3 * float(params["jy"]))
            pygame.draw.line(overlay, (*theme.flash, 255), lay.to_px(x, y), tip, 3)
            pygame.draw.circle(overlay, (*theme.flash, 255), tip, 4)
        elif kind == "move_goal" and "x" in params and 0 <= target < state.goal.shape[1]:
            x0, y0, x1, y1 = state.goal[copy, target]
            cx, cy = float(params["x"]), float(params["y"])
            hw, hh = (x1 - x0) / 2, (y1 - y0) / 2
            pygame.draw.rect(overlay, (*_GOAL_COLOR, 255),
                             lay.rect(cx - hw, cy - hh, cx + hw, cy + hh), 2)
    for flash in overlays.flashes:
        alpha = int(255 * min(max(flash.strength, 0.0), 1.0))
        if alpha <= 0:
            continue
        if flash.where is None:
            width, height = surface.get_size()
            pygame.draw.rect(overlay, (*theme.flash, alpha), (0, 0, width, height), 6)
        else:
            center = lay.to_px(float(flash.where[0]), float(flash.where[1]))
            radius = int(lay.scale * (0.3 + 0.6 * (1.0 - flash.strength)))
            pygame.draw.circle(overlay, (*theme.flash, alpha), center, max(radius, 4), 3)
    if overlays.hover is not None and len(overlays.hover) == 2:
        center = lay.to_px(float(overlays.hover[0]), float(overlays.hover[1]))
        pygame.draw.circle(overlay, (*theme.hover, 255), center, 6, 2)
    surface.blit(overlay, (0, 0))


def fit(state: Any, room: tuple[int, int]) -> tuple[int, int]:
    """The frame size the arena fills inside ``room`` (13 px: margins and rounding)."""
    lay = layout(tuple(state.box[0]), room)
    return (min(room[0], int(lay.width_m * lay.scale) + 13),
            min(room[1], int(lay.height_m * lay.scale) + 13))


def draw(surface: pygame.Surface, scene: Any, state: arena.ArenaState, copy: int,
         theme: Theme, overlays: Overlays) -> None:
    """Draw copy ``copy`` of ``state`` filling ``surface``; see :mod:`simulator.render`."""
    if not 0 <= copy < state.n_copies:
        raise IndexError(f"copy {copy} outside an ensemble of {state.n_copies}")
    surface.fill(theme.background)
    lay = layout(tuple(state.box[copy]), surface.get_size(), theme, overlays)
    area = lay.rect(0.0, 0.0, lay.width_m, lay.height_m)
    pygame.draw.rect(surface, theme.floor, area)
    names = goal_names(scene)
    base = _base_goal_code(scene)
    px = int(max(11, min(18, area.height / 14)) * theme.text_scale)
    label_font = font(px)
    for g in range(state.goal.shape[1]):
        x0, y0, x1, y1 = state.goal[copy, g]
        code = int(state.goal_code[copy, g])
        color = _GOAL_COLOR if code == base or (base == 0 and g == 0) else _OTHER_GOAL_COLOR
        rect = lay.rect(x0, y0, x1, y1)
        tint = pygame.Surface(rect.size, pygame.SRCALPHA)
        tint.fill((*color, 70))
        surface.blit(tint, rect.topleft)
        pygame.draw.rect(surface, color, rect, max(1, int(2 * theme.line_scale)))
        label = label_font.render(names.get(code, f"goal {g}"), True, color)
        surface.blit(label, (rect.left + 3, rect.top + 2))
    pygame.draw.rect(surface, theme.wall, area.inflate(4, 4), max(2, int(3 * theme.line_scale)))
    _draw_walls(surface, lay, state, copy, theme)
    if overlays.ghosts:
        _draw_ghost_cloud(surface, lay, state, theme, 1.0)
    _draw_bodies(surface, lay, state, copy, theme)
    _draw_overlays(surface, lay, state, copy, overlays, theme)
    draw_caption(surface, overlays.caption, theme, "top")
    draw_caption(surface, overlays.internals, theme, "bottom")


def draw_ghosts(surface: pygame.Surface, scene: Any, state: arena.ArenaState, theme: Theme,
                strength: float = 1.0) -> None:
    """Only the ball cloud, on a transparent ``surface``."""
    lay = layout(tuple(state.box[0]), surface.get_size())
    _draw_ghost_cloud(surface, lay, state, theme, strength)
