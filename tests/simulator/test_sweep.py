"""Sweeps and studies on dask.distributed (issue 18): the grid, the table, resume, a killed
worker, and train/misgen split into tasks — each against the same work done in-process."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simulator import sweep as sw
from simulator.cli import main
from simulator.core.errors import UserError
from simulator.scene import Scene

ROOT = Path(__file__).resolve().parents[2]
GRID = "seed=0:3 agent=search,heuristic distribution=train,deploy"


@pytest.fixture(scope="module")
def red_door() -> Scene:
    return Scene.load("red_door", build_lanes=False)


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of 2 single-threaded worker processes for the module (no
    dashboard: nothing listens but the scheduler, on 127.0.0.1)."""
    from simulator.cluster import connect

    with connect(None, 2, dashboard_address=None) as c:
        yield c


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


# --- the grid ----------------------------------------------------------------------------
def test_grid_ranges_lists_and_values():
    grid = sw.parse_grid("seed=0:10:3 agent=search,heuristic budget=200 objective=reach:red")
    assert grid == {"seed": [0, 3, 6, 9], "agent": ["search", "heuristic"], "budget": [200],
                    "objective": ["reach:red"]}
    assert sw.grid_from_table({"seed": "2:4", "agent": ["null", "random"]}, "x") == {
        "seed": [2, 3], "agent": ["null", "random"]}


def test_plan_expands_in_grid_order_and_defaults_lanes(red_door):
    plan = sw.plan(red_door, sw.parse_grid(GRID))
    assert len(plan.tasks) == 12 and plan.swept == ("seed", "agent", "distribution")
    assert [t["seed"] for t in plan.tasks[:4]] == [0, 0, 0, 0]  # seed varies slowest
    assert {t["lane"] for t in plan.tasks} == {0}  # agent swept: one lane
    every_lane = sw.plan(red_door, sw.parse_grid("seed=0:2"))
    assert len(every_lane.tasks) == 2 * len(red_door.model.lanes)


def test_scene_sweep_table_and_toml_file(tmp_path, red_door):
    text = red_door.text + '\n[sweep]\nseed = "0:2"\nagent = ["null", "random"]\n'
    scene = Scene.from_text(text, red_door.path, build_lanes=False)
    assert len(sw.plan(scene, sw.load_grid(None, scene)).tasks) == 4
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text('[sweep]\nseed = [1, 2, 3]\ndistribution = "train,deploy"\n')
    assert sw.load_grid(str(grid_file), red_door) == {"seed": [1, 2, 3],
                                                      "distribution": ["train", "deploy"]}


