"""``steersim present``: a pygame window replaying a recording for an audience.

The picture is a :class:`~simulator.reel.Reel` frame (the one renderer, projector theme);
this module adds the window and the keys: Space play/pause, Left/Right step, Up/Down speed,
Home/End, Page Up/Down previous/next run, F fullscreen, L loop, H help, Esc quit.

:class:`Presenter` keeps the event loop testable: :meth:`Presenter.handle` takes one pygame
event, :meth:`Presenter.tick` advances play by a given number of *seconds* (so tests pass
explicit time instead of sleeping), :meth:`Presenter.frame` draws the current frame
off-screen, and :meth:`Presenter.run` is the loop that joins them to a real window.
Simulated steps never come from the wall clock: play only decides *which* recorded step is
shown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (after the environment variable)

from simulator.core.errors import UserError  # noqa: E402
from simulator.reel import Hud, Reel  # noqa: E402

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)  # steps per second, Up / Down
DEFAULT_SPEED = 4.0
DEFAULT_SIZE = (1280, 720)
END_HOLD_SECONDS = 1.5  # when looping, the last step stays this long before step 0
_FPS = 60


def demo_recording() -> Path:
    """The shipped demo: ``recordings/demo.h5`` in the working directory if there is one,
    else next to the installed package (a source checkout)."""
    local = Path("recordings") / "demo.h5"
    if local.exists():
        return local
    return Path(__file__).resolve().parent.parent / "recordings" / "demo.h5"


class Presenter:
    """Play state of a reel, its keys, and the window that shows it.

    Parameters
    ----------
    reel : what to show (the Presenter closes it on quit).
    size : window size in pixels when not fullscreen.
    fullscreen : start fullscreen.
    speed : steps per second while playing (snapped to :data:`SPEEDS`).
    loop : start again at step 0 after the last step.
    """

    def __init__(self, reel: Reel, size: tuple[int, int] = DEFAULT_SIZE,
                 fullscreen: bool = False, speed: float = DEFAULT_SPEED, loop: bool = False):
        self.reel = reel
        self.window_size = size
        self.size = size  # what frame() draws: the window's current size
        self.fullscreen = fullscreen
        self.speed_index = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - speed))
        self.loop = loop
        self.t = 0
        self.playing = False
        self.running = True
        self.help = False
        self.message = ""
        self._message_seconds = 0.0
        self._carry = 0.0  # fraction of a step owed by tick()
        self._hold = 0.0  # seconds spent on the last step while looping
        self.screen: pygame.Surface | None = None
        self.dirty = True

    # --- state -------------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_index]

    @property
    def n_steps(self) -> int:
        return self.reel.n_steps

    def seek(self, t: int) -> None:
        t = min(max(int(t), 0), self.n_steps)
        if t != self.t:
            self.t = t
            self.dirty = True

    def play(self) -> None:
        if self.t >= self.n_steps:  # play at the end starts over
            self.seek(0)
        self.playing = True
        self._carry = self._hold = 0.0
        self.dirty = True

    def pause(self) -> None:
        self.playing = False
        self.dirty = True

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def step(self, delta: int) -> None:
        """Pause and move ``delta`` steps."""
        self.pause()
        self.seek(self.t + delta)

    def change_speed(self, delta: int) -> None:
        self.speed_index = min(max(self.speed_index + delta, 0), len(SPEEDS) - 1)
        self.say(f"{self.speed:g} steps per second")

    def toggle_loop(self) -> None:
        self.loop = not self.loop
        self.say("loop on" if self.loop else "loop off")

    def change_run(self, delta: int) -> None:
        """Show the previous / next run's lanes (if the recording has several runs)."""
        runs = self.reel.run_numbers
        if self.reel.single or len(runs) < 2:
            return
        k = (runs.index(self.reel.run) + delta) % len(runs)
        self.reel.select_run(runs[k])
        self.seek(min(self.t, self.n_steps))
        self.say(f"run {k + 1} of {len(runs)}")

    def toggle_fullscreen(self) -> None:
        self.fullscreen = not self.fullscreen
        if self.screen is not None:
            self._open_display()
        self.dirty = True

    def quit(self) -> None:
        self.running = False

    def say(self, message: str, seconds: float = 1.5) -> None:
        """Show ``message`` at the bottom of the frame for ``seconds``."""
        self.message, self._message_seconds = message, seconds
        self.dirty = True

    # --- events and time ---------------------------------------------------------------------
    def handle(self, event: pygame.event.Event) -> None:
        """React to one pygame event (keys, window close, resize)."""
        if event.type == pygame.QUIT:
            self.quit()
        elif event.type == pygame.VIDEORESIZE and not self.fullscreen:
            self.window_size = self.size = (max(event.w, 320), max(event.h, 180))
            if self.screen is not None:
                self._open_display()
            self.dirty = True
        elif event.type == pygame.WINDOWEXPOSED:
            self.dirty = True
        elif event.type == pygame.KEYDOWN:
            action = _KEYS.get(event.key)
            if action is not None:
                action(self)

    def tick(self, seconds: float) -> None:
        """Let ``seconds`` of wall time pass: while playing, advance ``speed`` steps per
        second; at the end, stop (or, looping, hold the last step, then start over)."""
        if self._message_seconds > 0:
            self._message_seconds -= seconds
            if self._message_seconds <= 0:
                self.message = ""
                self.dirty = True
        if not self.playing:
            return
        if self.t >= self.n_steps:
            if not self.loop:
                self.pause()
                return
            self._hold += seconds
            if self._hold >= END_HOLD_SECONDS:
                self._hold = self._carry = 0.0
                self.seek(0)
            return
        self._carry += seconds * self.speed
        whole = int(self._carry)
        if whole:
            self._carry -= whole
            self.seek(self.t + whole)
            if self.t >= self.n_steps and not self.loop:
                self.pause()

    def hud(self) -> Hud:
        return Hud(playing=self.playing, speed=self.speed, loop=self.loop, help=self.help,
                   message=self.message)

    def frame(self) -> pygame.Surface:
        """The current frame, drawn off-screen at the window's size."""
        surface = pygame.Surface(self.size, 0, 32)
        self.reel.draw(surface, self.t, self.hud())
        return surface

    # --- the window --------------------------------------------------------------------------
    def _open_display(self) -> None:
        if self.fullscreen:
            self.screen = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
        else:
            self.screen = pygame.display.set_mode(self.window_size, pygame.RESIZABLE)
        self.size = self.screen.get_size()
        self.dirty = True

    def run(self, max_frames: int | None = None) -> None:
        """Open the window and loop until Esc / close (or ``max_frames`` loop turns, for
        tests); closes the display and the reel."""
        try:
            try:
                pygame.display.init()
                pygame.display.set_caption(f"steersim · {self.reel.scene.model.title}")
                self._open_display()
            except pygame.error as exc:
                raise UserError(f"cannot open a window ({exc}); `steersim export` makes a"
                                " video without one") from None
            clock = pygame.time.Clock()
            frames = 0
            while self.running and (max_frames is None or frames < max_frames):
                for event in pygame.event.get():
                    self.handle(event)
                self.tick(clock.tick(_FPS) / 1000.0)
                if self.dirty and self.running and self.screen is not None:
                    self.reel.draw(self.screen, self.t, self.hud())
                    pygame.display.flip()
                    self.dirty = False
                frames += 1
        finally:
            pygame.display.quit()
            self.reel.close()


