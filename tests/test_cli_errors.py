"""Every error a user can cause on the command line is one line on stderr and exit code 2 —
click's own usage errors included (they were three lines: usage, hint, error) — and is
reported before anything slow starts (issue 19, item 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args, message", [
    (["run", "walled_maze", "--seed", "-1"], "Invalid value for '--seed'"),
    (["run", "walled_maze", "--steps", "0"], "Invalid value for '--steps'"),
    (["run", "--steps"], "Option '--steps' requires an argument"),
    (["nosuch"], "No such command 'nosuch'"),
    (["--bogus"], "No such option '--bogus'"),
    (["record", "walled_maze", "--compression", "zip"], "Invalid value for '--compression'"),
    (["run", "a", "b", "c"], "Got unexpected extra arguments"),
    (["inspect"], "Missing argument 'FILE'"),
])
def test_usage_errors_are_one_line_with_the_hint(args, message):
    result = CliRunner().invoke(main, args, prog_name="steersim")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("steersim: error: ") and message in lines[0]
    assert "(try 'steersim" in lines[0] and " -h')" in lines[0]
    assert result.stdout == ""


def test_a_usage_error_is_one_line_from_the_real_command_too():
    out = subprocess.run([sys.executable, "-m", "simulator", "run", "--seed", "-1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("flags, message", [
    (["--agent", "oracle"], "unknown agent 'oracle'"),
    (["--distribution", "moon"], "no distribution 'moon'"),
    (["--objective", "win"], "objective 'win'"),
    (["-o", "EXISTING"], "already exists (use --force to overwrite)"),
])
def test_record_checks_its_flags_before_starting_a_writer_or_compiling(
        flags, message, tmp_path, monkeypatch):
    from simulator import recording

    def forbidden(*args, **kwargs):
        raise AssertionError("started before the flags were checked")

    monkeypatch.setattr(recording, "prestart_writer_process", forbidden)
    monkeypatch.setattr(recording, "record", forbidden)
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"keep me")
    flags = [str(existing) if f == "EXISTING" else f for f in flags]
    if "-o" not in flags:
        flags += ["-o", str(tmp_path / "new.h5")]
    result = CliRunner().invoke(main, ["record", "walled_maze", *flags])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert existing.read_bytes() == b"keep me" and not (tmp_path / "new.h5").exists()
