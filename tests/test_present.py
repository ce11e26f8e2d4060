"""The presenter: scripted key events drive its play state; its frames show the lanes, the
step, the flashes of recorded perturbations and the metric sparkline; bad input is one line
and exit code 2. Runs under SDL's dummy video driver (tests/conftest.py); no test sleeps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygame
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.present import END_HOLD_SECONDS, SPEEDS, Presenter, demo_recording
from simulator.recording import record
from simulator.reel import FLASH_STEPS, Reel
from simulator.render import THEMES
from simulator.scene import Scene

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recordings" / "demo.h5"
FLASH = THEMES["projector"].flash
SPARK = THEMES["projector"].palette["blue"]
SIZE = (960, 540)

# walled_maze with scheduled kicks: the search lane finishes near step 10, so the kick at
# step 30 reaches only the two lanes still running.
_KICKS = """
[[perturbations]]
step = 2
kind = "draw_wall"
params = { row = 6, col = 2 }

[[perturbations]]
step = 5
kind = "teleport"
params = { row = 5, col = 8 }

[[perturbations]]
step = 30
kind = "place_hazard"
params = { row = 6, col = 9 }
"""


def _key(key: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0)


def _press(presenter: Presenter, *keys: int) -> None:
    for key in keys:
        presenter.handle(_key(key))


def _pixels(surface: pygame.Surface, color: tuple[int, int, int]) -> int:
    """How many pixels of ``surface`` have exactly ``color``."""
    rgb = pygame.surfarray.array3d(surface)
    return int(np.count_nonzero(np.all(rgb == np.array(color, np.uint8), axis=-1)))


@pytest.fixture(scope="module")
def kicked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-lane walled_maze recording with scheduled perturbations and metrics."""
    text = (ROOT / "scenes" / "walled_maze.toml").read_text() + _KICKS
    scene = Scene.from_text(text, Path("walled_maze_kicked.toml"))
    path = tmp_path_factory.mktemp("present") / "kicked.h5"
    record(scene, path, n_copies=16, handle_signals=False)
    return path


@pytest.fixture()
def presenter() -> Presenter:
    p = Presenter(Reel.open(DEMO), size=SIZE)
    yield p
    p.reel.close()


def test_demo_is_found_and_shows_every_lane_of_the_first_run():
    assert demo_recording().resolve() == DEMO.resolve()
    with Reel.open(DEMO) as reel:
        assert [lane.episode.lane for lane in reel.lanes] == [0, 1, 2]
        assert {lane.episode.run for lane in reel.lanes} == {0}
        assert reel.n_steps == max(lane.n_steps for lane in reel.lanes)
        assert [name for lane in reel.lanes for name, _ in lane.agents] == [
            "thermostat", "heuristic", "search"]


def test_keys_drive_play_step_speed_and_quit(presenter):
    p = presenter
    assert (p.t, p.playing, p.running) == (0, False, True)
    speed = p.speed
    _press(p, pygame.K_SPACE)
    assert p.playing
    p.tick(1.0)  # one second at `speed` steps per second
    assert p.t == int(speed)
    _press(p, pygame.K_SPACE)
    assert not p.playing
    p.tick(5.0)  # paused: time passes, the step does not
    assert p.t == int(speed)
    _press(p, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_LEFT)
    assert p.t == int(speed) + 2
    _press(p, pygame.K_UP)
    assert p.speed == SPEEDS[SPEEDS.index(speed) + 1]
    _press(p, pygame.K_DOWN, pygame.K_DOWN)
    assert p.speed == SPEEDS[SPEEDS.index(speed) - 1]
    for _ in SPEEDS:  # the fastest and slowest speeds are limits, not wrap-arounds
        _press(p, pygame.K_DOWN)
    assert p.speed == SPEEDS[0]
    _press(p, pygame.K_END)
    assert p.t == p.n_steps
    _press(p, pygame.K_RIGHT)
    assert p.t == p.n_steps
    _press(p, pygame.K_HOME, pygame.K_LEFT)
    assert p.t == 0
    _press(p, pygame.K_l)
    assert p.loop
    _press(p, pygame.K_ESCAPE)
    assert not p.running


def test_messages_show_then_expire(presenter):
    p = presenter
    _press(p, pygame.K_UP)
    assert p.message == f"{p.speed:g} steps per second" and p.hud().message == p.message
    p.tick(0.5)
    assert p.message
    p.tick(2.0)
    assert p.message == "" and p.hud().message == ""


def test_stepping_while_playing_pauses(presenter):
    presenter.play()
    _press(presenter, pygame.K_RIGHT)
    assert not presenter.playing and presenter.t == 1


def test_play_stops_at_the_end_unless_looping(presenter):
    p = presenter
    p.play()
    p.tick(p.n_steps / p.speed + 10.0)
    assert p.t == p.n_steps and not p.playing
    _press(p, pygame.K_SPACE)  # play at the end starts over
    assert p.playing and p.t == 0
    p.loop = True
    p.tick(p.n_steps / p.speed)
    assert p.t == p.n_steps and p.playing
    p.tick(END_HOLD_SECONDS / 2)
    assert p.t == p.n_steps  # the last step holds a moment
    p.tick(END_HOLD_SECONDS)
    assert p.t == 0 and p.playing


