"""The one renderer: real pixels of the maze (agent, walls, objects, ghosts, overlays), the
pixel ↔ cell mapping the mouse relies on, and no display ever opened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.render import (
    THEMES,
    Flash,
    Overlays,
    has_renderer,
    locate,
    render_ghosts,
    render_world,
)
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds.maze import kernels as maze
from simulator.worlds.maze import render as maze_render

ROOT = Path(__file__).resolve().parents[2]
SIZE = (330, 264)  # walled_maze is 8 x 11 cells: 30-pixel cells, 12 rows to spare


@pytest.fixture(scope="module")
def walled() -> tuple[Scene, Session]:
    scene = Scene.load("walled_maze")
    return scene, Session(scene, n_copies=64)


def _center(scene_state, row: int, col: int, size=SIZE, theme="light",
            overlays: Overlays | None = None) -> tuple[int, int]:
    lay = maze_render.layout(scene_state.cell.shape[1:], size, THEMES[theme], overlays)
    x, y = lay.center(row, col)
    return y, x  # array index order


@pytest.mark.parametrize("theme", ["light", "dark", "projector"])
def test_agent_walls_floor_and_objects_have_their_colours(walled, theme):
    scene, session = walled
    state = session.lanes[0].state
    img = render_world("maze", scene, state, 0, SIZE, theme, Overlays(ghosts=False))
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.dtype == np.uint8
    colors = THEMES[theme]
    row, col = state.agent_pos[0]
    assert tuple(img[_center(state, row, col, theme=theme)]) == colors.agent
    assert tuple(img[_center(state, 0, 0, theme=theme)]) == colors.wall
    assert tuple(img[_center(state, 3, 4, theme=theme)]) == colors.wall  # the inner wall
    floor = img[_center(state, 4, 1, theme=theme)]
    assert tuple(floor) == colors.floor
    goal = next(k for k in range(state.obj_kind.shape[1])
                if state.obj_kind[0, k] == maze.OBJECT_TO_IDX["goal"])
    g_row, g_col = state.obj_pos[0, goal]
    want = colors.color(maze.COLORS[state.obj_color[0, goal]])
    assert tuple(img[_center(state, g_row, g_col, theme=theme)]) == want


def test_the_frame_follows_the_state(walled):
    scene, session = walled
    state = session.lanes[0].state.copy()
    before = render_world("maze", scene, state, 0, SIZE, overlays=Overlays(ghosts=False))
    state.agent_pos[0] = (4, 1)
    after = render_world("maze", scene, state, 0, SIZE, overlays=Overlays(ghosts=False))
    assert tuple(after[_center(state, 4, 1)]) == THEMES["light"].agent
    assert tuple(before[_center(state, 4, 1)]) == THEMES["light"].floor


def test_ghosts_show_where_the_copies_are(walled):
    scene, session = walled
    state = session.lanes[0].state.copy()
    state.agent_pos[:] = (6, 2)
    state.agent_pos[:16] = (1, 8)
    cloud = render_ghosts("maze", scene, state, SIZE)
    assert cloud.shape == (SIZE[1], SIZE[0], 4)
    dense, sparse = cloud[_center(state, 6, 2)][3], cloud[_center(state, 1, 8)][3]
    assert dense > sparse > 0
    assert cloud[_center(state, 1, 1)][3] == 0  # no copy near
    # Over the world: the crowded cell is tinted with the ghost colour.
    plain = render_world("maze", scene, state, 0, SIZE, overlays=Overlays(ghosts=False))
    ghosts = render_world("maze", scene, state, 0, SIZE, overlays=Overlays(ghosts=True))
    y, x = _center(state, 6, 2)
    assert not np.array_equal(plain[y, x], ghosts[y, x])
    assert np.array_equal(plain[_center(state, 1, 1)], ghosts[_center(state, 1, 1)])


def test_overlays_internals_pending_and_flash(walled):
    scene, session = walled
    state = session.lanes[0].state
    base = Overlays(ghosts=False)
    plain = render_world("maze", scene, state, 0, SIZE, overlays=base)
    lines = Overlays(ghosts=False, internals=["rule 5: dy=-1 & !wall_up -> up"])
    text = render_world("maze", scene, state, 0, SIZE, overlays=lines)
    assert not np.array_equal(plain[-10:], text[-10:])  # a caption band at the bottom
    pending = Overlays(ghosts=False, pending=[("draw_wall", {"row": 4, "col": 1})])
    preview = render_world("maze", scene, state, 0, SIZE, overlays=pending)
    assert not np.array_equal(plain[_center(state, 4, 1)], preview[_center(state, 4, 1)])
    flash = Overlays(ghosts=False, flashes=[Flash((4, 1), 1.0)])
    flashed = render_world("maze", scene, state, 0, SIZE, overlays=flash)
    assert np.any(np.all(flashed == THEMES["light"].flash, axis=-1))
    expanded = np.zeros(state.cell.shape[1:], bool)
    expanded[4, 1] = True
    tinted = render_world("maze", scene, state, 0, SIZE,
                          overlays=Overlays(ghosts=False, expanded=expanded))
    assert not np.array_equal(plain[_center(state, 4, 1)], tinted[_center(state, 4, 1)])


@pytest.mark.parametrize("overlays", [None, Overlays(internals=["a", "b"], caption=["t"])])
def test_locate_inverts_the_layout(walled, overlays):
    scene, session = walled
    state = session.lanes[0].state
    rows, cols = state.cell.shape[1:]
    for row in range(rows):
        for col in range(cols):
            y, x = _center(state, row, col, overlays=overlays)
            assert locate("maze", scene, state, SIZE, x, y, "light", overlays) == (row, col)
    assert locate("maze", scene, state, SIZE, -5, -5) is None


def test_every_shipped_maze_scene_renders_at_odd_sizes():
    for path in sorted((ROOT / "scenes").glob("*.toml")):
        scene = Scene.load(path)
        if not has_renderer(scene.world):
            continue
        session = Session(scene, n_copies=8)
        session.step(2)
        for size in ((1, 1), (37, 211), (640, 360)):
            img = render_world(scene.world, scene, session.lanes[0].state, 0, size,
                               "dark", Overlays(internals=["x"]))
            assert img.shape == (size[1], size[0], 3)


def test_rendering_never_opens_a_display():
    code = (
        "import sys, pygame\n"
        "from simulator.scene import Scene\n"
        "from simulator.session import Session\n"
        "from simulator.render import render_world\n"
        "scene = Scene.load('red_door')\n"
        "session = Session(scene, n_copies=4)\n"
        "render_world('maze', scene, session.lanes[0].state, 0, (200, 150))\n"
        "print('DISPLAY' if pygame.display.get_init() else 'OK',"
        " 'PySide6' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["SDL_VIDEODRIVER"] = "dummy"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["OK", "False"], out.stdout + out.stderr


def test_thermal_room_sensors_and_thermometer():
    scene_path = ROOT / "scenes" / "thermostat.toml"
    if not scene_path.exists() or not has_renderer("thermal"):
        pytest.skip("no thermal scene or renderer")
    from simulator.worlds.thermal import render as thermal_render

    scene = Scene.load(scene_path)
    state = Session(scene, n_copies=32).lanes[0].state.copy()
    size = (480, 300)
    theme = THEMES["light"]
    lay = thermal_render.layout(state.temp.shape[1:], size, theme, Overlays())
    row, col = state.sensor_pos[0, 0]
    img = render_world("thermal", scene, state, 0, size, theme, Overlays())
    x, y = lay.center(row, col)
    assert tuple(img[y, x]) == theme.agent  # the sensor
    wall_x, wall_y = lay.center(state.temp.shape[1] - 1, 0)
    assert tuple(img[wall_y, wall_x]) == theme.wall
    # Hotter air is redder: heat one air cell far above the range.
    air = np.argwhere(state.cell[0] == 0)
    r, c = next((int(a), int(b)) for a, b in air if (a, b) != (row, col)
                and state.tag[0, a, b] < 0)
    state.temp[0, r, c] = 100.0
    hot = render_world("thermal", scene, state, 0, size, theme, Overlays())
    x, y = lay.center(r, c)
    red, green, blue = (int(v) for v in hot[y, x])
    assert red > 150 and blue < 80
    assert locate("thermal", scene, state, size, x, y, "light", Overlays()) == (r, c)


def test_arena_bodies_goals_and_locate():
    scene_path = ROOT / "scenes" / "ball_push.toml"
    if not scene_path.exists() or not has_renderer("arena"):
        pytest.skip("no arena scene or renderer")
    from simulator.worlds.arena import kernels as arena
    from simulator.worlds.arena import render as arena_render

    scene = Scene.load(scene_path)
    state = Session(scene, n_copies=16).lanes[0].state
    size = (400, 320)
    theme = THEMES["dark"]
    img = render_world("arena", scene, state, 0, size, theme, Overlays(ghosts=False))
    lay = arena_render.layout(tuple(state.box[0]), size, theme, Overlays())
    for i in range(state.pos.shape[1]):
        x, y = lay.to_px(*state.pos[0, i])
        want = theme.agent if state.role[0, i] == arena.ROLE_PUSHER else arena_render._BALL_COLOR
        assert tuple(img[y, x]) == tuple(want)
        got = locate("arena", scene, state, size, x, y, "dark", Overlays())
        assert np.allclose(got, state.pos[0, i], atol=1.5 / lay.scale)
    cloud = render_ghosts("arena", scene, state, size, "dark")
    ball = next(i for i in range(state.pos.shape[1]) if state.role[0, i] == arena.ROLE_BALL)
    x, y = lay.to_px(*state.pos[0, ball])
    assert cloud[y, x, 3] > 0
