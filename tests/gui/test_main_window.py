"""The main window, offscreen: every shipped scene opens, gestures perturb through the
Session's log, play advances, keys work, errors never close the window, record → replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtWidgets  # noqa: E402

from simulator.gui.main_window import MainWindow  # noqa: E402
from simulator.render import THEMES, has_renderer  # noqa: E402
from simulator.scene import Scene  # noqa: E402
from simulator.worlds.maze import render as maze_render  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCENES = sorted(p.stem for p in (ROOT / "scenes").glob("*.toml"))


@pytest.fixture
def open_window(qtbot, settings):
    def make(target: str = "walled_maze") -> MainWindow:
        window = MainWindow(target, settings=settings)
        qtbot.addWidget(window)
        window.resize(1280, 820)
        window.show()
        qtbot.waitExposed(window)
        qtbot.wait(30)
        return window

    return make


def _cell_point(window: MainWindow, lane: int, row: int, col: int) -> QtCore.QPoint:
    """Widget coordinates of the centre of maze cell (row, col) in a lane's view."""
    view = window.view(lane)
    view.repaint()
    state = window.race.lanes[lane].state
    size = (view.width(), view.height())
    lay = maze_render.layout(state.cell.shape[1:], size, THEMES[view.theme],
                             view.last_overlays)
    x, y = lay.center(row, col)
    return QtCore.QPoint(x, y)


@pytest.mark.parametrize("name", SCENES)
def test_every_shipped_scene_opens(open_window, name):
    window = open_window(name)
    assert window.errors == []
    scene = Scene.load(name)
    assert window.race is not None and len(window.panels) == len(scene.model.lanes)
    for panel in window.panels:
        panel.view.repaint()
        frame = panel.view.frame()
        assert frame is not None and frame.shape[:2] == (panel.view.height(),
                                                         panel.view.width())
        if has_renderer(scene.world):
            assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 3  # a world, not a blank
        assert panel.header.text()  # agent, objective, ensemble size
    window.step_once()
    assert window.race.step_index == 1 and window.errors == []


def test_a_click_perturbs_every_lane_and_is_logged(open_window, qtbot):
    window = open_window("walled_maze")
    window.tool_group.actions()[1].trigger()  # Wall
    assert window.tool.info.name == "wall"
    before = len(window.race.events)
    qtbot.mouseClick(window.view(1), QtCore.Qt.MouseButton.LeftButton,
                     pos=_cell_point(window, 1, 4, 1))
    new = window.race.events[before:]
    assert [(ev.kind, ev.lane, ev.source) for ev in new] == [
        ("draw_wall", lane, "user") for lane in range(3)]
    assert all(ev.step == 0 for ev in new)
    for run in window.race.lanes:  # logged in each lane of the Session
        assert run.lane.events[-1].kind == "draw_wall"
    window.step_once()
    for run in window.race.lanes:
        assert run.state.cell[0, 4, 1] == 1  # a wall now, in copy 0 ...
        assert np.all(run.state.cell[:, 4, 1] == 1)  # ... and in every copy
    view = window.view(0)
    view.repaint()
    y, x = _cell_point(window, 0, 4, 1).y(), _cell_point(window, 0, 4, 1).x()
    assert tuple(view.frame()[y, x]) == THEMES[view.theme].wall


def test_one_lane_gesture_and_drag(open_window, qtbot):
    window = open_window("walled_maze")
    window.all_lanes_action.setChecked(False)
    window.tool_group.actions()[3].trigger()  # Lava
    view = window.view(2)
    qtbot.mousePress(view, QtCore.Qt.MouseButton.LeftButton, pos=_cell_point(window, 2, 4, 1))
    qtbot.mouseMove(view, _cell_point(window, 2, 4, 2))
    qtbot.mouseMove(view, _cell_point(window, 2, 4, 3))
    qtbot.mouseRelease(view, QtCore.Qt.MouseButton.LeftButton,
                       pos=_cell_point(window, 2, 4, 3))
    events = [ev for ev in window.race.events if ev.source == "user"]
    assert [(ev.kind, ev.lane) for ev in events] == [("place_hazard", 2)] * 3
    cells = [(int(window.race.session.event_params(ev)["row"]),
              int(window.race.session.event_params(ev)["col"])) for ev in events]
    assert cells == [(4, 1), (4, 2), (4, 3)]
    window.step_once()
    assert window.race.lanes[2].state.cell[0, 4, 2] == 2
    assert window.race.lanes[0].state.cell[0, 4, 2] == 0  # the other lanes were not hit