def _toggle_help(p: Presenter) -> None:
    p.help = not p.help
    p.dirty = True


_KEYS: dict[int, Any] = {
    pygame.K_SPACE: Presenter.toggle_play,
    pygame.K_RIGHT: lambda p: p.step(1),
    pygame.K_LEFT: lambda p: p.step(-1),
    pygame.K_UP: lambda p: p.change_speed(1),
    pygame.K_DOWN: lambda p: p.change_speed(-1),
    pygame.K_HOME: lambda p: p.seek(0),
    pygame.K_END: lambda p: p.seek(p.n_steps),
    pygame.K_PAGEUP: lambda p: p.change_run(-1),
    pygame.K_PAGEDOWN: lambda p: p.change_run(1),
    pygame.K_f: Presenter.toggle_fullscreen,
    pygame.K_l: Presenter.toggle_loop,
    pygame.K_h: _toggle_help,
    pygame.K_ESCAPE: Presenter.quit,
    pygame.K_q: Presenter.quit,
}


def present(path: str | Path | None = None, episode: int | None = None, run: int | None = None,
            fullscreen: bool = False, size: tuple[int, int] = DEFAULT_SIZE,
            speed: float = DEFAULT_SPEED, loop: bool = False, play: bool = False) -> None:
    """Show recording ``path`` (default: the shipped demo) until the user quits: paused at
    step 0 (the speaker sets the scene, then presses Space) unless ``play``."""
    reel = Reel.open(path if path is not None else demo_recording(), episode, run)
    presenter = Presenter(reel, size=size, fullscreen=fullscreen, speed=speed, loop=loop)
    if play:
        presenter.play()
    else:
        presenter.say("Space plays  ·  H shows the keys", seconds=4.0)
    presenter.run()
