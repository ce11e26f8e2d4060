"""Trained agents in the window (issue 14, item 5), offscreen: the dock lists an agents
file's agents, the Train dialog trains on its worker thread and plots the curves, a click
on an outcome-scatter dot puts that agent in a lane, and a bad file changes nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6 import QtCore  # noqa: E402

from agents.store import read_agents_file  # noqa: E402
from simulator import training  # noqa: E402
from simulator.gui.dock import SceneDock  # noqa: E402
from simulator.gui.learning import TrainDialog, mean_curve  # noqa: E402
from simulator.gui.main_window import MainWindow  # noqa: E402
from simulator.gui.race import scene_lanes  # noqa: E402
from simulator.scene import Scene  # noqa: E402

SCENE = "red_door"


@pytest.fixture(scope="module")
def agents_file(tmp_path_factory):
    """Two tiny learners of two agents each, trained on red_door (a second or so)."""
    scene = Scene.load(SCENE, build_lanes=False)
    req = training.TrainRequest(("reinforce", "pile"), 2, seed=3, episodes=16)
    path = tmp_path_factory.mktemp("agents") / "tiny.agents.h5"
    training.save(path, scene, req, training.train_scene(scene, req))
    return path


@pytest.fixture
def window(qtbot, settings):
    w = MainWindow(SCENE, settings=settings)
    qtbot.addWidget(w)
    w.resize(1280, 820)
    w.show()
    qtbot.waitExposed(w)
    assert w.errors == [] and w.race is not None
    return w


def _agents(window: MainWindow) -> list[str]:
    return [m.agent for c in window.race.choices for m in c.members]


def test_the_dock_lists_an_agents_files_agents(qtbot, agents_file):
    scene = Scene.load(SCENE)
    dock = SceneDock()
    qtbot.addWidget(dock)
    dock.set_scene(scene.name, "", "", scene.model.base_objective, scene_lanes(scene),
                   world=scene.world, scene_hash=scene.content_hash,
                   scene_dir=str(scene.path.parent))
    errors = []
    dock.error_raised.connect(errors.append)
    names = dock.add_agents_file(str(agents_file))
    assert errors == []
    assert sorted(n.rsplit("#", 1)[1] for n in names) == ["pile/0", "pile/1", "reinforce/0",
                                                           "reinforce/1"]
    assert all(n.startswith("trained:") and n.split("#")[0].endswith("tiny.agents.h5")
               for n in names)
    box = dock.editors[-1].agent_box  # the hand-told search lane
    listed = [box.itemText(i) for i in range(box.count())]
    assert set(names) <= set(listed)
    pile = next(n for n in names if n.endswith("#pile/0"))
    tip = box.itemData(box.findText(pile), QtCore.Qt.ItemDataRole.ToolTipRole)
    assert "pile" in tip and "final train return" in tip
    # The scene's own trained lanes show as such.
    first = dock.editors[0].agent_box.currentText()
    assert first == "trained:red_door.agents.h5#reinforce/0"
    # Choosing one puts it in the lane, without parameters; the old label goes with it.
    chosen = next(n for n in names if n.endswith("#reinforce/1"))
    dock.editors[-1].agent_box.setCurrentText(chosen)
    lane = dock.choices()[-1]
    assert lane.members[0].agent == chosen and lane.members[0].params == {}
    assert lane.label == ""
    spec = lane.build(scene.world, scene.content_hash, str(scene.path.parent))
    assert spec[0].label.startswith("trained reinforce #1")


def test_training_through_the_dialog_writes_a_file_and_plots_curves(qtbot, tmp_path):
    scene = Scene.load(SCENE, build_lanes=False)
    dialog = TrainDialog(scene, tmp_path / "recordings")
    qtbot.addWidget(dialog)
    assert dialog.output_edit.text().endswith("recordings/red_door-agents.h5")
    dialog.learner_checks["reinforce"].setChecked(True)
    dialog.learner_checks["bc"].setChecked(True)
    dialog.agents_spin.setValue(4)
    dialog.episodes_spin.setValue(16)
    with qtbot.waitSignal(dialog.trained, timeout=60_000) as blocker:
        assert dialog.start()
        assert dialog.running and not dialog.train_button.isEnabled()
    path = blocker.args[0]
    agents = read_agents_file(path)
    assert sorted(agents.groups) == ["bc", "reinforce"]
    assert all(len(tr.seeds) == 4 for tr in agents.groups.values())
    for name, tr in agents.groups.items():
        x, y = dialog.plot.data(name)
        assert len(y) == tr.curve.shape[1] and np.isfinite(y).all()
        np.testing.assert_allclose(y, mean_curve(tr.curve))
    assert dialog.progress.value() == dialog.progress.maximum() == 8
    assert dialog.train_button.isEnabled()
    # The same agents as `steersim train` with the same request: chunking changes nothing.
    ref = training.train_scene(scene, dialog.job.req)
    for a in ref:
        np.testing.assert_array_equal(a.params, agents.groups[a.learner].params)
    # The next default name does not overwrite the file just written.
    assert dialog.output_edit.text() != path


def test_cancelling_training_writes_nothing(qtbot, tmp_path):
    scene = Scene.load(SCENE, build_lanes=False)
    dialog = TrainDialog(scene, tmp_path)
    qtbot.addWidget(dialog)
    dialog.agents_spin.setValue(64)
    dialog.episodes_spin.setValue(16)
    errors = []
    dialog.error_raised.connect(lambda m, _d: errors.append(m))
    dialog.start()
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    qtbot.wait(20)
    assert not list(tmp_path.glob("*.h5*")) and errors == []
    assert "cancelled" in dialog.status.text()


def test_clicking_a_scatter_dot_puts_that_agent_in_a_lane(qtbot, window, agents_file):
    import pyqtgraph as pg

    assert window.dock.add_agents_file(str(agents_file))
    panel = window.outcomes
    assert panel.path == str(agents_file.resolve())
    panel.episodes_spin.setValue(20)
    assert panel.run_study()
    qtbot.waitUntil(lambda: not panel.running and bool(panel.results), timeout=60_000)
    assert window.errors == []
    assert {r.distribution for r in panel.results} == {"deploy", "train"}
    assert len(panel.shown) == 4 and panel.table.rowCount() == 4
    dots = {it.name(): it for it in panel.plot.listDataItems()
            if isinstance(it, pg.ScatterPlotItem)}
    assert sorted(dots) == ["pile", "reinforce"]
    assert [len(d.points()) for d in dots.values()] == [2, 2]
    point = dots["pile"].points()[1]
    assert tuple(point.data()) == ("pile", 1)
    panel.lane_box.setCurrentText("lane 2")
    panel._dot_clicked(dots["pile"], [point])  # what a mouse click on the dot calls
    agents = _agents(window)
    assert len(agents) == 4 and window.errors == []
    assert agents[1].startswith("trained:") and agents[1].endswith("tiny.agents.h5#pile/1")
    assert window.race.lanes[1].title.startswith("trained pile #1")
    # Into a new lane.
    panel.lane_box.setCurrentText("a new lane")
    panel._dot_clicked(dots["reinforce"], [dots["reinforce"].points()[0]])
    agents = _agents(window)
    assert len(agents) == 5 and agents[4].endswith("#reinforce/0")
    assert panel.lane_box.count() == 6  # lanes 1..5 and a new lane


def test_a_corrupt_or_mismatched_agents_file_gives_one_error_and_loses_nothing(
        window, agents_file, tmp_path):
    import h5py

    before = _agents(window)
    listed = window.dock.editors[0].agent_box.count()
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00garbage" * 64)
    assert window.dock.add_agents_file(str(corrupt)) == []
    assert len(window.errors) == 1 and "corrupt.h5" in window.errors[0]
    other = tmp_path / "other.h5"
    shutil.copy(agents_file, other)
    with h5py.File(other, "r+") as f:
        f.attrs["scene_hash"] = "0" * 64
    assert window.dock.add_agents_file(str(other)) == []
    assert len(window.errors) == 2 and "not this scene" in window.errors[1]
    assert _agents(window) == before
    assert window.dock.editors[0].agent_box.count() == listed
    assert window.outcomes.path is None
