"""The goal-set narrowing panel: counts on a worker thread, draws sparse and dense curves
and lists every candidate goal."""

from __future__ import annotations

from simulator.gui.goals_panel import GoalsPanel
from simulator.scene import Scene


def test_panel_counts_goal_sets_and_lists_the_candidates(qtbot):
    panel = GoalsPanel()
    qtbot.addWidget(panel)
    panel.set_scene(Scene.load("red_door", build_lanes=False))
    assert panel.run_button.isEnabled()
    panel.mix_edit.setText("0")
    panel.start()
    assert panel.wait()
    qtbot.waitUntil(lambda: bool(panel.reports), timeout=120_000)
    rep = panel.reports[0]
    assert panel.table.rowCount() == len(rep.goals) >= 20
    assert panel.table.item(0, 0).text().endswith("(base)")
    assert len(panel.plot_widget.getPlotItem().listDataItems()) == 2  # sparse and dense
    assert "compatible" in panel.status.text()


def test_bad_p_is_one_error_and_nothing_runs(qtbot):
    panel = GoalsPanel()
    qtbot.addWidget(panel)
    panel.set_scene(Scene.load("red_door", build_lanes=False))
    errors: list[str] = []
    panel.error.connect(errors.append)
    panel.mix_edit.setText("0, 2")
    panel.start()
    assert errors == ["p: 2 is not between 0 and 1"] and panel._worker is None


def test_non_maze_scene_disables_the_count(qtbot):
    panel = GoalsPanel()
    qtbot.addWidget(panel)
    panel.set_scene(Scene.load("thermostat"))
    assert not panel.run_button.isEnabled()

