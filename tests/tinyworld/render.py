"""Drawing the tiny world (simulator/render's protocol): the line's cells, the goal, the
shown agent, and the ensemble's agents as a ghost histogram above the line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pygame

from simulator.render import Overlays
from simulator.render.theme import Theme, draw_caption
from tinyworld.kernels import TinyState


def _cells(state: TinyState, size: tuple[int, int]) -> tuple[int, int, int]:
    """(cell px, left, top) of a line of cells centred in ``size``."""
    length = int(state.length[0])
    cell = max(min(size[0] // length, size[1] // 2), 1)
    return cell, (size[0] - cell * length) // 2, (size[1] - cell) // 2


def _ghosts(surface: pygame.Surface, state: TinyState, theme: Theme, strength: float) -> None:
    cell, left, top = _cells(state, surface.get_size())
    counts = np.bincount(state.pos, minlength=int(state.length[0]))
    for i, n in enumerate(counts / max(counts.max(), 1)):
        if n > 0:
            h = max(int(top * n), 1)
            pygame.draw.rect(surface, (*theme.ghost, int(200 * strength)),
                             (left + i * cell, top - h, cell, h))


def draw(surface: pygame.Surface, scene: Any, state: TinyState, copy: int, theme: Theme,
         overlays: Overlays) -> None:
    if not 0 <= copy < state.n_copies:
        raise IndexError(f"copy {copy} outside an ensemble of {state.n_copies}")
    surface.fill(theme.background)
    cell, left, top = _cells(state, surface.get_size())
    for i in range(int(state.length[copy])):
        rect = pygame.Rect(left + i * cell, top, cell, cell)
        pygame.draw.rect(surface, theme.color("green") if i == state.goal[copy] else theme.floor,
                         rect)
        pygame.draw.rect(surface, theme.grid, rect, 1)
    if overlays.ghosts and state.n_copies > 1:
        ghosts = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
        _ghosts(ghosts, state, theme, 1.0)
        surface.blit(ghosts, (0, 0))
    center = (left + int((state.pos[copy] + 0.5) * cell), top + cell // 2)
    pygame.draw.circle(surface, theme.agent, center, max(cell // 3, 1))
    draw_caption(surface, overlays.caption, theme, "top")
    draw_caption(surface, overlays.internals, theme, "bottom")


def draw_ghosts(surface: pygame.Surface, scene: Any, state: TinyState, theme: Theme,
                strength: float = 1.0) -> None:
    _ghosts(surface, state, theme, strength)


def locate(scene: Any, state: TinyState, size: tuple[int, int], x: float, y: float,
           overlays: Overlays | None, theme: Theme) -> tuple[int, ...] | None:
    cell, left, top = _cells(state, size)
    i = int((x - left) // cell)
    return (i,) if 0 <= i < int(state.length[0]) and top <= y < top + cell else None
