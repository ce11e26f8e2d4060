"""A recording laid out for an audience: the frames the presenter shows and export writes.

A :class:`Reel` holds the lanes of one run of a recording (or one episode alone) and
composes, for step ``t``, a whole frame on an off-screen pygame Surface: a title bar (scene
title, step counter, play state), and per lane its agent and objective, the world drawn by
the one renderer (:func:`simulator.render.render_world`, projector theme), a flash where a
perturbation from the events table just hit, how the lane ended, and a sparkline of the
recorded F (or OP) metric. Nothing here opens a display, so video export runs headless.

Sizes scale with the frame: every length is a multiple of ``u = min(W / 1280, H / 720)``,
so a 1280 x 720 frame and a 3840 x 2160 projector show the same picture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (after the environment variable)

from simulator.core.errors import UserError  # noqa: E402
from simulator.recording import Episode, Recording, reading  # noqa: E402
from simulator.render import (  # noqa: E402
    Flash,
    Overlays,
    has_renderer,
    render_world,
    world_renderer,
)
from simulator.render.theme import Theme, font, get_theme  # noqa: E402
from simulator.session import Event  # noqa: E402
from simulator.worlds import get_driver  # noqa: E402

FLASH_STEPS = 4  # a perturbation's highlight fades out over this many steps after it hits
METRICS = ("F", "OP")  # sparkline candidates, first present wins
# The bundled font has no arrows or check marks: say it in words instead of drawing boxes.
_GLYPHS = {"→": "->", "✔": "yes", "✘": "no", "▶": ">", "…": "..."}
_BLOCK_STEPS = 64  # state rows read from the file at a time
_MAX_BLOCKS = 32  # per lane kept in memory
_GREY = (105, 105, 105)
_LIGHT_GREY = (200, 200, 200)


def plain(text: str) -> str:
    """``text`` with the glyphs pygame's bundled font lacks spelled in ASCII."""
    for glyph, ascii_text in _GLYPHS.items():
        text = text.replace(glyph, ascii_text)
    return text


@dataclass
class Hud:
    """What the presenter adds to a frame: play state and help (export passes none)."""

    playing: bool = False
    speed: float = 1.0
    loop: bool = False
    help: bool = False
    message: str = ""


@dataclass
class LaneReel:
    """One lane of the shown run: its episode and what its panel says."""

    episode: Episode
    title: str
    agents: list[tuple[str, str]]  # (agent name, objective text) per agent
    misaligned: list[bool]  # per agent: objective differs from the scene's base objective
    n_steps: int
    events: list[Event]
    metrics: dict[str, np.ndarray]
    outcome: list[dict[str, Any]] | None
    _blocks: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