@pytest.mark.parametrize(("grid", "says"), [
    ("seed", "is not name=values"),
    ("seed=5:2", "needs b > a"),
    ("seed=0:", "whole numbers"),
    ("seed=1,,2", "empty value"),
    ("seed=1 seed=2", "given twice"),
    ("distribution=nowhere", "red_door has train, deploy"),
    ("lane=9", "lanes"),
    ("agent=search budget=lots", "budget"),
    ("agent=wizard", "unknown agent"),
])
def test_bad_grid_one_line_exit_2(grid, says, tmp_path):
    result = CliRunner().invoke(main, ["sweep", "red_door", "--grid", grid, "--workers", "0",
                                       "-o", str(tmp_path / "t.csv")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steersim: error: --grid") and says in lines[0]
    assert not (tmp_path / "t.csv").exists()


# --- the same table wherever it runs -----------------------------------------------------
def test_cluster_table_equals_in_process_table(tmp_path, red_door, client):
    plan = sw.plan(red_door, sw.parse_grid(GRID + " ensemble=1,16"))
    here = sw.run_sweep(plan, tmp_path / "here.csv")
    there = sw.run_sweep(plan, tmp_path / "there.csv", client=client,
                         record_dir=tmp_path / "rec")
    assert here.complete and there.complete and there.ran == len(plan.tasks) == 24
    rows = _rows(tmp_path / "there.csv")
    here_rows = _rows(tmp_path / "here.csv")
    rec = rows[0].index("recording")
    assert [r[:rec] for r in rows] == [r[:rec] for r in here_rows]  # bit for bit
    table = sw.read_table(tmp_path / "there.csv")
    assert len(table) == 24
    ens = [r for r in table if r["ensemble"] == "16"]
    assert all(r["H_final"] and r["OP_final"] and r["copies"] == "16" for r in ens)
    assert all(r["H_final"] == "" for r in table if r["ensemble"] == "1")
    search = [r for r in table if r["agent"] == "search"]
    assert all(r["achieved_base"] == "True" for r in search)
    # One recording per run, and each verifies against its own re-simulation.
    files = sorted((tmp_path / "rec").glob("*.h5"))
    assert len(files) == 24 and {r["recording"] for r in table} == {f.name for f in files}
    from simulator import recording

    with recording.Recording.open(files[-1]) as rec_file:
        assert all(check.ok for check in recording.verify(rec_file))
        ep = next(iter(rec_file))
        assert ep.seed == int(table[-1]["seed"]) and ep.n_copies == 16


def test_resume_after_ctrl_c_and_a_cut_line(tmp_path, red_door):
    plan = sw.plan(red_door, sw.parse_grid(GRID))
    clean = tmp_path / "clean.csv"
    sw.run_sweep(plan, clean)
    out = tmp_path / "t.csv"

    def ctrl_c(done: int, _total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    first = sw.run_sweep(plan, out, progress=ctrl_c)
    assert first.interrupted and first.ran == 5 and not first.complete
    partial = sw.read_table(out)  # a valid table of the runs finished so far
    assert len(partial) == 5
    with out.open("a") as f:  # a kill in the middle of writing a row
        f.write("red_door,2,0,sea")
    second = sw.run_sweep(plan, out)
    assert (second.skipped, second.ran) == (5, 7) and second.complete
    assert out.read_bytes() == clean.read_bytes()
    third = sw.run_sweep(plan, out)
    assert third.ran == 0 and out.read_bytes() == clean.read_bytes()
    other = sw.plan(red_door, sw.parse_grid("seed=0:2 budget=100 agent=search"))
    with pytest.raises(UserError, match="another sweep"):
        sw.run_sweep(other, out)


def test_killed_worker_loses_no_row(tmp_path, red_door, client):
    # Tasks long enough (~0.3 s) that one is running on the worker killed.
    plan = sw.plan(red_door, sw.parse_grid("seed=0:6 agent=search ensemble=2048"))
    sw.run_sweep(plan, tmp_path / "clean.csv")
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one(done: int, _total: int) -> None:
        if done == 1 and not killed:  # kill a worker with a run in progress
            busy = [addr for addr, keys in client.processing().items() if keys]
            victim = pids[busy[0]]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = sw.run_sweep(plan, tmp_path / "t.csv", client=client, progress=kill_one)
    assert killed and result.complete and result.ran == 6
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "clean.csv").read_bytes()
    assert killed[0] not in client.run(os.getpid).values()  # a new worker took its place


# --- train and misgen split into tasks ---------------------------------------------------
def test_train_and_misgen_on_a_cluster_equal_local(tmp_path, red_door, client):
    from agents.store import read_agents_file
    from simulator import misgen, training

    req = training.TrainRequest(("reinforce", "pile"), 5, 3, 16)
    local = training.train_scene(red_door, req)
    split = training.train_scene(red_door, req, client=client)
    for a, b in zip(local, split, strict=True):
        assert a.learner == b.learner
        for field in ("seeds", "params", "masks", "curve", "env_steps"):
            assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True), field
        assert all(np.array_equal(x, y) for x, y in zip(a.rules, b.rules, strict=True))
    path = tmp_path / "agents.h5"
    training.save(path, red_door, req, split)
    files = [read_agents_file(path)]
    here = misgen.study(red_door, files, n_episodes=50)
    there = misgen.study(red_door, files, n_episodes=50, client=client)
    assert [r.as_dict() for r in here] == [r.as_dict() for r in there]


def test_cli_sweep_plot_and_train_flags(tmp_path):
    out, fig = tmp_path / "t.csv", tmp_path / "t.png"
    args = ["sweep", "red_door", "--grid", "seed=0:2 agent=search,null", "--workers", "0",
            "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "4 runs (4 run now, 0 already in the table)" in result.output
    assert "search" in result.output and "base" in result.output
    again = CliRunner().invoke(main, args + ["--plot", str(fig)])  # nothing left to run
    assert again.exit_code == 0 and "0 run now, 4 already" in again.output
    assert fig.stat().st_size > 10_000
    plotted = CliRunner().invoke(main, ["plot", str(out), "-o", str(tmp_path / "figs")])
    assert plotted.exit_code == 0 and (tmp_path / "figs" / "t.png").stat().st_size > 10_000
    from simulator.cluster import connect

    with pytest.raises(UserError, match="cannot connect"):
        with connect("tcp://127.0.0.1:9", timeout="1s"):
            pass


def test_importing_sweep_loads_no_dask_or_qt():
    code = ("import sys, simulator.sweep, simulator.cluster, simulator.training, "
            "simulator.misgen; bad = [m for m in ('dask', 'distributed', 'PySide6') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr

