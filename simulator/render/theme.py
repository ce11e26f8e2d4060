"""Colour themes and text drawing shared by every world's renderer.

``light`` and ``dark`` follow the desktop; ``projector`` is for talks: a white room, near
black walls, saturated colours, thick outlines and large type, because projectors wash out
dark greys and thin lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pygame

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """Every colour a renderer uses, plus line and text scale."""

    name: str
    background: RGB
    floor: RGB
    grid: RGB
    wall: RGB
    wall_edge: RGB
    lava: RGB
    lava_dark: RGB
    agent: RGB
    agent_ring: RGB
    ghost: RGB
    expanded: RGB
    flash: RGB
    pending: RGB
    hover: RGB
    text: RGB
    text_background: RGB
    # Object colours by name (the maze's COLORS and any world's named colours).
    palette: dict[str, RGB] = field(default_factory=dict)
    line_scale: float = 1.0
    text_scale: float = 1.0
    grid_lines: bool = True

    def color(self, name: str) -> RGB:
        return self.palette.get(name, self.text)


_PALETTE: dict[str, RGB] = {
    "red": (220, 50, 47),
    "green": (46, 160, 67),
    "blue": (38, 110, 218),
    "yellow": (230, 180, 10),
    "purple": (142, 78, 200),
    "grey": (128, 128, 128),
    "white": (250, 250, 250),
    "black": (20, 20, 20),
    "cold": (40, 90, 200),
    "hot": (215, 48, 39),
}

THEMES: dict[str, Theme] = {
    "light": Theme(
        name="light", background=(236, 236, 232), floor=(250, 250, 247), grid=(222, 222, 216),
        wall=(62, 66, 76), wall_edge=(44, 47, 55), lava=(240, 120, 30), lava_dark=(200, 70, 20),
        agent=(22, 22, 22), agent_ring=(250, 250, 250), ghost=(0, 160, 175),
        expanded=(255, 200, 0), flash=(255, 0, 140), pending=(120, 120, 120),
        hover=(0, 120, 255), text=(25, 25, 25), text_background=(255, 255, 255),
        palette=dict(_PALETTE)),
    "dark": Theme(
        name="dark", background=(24, 26, 30), floor=(44, 47, 53), grid=(56, 60, 67),
        wall=(128, 134, 146), wall_edge=(160, 166, 178), lava=(235, 110, 25),
        lava_dark=(170, 60, 15), agent=(250, 250, 250), agent_ring=(20, 20, 20),
        ghost=(70, 220, 255), expanded=(255, 210, 60), flash=(255, 60, 170),
        pending=(170, 170, 170), hover=(90, 170, 255), text=(235, 235, 235),
        text_background=(20, 22, 26),
        palette={**_PALETTE, "red": (240, 80, 70), "blue": (80, 150, 255),
                 "purple": (180, 120, 240), "grey": (160, 160, 160)}),
    "projector": Theme(
        name="projector", background=(255, 255, 255), floor=(255, 255, 255),
        grid=(200, 200, 200), wall=(10, 10, 10), wall_edge=(0, 0, 0), lava=(255, 110, 0),
        lava_dark=(210, 50, 0), agent=(0, 0, 0), agent_ring=(255, 255, 255),
        ghost=(0, 150, 200), expanded=(255, 200, 0), flash=(255, 0, 120),
        pending=(90, 90, 90), hover=(0, 90, 255), text=(0, 0, 0),
        text_background=(255, 255, 255),
        palette={**_PALETTE, "red": (230, 0, 0), "green": (0, 150, 0), "blue": (0, 70, 230),
                 "yellow": (245, 190, 0)},
        line_scale=2.0, text_scale=1.4),
}


def get_theme(theme: str | Theme) -> Theme:
    """A Theme by name (ValueError naming the choices) or the Theme itself."""
    if isinstance(theme, Theme):
        return theme
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r} (choose from {', '.join(THEMES)})")
    return THEMES[theme]


_FONTS: dict[tuple[int, bool], pygame.font.Font] = {}


def font(px: int, bold: bool = False) -> pygame.font.Font:
    """pygame's bundled font at ``px`` pixels (cached; initialises only the font module)."""
    px = max(int(px), 6)
    key = (px, bold)
    if key not in _FONTS:
        if not pygame.font.get_init():
            pygame.font.init()
        f = pygame.font.Font(None, px)
        f.set_bold(bold)
        _FONTS[key] = f
    return _FONTS[key]


def caption_px(height: int, theme: Theme) -> int:
    """The caption bands' font size for a frame ``height`` pixels tall."""
    return int(max(12, min(22, height / 22)) * theme.text_scale)


def caption_bands(caption: list[str], internals: list[str], height: int,
                  theme: Theme) -> tuple[int, int]:
    """Pixels the top (``caption``) and bottom (``internals``) bands take in a frame
    ``height`` tall, as :func:`draw_caption` draws them, so a world fits between them."""
    line_h = font(caption_px(height, theme)).get_linesize()
    n_top, n_bottom = (len([s for s in lines if s]) for lines in (caption, internals))
    return (line_h * n_top + 6 if n_top else 0, line_h * n_bottom + 6 if n_bottom else 0)


def draw_caption(surface: pygame.Surface, lines: list[str], theme: Theme,
                 where: str = "bottom", px: int | None = None) -> None:
    """Lines of text on a translucent band across the top or bottom of ``surface``."""
    lines = [line for line in lines if line]
    if not lines:
        return
    width, height = surface.get_size()
    px = px or caption_px(height, theme)
    f = font(px)
    line_h = f.get_linesize()
    band_h = line_h * len(lines) + 6
    band = pygame.Surface((width, band_h), pygame.SRCALPHA)
    band.fill((*theme.text_background, 205))
    top = 0 if where == "top" else height - band_h
    surface.blit(band, (0, top))
    for i, line in enumerate(lines):
        text = f.render(line, True, theme.text)
        room = max(width - 8, 1)
        if text.get_width() > room:  # a long rule is cut at the frame's edge, not wrapped
            text = text.subsurface((0, 0, room, text.get_height()))
        surface.blit(text, (4, top + 3 + i * line_h))
