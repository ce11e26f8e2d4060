"""HDF5 recordings: round trip, verify, faults (SIGKILL, SIGINT) and bad files."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numba
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import REC_TEST_SCENE as SCENE_TOML
from helpers import assert_same_recordings

from simulator.cli import main
from simulator.core.errors import UserError
from simulator.recording import (
    FORMAT_VERSION,
    Recording,
    RecordingWriter,
    agent_from_dict,
    agent_to_dict,
    background_pays,
    episode_seed,
    record,
    verify,
)
from simulator.scene import Scene
from simulator.session import Session

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Scene:
    path = tmp_path_factory.mktemp("scene") / "rec_test.toml"
    path.write_text(SCENE_TOML)
    return Scene.load(path)


@pytest.fixture(scope="module")
def recorded(scene, tmp_path_factory) -> Path:
    """Three runs of the test scene, written in blocks of 4 steps."""
    path = tmp_path_factory.mktemp("rec") / "three.h5"
    result = record(scene, path, episodes=3, block_steps=4, handle_signals=False)
    assert result.status == "complete" and result.episodes == 6
    return path


def _simulate_run(scene: Scene, seed: int):
    """What the recorder should have seen: per lane, copy 0's states, actions, rewards,
    internals, stepped one step at a time without any recorder."""
    session = Session(scene, seed=seed)
    lanes = session.lanes
    states = [[{k: v[0].copy() for k, v in lane.state.as_dict().items()}] for lane in lanes]
    actions, rewards, rules = ([[] for _ in lanes] for _ in range(3))
    running = [True] * len(lanes)
    while not session.done:
        traces = session.step(1, trace=True)
        for i, (lane, trace) in enumerate(zip(lanes, traces, strict=True)):
            if not running[i]:
                continue
            states[i].append({k: v[0].copy() for k, v in lane.state.as_dict().items()})
            actions[i].append(trace.action[0, 0].copy())
            rewards[i].append(trace.reward[0, 0].copy())
            rules[i].append(trace.internals["rule"][0, 0, 0])
            running[i] = bool(lane.state.status[0] == 0)
    return session, states, actions, rewards, rules


# --- round trip ----------------------------------------------------------------------------
def test_round_trip_equals_what_was_simulated(scene, recorded):
    with Recording.open(recorded) as rec:
        assert rec.status == "complete" and rec.format_version == FORMAT_VERSION
        assert rec.scene_toml == scene.text and rec.scene_name == "rec_test"
        assert rec.world == "maze" and rec.seed == 7
        assert len(rec) == 6
        episodes = list(rec)
        for run in range(3):
            seed = episode_seed(7, run)
            session, states, actions, rewards, rules = _simulate_run(scene, seed)
            for lane in range(2):
                ep = episodes[run * 2 + lane]
                assert (ep.run, ep.lane, ep.seed, ep.status) == (run, lane, seed, "complete")
                assert ep.distribution == "default"
                assert ep.lane_label == ("red chaser" if lane else "random → reach:goal")
                n = len(actions[lane])
                assert ep.n_steps == ep.total_steps == n
                for t in (0, n // 2, n):
                    got = ep.state_at(t)
                    assert got.keys() == states[lane][t].keys()
                    for field, value in states[lane][t].items():
                        np.testing.assert_array_equal(got[field], value, err_msg=field)
                np.testing.assert_array_equal(ep.states("agent_pos"),
                                              [s["agent_pos"] for s in states[lane]])
                np.testing.assert_array_equal(ep.actions, actions[lane])
                np.testing.assert_array_equal(ep.rewards, rewards[lane])
                key = ep.agent_keys[0]
                np.testing.assert_array_equal(ep.internals()[key]["rule"], rules[lane])
                status = [s["status"] for s in states[lane][1:]]
                np.testing.assert_array_equal(ep.terminations, np.equal(status, 1))
                np.testing.assert_array_equal(ep.truncations, np.equal(status, 2))
                assert ep.events() == session.lanes[lane].events
                outcome = session.outcomes()[lane].as_dict()
                assert ep.outcome == [json.loads(json.dumps(outcome))]
                assert ep.world_state_at(n).agent_pos.shape == (1, 2)


def test_events_table_holds_scheduled_perturbations(recorded):
    with Recording.open(recorded) as rec:
        lane0, lane1 = rec[0].events(), rec[1].events()
    assert [(ev.step, ev.kind, ev.source) for ev in lane0] == [(2, "set_noise", "scene")]
    assert [(ev.step, ev.kind, ev.lane) for ev in lane1] == [(2, "set_noise", 1),
                                                             (4, "draw_wall", 1)]
    assert lane0[0].params[2] == pytest.approx(0.3)


def test_datasets_are_chunked_compressed_and_written_in_blocks(recorded):
    """Layout v2: shared tables, chunked, resizable and compressed, small datasets packed
    into one compound table per kind; every append starts on a chunk boundary (whole
    chunks, never rewritten); an episode's rows are found through the segments index."""
    from simulator.recording.index import Index

    with h5py.File(recorded) as f:
        assert f.attrs["format_version"] == 2
        assert not [name for name in f if name.removeprefix("episode_").isdigit()]  # no groups
        index = Index(f)
        long = max(range(index.n_episodes), key=lambda k: index.episodes[k]["total_steps"])
        layout = index.layout(long)
        state, steps = layout["state/.packed"], layout[".steps"]
        n = sum(seg[3] for seg in steps)
        assert n > 4 and len(steps) > 1  # several blocks of 4 steps
        assert sum(seg[3] for seg in state) == n + 1
        assert "state/cell" in index.fields(state[0][0])
        assert {"actions", "rewards", "terminations"} <= set(index.fields(steps[0][0]))
        for tid in {state[0][0], steps[0][0], layout["events"][0][0]}:
            ds = index.dataset(tid)
            assert ds.chunks is not None and ds.maxshape[0] is None, ds.name
            assert ds.compression == "lzf" and ds.shuffle, ds.name
            assert ds.shape[0] % ds.chunks[0] == 0, ds.name  # padded to whole chunks
        assert index.dataset(steps[0][0]).dtype["terminations"] == np.dtype(bool)
        tables = [table[0] for table in index.tables]
        assert len(tables) == len(set(tables))