class Reel:
    """The lanes of one run of a recording (or a single episode), drawn frame by frame.

    Parameters
    ----------
    recording : an open :class:`~simulator.recording.Recording` (the Reel closes it).
    episode : show only episode ``K`` (its position, as ``steersim inspect`` lists it).
    run : show every lane of run ``R`` side by side (default: the first run).
    """

    def __init__(self, recording: Recording, episode: int | None = None,
                 run: int | None = None):
        self.recording = recording
        self.path = recording.path
        with reading(self.path):
            self.world = recording.world
            if not has_renderer(self.world):
                raise UserError(f"{self.path}: no renderer for {self.world!r} worlds yet,"
                                " so it cannot be shown")
            self.scene = recording.scene()
            episodes = recording.episodes
            self.seed = recording.seed
            self.distribution = str(recording.attrs.get("distribution", ""))
        if not episodes:
            raise UserError(f"{self.path}: the recording holds no episode")
        self.theme: Theme = get_theme("projector")
        self._driver = get_driver(self.world)
        self._state_type = self._driver.state_type
        self.runs: dict[int, list[Episode]] = {}
        for ep in episodes:
            self.runs.setdefault(max(ep.run, 0), []).append(ep)
        for lanes in self.runs.values():
            lanes.sort(key=lambda e: (e.lane, e.index))
        self.single = episode is not None
        if episode is not None:
            if not 0 <= episode < len(episodes):
                raise UserError(f"{self.path}: no episode {episode} (it has episodes"
                                f" 0..{len(episodes) - 1})")
            if run is not None:
                raise UserError("give --episode or --run, not both")
            chosen = episodes[episode]
            self.run = max(chosen.run, 0)
            self._load([chosen])
        else:
            if run is not None and run not in self.runs:
                raise UserError(f"{self.path}: no run {run} (it has runs"
                                f" {', '.join(map(str, sorted(self.runs)))})")
            self.run = min(self.runs) if run is None else run
            self._load(self.runs[self.run])

    @classmethod
    def open(cls, path: str | Path, episode: int | None = None,
             run: int | None = None) -> Reel:
        """Open recording ``path`` for showing; UserError (one line) for a missing, damaged,
        newer-format or unshowable file, or a bad episode / run number."""
        recording = Recording.open(path)
        try:
            return cls(recording, episode, run)
        except BaseException:
            recording.close()
            raise

    def close(self) -> None:
        self.recording.close()

    def __enter__(self) -> Reel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- what is shown -----------------------------------------------------------------------
    def _load(self, episodes: list[Episode]) -> None:
        base = self.scene.model.base_objective
        scene_lanes = self.scene.model.lanes
        lanes = []
        with reading(self.path):
            for ep in episodes:
                agents = [(str(a.get("name", "?")), str(a.get("objective", "?")))
                          for a in ep.agents]
                custom = (scene_lanes[ep.lane].label
                          if 0 <= ep.lane < len(scene_lanes) else None)
                title = custom or " vs ".join(name for name, _ in agents) or ep.name
                lanes.append(LaneReel(
                    episode=ep, title=plain(title), agents=agents,
                    misaligned=[objective != base for _, objective in agents],
                    n_steps=ep.n_steps, events=ep.events(), metrics=ep.metrics(),
                    outcome=ep.outcome))
        self.lanes = lanes
        self.n_steps = max(lane.n_steps for lane in lanes)

    @property
    def run_numbers(self) -> list[int]:
        return sorted(self.runs)

    def select_run(self, run: int) -> None:
        """Show every lane of run ``run`` (ignored for a single-episode reel)."""
        if self.single or run not in self.runs or run == self.run:
            return
        self.run = run
        self._load(self.runs[run])

    def state(self, lane: int, t: int) -> Any:
        """Lane ``lane``'s world at step ``t`` (its last step once it has ended), E = 1."""
        reel = self.lanes[lane]
        t = min(max(t, 0), reel.n_steps)
        start = t - t % _BLOCK_STEPS
        block = reel._blocks.get(start)
        if block is None:
            # One read per field for a block of steps: per-step reads of a dozen small
            # datasets would cost more than drawing the frame.
            if len(reel._blocks) >= _MAX_BLOCKS:
                reel._blocks.clear()
            stop = min(start + _BLOCK_STEPS, reel.n_steps + 1)
            with reading(self.path):
                block = reel.episode.state_rows(start, stop)
            reel._blocks[start] = block
        return self._state_type(**{name: rows[t - start][None] for name, rows in block.items()})

    def metric_name(self, lane: int) -> str | None:
        """The metric the lane's sparkline shows: F, else OP, else None."""
        metrics = self.lanes[lane].metrics
        return next((name for name in METRICS if len(metrics.get(name, ())) > 0), None)

    def fresh_events(self, lane: int, t: int) -> list[tuple[Event, int]]:
        """Events whose effect is at most FLASH_STEPS steps old at step ``t``, with their
        age (1 = the state just after the event was applied; events apply at the start of
        their step, so step s's event shows first at t = s + 1). Events scheduled after the
        lane's world had stopped never touched it and are left out."""
        out = []
        reel = self.lanes[lane]
        for ev in reel.events:
            age = t - ev.step
            if 1 <= age <= FLASH_STEPS and ev.step < reel.n_steps:
                out.append((ev, age))
        return out

    def flashes(self, lane: int, t: int) -> list[Flash]:
        """Where the fresh events hit: the cell (maze, thermal brushes) or, for events that
        hit the whole world, the whole view."""
        out = []
        for ev, age in self.fresh_events(lane, t):
            strength = 1.0 - (age - 1) / FLASH_STEPS
            out.append(Flash(self._where(lane, ev), strength, ev.kind))
        return out

    def _where(self, lane: int, ev: Event) -> tuple[float, ...] | None:
        """Where an event hit (the driver's ``event_where``: a cell, or where the object it
        hit stood then), or None for one that hits the whole world."""
        return self._driver.event_where(self.state(lane, ev.step), 0, ev.kind, ev.target,
                                        ev.params)

    # --- drawing -----------------------------------------------------------------------------
    def frame(self, t: int, size: tuple[int, int], hud: Hud | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB of the whole frame at step ``t``."""
        surface = pygame.Surface(size, 0, 32)
        self.draw(surface, t, hud)
        return np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8).reshape(
            size[1], size[0], 3)

    def draw(self, surface: pygame.Surface, t: int, hud: Hud | None = None) -> None:
        """Compose the frame at step ``t`` onto ``surface`` (any size)."""
        theme = self.theme
        width, height = surface.get_size()
        u = max(min(width / 1280, height / 720), 0.3)
        surface.fill(theme.background)
        t = min(max(int(t), 0), self.n_steps)
        title_h = self._draw_title_bar(surface, t, u, hud)
        margin, gap = int(16 * u), int(28 * u)
        n = len(self.lanes)
        panel_w = max((width - 2 * margin - (n - 1) * gap) // n, 1)
        top = title_h + int(10 * u)
        panel_h = max(height - top - margin, 1)
        for i in range(n):
            rect = pygame.Rect(margin + i * (panel_w + gap), top, panel_w, panel_h)
            self._draw_lane(surface, i, t, rect, u)
            if i > 0:  # a thin rule between lanes
                x = rect.left - gap // 2
                pygame.draw.line(surface, _LIGHT_GREY, (x, top), (x, top + panel_h),
                                 max(int(2 * u), 1))
        if hud is not None and hud.help:
            self._draw_help(surface, u)
        if hud is not None and hud.message:
            self._draw_message(surface, hud.message, u)

    def _draw_title_bar(self, surface: pygame.Surface, t: int, u: float,
                        hud: Hud | None) -> int:
        theme = self.theme
        width = surface.get_width()
        pad = int(16 * u)
        # Right: step counter, then the play state beneath it.
        counter = font(int(40 * u), bold=True).render(f"step {t} / {self.n_steps}", True,
                                                       theme.text)
        surface.blit(counter, (width - pad - counter.get_width(), int(10 * u)))
        right_w = counter.get_width()
        state_y = int(14 * u) + counter.get_height()
        if hud is not None:
            right_w = max(right_w, self._draw_play_state(surface, hud, width - pad, state_y, u))
        # Left: the scene's title, fitted into what the counter leaves, and a subtitle.
        room = width - 3 * pad - right_w
        title = _fit(plain(self.scene.model.title), room, int(40 * u), int(22 * u), bold=True)
        surface.blit(title, (pad, int(10 * u)))
        parts = [self.scene.name]
        if self.distribution:
            parts.append(f"distribution {self.distribution}")
        if self.single:
            parts.append(self.lanes[0].episode.name)
        parts.append(f"seed {self.lanes[0].episode.seed}")
        if len(self.runs) > 1 and not self.single:
            parts.append(f"run {self.run_numbers.index(self.run) + 1} of {len(self.runs)}")
        sub = _fit("  ·  ".join(parts), room, int(26 * u), int(16 * u), color=_GREY)
        sub_y = int(14 * u) + title.get_height()
        surface.blit(sub, (pad, sub_y))
        bottom = max(sub_y + sub.get_height(), state_y + int(30 * u)) + int(8 * u)
        pygame.draw.line(surface, theme.text, (0, bottom), (width, bottom), max(int(3 * u), 1))
        return bottom

    def _draw_play_state(self, surface: pygame.Surface, hud: Hud, right: int, y: int,
                         u: float) -> int:
        """A play triangle or pause bars, the speed and LOOP, right-aligned at ``right``."""
        theme = self.theme
        speed = f"{hud.speed:g} steps/s"
        text = f"{speed}   loop" if hud.loop else speed
        label = font(int(28 * u), bold=True).render(text, True, _GREY)
        icon = int(22 * u)
        x = right - label.get_width()
        surface.blit(label, (x, y + int(2 * u)))
        x -= icon + int(12 * u)
        cy = y + int(2 * u) + label.get_height() // 2
        color = theme.palette["green"] if hud.playing else theme.text
        if hud.playing:
            pygame.draw.polygon(surface, color, [(x, cy - icon // 2), (x, cy + icon // 2),
                                                 (x + icon, cy)])
        else:
            bar = max(icon // 3, 2)
            for bx in (x + 1, x + icon - bar):
                pygame.draw.rect(surface, color, (bx, cy - icon // 2, bar, icon))
        return right - x

    def _draw_lane(self, surface: pygame.Surface, i: int, t: int, rect: pygame.Rect,
                   u: float) -> None:
        """One lane's panel: header, world, status line and sparkline, as one block centred
        vertically in ``rect``."""
        theme = self.theme
        lane = self.lanes[i]
        header_h = self._header_height(u)
        # The world takes what the header, status line and a minimal sparkline leave; room
        # its aspect leaves over grows the sparkline, and the rest centres the block.
        has_spark = self.metric_name(i) is not None
        spark_min, spark_max = (int(96 * u), int(190 * u)) if has_spark else (0, 0)
        status_px = int(28 * u)
        status_h = 2 * font(status_px, bold=True).get_linesize() + int(12 * u)
        room_h = max(rect.height - header_h - status_h - spark_min, 8)
        state = self.state(i, t)
        size = _fit_world(self.world, state, (rect.width, room_h))
        spare = room_h - size[1]
        spark_h = min(spark_max, spark_min + spare)
        # Text and sparkline line up with the world when it is narrower than the panel (a
        # single lane on a wide screen), so the block reads as one column.
        w = min(rect.width, max(size[0], int(640 * u)))
        x = rect.left + (rect.width - w) // 2
        y = rect.top + max((spare - (spark_h - spark_min)) // 2, 0)
        line_y = y
        for line in self._lane_header(i, w, u):
            surface.blit(line, (x, line_y))
            line_y += line.get_height()
        y += header_h
        wx = x + (w - size[0]) // 2
        overlays = Overlays(ghosts=False, flashes=self.flashes(i, t))
        img = render_world(self.world, self.scene, state, 0, size, theme, overlays)
        surface.blit(pygame.image.frombuffer(img.tobytes(), size, "RGB"), (wx, y))
        y += size[1] + int(8 * u)
        fresh = self.fresh_events(i, t)
        if fresh and not self._ended(lane, t):
            # The status line names the perturbation while its flash lasts.
            self._draw_kick_badge(surface, fresh, x, y, w, u)
        else:
            self._draw_status(surface, lane, t, x, y, w, status_px)
        y += status_h - int(8 * u)
        if has_spark:
            self._draw_sparkline(surface, i, t, pygame.Rect(x, y, w, spark_h), u)

    def _lane_header(self, i: int, width: int, u: float) -> list[pygame.Surface]:
        """The lane's agent(s) in bold, each objective (red if misaligned) and, under a
        misaligned one, the base objective in grey."""
        theme = self.theme
        lane = self.lanes[i]
        lines = [_fit(lane.title, width, int(36 * u), int(20 * u), bold=True)]
        for (agent, objective), misaligned in zip(lane.agents, lane.misaligned, strict=True):
            text = f"{agent}: {objective}" if len(lane.agents) > 1 else f"objective {objective}"
            color = theme.palette["red"] if misaligned else theme.text
            lines.append(_fit(plain(text), width, int(28 * u), int(16 * u), color=color))
        if any(lane.misaligned):
            base = f"base objective {self.scene.model.base_objective}"
            lines.append(_fit(plain(base), width, int(24 * u), int(14 * u), color=_GREY))
        return lines

    def _header_height(self, u: float) -> int:
        """The tallest lane header, so every lane's world starts at the same height."""
        line = font(int(28 * u)).get_linesize()
        most = max(len(lane.agents) + any(lane.misaligned) for lane in self.lanes)
        return font(int(36 * u), bold=True).get_linesize() + most * line + int(8 * u)

    def _draw_kick_badge(self, surface: pygame.Surface, fresh: list[tuple[Event, int]],
                         x: int, y: int, width: int, u: float) -> None:
        """A magenta tag naming the perturbation(s) that just hit, fading with them."""
        age = min(a for _, a in fresh)
        kinds = list(dict.fromkeys(e.kind.replace("_", " ") for e, a in fresh if a == age))
        text = font(int(28 * u), bold=True).render("perturbation: " + ", ".join(kinds), True,
                                                   (255, 255, 255))
        pad = int(8 * u)
        box = pygame.Rect(x, y, min(text.get_width() + 2 * pad, width),
                          text.get_height() + pad)
        tag = pygame.Surface(box.size)
        tag.fill(self.theme.flash)
        tag.blit(text, (pad, pad // 2), area=pygame.Rect(0, 0, box.width - 2 * pad,
                                                          text.get_height()))
        tag.set_alpha(int(255 * (1.0 - (age - 1) / FLASH_STEPS)))  # fades with the rings
        surface.blit(tag, box.topleft)

    @staticmethod
    def _ended(lane: LaneReel, t: int) -> bool:
        return t >= lane.n_steps and bool(lane.outcome)

    def _draw_status(self, surface: pygame.Surface, lane: LaneReel, t: int, x: int, y: int,
                     width: int, px: int) -> None:
        """How the lane ended (once it has), else that it is still going."""
        theme = self.theme
        if not self._ended(lane, t):
            text, color = ("running" if t < lane.n_steps else "stopped"), _GREY
        else:
            texts, good = [], True
            for out in lane.outcome:
                detail = out.get("detail") or out.get("status") or "?"
                if out.get("achieved_objective") and out.get("achieved_base"):
                    texts.append(f"reached {detail}")
                elif out.get("achieved_objective"):
                    texts.append(f"reached {detail}: its own goal, not the base goal")
                    good = False
                else:
                    texts.append(f"{detail}: goal missed")
                    good = False
            text = "; ".join(texts) + f" (step {lane.n_steps})"
            color = theme.palette["green"] if good else theme.palette["red"]
        for line in _wrap(plain(text), width, px, int(18 * px / 28), bold=True, color=color):
            surface.blit(line, (x, y))
            y += line.get_height()

    def _draw_sparkline(self, surface: pygame.Surface, i: int, t: int, rect: pygame.Rect,
                        u: float) -> None:
        """The lane's F (or OP) series up to step ``t`` over the run's whole length, with the
        null baseline in grey and ticks where perturbations hit."""
        theme = self.theme
        name = self.metric_name(i)
        if name is None:
            return
        metrics = self.lanes[i].metrics
        values = np.asarray(metrics[name], np.float64)
        n = len(values)
        now = min(t, n - 1)
        value = font(int(28 * u), bold=True).render(
            f"{name} {values[now]:.2f}" + ("" if name == "F" else " bits"), True, theme.text)
        copies = self.lanes[i].episode.n_copies
        long, short = ((f"share of {copies} copies in the base target", "in base target")
                       if name == "F" else ("optimization power vs the null agent", "vs null"))
        room = max(rect.width - value.get_width() - int(12 * u), 10)
        px = int(24 * u)
        # A long note too small to read from the back of the room gives way to a short one.
        what = long if font(int(20 * u)).size(long)[0] <= room else short
        note = _fit(what, room, px, int(16 * u), color=_GREY)
        surface.blit(value, (rect.left, rect.top))
        surface.blit(note, (rect.left + value.get_width() + int(12 * u),
                            rect.top + value.get_height() - note.get_height()))
        top = rect.top + value.get_height() + int(8 * u)
        box = pygame.Rect(rect.left + int(4 * u), top, max(rect.width - int(8 * u), 4),
                          max(rect.bottom - top - int(6 * u), 4))
        top_value = 1.0 if name == "F" else max(float(np.nanmax(values)), 1.0)
        span = max(self.n_steps, n - 1, 1)

        def point(k: int, v: float) -> tuple[int, int]:
            v = 0.0 if not np.isfinite(v) else min(max(v / top_value, 0.0), 1.0)
            return (box.left + int(box.width * k / span), box.bottom - int(box.height * v))

        thin = max(int(2 * u), 1)
        pygame.draw.line(surface, _LIGHT_GREY, box.topleft, box.topright, thin)
        pygame.draw.line(surface, theme.text, box.bottomleft, box.bottomright, thin)
        for ev in self.lanes[i].events:
            if ev.step + 1 <= now and ev.step < self.lanes[i].n_steps:
                tx = point(ev.step + 1, 0)[0]
                pygame.draw.line(surface, theme.flash, (tx, box.top), (tx, box.bottom),
                                 max(int(3 * u), 1))
        baseline = metrics.get(f"baseline_{name}")
        if baseline is not None and len(baseline) > 1 and name == "F":
            pts = [point(k, float(v)) for k, v in enumerate(baseline[: now + 1])]
            if len(pts) > 1:
                pygame.draw.lines(surface, (150, 150, 150), False, pts, max(int(3 * u), 1))
                tag = font(int(22 * u)).render("null agent", True, (150, 150, 150))
                surface.blit(tag, (box.right - tag.get_width(),
                                   min(pts[-1][1], box.bottom) - tag.get_height()))
        pts = [point(k, float(v)) for k, v in enumerate(values[: now + 1])]
        color = theme.palette["blue"]
        if len(pts) > 1:
            pygame.draw.lines(surface, color, False, pts, max(int(4 * u), 2))
        pygame.draw.circle(surface, color, pts[-1], max(int(6 * u), 3))

    def _draw_help(self, surface: pygame.Surface, u: float) -> None:
        keys = [("Space", "play / pause"), ("Left / Right", "step back / forward"),
                ("Up / Down", "faster / slower"), ("Home / End", "first / last step"),
                ("Page Up / Down", "previous / next run"), ("F", "fullscreen"),
                ("L", "loop"), ("H", "this help"), ("Esc", "quit")]
        f = font(int(30 * u))
        fb = font(int(30 * u), bold=True)
        line_h = f.get_linesize()
        col = max(fb.size(k)[0] for k, _ in keys) + int(30 * u)
        box_w = col + max(f.size(v)[0] for _, v in keys) + int(60 * u)
        box_h = line_h * len(keys) + int(40 * u)
        width, height = surface.get_size()
        box = pygame.Rect((width - box_w) // 2, (height - box_h) // 2, box_w, box_h)
        pygame.draw.rect(surface, (255, 255, 255), box)
        pygame.draw.rect(surface, self.theme.text, box, max(int(4 * u), 2))
        for k, (key, what) in enumerate(keys):
            y = box.top + int(20 * u) + k * line_h
            surface.blit(fb.render(key, True, self.theme.text), (box.left + int(30 * u), y))
            surface.blit(f.render(what, True, self.theme.text), (box.left + int(30 * u) + col, y))

    def _draw_message(self, surface: pygame.Surface, message: str, u: float) -> None:
        text = font(int(28 * u), bold=True).render(plain(message), True, (255, 255, 255))
        pad = int(10 * u)
        width, height = surface.get_size()
        box = pygame.Rect(0, 0, text.get_width() + 2 * pad, text.get_height() + 2 * pad)
        box.midbottom = (width // 2, height - int(20 * u))
        pygame.draw.rect(surface, self.theme.text, box, border_radius=pad)
        surface.blit(text, (box.left + pad, box.top + pad))


def _fit(text: str, width: int, px: int, min_px: int, bold: bool = False,
         color: tuple[int, int, int] = (0, 0, 0)) -> pygame.Surface:
    """``text`` rendered at the largest size from ``px`` down to ``min_px`` that fits in
    ``width`` pixels; at ``min_px`` it is cut with "..."."""
    px = max(px, 6)
    min_px = max(min(min_px, px), 6)
    size = px
    while size > min_px and font(size, bold).size(text)[0] > width:
        size = max(int(size * 0.9), min_px)
    f = font(size, bold)
    if f.size(text)[0] > width:
        while text and f.size(text + "...")[0] > width:
            text = text[:-1]
        text += "..."
    return f.render(text, True, color)


def _wrap(text: str, width: int, px: int, min_px: int, bold: bool = False,
          color: tuple[int, int, int] = (0, 0, 0), max_lines: int = 2) -> list[pygame.Surface]:
    """``text`` broken at spaces into at most ``max_lines`` lines of ``width`` pixels, at
    the largest size from ``px`` down to ``min_px`` where it fits (else the last line is
    cut by :func:`_fit`)."""
    size = max(px, 6)
    while True:
        f = font(size, bold)
        lines: list[str] = []
        for word in text.split(" "):
            if lines and f.size(f"{lines[-1]} {word}")[0] <= width:
                lines[-1] = f"{lines[-1]} {word}"
            else:
                lines.append(word)
        if len(lines) <= max_lines or size <= min_px:
            break
        size = max(int(size * 0.9), min_px)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1:])]
    return [_fit(line, width, size, size, bold, color) for line in lines]


def _fit_world(kind: str, state: Any, room: tuple[int, int]) -> tuple[int, int]:
    """The frame size for a world inside ``room``: what the world's renderer fills there
    (its ``fit``), so no band of empty background separates the world from its header;
    the whole room for a renderer without one."""
    width, height = max(room[0], 8), max(room[1], 8)
    fit = getattr(world_renderer(kind), "fit", None)
    return fit(state, (width, height)) if fit else (width, height)


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → (W, H); UserError unless both are whole numbers from 64 to 7680."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise UserError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
    width, height = (int(p) for p in parts)
    if not (64 <= width <= 7680 and 64 <= height <= 7680):
        raise UserError(f"--size {text!r}: width and height must be between 64 and 7680")
    return width, height