def test_ticks_add_up_fractions_of_steps(presenter):
    p = presenter
    p.play()
    for _ in range(10):
        p.tick(0.25 / p.speed)  # a quarter of a step each
    assert p.t == 2


def test_page_keys_switch_runs_and_window_keys_toggle(presenter):
    p = presenter
    first = [lane.episode.name for lane in p.reel.lanes]
    _press(p, pygame.K_PAGEDOWN)
    assert p.reel.run == 1
    assert [lane.episode.name for lane in p.reel.lanes] != first
    assert p.t <= p.n_steps
    _press(p, pygame.K_PAGEDOWN)  # wraps around to the first run
    assert [lane.episode.name for lane in p.reel.lanes] == first
    _press(p, pygame.K_f)
    assert p.fullscreen
    _press(p, pygame.K_f, pygame.K_h)
    assert not p.fullscreen and p.help
    p.handle(pygame.event.Event(pygame.QUIT))
    assert not p.running


def test_the_frame_changes_with_the_step_and_fills_the_window(presenter):
    p = presenter
    first = p.frame()
    assert first.get_size() == SIZE
    _press(p, pygame.K_RIGHT, pygame.K_RIGHT)
    later = p.frame()
    assert pygame.image.tobytes(first, "RGB") != pygame.image.tobytes(later, "RGB")
    assert _pixels(later, SPARK) > 0  # the demo has metrics: F sparklines are drawn


def test_run_loop_consumes_scripted_events_and_quits():
    reel = Reel.open(DEMO)
    p = Presenter(reel, size=(640, 360))
    pygame.display.init()
    for key in (pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_UP, pygame.K_ESCAPE):
        pygame.event.post(_key(key))
    p.run(max_frames=200)  # the cap only guards against a hang; Esc ends it first
    assert not p.running
    assert p.t == 3 and not p.playing
    assert not pygame.display.get_init()  # the window is closed


def test_perturbations_flash_when_they_hit_and_fade(kicked):
    with Reel.open(kicked) as reel:
        events = reel.lanes[0].events
        assert [ev.step for ev in events] == [2, 5, 30]
        assert reel.fresh_events(0, 2) == []  # applied at the start of step 2: seen at t=3
        assert [(ev.kind, age) for ev, age in reel.fresh_events(0, 3)] == [("draw_wall", 1)]
        flashes = reel.flashes(0, 6)
        assert [f.where for f in flashes] == [(6.0, 2.0), (5.0, 8.0)]
        assert flashes[1].strength == 1.0 and flashes[0].strength < flashes[1].strength
        assert reel.fresh_events(0, 5 + FLASH_STEPS + 1) == []
        # The search lane had stopped before step 30: that kick never touched its world.
        assert reel.lanes[2].n_steps < 30
        assert reel.fresh_events(2, 31) == [] and len(reel.fresh_events(0, 31)) == 1

        surface = pygame.Surface(SIZE)
        reel.draw(surface, 10)
        ticks = _pixels(surface, FLASH)  # the sparklines mark where kicks hit, in magenta
        assert ticks > 0
        for lane in reel.lanes:
            lane.metrics = {}  # without sparklines, magenta means a flash
        reel.draw(surface, 3)
        assert _pixels(surface, FLASH) > 1000
        reel.draw(surface, 5 + FLASH_STEPS + 1)  # both early kicks have faded
        assert _pixels(surface, FLASH) == 0


def test_a_recording_without_metrics_has_no_sparkline(tmp_path):
    path = tmp_path / "plain.h5"
    record(Scene.load("walled_maze"), path, n_copies=1, handle_signals=False)
    with Reel.open(path) as reel:
        assert reel.metric_name(0) is None
        surface = pygame.Surface(SIZE)
        reel.draw(surface, 5)
        assert _pixels(surface, SPARK) == 0


def test_single_episode_and_run_selection(kicked):
    with Reel.open(DEMO, episode=4) as reel:
        assert reel.single and len(reel.lanes) == 1
        assert reel.lanes[0].episode.name == "episode_4" and reel.run == 1
        assert reel.n_steps == reel.lanes[0].n_steps
    with Reel.open(DEMO, run=1) as reel:
        assert {lane.episode.run for lane in reel.lanes} == {1}


@pytest.mark.parametrize(("args", "message"), [
    (["present", "missing.h5"], "missing.h5: no such file"),
    (["present", "{notes}"], "not an HDF5 file"),
    (["present", "{demo}", "--episode", "6"], "no episode 6"),
    (["present", "{demo}", "--run", "5"], "no run 5"),
    (["present", "{demo}", "--size", "big"], "expected WIDTHxHEIGHT"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, monkeypatch, args, message):
    notes = tmp_path / "notes.h5"
    notes.write_text("not a recording\n")
    monkeypatch.chdir(tmp_path)
    args = [a.format(notes=notes, demo=DEMO) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steersim: error:") and message in lines[0]


def test_cli_module_and_package_import_no_pygame():
    code = ("import sys, simulator, agents, simulator.cli; "
            "print('pygame' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_no_display_is_one_line_and_exit_code_2():
    env = {**os.environ, "SDL_VIDEODRIVER": "no_such_driver"}
    out = subprocess.run([sys.executable, "-m", "simulator", "present", str(DEMO)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steersim: error: cannot open a window")
    assert "steersim export" in lines[0]