def test_episode_seeds_are_deterministic_and_distinct():
    assert episode_seed(7, 0) == 7
    seeds = {episode_seed(7, k) for k in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert episode_seed(7, 5) == episode_seed(7, 5) != episode_seed(8, 5)


def test_agents_round_trip_exactly():
    scene = Scene.load("walled_maze")
    for agent in scene.lane_agents()[2] + scene.lane_agents()[1]:
        back = agent_from_dict(json.loads(json.dumps(agent_to_dict(agent))))
        assert back.name == agent.name and back.objective == agent.objective
        np.testing.assert_array_equal(back.params, agent.params)
        np.testing.assert_array_equal(back.rules, agent.rules)
        assert back.rules.dtype == agent.rules.dtype and back.rule_text == agent.rule_text


def test_ensemble_recording_stores_metrics_and_verifies(scene, tmp_path):
    path = tmp_path / "ensemble.h5"
    record(scene, path, episodes=1, n_copies=6, handle_signals=False)
    with Recording.open(path) as rec:
        ep = rec[0]
        metrics = ep.metrics()
        assert {"H", "F", "OP"} <= metrics.keys()
        assert metrics["H"].ndim == 1 and metrics["H"].shape[0] >= ep.n_steps + 1
        assert ep.n_copies == 6
        assert all(check.ok for check in verify(rec))  # re-simulated with one copy


def test_user_events_logged_mid_run_are_recorded_and_replayed(scene, tmp_path):
    """The GUI's path: a writer attached to a live Session, a click in the middle."""
    session = Session(scene, seed=11)
    path = tmp_path / "live.h5"
    with RecordingWriter(path, scene, seed=11) as writer:
        run = writer.begin_run(session, 0)
        for _ in range(3):
            run.capture(session.step(1, trace=True))
        session.perturb("teleport", params={"row": 1, "col": 1}, lanes=[0])
        while not session.done:
            run.capture(session.step(1, trace=True))
        run.finish()
    with Recording.open(path) as rec:
        ep = rec[0]
        user = [ev for ev in ep.events() if ev.source == "user"]
        assert [(ev.step, ev.kind, ev.lane) for ev in user] == [(3, "teleport", 0)]
        assert ep.n_steps >= 4
        # Teleported to (1, 1) at the start of step 3, then one move at most.
        assert np.abs(ep.state_at(4)["agent_pos"] - [1, 1]).sum() <= 1
        assert all(check.ok for check in verify(rec))


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_an_episode_ended_early_gets_its_rows_at_once_and_later_events_at_the_end(
        scene, tmp_path, writer):
    """Copy 0 stops while other copies run on: its rows go to the file then (so the writing
    overlaps the rest of the run); events logged on the lane afterwards still join its
    events table when the run finishes."""
    session = Session(scene, seed=3, n_copies=8)
    path = tmp_path / "early.h5"
    with RecordingWriter(path, scene, seed=3, background=False,
                         process=writer == "process") as rec_writer:
        run = rec_writer.begin_run(session, 0, reused_traces=True)
        steps = 0
        while session.lanes[0].state.status[0] == 0:
            run.capture(session.step(1, trace=True, reuse_trace=True))
            steps += 1
        assert not session.done, "the test needs copies still running after copy 0 stopped"
        assert run.episodes[0].rows_done  # handed over when copy 0 stopped
        session.perturb("teleport", params={"row": 1, "col": 1}, lanes=[0])
        while not session.done:
            run.capture(session.step(1, trace=True, reuse_trace=True))
        run.finish()
    with Recording.open(path) as rec:
        ep = rec[0]
        assert ep.status == "complete" and ep.n_steps == ep.total_steps == steps
        user = [ev for ev in ep.events() if ev.source == "user"]
        assert [(ev.step, ev.kind) for ev in user] == [(steps, "teleport")]
        assert ep.events() == session.lanes[0].events
        assert all(check.ok for check in verify(rec))


def _assert_same_contents(a: Path, b: Path) -> None:
    assert_same_recordings(a, b)


def _locate(f: h5py.File, episode: int, path: str, row: int
            ) -> tuple[h5py.Dataset, int, str | None]:
    """Layout v2: the table holding row ``row`` of episode ``episode``'s ``path``, the
    row's index in it and, if the table packs several datasets, the field ``path`` is."""
    from simulator.recording.index import Index

    index = Index(f)
    for key, segments in index.layout(episode).items():
        fields = index.fields(segments[0][0])
        if key != path and path not in (fields or ()):
            continue
        for tid, table_row, start, n in segments:
            if start <= row < start + n:
                return index.dataset(tid), table_row + row - start, path if fields else None
    raise KeyError(f"episode_{episode}/{path}: no row {row}")


@pytest.mark.parametrize("n_copies", [1, 6])
def test_every_write_path_gives_the_same_file(scene, tmp_path, monkeypatch, n_copies):
    """Background thread or inline; state rows gathered by address or copied field by
    field; step rows kept as traces or copied each step: the same datasets and values."""
    from simulator.recording import writer

    def make(name: str, **kwargs) -> Path:
        path = tmp_path / f"{name}.h5"
        record(scene, path, episodes=2, block_steps=4, n_copies=n_copies,
               handle_signals=False, **kwargs)
        return path

    reference = make("inline", background=False)
    _assert_same_contents(reference, make("thread", background=True))
    _assert_same_contents(reference, make("process", process=True))
    monkeypatch.setattr(writer, "_KEEP_TRACE_BYTES", 0)  # copy step rows every step
    _assert_same_contents(reference, make("copied", background=True))
    monkeypatch.setattr(writer.RunRecorder, "_rebuild",
                        lambda self, *a: setattr(self, "_gather", False))  # field by field
    _assert_same_contents(reference, make("by_field", background=False))
    with Recording.open(reference) as rec:
        assert all(check.ok for check in verify(rec))


def test_bulk_state_streamed_a_chunk_at_a_time_gives_the_same_file(tmp_path, monkeypatch):
    """The thermal world's rooms are wide rows: on the writer thread they go to the file a
    chunk at a time, ahead of their block; the file holds the same values."""
    from simulator.recording import layout_v2

    scene = Scene.load("thermostat")
    streamed = []
    real_stream = layout_v2.TableFile.stream

    def counting_stream(self, name, parts, capacity):
        streamed.append(sorted(parts))
        return real_stream(self, name, parts, capacity)

    monkeypatch.setattr(layout_v2.TableFile, "stream", counting_stream)
    inline, thread = tmp_path / "inline.h5", tmp_path / "thread.h5"
    threads = numba.get_num_threads()
    record(scene, inline, handle_signals=False, background=False)
    assert not streamed
    record(scene, thread, handle_signals=False, background=True)
    assert numba.get_num_threads() == threads  # one kernel thread during the run only
    assert streamed and all(paths == ["state/temp"] for paths in streamed)
    _assert_same_contents(inline, thread)
    with h5py.File(thread) as f:
        temp = f["state/temp"]
        assert temp.chunks[0] < 1024 and 1024 % temp.chunks[0] == 0
    assert background_pays(Session(scene), 1) and not background_pays(Session(scene), 8)
    assert not background_pays(Session(Scene.load("walled_maze")), 1)


@pytest.mark.parametrize("background", [True, False])
def test_a_write_error_surfaces_once_and_the_file_stays_readable(
        scene, tmp_path, monkeypatch, background):
    from simulator import recording
    from simulator.recording import layout_v2

    real_write = layout_v2.TableFile.write

    def failing_write(self, name, *args, **kwargs):
        if name == "episode_2":  # run 1, lane 0: its first block
            raise OSError(28, "No space left on device")
        return real_write(self, name, *args, **kwargs)

    monkeypatch.setattr(layout_v2.TableFile, "write", failing_write)
    out = tmp_path / "full.h5"
    with pytest.raises(recording.RecordingWriteError) as err:
        record(scene, out, episodes=3, block_steps=4, handle_signals=False,
               background=background)
    text = str(err.value)
    assert str(out) in text and "OSError" in text and "No space left" in text
    assert "\n" not in text and isinstance(err.value.__cause__, OSError)
    assert not [t for t in threading.enumerate() if t.name == "steersim-recorder"]
    with Recording.open(out) as rec:  # closed cleanly: readable, marked interrupted
        assert rec.status == "interrupted"
        assert [ep.status for ep in rec if ep.run == 0] == ["complete", "complete"]
        assert all(ep.status != "complete" for ep in rec if ep.run > 0)
        assert all(check.ok for check in verify(rec))
    result = CliRunner().invoke(main, ["record", str(scene.path), "-o", str(out), "--force",
                                       "--episodes", "2", "--writer", "thread"])
    assert result.exit_code == 2 and "writing the recording failed" in result.output
    assert "Traceback" not in result.output


def test_a_writer_process_that_dies_is_one_write_error_and_keeps_what_it_flushed(
        scene, tmp_path):
    """The writer process killed mid-recording: the recorder raises one
    RecordingWriteError, leaves no process behind, and the runs flushed before stay
    readable; the next recording starts a new writer process."""
    from simulator import recording

    out = tmp_path / "orphaned.h5"
    killed = []

    def progress(p):
        if p.run == 1 and p.step == 3 and not p.finished and not killed:
            p.writer.sync()  # run 0 is in the file
            killed.append(p.writer._worker.pid)
            os.kill(killed[0], signal.SIGKILL)

    with pytest.raises(recording.RecordingWriteError) as err:
        record(scene, out, episodes=3, block_steps=4, handle_signals=False, process=True,
               progress=progress)
    assert "writer process ended early" in str(err.value) and "\n" not in str(err.value)
    with Recording.open(out) as rec:
        assert [ep.status for ep in rec if ep.run == 0] == ["complete", "complete"]
        assert all(check.ok for check in verify(rec))
    again = record(scene, tmp_path / "again.h5", episodes=1, handle_signals=False,
                   process=True)
    assert again.status == "complete" and again.writer == "process"


def test_sync_waits_for_the_background_writer(scene, tmp_path):
    session = Session(scene, seed=3)
    path = tmp_path / "sync.h5"
    with RecordingWriter(path, scene, seed=3, block_steps=4, background=True) as writer:
        run = writer.begin_run(session, 0)
        for _ in range(5):
            run.capture(session.step(1, trace=True))
        writer.sync()
        # Another process sees what was captured, as `steersim inspect` would.
        code = ("import sys; from simulator.recording import Recording; "
                "ep = Recording.open(sys.argv[1])[0]; print(ep.status, ep.n_steps)")
        seen = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.split()
        assert seen == ["running", "3"]
        while not session.done:
            run.capture(session.step(1, trace=True))
        run.finish()
    with Recording.open(path) as rec:
        assert rec.status == "complete" and all(check.ok for check in verify(rec))


# --- verify --------------------------------------------------------------------------------
def test_verify_passes_then_names_an_altered_state_value(recorded, tmp_path):
    result = CliRunner().invoke(main, ["verify", str(recorded)])
    assert result.exit_code == 0, result.output
    assert "all 6 episodes match" in result.output

    altered = tmp_path / "altered.h5"
    altered.write_bytes(recorded.read_bytes())
    with Recording.open(recorded) as rec:
        name = next(ep.name for ep in rec if ep.n_steps >= 4)
    with h5py.File(altered, "r+") as f:
        table, row, field = _locate(f, int(name.rpartition("_")[2]), "state/agent_pos", 3)
        packed = table[row:row + 1]
        packed[field][0, 1] += 1
        table[row:row + 1] = packed
    with Recording.open(altered) as rec:
        bad = [check for check in verify(rec) if not check.ok]
    assert [(c.episode, c.step, c.field) for c in bad] == [(name, 3, "state/agent_pos")]
    result = CliRunner().invoke(main, ["verify", str(altered)])
    assert result.exit_code == 1
    assert f"{name}: first divergence at step 3 in state/agent_pos" in result.output


def test_verify_detects_an_altered_event(recorded, tmp_path):
    altered = tmp_path / "event.h5"
    altered.write_bytes(recorded.read_bytes())
    with h5py.File(altered, "r+") as f:
        table, row, _ = _locate(f, 0, "events", 0)
        event = table[row:row + 1]
        event[0]["params"][2] = 0.0  # set_noise at step 2 now sets 0 instead of 0.3
        table[row:row + 1] = event
    with Recording.open(altered) as rec:
        bad = [c for c in verify(rec) if not c.ok]
    # Applied at the start of step 2, so first seen in the state after it (t = 3).
    assert [(c.episode, c.step, c.field) for c in bad] == [("episode_0", 3, "state/noise")]


# --- writing faults ------------------------------------------------------------------------
def test_never_overwrites_without_force(scene, recorded):
    before = recorded.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        record(scene, recorded, handle_signals=False)
    assert recorded.read_bytes() == before
    result = CliRunner().invoke(main, ["record", "walled_maze", "-o", str(recorded)])
    assert result.exit_code == 2 and "--force" in result.output
    assert recorded.read_bytes() == before


def test_cli_record_inspect_json_and_default_output(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["record", "walled_maze", "--episodes", "2",
                                       "--distribution", "anywhere", "--agent", "heuristic"])
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "recordings").glob("walled_maze-*.h5"))
    assert len(files) == 1
    result = CliRunner().invoke(main, ["inspect", str(files[0]), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["status"] == "complete" and summary["scene"] == "walled_maze"
    assert len(summary["episodes"]) == 6
    first = summary["episodes"][0]
    assert first["agents"] == [{"name": "heuristic", "objective": "reach:goal"}]
    assert first["status"] == "complete" and first["outcome"][0]["agent"] == "heuristic"
    text = CliRunner().invoke(main, ["inspect", str(files[0])])
    assert text.exit_code == 0 and "episode_5" in text.output and "complete" in text.output
    forced = CliRunner().invoke(main, ["record", "walled_maze", "-o", str(files[0]),
                                       "--force", "--compression", "gzip"])
    assert forced.exit_code == 0, forced.output
    with Recording.open(files[0]) as rec:
        assert len(rec) == 3 and rec.attrs["compression"] == "gzip"


_RECORDER = '''
import signal, sys, time
from simulator.recording import record
from simulator.scene import Scene

mode, scene_path, out, at_step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
background = {"thread": True, "inline": False, "process": None}[sys.argv[5]]
process = sys.argv[5] == "process"
got_signal = False

def progress(p):
    global got_signal
    if p.run == 1 and p.step == at_step and not p.finished:
        if mode == "kill":
            # The file is written on a background thread: let it catch up with what was
            # captured, so the kill lands at a known point.
            p.writer.sync()
            print("READY", flush=True)
            time.sleep(600)
        # Chain onto the recorder's handler so we know when SIGINT has arrived.
        inner = signal.getsignal(signal.SIGINT)
        def chained(signum, frame):
            global got_signal
            got_signal = True
            inner(signum, frame)
        signal.signal(signal.SIGINT, chained)
        print("READY", flush=True)
        while not got_signal:
            time.sleep(0.01)

result = record(Scene.load(scene_path), out, episodes=3, block_steps=4, progress=progress,
                background=background, process=process)
assert result.writer == sys.argv[5]
print(result.status, result.runs_complete, flush=True)
'''


def _start_recorder(mode: str, scene: Scene, out: Path, tmp_path: Path,
                    at_step: int = 6, writer: str = "inline") -> subprocess.Popen:
    script = tmp_path / "recorder.py"
    script.write_text(_RECORDER)
    proc = subprocess.Popen([sys.executable, str(script), mode, str(scene.path), str(out),
                             str(at_step), writer],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # Wait until the recorder is parked at run 1, ``at_step`` (the bound is only against a
    # hang: nothing here depends on timing).
    ready, _, _ = select.select([proc.stdout], [], [], 300)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "READY":
        proc.kill()
        pytest.fail(f"recorder did not get ready: {line!r} {proc.stderr.read()}")
    return proc


def _episode_lengths(scene: Scene, run: int) -> list[int]:
    _, _, actions, _, _ = _simulate_run(scene, episode_seed(scene.model.seed, run))
    return [len(a) for a in actions]


def _runs_of(rec: Recording) -> dict[int, list]:
    runs: dict[int, list] = {}
    for ep in rec:
        runs.setdefault(ep.run, []).append(ep)
    return runs


def _wait_until_closed(path: Path) -> None:
    """Wait for whoever still has ``path`` open for writing (a writer process finishing
    after its recorder was killed) to close it: HDF5 locks a file it writes."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with h5py.File(path, "r", locking=True):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize(("at_step", "writer"), [(1, "inline"), (6, "inline"), (6, "thread"),
                                                 (6, "process")])
def test_sigkill_leaves_finished_episodes_readable_and_marks_the_rest_running(
        scene, tmp_path, at_step, writer):
    out = tmp_path / "killed.h5"
    proc = _start_recorder("kill", scene, out, tmp_path, at_step, writer)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_until_closed(out)  # a writer process keeps what it got, then closes the file
    with Recording.open(out) as rec:
        assert rec.status == "running"
        runs = _runs_of(rec)
        assert sorted(runs) == [0, 1]
        assert [ep.status for ep in runs[0]] == ["complete", "complete"]
        assert all(ep.outcome is not None for ep in runs[0])
        assert [ep.status for ep in runs[1]] == ["running", "running"]
        assert all(ep.outcome is None for ep in runs[1])
        # A lane whose copy 0 stopped by then had all its rows written when it stopped
        # (still marked running: its outcome and metrics come at the end of the run).
        # Otherwise blocks of 4 rows: the first (initial state + 3 steps) is written at
        # step 3, so a lane still running then has 3 readable steps; the rest were in
        # memory.
        lengths = _episode_lengths(scene, run=1)
        written = [n if n <= at_step else 3 if at_step >= 3 else 0 for n in lengths]
        assert [ep.n_steps for ep in runs[1]] == written
        assert all(check.ok for check in verify(rec))
    result = CliRunner().invoke(main, ["inspect", str(out)])
    assert result.exit_code == 0, result.output
    assert "running" in result.output and "unfinished: episode_2, episode_3" in result.output
    summary = json.loads(CliRunner().invoke(main, ["inspect", str(out), "--json"]).output)
    assert [ep["unfinished"] for ep in summary["episodes"]] == [False, False, True, True]


@pytest.mark.parametrize("writer", ["inline", "thread", "process"])
def test_sigint_closes_cleanly_and_marks_the_episode_interrupted(scene, tmp_path, writer):
    out = tmp_path / "interrupted.h5"
    proc = _start_recorder("int", scene, out, tmp_path, writer=writer)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert stdout.split() == ["interrupted", "1"]
    with Recording.open(out) as rec:
        assert rec.status == "interrupted"
        runs = _runs_of(rec)
        assert sorted(runs) == [0, 1]  # run 2 never started
        assert [ep.status for ep in runs[0]] == ["complete", "complete"]
        # Everything captured before the signal is in the file, not just whole blocks; a
        # lane whose copy 0 had already stopped holds a complete episode.
        lengths = _episode_lengths(scene, run=1)
        assert [ep.n_steps for ep in runs[1]] == [min(n, 6) for n in lengths]
        assert [ep.status for ep in runs[1]] == ["interrupted" if n > 6 else "complete"
                                                 for n in lengths]
        assert "interrupted" in [ep.status for ep in runs[1]]
        assert all(ep.outcome is not None for ep in runs[1])
        assert all(check.ok for check in verify(rec))
    result = CliRunner().invoke(main, ["inspect", str(out)])
    assert result.exit_code == 0 and "interrupted" in result.output


# --- bad files -----------------------------------------------------------------------------
def _bad_files(recorded: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    text = tmp_path / "notes.h5"
    text.write_text("not a recording\n" * 20)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(recorded.read_bytes()[: recorded.stat().st_size // 2])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    newer = tmp_path / "newer.h5"
    newer.write_bytes(recorded.read_bytes())
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    return {
        "missing": (tmp_path / "nope.h5", "no such file"),
        "empty": (empty, "empty file"),
        "not hdf5": (text, "not an HDF5 file"),
        "truncated": (truncated, "truncated HDF5 file"),
        "foreign hdf5": (foreign, "not a steersim recording"),
        "newer format": (newer, f"format v{FORMAT_VERSION + 1}"),
    }


def test_bad_files_raise_one_line_user_errors(recorded, tmp_path):
    for case, (path, message) in _bad_files(recorded, tmp_path).items():
        with pytest.raises(UserError) as err:
            Recording.open(path)
        text = str(err.value)
        assert message in text and str(path) in text and "\n" not in text, case


@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_bad_files_exit_2_with_one_line(command, recorded, tmp_path):
    for case, (path, message) in _bad_files(recorded, tmp_path).items():
        result = CliRunner().invoke(main, [command, str(path)])
        assert result.exit_code == 2, (case, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (case, result.output)
        assert "Traceback" not in result.output


def test_a_recording_does_not_load_the_gui(recorded):
    code = ("import sys; from simulator.recording import Recording; "
            f"rec = Recording.open({str(recorded)!r}); rec[0].state_at(0); "
            "assert not any(m.startswith(('PySide6', 'pyqtgraph', 'pygame')) "
            "for m in sys.modules), [m for m in sys.modules if 'Qt' in m]")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})



def test_thread_tuning_of_ensemble_runs_changes_nothing_recorded(scene, tmp_path):
    """Runs 0 and 1 of a multi-run ensemble recording try two thread counts and the rest
    use the faster: the file holds the same values as with one thread throughout, and the
    caller's thread count is restored."""
    from simulator.recording import headless

    threads = numba.get_num_threads()
    if threads < 2:
        pytest.skip("one numba thread: nothing to tune")
    seen = []
    real = headless._run_one

    def spy(*args, **kwargs):
        seen.append(numba.get_num_threads())
        return real(*args, **kwargs)

    tuned, single = tmp_path / "tuned.h5", tmp_path / "single.h5"
    headless._run_one = spy
    try:
        record(scene, tuned, episodes=4, n_copies=6, handle_signals=False)
    finally:
        headless._run_one = real
    assert seen[:2] == [threads, 1] and numba.get_num_threads() == threads
    numba.set_num_threads(1)
    try:
        record(scene, single, episodes=4, n_copies=6, handle_signals=False)
    finally:
        numba.set_num_threads(threads)
    _assert_same_contents(single, tuned)
