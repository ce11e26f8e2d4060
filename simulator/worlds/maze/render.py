"""Drawing the maze world: cells, objects, the agent, its ensemble's ghosts and overlays.

Cells are drawn as one small image (a colour lookup over the (H, W) cell codes) scaled up
with nearest-neighbour sampling, so a 255 x 255 maze costs the same few calls as an 11 x 11
one; only objects, the agent and overlays are drawn one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pygame

from simulator.render import Flash, Overlays
from simulator.render.theme import Theme, caption_bands, draw_caption
from simulator.worlds.maze import kernels as maze


@dataclass(frozen=True)
class Layout:
    """Where the grid sits in a frame: square cells of ``cell`` pixels, top-left corner at
    (left, top), plus the caption bands reserved above and below."""

    cell: int
    left: int
    top: int
    rows: int
    cols: int

    def rect(self, row: int, col: int, inset: float = 0.0) -> pygame.Rect:
        """The pixel rectangle of cell (row, col), shrunk by ``inset`` of a cell per side."""
        pad = int(round(self.cell * inset))
        return pygame.Rect(self.left + col * self.cell + pad, self.top + row * self.cell + pad,
                           max(self.cell - 2 * pad, 1), max(self.cell - 2 * pad, 1))

    def center(self, row: float, col: float) -> tuple[int, int]:
        return (int(self.left + (col + 0.5) * self.cell),
                int(self.top + (row + 0.5) * self.cell))



def layout(shape: tuple[int, int], size: tuple[int, int], theme: Theme | None = None,
           overlays: Overlays | None = None) -> Layout:
    """Fit a ``shape`` (rows, cols) grid, centred, into a frame of ``size`` (width, height),
    leaving room for the overlays' caption (top) and internals (bottom) bands."""
    rows, cols = shape
    width, height = size
    top_band = bottom_band = 0
    if overlays is not None and theme is not None:
        top_band, bottom_band = caption_bands(overlays.caption, overlays.internals, height, theme)
    avail_h = max(height - top_band - bottom_band, 1)
    cell = max(min(width // cols, avail_h // rows), 1)
    left = (width - cell * cols) // 2
    top = top_band + (avail_h - cell * rows) // 2
    return Layout(cell, left, top, rows, cols)


def locate(scene: Any, state: maze.MazeState, size: tuple[int, int], x: float, y: float,
           overlays: Overlays | None = None, theme: Theme | None = None
           ) -> tuple[int, int] | None:
    """(row, col) of the cell under pixel (x, y), or None outside the grid."""
    from simulator.render.theme import THEMES

    lay = layout(state.cell.shape[1:], size, theme or THEMES["light"], overlays)
    col = int((x - lay.left) // lay.cell)
    row = int((y - lay.top) // lay.cell)
    if 0 <= row < lay.rows and 0 <= col < lay.cols:
        return row, col
    return None


def _cell_image(cells: np.ndarray, theme: Theme) -> pygame.Surface:
    """(H, W) int8 cell codes → a W x H surface of their colours."""
    lut = np.array([theme.floor, theme.wall, theme.lava], np.uint8)
    rgb = lut[np.clip(cells, 0, 2)]  # (H, W, 3)
    return pygame.image.frombuffer(np.ascontiguousarray(rgb).tobytes(),
                                   (cells.shape[1], cells.shape[0]), "RGB")


def _wall_layer(cells: np.ndarray, theme: Theme) -> pygame.Surface:
    """(H, W) cell codes → a W x H RGBA surface: wall colour on walls, clear elsewhere."""
    # Built in BGRA byte order: the frame surfaces' own pixel format, so blitting takes
    # SDL's fast path instead of converting every pixel.
    bgra = np.zeros(cells.shape + (4,), np.uint8)
    wall = cells == maze.CELL_WALL
    bgra[wall, :3] = theme.wall[::-1]
    bgra[wall, 3] = 255
    return pygame.image.frombuffer(bgra.tobytes(), (cells.shape[1], cells.shape[0]), "BGRA")


def _line(theme: Theme, cell: int, base: float = 0.06) -> int:
    return max(1, int(round(cell * base * theme.line_scale)))


def draw_object(surface: pygame.Surface, rect: pygame.Rect, kind: int, color: tuple[int, ...],
                theme: Theme, outline_only: bool = False) -> None:
    """One object in ``rect``: goal (filled square), door (framed panel with a knob), key
    (ring and bit), gem (diamond). ``outline_only`` draws a preview."""
    size = rect.width
    lw = _line(theme, size, 0.08)
    edge = theme.wall_edge if theme.name != "dark" else (0, 0, 0)
    if kind == maze.OBJECT_TO_IDX["goal"]:
        inner = rect.inflate(-size * 0.2, -size * 0.2)
        if outline_only:
            pygame.draw.rect(surface, color, inner, lw)
            return
        pygame.draw.rect(surface, color, inner, border_radius=max(size // 8, 0))
        pygame.draw.rect(surface, edge, inner, max(lw // 2, 1), border_radius=max(size // 8, 0))
    elif kind == maze.OBJECT_TO_IDX["door"]:
        inner = rect.inflate(-size * 0.24, -size * 0.08)
        if not outline_only:
            tint = tuple(int(c + (255 - c) * 0.45) for c in color)
            pygame.draw.rect(surface, tint, inner)
        pygame.draw.rect(surface, color, inner, lw * (1 if outline_only else 2))
        if not outline_only:
            knob = (inner.right - max(lw * 3, 3), inner.centery)
            pygame.draw.circle(surface, color, knob, max(size // 12, 1))
    elif kind == maze.OBJECT_TO_IDX["key"]:
        r = max(size // 6, 2)
        head = (rect.left + int(size * 0.34), rect.centery)
        pygame.draw.circle(surface, color, head, r, max(lw, 2))
        shaft_end = rect.left + int(size * 0.82)
        pygame.draw.line(surface, color, (head[0] + r, head[1]), (shaft_end, head[1]),
                         max(lw, 2))
        for tx in (shaft_end - int(size * 0.02), shaft_end - int(size * 0.16)):
            pygame.draw.line(surface, color, (tx, head[1]), (tx, head[1] + int(size * 0.16)),
                             max(lw, 2))
    else:  # gem
        cx, cy = rect.center
        half = size * 0.34
        points = [(cx, cy - half), (cx + half, cy), (cx, cy + half), (cx - half, cy)]
        if outline_only:
            pygame.draw.polygon(surface, color, points, lw)
            return
        pygame.draw.polygon(surface, color, points)
        pygame.draw.polygon(surface, edge, points, max(lw // 2, 1))


def draw_agent(surface: pygame.Surface, lay: Layout, row: float, col: float, theme: Theme,
               color: tuple[int, int, int] | None = None, outline_only: bool = False) -> None:
    """The shown agent: a disc with a contrasting ring (just a ring for a preview)."""
    center = lay.center(row, col)
    radius = max(int(lay.cell * 0.32), 2)
    ring = max(_line(theme, lay.cell, 0.05), 1)
    if outline_only:
        pygame.draw.circle(surface, color or theme.pending, center, radius, ring + 1)
        return
    pygame.draw.circle(surface, theme.agent_ring, center, radius + ring)
    pygame.draw.circle(surface, color or theme.agent, center, radius)


def ghost_density(state: maze.MazeState) -> np.ndarray:
    """(H, W) float64 fraction of the ensemble's copies whose agent stands in each cell."""
    height, width = state.cell.shape[1:]
    pos = state.agent_pos
    ok = (pos[:, 0] >= 0) & (pos[:, 0] < height) & (pos[:, 1] >= 0) & (pos[:, 1] < width)
    flat = pos[ok, 0].astype(np.int64) * width + pos[ok, 1]
    counts = np.bincount(flat, minlength=height * width).astype(np.float64)
    return (counts / max(state.n_copies, 1)).reshape(height, width)


def _draw_ghost_cloud(surface: pygame.Surface, lay: Layout, state: maze.MazeState,
                      theme: Theme, strength: float) -> None:
    """The ensemble's density as a translucent cloud: opacity grows with the fraction of
    copies in a cell relative to an even spread over the open cells, so a spread ensemble is
    a faint haze and a narrowed one a bright spot."""
    if state.n_copies <= 1:
        return
    density = ghost_density(state)
    n_open = max(int(np.count_nonzero(state.cell[0] != maze.CELL_WALL)), 1)
    concentration = density * n_open  # 1 = an even spread over the open cells
    alpha = np.clip(np.sqrt(concentration) * 0.22, 0.0, 0.85) * strength
    alpha[density == 0] = 0.0
    height, width = density.shape
    bgra = np.empty((height, width, 4), np.uint8)  # the frame's byte order: fast blits
    bgra[..., :3] = theme.ghost[::-1]
    bgra[..., 3] = (alpha * 255).astype(np.uint8)
    small = pygame.image.frombuffer(bgra.tobytes(), (width, height), "BGRA")
    # Upscale by 2 with nearest first so bilinear smoothing keeps each cell's centre at its
    # own density: the cloud blurs across cell edges without drifting.
    big = pygame.transform.smoothscale(pygame.transform.scale(small, (width * 2, height * 2)),
                                       (width * lay.cell, height * lay.cell))
    surface.blit(big, (lay.left, lay.top))


def _draw_pending(surface: pygame.Surface, lay: Layout, state: maze.MazeState, copy: int,
                  pending: list[tuple[str, dict[str, Any]]], theme: Theme) -> None:
    """Perturbations logged for the next step, drawn as translucent previews."""
    overlay = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
    for kind, params in pending:
        row, col = int(params.get("row", -1)), int(params.get("col", -1))
        target = int(params.get("target", -1))
        inside = 0 <= row < lay.rows and 0 <= col < lay.cols
        rect = lay.rect(row, col) if inside else None
        lw = _line(theme, lay.cell, 0.08)
        if kind in ("draw_wall", "place_hazard") and rect is not None:
            color = theme.wall if kind == "draw_wall" else theme.lava
            pygame.draw.rect(overlay, (*color, 150), rect)
            pygame.draw.rect(overlay, (*theme.pending, 255), rect, lw)
        elif kind in ("erase_wall", "remove_hazard") and rect is not None:
            pygame.draw.rect(overlay, (*theme.floor, 190), rect.inflate(-lw * 2, -lw * 2))
            pygame.draw.rect(overlay, (*theme.pending, 255), rect, lw)
        elif kind == "teleport" and inside:
            draw_agent(overlay, lay, row, col, theme, (*theme.hover, 255), outline_only=True)
        elif kind == "move_object" and rect is not None and target >= 0:
            obj_kind = int(state.obj_kind[copy, target])
            if obj_kind != maze.OBJ_NONE:
                color = theme.color(maze.COLORS[int(state.obj_color[copy, target])])
                draw_object(overlay, rect, obj_kind, (*color, 255), theme, outline_only=True)
        elif kind == "recolor_object" and target >= 0:
            if int(state.obj_kind[copy, target]) != maze.OBJ_NONE:
                r, c = state.obj_pos[copy, target]
                color = theme.color(maze.COLORS[int(params.get("color", 0))])
                pygame.draw.rect(overlay, (*color, 255), lay.rect(int(r), int(c)), lw * 2)
        elif kind == "add_object" and rect is not None:
            color = theme.color(maze.COLORS[int(params.get("color", 0))])
            draw_object(overlay, rect, int(params.get("kind", 0)), (*color, 255), theme,
                        outline_only=True)
    surface.blit(overlay, (0, 0))


def _draw_flashes(surface: pygame.Surface, lay: Layout, flashes: list[Flash],
                  theme: Theme) -> None:
    """A ring around each perturbed cell (or a frame around the whole world), fading out."""
    if not flashes:
        return
    overlay = _clear_overlay(surface.get_size())
    width, height = surface.get_size()
    touched = []
    for flash in flashes:
        alpha = int(255 * min(max(flash.strength, 0.0), 1.0))
        if alpha <= 0:
            continue
        lw = max(_line(theme, lay.cell, 0.12), 2)
        if flash.where is None:
            touched.append(pygame.draw.rect(overlay, (*theme.flash, alpha),
                                            (0, 0, width, height), lw * 2))
            continue
        row, col = int(flash.where[0]), int(flash.where[1])
        grow = int(lay.cell * 0.5 * (1.0 - flash.strength))
        rect = lay.rect(row, col).inflate(grow * 2, grow * 2)
        touched.append(pygame.draw.rect(overlay, (*theme.flash, alpha), rect, lw,
                                        border_radius=lay.cell // 6))
    _blit_touched(surface, overlay, touched)


_OVERLAYS: dict[tuple[int, int], pygame.Surface] = {}


def _clear_overlay(size: tuple[int, int]) -> pygame.Surface:
    """A reused, fully transparent SRCALPHA surface of ``size`` (give it back clear with
    :func:`_blit_touched`)."""
    overlay = _OVERLAYS.get(size)
    if overlay is None:
        if len(_OVERLAYS) > 16:
            _OVERLAYS.clear()
        overlay = _OVERLAYS[size] = pygame.Surface(size, pygame.SRCALPHA, 32)
    return overlay


def _blit_touched(surface: pygame.Surface, overlay: pygame.Surface,
                  touched: list[pygame.Rect]) -> None:
    """Blend the parts of ``overlay`` that were drawn on (its clear pixels would change
    nothing) onto ``surface``, then clear them again for the next frame."""
    if not touched:
        return
    area = touched[0].unionall(touched[1:]).inflate(4, 4).clip(overlay.get_rect())
    surface.blit(overlay, area.topleft, area)
    overlay.fill((0, 0, 0, 0), area)


# The parts of a frame that change only when the cells, the frame size, the theme or the
# ghosts switch change: drawn once, then blitted each frame.
_STATIC: dict[tuple, tuple[pygame.Surface, pygame.Surface | None]] = {}
_KEY_COLORS = ((255, 0, 255), (0, 255, 1), (1, 2, 254))


def _static_layers(cells: np.ndarray, size: tuple[int, int], lay: Layout, theme: Theme,
                   ghosts: bool) -> tuple[pygame.Surface, pygame.Surface | None]:
    """(base, top): ``base`` is the whole frame's background, cells and lava ripples;
    ``top`` (colour-keyed, placed at the grid's corner, or None when empty) holds what goes
    over the ghost cloud: the walls again (when ``ghosts``) and the grid lines."""
    looks = (theme.background, theme.floor, theme.wall, theme.lava, theme.lava_dark,
             theme.grid, theme.grid_lines, theme.line_scale)
    key = (cells.tobytes(), cells.shape, size, lay, looks, ghosts)
    layers = _STATIC.get(key)
    if layers is not None:
        return layers
    grid_w, grid_h = lay.cols * lay.cell, lay.rows * lay.cell
    base = pygame.Surface(size, 0, 32)
    base.fill(theme.background)
    base.blit(pygame.transform.scale(_cell_image(cells, theme), (grid_w, grid_h)),
              (lay.left, lay.top))
    if lay.cell >= 10:  # lava ripples, so hazards read as hazards in grey print too
        for row, col in np.argwhere(cells == maze.CELL_LAVA):
            rect = lay.rect(int(row), int(col))
            for k in (0.35, 0.65):
                y = rect.top + int(rect.height * k)
                pygame.draw.line(base, theme.lava_dark, (rect.left + rect.width // 5, y),
                                 (rect.right - rect.width // 5, y), _line(theme, lay.cell))
    grid = theme.grid_lines and lay.cell >= 8
    top = None
    if ghosts or grid:
        used = {tuple(theme.wall), tuple(theme.grid)}
        colorkey = next(c for c in _KEY_COLORS if c not in used)
        top = pygame.Surface((grid_w + 1, grid_h + 1), 0, 32)
        top.fill(colorkey)
        top.set_colorkey(colorkey)
        if ghosts:
            # Walls go back on top: other copies may stand where this copy has a wall (in a
            # generated maze every copy has its own walls): the shown maze stays legible.
            top.blit(pygame.transform.scale(_wall_layer(cells, theme), (grid_w, grid_h)),
                     (0, 0))
        if grid:
            for r in range(lay.rows + 1):
                y = r * lay.cell
                pygame.draw.line(top, theme.grid, (0, y), (grid_w, y))
            for c in range(lay.cols + 1):
                x = c * lay.cell
                pygame.draw.line(top, theme.grid, (x, 0), (x, grid_h))
    if len(_STATIC) >= 24:  # edited mazes and window resizes leave old layers behind
        _STATIC.clear()
    _STATIC[key] = (base, top)
    return base, top


def fit(state: Any, room: tuple[int, int]) -> tuple[int, int]:
    """The frame size the maze fills inside ``room`` (whole cells)."""
    lay = layout(state.cell.shape[1:], room)
    return (lay.cell * lay.cols, lay.cell * lay.rows)


def draw(surface: pygame.Surface, scene: Any, state: maze.MazeState, copy: int, theme: Theme,
         overlays: Overlays) -> None:
    """Draw copy ``copy`` of ``state`` filling ``surface``; see :mod:`simulator.render`."""
    if not 0 <= copy < state.n_copies:
        raise IndexError(f"copy {copy} outside an ensemble of {state.n_copies}")
    cells = state.cell[copy]
    lay = layout(cells.shape, surface.get_size(), theme, overlays)
    base, top = _static_layers(cells, surface.get_size(), lay, theme, overlays.ghosts)
    surface.blit(base, (0, 0))
    if overlays.expanded is not None:
        tint = pygame.Surface((lay.cell, lay.cell), pygame.SRCALPHA)
        tint.fill((*theme.expanded, 90))
        for row, col in np.argwhere(overlays.expanded):
            surface.blit(tint, lay.rect(int(row), int(col)).topleft)
    if overlays.ghosts:
        _draw_ghost_cloud(surface, lay, state, theme, 1.0)
    if top is not None:  # walls back over the ghosts, and the grid lines
        surface.blit(top, (lay.left, lay.top))
    for k in range(state.obj_kind.shape[1]):
        kind = int(state.obj_kind[copy, k])
        if kind == maze.OBJ_NONE:
            continue
        row, col = state.obj_pos[copy, k]
        color = theme.color(maze.COLORS[int(state.obj_color[copy, k])])
        draw_object(surface, lay.rect(int(row), int(col)), kind, color, theme)
    row, col = state.agent_pos[copy]
    if 0 <= row < lay.rows and 0 <= col < lay.cols:
        draw_agent(surface, lay, int(row), int(col), theme)
    if overlays.pending:
        _draw_pending(surface, lay, state, copy, overlays.pending, theme)
    _draw_flashes(surface, lay, overlays.flashes, theme)
    if overlays.hover is not None and len(overlays.hover) == 2:
        r, c = overlays.hover
        if 0 <= r < lay.rows and 0 <= c < lay.cols:
            pygame.draw.rect(surface, theme.hover, lay.rect(r, c), max(_line(theme, lay.cell), 2))
    draw_caption(surface, overlays.caption, theme, "top")
    draw_caption(surface, overlays.internals, theme, "bottom")


def draw_ghosts(surface: pygame.Surface, scene: Any, state: maze.MazeState, theme: Theme,
                strength: float = 1.0) -> None:
    """Only the ghost cloud, on a transparent ``surface`` (same geometry as :func:`draw`
    without overlays)."""
    lay = layout(state.cell.shape[1:], surface.get_size())
    _draw_ghost_cloud(surface, lay, state, theme, strength)
