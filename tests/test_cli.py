"""The command line as a user meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from simulator import __version__
from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_and_python_m_agree():
    out = subprocess.run([sys.executable, "-m", "simulator", "--version"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert __version__ in out.stdout and __version__ != "0.0.0+unknown"


def test_scenes_lists_shipped_scenes():
    result = CliRunner().invoke(main, ["scenes"])
    assert result.exit_code == 0
    assert "red_door" in result.output and "walled_maze" in result.output


def test_run_json_reports_each_lane():
    result = CliRunner().invoke(main, ["run", "walled_maze", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    lanes = {lane["agent"]: lane for lane in report["lanes"]}
    assert lanes["search"]["achieved_objective"] and lanes["search"]["reached"] == "green goal"
    assert lanes["thermostat"]["status"] == "truncated"
    assert report["seed"] == 0 and report["distribution"] == "default"


def test_run_overrides_agent_objective_distribution_and_steps():
    result = CliRunner().invoke(main, [
        "run", "red_door", "--agent", "search", "--objective", "reach:red", "--distribution",
        "deploy", "--steps", "40", "--seed", "4", "--ensemble", "50", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for lane in report["lanes"]:
        assert lane["objective"] == "reach:red"
        assert lane["ensemble"]["objective_rate"] > 0.9
        assert lane["ensemble"]["base_rate"] < 0.1


def test_run_text_output_names_outcomes():
    result = CliRunner().invoke(main, ["run", "walled_maze"])
    assert result.exit_code == 0
    assert "green goal" in result.output and "truncated" in result.output


def test_bad_flags_exit_2():
    runner = CliRunner()
    assert runner.invoke(main, ["run", "walled_maze", "--agent", "oracle"]).exit_code == 2
    assert runner.invoke(main, ["run", "walled_maze", "--distribution", "moon"]).exit_code == 2
    assert runner.invoke(main, ["run", "walled_maze", "--objective", "win"]).exit_code == 2
    assert runner.invoke(main, ["run", "walled_maze", "--steps", "0"]).exit_code == 2


def test_bench_quick_json_has_the_figures():
    result = CliRunner().invoke(main, ["bench", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # stderr may carry a compile notice
    assert figures["maze_ensemble_steps_per_s"] > 0
    assert figures["maze_ensemble_copies"] >= 4096
    assert figures["search_world_steps_per_s"] > 0
    # Recording is timed with the writer record() picks: a writer process on POSIX.
    assert figures["recording_overhead"] > 0 and figures["recording_write_mb_per_s"] > 0
    if os.name == "posix":
        assert figures["recording_writer_maze_ensemble"] == "process"
        assert figures["recording_writer_start_s"] > 0