def test_teleport_preview_shows_before_the_step(open_window, qtbot):
    window = open_window("walled_maze")
    window.tool_group.actions()[0].trigger()  # Teleport
    view = window.view(0)
    point = _cell_point(window, 0, 1, 1)
    before = view.frame()[point.y() - 12:point.y() + 12, point.x() - 12:point.x() + 12].copy()
    qtbot.mouseClick(view, QtCore.Qt.MouseButton.LeftButton, pos=point)
    after = view.frame()[point.y() - 12:point.y() + 12, point.x() - 12:point.x() + 12]
    assert not np.array_equal(before, after)  # the pending teleport is drawn at once
    assert window.click_latencies  # and the click-to-paint time was measured
    window.step_once()
    assert tuple(window.race.lanes[0].state.agent_pos[0]) in {(1, 1), (1, 2), (2, 1)}


def test_play_advances_and_keys(open_window, qtbot):
    window = open_window("walled_maze")
    window.speed_slider.setValue(200)  # 100 steps/s
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    assert window.playing
    qtbot.waitUntil(lambda: window.race.step_index >= 5, timeout=5000)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    assert not window.playing
    now = window.race.step_index
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    assert window.race.step_index == now + 1
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Backspace)
    assert window.race.step_index == 0
    speed = window.speed
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Plus)
    assert window.speed > speed
    tracker = window.race.lanes[0].tracker
    assert len(tracker.series(0, "F")) == 1  # reset started the metrics over
    window._refresh_plots()
    assert window.plots.curves["F"][0].getData()[0] is not None


def test_invalid_scene_shows_an_error_and_keeps_running(open_window, tmp_path, qtbot):
    window = open_window("walled_maze")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nworld = "maze"\nbase_objective = "reach:goal"\n'
                   '[[lanes]]\nagent = "telepath"\n[distributions.d]\nmap = "#A#"\n')
    assert window.open_target(str(bad)) is False
    assert window.errors and "bad.toml" in window.errors[-1]
    assert "telepath" in window.errors[-1]
    assert window._error_box is not None and window._error_box.isVisible()
    assert window.race.scene.name == "walled_maze"  # still the scene it had
    assert window.open_target(str(tmp_path / "missing.h5")) is False
    window.step_once()
    assert window.race.step_index == 1


def test_bad_lane_parameters_are_reported(open_window):
    window = open_window("walled_maze")
    editor = window.dock.editors[2]
    editor.params_edit.setText("budget=lots")
    window.dock.apply_button.click()
    assert window.errors and "lane 3" in window.errors[-1]
    editor.params_edit.setText("budget 9")
    window.dock.apply_button.click()
    assert "budget 9" in window.errors[-1]
    assert len(window.panels) == 3


def test_seed_and_distribution_rebuild_the_race(open_window, qtbot):
    window = open_window("red_door")
    start = window.race.lanes[0].state.cell[0].copy()
    window.seed_box.setText(str(2**62 + 5))  # past a 32-bit spin box
    window.seed_box.editingFinished.emit()
    assert window.race.seed == 2**62 + 5 and window.race.step_index == 0
    assert not np.array_equal(window.race.lanes[0].state.cell[0], start)
    window.dist_box.setCurrentText("deploy")
    window._dist_changed()
    assert window.race.distribution == "deploy" and window.errors == []


def test_dock_adds_and_removes_lanes(open_window):
    window = open_window("walled_maze")
    window.dock._add_lane()
    window.dock.editors[-1].agent_box.setCurrentText("random")
    window.dock.editors[-1].copies.setValue(100)
    window.dock.apply_button.click()
    assert window.errors == []
    assert len(window.panels) == 4 and window.race.lanes[3].agents[0].name == "random"
    assert window.race.lanes[3].n_copies == 100
    assert window.race.lanes[2].n_copies < window.race.lanes[0].n_copies  # search: fewer
    window.dock._remove(window.dock.editors[0])
    window.dock.apply_button.click()
    assert len(window.panels) == 3 and window.race.lanes[0].agents[0].name == "heuristic"


def test_record_then_replay(open_window, qtbot, settings, tmp_path, monkeypatch):
    from simulator.recording import Recording, verify

    window = open_window("walled_maze")
    live: list[list[dict]] = [[] for _ in window.race.lanes]  # copy 0 per lane, per step

    def remember() -> None:
        for states, run in zip(live, window.race.lanes, strict=True):
            states.append({k: v[:1].copy() for k, v in run.state.as_dict().items()})

    remember()
    window.tool_group.actions()[1].trigger()  # Wall
    for _ in range(2):
        window.step_once()
        remember()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)  # mid-run: still recorded from step 0
    assert window.recorder is not None
    qtbot.mouseClick(window.view(0), QtCore.Qt.MouseButton.LeftButton,
                     pos=_cell_point(window, 0, 2, 5))
    for _ in range(6):
        window.step_once()
        remember()
    path = window.recorder.path
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    assert window.recorder is None and path.exists()
    with Recording.open(path) as rec:
        assert len(rec) == 3
        assert all(check.ok for check in verify(rec)), [c.divergence for c in verify(rec)]
        assert [ev.kind for ev in rec[0].events() if ev.source == "user"] == ["draw_wall"]
    assert window.open_target(str(path)), window.errors
    assert window.replay is not None and len(window.panels) == 3
    assert not window.replay_bar.isHidden()
    window.timeline.setValue(8)
    for lane in range(3):
        shown = window.replay.state(lane)
        want = live[lane][8]
        assert np.array_equal(shown.agent_pos, want["agent_pos"])
        assert np.array_equal(shown.cell, want["cell"])
    window.view(0).update()
    qtbot.waitUntil(lambda: window.view(0).frame() is not None, timeout=3000)
    window.timeline.setValue(0)
    window.play()
    qtbot.waitUntil(lambda: window.replay.t >= 3, timeout=5000)
    window.pause()
    window._refresh_plots()
    assert window.errors == []
    # "Export video…" writes the open recording as a video behind a progress dialog.
    out = tmp_path / "replay.gif"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(out), ""))
    seen: list[int] = []
    real_set_value = QtWidgets.QProgressDialog.setValue
    monkeypatch.setattr(QtWidgets.QProgressDialog, "setValue",
                        lambda self, v: (seen.append(v), real_set_value(self, v)))
    assert window.export_action.isEnabled()
    window.export_action.trigger()
    assert window.errors == [] and out.stat().st_size > 0
    assert seen and seen[-1] == window.replay.n_steps + 1  # one frame per step, plus step 0


def test_layout_and_last_scene_persist(qtbot, settings):
    first = MainWindow("open_room", settings=settings)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.dock.hide()
    first.splitter.setSizes([500, 300])
    sizes = first.splitter.sizes()
    first.apply_theme("dark")
    first.close()
    again = MainWindow(None, settings=settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.race is not None and again.race.scene.name == "open_room"
    assert again.theme == "dark"
    assert again.dock.isHidden()
    got = again.splitter.sizes()
    assert got[0] / sum(got) == pytest.approx(sizes[0] / sum(sizes), abs=0.02)
    again.apply_theme("light")
    again.close()


def test_gui_command_is_registered():
    from click.testing import CliRunner

    from simulator.cli import main

    out = CliRunner().invoke(main, ["gui", "--help"])
    assert out.exit_code == 0 and "recording" in out.output


def _world_point(window: MainWindow, lane: int, where: tuple[float, float]) -> QtCore.QPoint:
    """Widget coordinates of a world point, searched through the view's own ``locate``."""
    view = window.view(lane)
    view.repaint()
    best, best_d = None, float("inf")
    for y in range(0, view.height(), 3):
        for x in range(0, view.width(), 3):
            got = view.world_at(QtCore.QPointF(x, y))
            if got is not None:
                d = sum((a - b) ** 2 for a, b in zip(got, where, strict=True))
                if d < best_d:
                    best, best_d = QtCore.QPoint(x, y), d
    return best


@pytest.mark.skipif("ball_push" not in SCENES, reason="no arena scene")
def test_arena_slingshot_pushes_a_body(open_window, qtbot):
    window = open_window("ball_push")
    assert window.tool.info.name == "push"
    state = window.race.lanes[0].state
    pusher = tuple(state.pos[0, 0])
    view = window.view(0)
    start = _world_point(window, 0, pusher)
    qtbot.mousePress(view, QtCore.Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + QtCore.QPoint(30, 0))
    qtbot.mouseRelease(view, QtCore.Qt.MouseButton.LeftButton, pos=start + QtCore.QPoint(40, 0))
    events = [ev for ev in window.race.events if ev.source == "user"]
    assert [ev.kind for ev in events] == ["impulse"] * len(window.race.lanes)
    assert events[0].target == 0 and events[0].params[0] > 0  # pulled right: kicked right
    window.step_once()
    assert window.race.lanes[0].state.vel[0, 0, 0] > 0


@pytest.mark.skipif("thermostat" not in SCENES, reason="no thermal scene")
def test_thermal_heat_brush(open_window, qtbot):
    window = open_window("thermostat")
    assert window.tool.info.name == "heat"
    point = _world_point(window, 1, (4.0, 8.0))
    qtbot.mouseClick(window.view(1), QtCore.Qt.MouseButton.LeftButton, pos=point)
    events = [ev for ev in window.race.events if ev.source == "user"]
    assert [ev.kind for ev in events] == ["heat"] * len(window.race.lanes)
    before = window.race.lanes[1].state.temp[0, 4, 8]
    window.step_once()
    assert window.race.lanes[1].state.temp[0, 4, 8] > before + 1.0


def test_the_qt_singleton_guard_keeps_none_alive(open_window):
    """PySide6 6.12.0 on CPython 3.11 drops a reference to None per void call: the window
    must survive far more calls than None's natural count (see qt_compat)."""
    import sys

    from simulator.gui.qt_compat import none_leak_per_call

    window = open_window("walled_maze")
    if sys.version_info >= (3, 12) or none_leak_per_call() == 0:
        pytest.skip("this Qt binding does not leak")
    assert sys.getrefcount(None) > 2**39 and sys.getrefcount(True) > 2**39
    for _ in range(50_000):  # ~3x None's count without the guard
        window.step_label.setText("x")


@pytest.mark.skipif(not (ROOT / "recordings" / "demo.h5").exists(), reason="no demo recording")
def test_replay_switches_runs_without_leftover_lanes(open_window, qtbot):
    from simulator.gui.lanes import LanePanel

    window = open_window(str(ROOT / "recordings" / "demo.h5"))
    assert window.errors == [] and window.replay is not None
    assert window.episode_box.count() == len(window.replay.runs)
    assert not window.seed_box.isEnabled()  # a recording's seed is what it is
    window.episode_box.setCurrentIndex(window.episode_box.count() - 1)
    window._episode_changed()
    qtbot.wait(20)
    shown = [p for p in window.lanes_widget.findChildren(LanePanel) if p.isVisible()]
    assert len(shown) == window.replay.n_lanes == len(window.panels)
    window.timeline.setValue(window.replay.n_steps)
    assert window.replay.t == window.replay.n_steps and window.errors == []
    qtbot.mouseClick(window.view(0), QtCore.Qt.MouseButton.LeftButton)  # no tools: a note
    assert window.errors == []


def test_playing_steps_on_the_worker_and_a_click_lands_between_steps(open_window, qtbot):
    window = open_window("walled_maze")
    window.tool_group.actions()[1].trigger()  # Wall
    window.speed_slider.setValue(178)  # 60 steps/s
    window.play()
    qtbot.waitUntil(lambda: window.shown.step >= 3, timeout=10000)
    assert window.worker.steps_taken >= 3  # the worker thread stepped them
    point = _cell_point(window, 1, 4, 1)
    with window.worker.lock:  # the worker waits: the race stays at the click's boundary
        qtbot.mouseClick(window.view(1), QtCore.Qt.MouseButton.LeftButton, pos=point)
        # A wall is drawn in a copy still running whose agent (or an object) is not on the
        # cell; which copies those are depends on the step the click lands on (the search
        # lane's agents all stand on (4, 1) at step 5), so read them off the boundary.
        walled = []
        for run in window.race.lanes:
            st = run.state
            on_cell = (st.agent_pos[:, 0] == 4) & (st.agent_pos[:, 1] == 1)
            on_cell |= np.any((st.obj_kind >= 0) & (st.obj_pos[..., 0] == 4)
                              & (st.obj_pos[..., 1] == 1), axis=1)
            hit = (st.status == 0) & ~on_cell
            walled.append(np.where(hit, 1, st.cell[:, 4, 1]))  # the others stay as they were
    events = [ev for ev in window.race.events if ev.source == "user"]
    assert [(ev.kind, ev.lane) for ev in events] == [("draw_wall", lane) for lane in range(3)]
    assert len({ev.step for ev in events}) == 1  # one step boundary for every lane
    step = events[0].step
    qtbot.waitUntil(lambda: window.shown.step > step, timeout=10000)
    for lane, expected in zip(window.shown.lanes, walled, strict=True):  # only those changed
        assert np.array_equal(lane.state.cell[:, 4, 1], expected)
    for lane in window.shown.lanes[:2]:  # the thermostat and the pile never reach (4, 1)
        assert np.all(lane.state.cell[:, 4, 1] == 1)
    assert np.any(window.shown.lanes[0].state.status == 0)  # the thermostat never gets there
    window.pause()
    now = window.race.step_index
    assert window.worker.idle and window.shown.step == now  # the last step is shown
    qtbot.wait(100)
    assert window.race.step_index == now and window.errors == []


def test_internals_show_the_cells_the_search_expands(open_window, qtbot):
    """walled_maze's third lane is a tree search: with Internals on, its view carries the
    cells the search expands for its next move (drawn as a tint); other lanes carry none."""
    window = open_window("walled_maze")
    names = [run.agents[0].name for run in window.race.lanes]
    search = names.index("search")
    window.internals_action.setChecked(True)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    view = window.view(search)
    view.repaint()
    cells = view.last_overlays.expanded
    state = window.race.lanes[search].state
    assert cells is not None and cells.shape == state.cell.shape[1:]
    assert cells[tuple(state.agent_pos[0])] and cells.sum() > 1
    other = window.view(names.index("thermostat"))
    other.repaint()
    assert other.last_overlays.expanded is None
    window.internals_action.trigger()  # as the I key does: off
    assert not window.internals_action.isChecked()
    qtbot.waitUntil(lambda: (view.repaint(), view.last_overlays.expanded is None)[1],
                    timeout=2000)


def test_the_window_has_the_goal_set_panel(open_window, qtbot):
    window = open_window("red_door")
    assert window.goals.scene is not None and window.goals.scene.name == "red_door"
    window.show_goals()
    assert window.goals.wait()
    qtbot.waitUntil(lambda: bool(window.goals.reports), timeout=120_000)
    assert window.goals_dock.isVisible()


def test_played_lanes_equal_a_headless_session(open_window, qtbot):
    """The window's lanes — stepped on the worker while playing, clicked between steps —
    hold bit for bit the states of a headless Session of the same scene, seed and events."""
    from simulator.session import Session

    window = open_window("walled_maze")
    window.tool_group.actions()[1].trigger()  # Wall
    window.speed_slider.setValue(178)  # 60 steps/s
    window.play()
    qtbot.waitUntil(lambda: window.shown.step >= 3, timeout=10000)
    with window.worker.lock:
        qtbot.mouseClick(window.view(1), QtCore.Qt.MouseButton.LeftButton,
                         pos=_cell_point(window, 1, 2, 5))
    qtbot.waitUntil(lambda: window.shown.step >= 12, timeout=10000)
    window.pause()
    race = window.race
    assert any(ev.source == "user" for ev in race.events)
    headless = Session(race.scene, seed=race.seed, distribution=race.distribution,
                       n_copies=[run.n_copies for run in race.lanes],
                       agents=[run.agents for run in race.lanes])
    for ev in race.events:
        if ev.source == "user":
            headless.lanes[ev.lane].log(ev)
    headless.step(race.step_index)
    for run, lane in zip(race.lanes, headless.lanes, strict=True):
        for name, values in run.state.as_dict().items():
            assert np.array_equal(values, getattr(lane.state, name)), name


def test_help_describes_the_open_world(open_window):
    window = open_window("walled_maze")
    assert "Maze tools" in window.help_text() and "Thermal" not in window.help_text()
    for name, words in (("thermostat", "Thermal tools"), ("ball_push", "Arena tools")):
        if name in SCENES:
            assert window.open_target(name)
            assert words in window.help_text() and "Maze tools" not in window.help_text()
