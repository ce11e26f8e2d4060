"""Engine benchmarks for ``steersim bench``. Figures, never pass/fail: targets are compared
against peers measured side by side (DESIGN.md, performance budget)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numba
import numpy as np

from simulator.core.driver import EventArrays
from simulator.scene import Scene
from simulator.worlds import get_driver, make_agent
from simulator.worlds.maze import kernels as maze

_OPEN_ROOM = """
name = "bench_open"
world = "maze"
horizon = 1000000
base_objective = "reach:goal"
[[lanes]]
agent = "null"
[distributions.default]
agent = "random"
map = '''
##########
#........#
#........#
#........#
#........#
#........#
#........#
##########
'''
"""


def _timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call (compilation excluded)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_benchmarks(quick: bool = False,
                   progress: Callable[[str], None] | None = None,
                   gui: bool = False, engine: bool = True) -> dict[str, object]:
    """Run every benchmark; returns a flat dict of figures (steps per second unless named).
    ``gui`` adds the desktop GUI's figures (needs PySide6; offscreen without a display);
    ``engine=False`` leaves the engine's out."""
    from simulator.session import Session

    say = progress or (lambda _msg: None)
    figures: dict[str, object] = {
        "steersim_version": _version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "numba_threads": numba.get_num_threads(),
    }
    if not engine:
        return {**figures, **(_bench_gui(quick, say) if gui else {})}
    driver = get_driver("maze")
    scene = Scene.from_text(_OPEN_ROOM)
    n_copies = 4096 if quick else 16384
    n_steps = 200 if quick else 2000
    say(f"maze ensemble: null policy, {n_copies} copies x {n_steps} steps in one kernel call")
    # The null loop is what the issue names; LLVM unswitches it on the agent code, so the
    # random and thermostat figures (moving agents, same kernel) are reported beside it.
    for name in ("null", "random", "thermostat"):
        agent = make_agent(name, "reach:goal")
        session = Session(scene, n_copies=n_copies, agents=[[agent]])
        start = session.lanes[0].state

        def once(agent=agent, start=start, params=session.params) -> None:
            driver.advance(start.copy(), [agent], EventArrays.empty(maze.N_EVENT_PARAMS),
                           params, 0, n_steps, trace=False)

        seconds = _timed(once)
        key = "maze_ensemble_steps_per_s" if name == "null" else f"maze_{name}_steps_per_s"
        figures[key] = n_copies * n_steps / seconds
    figures["maze_ensemble_copies"] = n_copies

    walled = Scene.load("red_door")
    n_search = 64 if quick else 512
    say(f"tree search: {n_search} copies of red_door/train, one search per step")
    agent = make_agent("search", "reach:door", budget=4000, depth=64)
    session = Session(walled, n_copies=n_search, agents=[[agent]])
    start = session.lanes[0].state
    counted: list[int] = []

    def search_once() -> None:
        tr = driver.advance(start.copy(), [agent], EventArrays.empty(maze.N_EVENT_PARAMS),
                            session.params, 0, 1, trace=True)
        counted.append(int(tr.world_steps.sum()))

    seconds = _timed(search_once)
    threads = numba.get_num_threads()
    figures["search_world_steps_per_s"] = counted[-1] / seconds
    figures["search_world_steps_per_s_per_core"] = counted[-1] / seconds / threads
    figures["search_decisions_per_s"] = n_search / seconds
    figures["search_mean_world_steps_per_decision"] = float(np.mean(counted[-1] / n_search))
    figures.update(_bench_metrics(say))
    figures.update(_bench_thermal(quick, say))
    figures.update(_bench_recording(quick, say))
    figures.update(_bench_arena(quick, say))
    figures.update(_bench_training(quick, say))
    figures.update(_bench_vector_env(quick, say))
    if not quick:  # starts a cluster and runs ~20 s of tasks: not a smoke test
        figures.update(_bench_dask(say))
    if gui:
        figures.update(_bench_gui(quick, say))
    return figures


def _bench_metrics(say: Callable[[str], None]) -> dict[str, object]:
    """Cost of one row of narrowing metrics (H, F, OP for base and own objectives, funnel,
    and the baseline's own row) for one lane of 4096 copies."""
    from simulator.metrics import MetricsTracker
    from simulator.session import Session

    say("metrics: one lane of 4096 copies, walled_maze/anywhere")
    scene = Scene.load("walled_maze")
    session = Session(scene, distribution="anywhere", n_copies=4096,
                      agents=[[make_agent("thermostat", "reach:goal")]])
    tracker = MetricsTracker(session)
    for _ in range(5):
        session.step(1, trace=False)
        tracker.update()
    n = 50
    seconds = _timed(lambda: [tracker.record() for _ in range(n)], repeat=3)
    return {"metrics_ms_per_step": seconds / n * 1000.0, "metrics_copies": 4096}


def _version() -> str:
    from simulator import __version__

    return __version__


def _bench_thermal(quick: bool, say: Callable[[str], None]) -> dict[str, object]:
    """Heat diffusion throughput: cell updates per second of the thermostat scene's room
    (null policy, so the figure is the physics) in the fused lane kernel, and the thermal
    tree search's simulated world steps per second."""
    from simulator.session import Session
    from simulator.worlds import make_agent as make
    from simulator.worlds.thermal import kernels as thermal

    driver = get_driver("thermal")
    scene = Scene.load("thermostat")
    n_copies = 1024 if quick else 4096
    n_steps = 200 if quick else 1000
    out: dict[str, object] = {}
    for name, copies, steps in (("null", n_copies, n_steps), ("search", 64, 50)):
        agent = make(name, "hold:20..22", "thermal")
        session = Session(scene, n_copies=copies, agents=[[agent]])
        start = session.lanes[0].state
        height, width = start.temp.shape[1:]
        say(f"thermal: {name} policy, {copies} rooms of {height}x{width} cells x {steps} steps")
        counted: list[int] = []

        def once(agent=agent, start=start, params=session.params, steps=steps,
                 counted=counted) -> None:
            tr = driver.advance(start.copy(), [agent], EventArrays.empty(thermal.N_EVENT_PARAMS),
                                params, 0, steps, trace=False)
            counted.append(int(tr.world_steps.sum()))

        seconds = _timed(once)
        if name == "null":
            out["thermal_cell_updates_per_s"] = copies * steps * height * width / seconds
            out["thermal_room_cells"] = height * width
        else:
            out["thermal_search_world_steps_per_s"] = counted[-1] / seconds
    return out


def _cpu_ticks() -> tuple[int, int] | None:
    """Linux: clock ticks all CPUs spent busy, and in total, since boot (None elsewhere);
    the difference over a timed run says how busy the machine was."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # busy, total (all cpus)


def _hdf5_objects(path: object) -> int:
    """Groups and datasets in the HDF5 file ``path`` (the root group not counted)."""
    import h5py

    count = [0]

    def visit(name: str, obj: object) -> None:
        count[0] += 1

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return count[0]


def _bench_recording(quick: bool, say: Callable[[str], None]) -> dict[str, object]:
    """What the HDF5 recorder costs: the same runs stepped with and without it
    (:func:`simulator.recording.record` against :func:`~simulator.recording.run_episodes`,
    the same loop), interleaved, best of several, with the writer ``record`` chooses (a
    writer process on POSIX). The writer process is started once per Python process and
    reused — ``steersim record`` starts it while the kernels load — so its start-up is
    reported apart, as ``recording_writer_start_s``. Two realistic cases —
    walled_maze/anywhere at the scene's ensemble with metrics over several runs, and the
    thermostat scene's 1800 steps with one copy — and, labelled as such, the worst case:
    single-copy runs of short maze episodes, where the fixed HDF5 cost of an episode
    (in layout v1, about twenty datasets, ~1.1 ms of h5py work) exceeded the simulation
    itself (~0.5 ms). Each recorded run writes a new file (the old one is removed untimed),
    as recordings normally do. docs/recording-format.md ("What recording costs") explains
    each case.

    Every case is recorded in layout v2 (what ``record`` writes) and, interleaved with it,
    in layout v1 (``format_version=1``): keys ending in ``_v1`` are v1's figures, the others
    v2's. ``recording_objects_per_episode`` counts HDF5 groups and datasets of the file per
    episode, ``recording_bytes_per_episode`` its size per episode.

    Other jobs on the machine skew wall times, so each timed run also measures the CPU the
    rest of the machine used meanwhile (Linux); the best of the quiet runs is reported when
    there are some, and ``recording_other_load_cpus`` says how busy the machine was.
    ``recording_write_mb_per_s`` is the thermal case's rows (uncompressed) per second of
    h5py work; ``recording_ms_per_episode`` the h5py work per maze ensemble episode.

    ``recording_overhead_1_thread``: the maze ensemble case again with both sides on one
    numba thread — the recorder's own cost. The gap to ``recording_overhead`` is the core
    the writer process takes: unrecorded, the ensemble's kernels run on every core; while
    a writer works, a parallel kernel waits for the thread whose core the writer holds, so
    a recorded run goes faster on one thread fewer (the thread tuner of multi-run
    ensembles finds this out on runs 0 and 1, see ``simulator.recording._ThreadTuner``).
    On two cores that is one thread against two.
    """
    import os
    import statistics
    import tempfile
    from pathlib import Path

    from simulator.recording import record, run_episodes

    def timed(fn: Callable[[], object]) -> tuple[float, float | None]:
        """Wall seconds of fn() and the CPUs other processes kept busy meanwhile."""
        before, own0 = _cpu_ticks(), os.times()
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        after, own1 = _cpu_ticks(), os.times()
        if before is None or after is None or after[1] <= before[1]:
            return seconds, None
        own = (own1.user + own1.system - own0.user - own0.system) * os.sysconf("SC_CLK_TCK")
        other = (after[0] - before[0] - own) / (after[1] - before[1]) * (os.cpu_count() or 1)
        return seconds, max(0.0, other)

    def best(samples: list[tuple[float, float | None]]) -> float:
        quiet = [s for s, other in samples if other is not None and other < 0.25]
        return min(quiet) if len(quiet) >= 2 else min(s for s, _ in samples)

    maze, thermal = Scene.load("walled_maze"), Scene.load("thermostat")
    cases = (  # key suffix, scene, distribution, copies, runs, what
        ("", maze, "anywhere", 64 if quick else maze.model.ensemble, 2 if quick else 8,
         "walled_maze/anywhere ensemble, metrics"),
        ("_thermal_1_copy", thermal, None, 1, 1, "thermostat, 1 copy, 1800 steps"),
        ("_worst_short_1_copy", maze, None, 1, 6 if quick else 20,
         "worst case: walled_maze, 1 copy, short episodes"),
    )
    repeats = 3 if quick else 5
    out: dict[str, object] = {}
    loads: list[float] = []
    # Layout v2 (what record writes) and, side by side, layout v1 (format_version=1):
    # the keys without a suffix are v2's, those ending in _v1 the same figure for v1.
    versions = ((2, ""), (1, "_v1"))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "bench.h5"
        for suffix, scene, dist, n_copies, runs, what in cases:
            say(f"recording: {what}: {runs} runs x {len(scene.model.lanes)} lanes,"
                f" {n_copies} copies, with and without the recorder (layouts v2, v1)")
            kwargs = {"episodes": runs, "n_copies": n_copies, "distribution": dist}
            results: dict[str, list] = {tag: [] for _, tag in versions}

            def with_recorder(version: int, scene=scene, kwargs=kwargs,
                              results=results) -> None:
                tag = dict(versions)[version]
                results[tag].append(record(scene, target, force=True, handle_signals=False,
                                           format_version=version, **kwargs))

            def without(scene=scene, kwargs=kwargs) -> None:
                run_episodes(scene, **kwargs)

            for version, _ in versions:  # warm-up: compilation, caches
                with_recorder(version)
            without()
            timings: dict[str, list[tuple[float, float | None]]] = {"off": []}
            one_thread = suffix == "" and numba.get_num_threads() > 1
            sizes: dict[str, int] = {}
            objects: dict[str, int] = {}
            for _ in range(repeats):  # interleaved: load changes hit both alike
                for version, tag in versions:
                    target.unlink(missing_ok=True)  # a new file, as recordings normally are
                    timings.setdefault(f"with{tag}", []).append(
                        timed(lambda v=version: with_recorder(v)))
                    sizes[tag] = target.stat().st_size
                    objects[tag] = _hdf5_objects(target)
                timings["off"].append(timed(without))
                if one_thread:
                    threads = numba.get_num_threads()
                    numba.set_num_threads(1)
                    try:
                        for version, tag in versions:
                            target.unlink(missing_ok=True)
                            timings.setdefault(f"with_1{tag}", []).append(
                                timed(lambda v=version: with_recorder(v)))
                        timings.setdefault("off_1", []).append(timed(without))
                    finally:
                        numba.set_num_threads(threads)
            loads += [other for samples in timings.values() for _, other in samples
                      if other is not None]
            best_off = best(timings["off"])
            name = suffix or "_maze_ensemble"
            for _, tag in versions:
                best_with = best(timings[f"with{tag}"])
                measured = results[tag][1:]  # the timed ones (0 was the warm-up)
                last = measured[-1]
                out[f"recording_overhead{suffix}{tag}"] = best_with / best_off
                if one_thread:
                    out[f"recording_overhead_1_thread{tag}"] = (
                        best(timings[f"with_1{tag}"]) / best(timings["off_1"]))
                out[f"recording_writer{name}{tag}"] = last.writer
                # The share of the recorded run the simulation's thread spent in the
                # recorder (capturing rows, handing them over, waiting at the end).
                in_writer = min(r.seconds_in_writer for r in measured)
                out[f"recording_time_in_writer{suffix}{tag}"] = in_writer / best_with
                h5py_seconds = min(r.seconds_in_background for r in measured)
                out[f"recording_objects_per_episode{suffix}{tag}"] = (
                    objects[tag] / last.episodes)
                out[f"recording_bytes_per_episode{suffix}{tag}"] = sizes[tag] / last.episodes
                if suffix == "":
                    out[f"recording_ms_per_episode{tag}"] = h5py_seconds / last.episodes * 1e3
                elif suffix == "_thermal_1_copy":
                    out[f"recording_write_mb_per_s{tag}"] = (last.bytes_recorded / 1e6
                                                             / h5py_seconds)
                else:
                    out[f"recording_ms_per_episode_worst{tag}"] = (h5py_seconds
                                                                   / last.episodes * 1e3)
    out["recording_other_load_cpus"] = round(statistics.median(loads), 2) if loads else None
    from simulator.recording import writer_process_available, writer_process_start_seconds

    if writer_process_available():
        out["recording_writer_start_s"] = writer_process_start_seconds()
    return out


_ARENA_1000 = """
name = "bench_arena"
world = "arena"
horizon = 1000000
base_objective = "goal:0"
[arena]
dt = 0.016666666666666666
max_speed = 10.0
wall_restitution = 1.0
[[lanes]]
agent = "null"
[distributions.default]
size = [50.0, 50.0]
goals = [{ name = "home", box = [0.0, 0.0, 5.0, 5.0] }]
bodies = [
    { role = "pusher", radius = 0.5, restitution = 1.0, friction = 0.0, speed = 3.0 },
    { role = "ball", radius = 0.5, restitution = 1.0, friction = 0.0, speed = 3.0, count = 999 },
]
"""


def _bench_arena(quick: bool, say: Callable[[str], None]) -> dict[str, object]:
    """Rigid-circle physics: body-steps per second of one arena of 1000 circles (r = 0.5 m
    in a 50 m box, elastic, dt = 1/60 s, one substep) through the driver's lane kernel with
    a null agent — the same workload as the pymunk 7 comparison (1000 circles, same box and
    dt, measured side by side; see the arena issue's report)."""
    from simulator.session import Session
    from simulator.worlds.arena import kernels as arena

    scene = Scene.from_text(_ARENA_1000)
    session = Session(scene, n_copies=1)
    n_steps = 100 if quick else 1000
    lane = session.lanes[0]
    n_bodies = lane.state.n_bodies
    say(f"arena: {n_bodies} circles x {n_steps} steps, one copy (steps parallel over bodies)")
    driver = session.driver
    driver.advance(lane.state, lane.agents, EventArrays.empty(arena.N_EVENT_PARAMS),
                   session.params, session.seed, 60, trace=False)  # mix the start up
    start = lane.state

    def once() -> None:
        driver.advance(start.copy(), lane.agents, EventArrays.empty(arena.N_EVENT_PARAMS),
                       session.params, session.seed, n_steps, trace=False)

    seconds = _timed(once)
    return {"arena_body_steps_per_s": n_bodies * n_steps / seconds,
            "arena_bodies": n_bodies,
            "arena_substeps": int(session.params[arena.P_SUBSTEPS])}


def _bench_gui(quick: bool, say: Callable[[str], None],
               seconds: float | None = None) -> dict[str, object]:
    """The desktop GUI's frame rate and click latency (DESIGN.md: 60 frames/s with 3 lanes,
    ensembles and live plots; a click's effect visible in < 50 ms).

    Opens the main window (1600 x 1000, offscreen when there is no display) on walled_maze's
    three lanes at their default ensembles (thermostat and heuristic 4096 copies, the tree
    search fewer), ghosts, internals and live plots on, playing at 60 steps/s with loop on
    for ``seconds`` in Qt's own event loop, while a timer draws a wall in lane 2 every
    0.45 s (a click through Qt's input path, hitting all lanes). Reports:

    - ``gui_frames_per_s``: paints of lane 1's world view per second (every view is painted
      when the world changed or a click's flash fades);
    - ``gui_steps_per_s``: race steps per second (``gui_steps_requested_per_s`` asked);
    - ``gui_click_preview_ms``: median click → first frame painted with its preview;
    - ``gui_click_effect_ms``: median click → first frame painted of the world stepped with
      the wall in it (``_max``: the slowest), over ``gui_clicks`` clicks;
    - ``gui_other_load_cpus``: CPUs other processes used meanwhile (Linux), since the figures
      are wall-clock figures of a 2-core machine.
    """
    import math
    import os
    import statistics
    import sys
    import tempfile

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtTest, QtWidgets

    from simulator.gui.main_window import MainWindow
    from simulator.render import THEMES
    from simulator.worlds.maze import kernels as maze_world
    from simulator.worlds.maze import render as maze_render

    seconds = seconds or (3.0 if quick else 10.0)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    platform_name = QtWidgets.QApplication.platformName()
    say(f"gui: walled_maze, 3 lanes, 60 steps/s, a click every 0.45 s, {seconds:g} s"
        f" ({platform_name})")

    with tempfile.TemporaryDirectory() as tmp:
        settings = QtCore.QSettings(os.path.join(tmp, "bench.ini"),
                                    QtCore.QSettings.Format.IniFormat)
        window = MainWindow("walled_maze", settings=settings)
        try:
            window.resize(1600, 1000)
            window.show()
            QtTest.QTest.qWaitForWindowExposed(window, 5000)
            for _ in range(3):  # warm up: compiled kernels, the renderer's cached layers
                window.step_once()
            window.reset()
            window.speed_slider.setValue(math.ceil(100 * math.log10(60)))  # 60.3 steps/s
            window.loop_action.setChecked(True)
            next(a for a in window.tool_group.actions()
                 if window.tools[a.data()].info.name == "wall").trigger()
            lane = 1
            view = window.view(lane)
            paints: list[float] = []
            window.view(0).painted.connect(lambda _lane, when: paints.append(when))
            pending: list[tuple[float, int, int]] = []  # (click time, row, col)
            effects: list[float] = []
            state = {"clicks": 0, "k": 0}

            def shown_cell(row: int, col: int) -> int:
                return int(window.shown.lanes[lane].state.cell[0, row, col])

            def on_paint(_lane: int, when: float) -> None:
                for item in list(pending):
                    t0, row, col = item
                    if shown_cell(row, col) == maze_world.CELL_WALL:
                        effects.append(when - t0)
                        pending.remove(item)
                    elif when - t0 > 1.0:  # the loop restarted first: the wall was forgotten
                        pending.remove(item)

            view.painted.connect(on_paint)

            def click() -> None:
                shown = window.shown
                if pending or shown is None or shown.done:
                    return
                world = shown.lanes[lane].state
                free = [(r, c) for r, c in np.argwhere(world.cell[0] == maze_world.CELL_FLOOR)
                        if (r, c) != tuple(world.agent_pos[0])
                        and not any((world.obj_kind[0] >= 0)
                                    & np.all(world.obj_pos[0] == (r, c), axis=1))]
                if not free or int(world.status[0]) != 0:
                    return
                row, col = (int(v) for v in free[state["k"] % len(free)])
                state["k"] += 7  # spread the walls over the room
                lay = maze_render.layout(world.cell.shape[1:], (view.width(), view.height()),
                                         THEMES[view.theme], view.last_overlays)
                x, y = lay.center(row, col)
                pending.append((time.perf_counter(), row, col))
                state["clicks"] += 1
                QtTest.QTest.mouseClick(view, QtCore.Qt.MouseButton.LeftButton,
                                        pos=QtCore.QPoint(x, y))

            clicker = QtCore.QTimer()
            clicker.timeout.connect(click)
            window.click_latencies.clear()
            before, own0 = _cpu_ticks(), os.times()
            steps0, start = window.worker.steps_taken, time.perf_counter()
            window.play()
            clicker.start(450)
            loop = QtCore.QEventLoop()
            QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
            loop.exec()
            clicker.stop()
            wall = time.perf_counter() - start
            steps = window.worker.steps_taken - steps0
            window.pause()
            after, own1 = _cpu_ticks(), os.times()
            previews = list(window.click_latencies)
            lanes = ", ".join(f"{run.agents[0].name} {run.n_copies}"
                              for run in window.race.lanes)
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()
    other = None
    if before is not None and after is not None and after[1] > before[1]:
        own = (own1.user + own1.system - own0.user - own0.system) * os.sysconf("SC_CLK_TCK")
        other = max(0.0, (after[0] - before[0] - own) / (after[1] - before[1])
                    * (os.cpu_count() or 1))
    span = paints[-1] - paints[0] if len(paints) > 1 else 0.0
    return {
        "gui_frames_per_s": (len(paints) - 1) / span if span > 0 else 0.0,
        "gui_steps_per_s": steps / wall,
        "gui_steps_requested_per_s": 10 ** (math.ceil(100 * math.log10(60)) / 100),
        "gui_click_preview_ms": statistics.median(previews) * 1e3 if previews else None,
        "gui_click_effect_ms": statistics.median(effects) * 1e3 if effects else None,
        "gui_click_effect_max_ms": max(effects) * 1e3 if effects else None,
        "gui_clicks": len(effects),
        "gui_lanes": lanes,
        "gui_platform": platform_name,
        "gui_other_load_cpus": round(other, 2) if other is not None else None,
    }


def _bench_vector_env(quick: bool, say: Callable[[str], None]) -> dict[str, object]:
    """The native Gymnasium vector env (all copies in one kernel call per step) against
    Gymnasium's SyncVectorEnv over the same single env, uniform random actions, at 64 and
    4096 copies (DESIGN.md: >= 100x at 4096): walled_maze (episodes of ~100 steps) and
    red_door/train (random moves hit an object within a few steps, so most steps redraw
    hundreds of worlds and their observations' path maps). Needs steersim[rl]."""
    try:
        import gymnasium

        from simulator.envs import env_id
    except ImportError:
        say("vector env: skipped (pip install 'steersim[rl]')")
        return {}
    out: dict[str, object] = {}
    for scene, distribution in (("walled_maze", "default"), ("red_door", "train")):
        for n_copies in (64, 4096):
            say(f"vector env: native vs SyncVectorEnv, {n_copies} copies of"
                f" {scene}/{distribution}")
            rates = {}
            for mode in ("vector_entry_point", "sync"):
                envs = gymnasium.make_vec(env_id(scene), num_envs=n_copies,
                                          vectorization_mode=mode, distribution=distribution)
                envs.reset(seed=0)
                # Sync steps cost ~n_copies times more: fewer of them measure it as well.
                n_steps = max(2, (20 if quick else 100) * (64 if mode == "sync" else 4096)
                              // n_copies)
                actions = np.random.default_rng(0).integers(0, 5, (n_steps, n_copies))

                def run(envs=envs, actions=actions) -> None:
                    for row in actions:
                        envs.step(row)

                rates[mode] = n_steps * n_copies / _timed(run)
                envs.close()
            key = f"{scene}_{n_copies}"
            out[f"vector_env_native_steps_per_s_{key}"] = rates["vector_entry_point"]
            out[f"vector_env_sync_steps_per_s_{key}"] = rates["sync"]
            out[f"vector_env_ratio_{key}"] = rates["vector_entry_point"] / rates["sync"]
    return out


def _bench_training(quick: bool, say: Callable[[str], None]) -> dict[str, object]:
    """Learners on red_door's ``train``: environment steps per second during training, per
    learner; deployment episodes per second in the misgen study; and (not --quick) the
    whole study the issue budgets: 1000 agents trained, each evaluated on 1000 ``deploy``
    episodes, for the sparse-RL and behaviour-cloning learners (the search-based learner's
    cost is extrapolated from fewer agents: its evaluation runs a tree search per step)."""
    from agents.learners import LEARNERS
    from simulator import misgen
    from simulator.training import TrainRequest, train_scene
    from simulator.worlds import parse_objective

    scene = Scene.load("red_door", build_lanes=False)
    out: dict[str, object] = {}
    n_agents = 16 if quick else 64
    say(f"training: {n_agents} agents per learner on red_door/train")
    for learner in LEARNERS:
        req = TrainRequest((learner,), n_agents, 0)
        train_scene(scene, TrainRequest((learner,), 2, 0, 16))  # compile outside the clock
        t0 = time.perf_counter()
        trained = train_scene(scene, req)[0]
        seconds = time.perf_counter() - t0
        steps = int(trained.env_steps.sum()) if trained.env_steps is not None else 0
        out[f"train_{learner}_env_steps_per_s"] = steps / seconds
        out[f"train_{learner}_s_per_agent"] = seconds / n_agents
    n_eval = 200 if quick else 1000
    episodes = misgen.draw_episodes(scene, "deploy", n_eval, 1)
    policy = train_scene(scene, TrainRequest(("reinforce",), 1, 0, 32))[0]
    from agents.registry import AgentSpec

    spec = AgentSpec("policy", parse_objective("reach:door"), policy.params[0])
    misgen.measure(scene, spec, episodes)
    t0 = time.perf_counter()
    n_rep = 4
    for _ in range(n_rep):
        misgen.measure(scene, spec, episodes)
    out["misgen_policy_episodes_per_s"] = n_rep * n_eval / (time.perf_counter() - t0)
    if quick:
        return out
    for learner in ("reinforce", "bc", "reward_search"):
        n_study = 1000 if learner != "reward_search" else 20
        say(f"study: {n_study} {learner} agents trained + 1000 deploy episodes each")
        t0 = time.perf_counter()
        trained = train_scene(scene, TrainRequest((learner,), n_study, 0))[0]
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(n_study):
            if learner == "reward_search":
                params = np.zeros(8)
                params[0], params[1] = trained.hyper["budget"], trained.hyper["depth"]
                spec = AgentSpec("search", parse_objective("reach:door"), params,
                                 policy_objective=trained.masks[i])
            else:
                spec = AgentSpec("policy", parse_objective("reach:door"), trained.params[i])
            misgen.measure(scene, spec, episodes)
        t_eval = time.perf_counter() - t0
        scale = 1000 / n_study
        out[f"study_{learner}_train_s"] = t_train * scale
        out[f"study_{learner}_eval_s"] = t_eval * scale
        out[f"study_{learner}_total_s"] = (t_train + t_eval) * scale
        out[f"study_{learner}_agents_timed"] = n_study
    return out


def _rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def soak(minutes: float, say: Callable[[str], None],
         record_every_s: float = 60.0) -> dict[str, object]:
    """Play the GUI offscreen for ``minutes``: walled_maze's three lanes at 60 steps/s with
    loop on, a wall drawn through the perturbation path every 0.5 s (alternately drawn
    and erased), and a recording started every ``record_every_s`` seconds and stopped 10 s
    later. Samples RSS and the frame interval each minute; reports RSS growth per minute
    (a least-squares slope over the minutes after the first, so the warm-up's one-off
    allocations do not count), the growth over the whole run, and frame-time drift (the
    median frame interval of the last minute over the first)."""
    import math
    import statistics
    import sys
    import tempfile

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtTest, QtWidgets

    from simulator.gui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    say(f"soak: walled_maze, 3 lanes, 60 steps/s, perturbations, a recording every"
        f" {record_every_s:g} s, for {minutes:g} min ({QtWidgets.QApplication.platformName()})")
    with tempfile.TemporaryDirectory() as tmp:
        settings = QtCore.QSettings(os.path.join(tmp, "soak.ini"),
                                    QtCore.QSettings.Format.IniFormat)
        settings.setValue("record/dir", tmp)
        window = MainWindow("walled_maze", settings=settings)
        window.resize(1600, 1000)
        window.show()
        QtTest.QTest.qWaitForWindowExposed(window, 5000)
        window.speed_slider.setValue(math.ceil(100 * math.log10(60)))
        window.loop_action.setChecked(True)
        paints: list[float] = []
        window.view(0).painted.connect(lambda _lane, when: paints.append(when))
        state = {"k": 0, "recordings": 0}

        def perturb() -> None:
            race = window.race
            if race is None:
                return
            state["k"] += 1
            kind = "draw_wall" if state["k"] % 2 else "erase_wall"
            try:
                with window.worker.lock:
                    race.perturb(kind, params={"row": 2, "col": 1 + state["k"] % 8},
                                 lanes="all")
            except Exception:  # noqa: BLE001 - a refused wall (agent on the cell) is fine
                pass

        def record() -> None:
            if window.recorder is None:
                window.toggle_record()
                state["recordings"] += 1
                QtCore.QTimer.singleShot(10_000, lambda: window.recorder is not None
                                         and window.toggle_record())

        timers = []
        for interval, slot in ((500, perturb), (int(record_every_s * 1000), record)):
            timer = QtCore.QTimer()
            timer.timeout.connect(slot)
            timer.start(interval)
            timers.append(timer)
        window.play()
        QtCore.QTimer.singleShot(15_000, record)  # the first recording soon, then periodic
        start = time.perf_counter()
        rss: list[float] = []
        frame_ms: list[float] = []
        for minute in range(max(1, math.ceil(minutes))):
            paints.clear()
            end = start + min(minutes, minute + 1) * 60.0
            while time.perf_counter() < end:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            gaps = [b - a for a, b in zip(paints, paints[1:], strict=False)]
            frame_ms.append(1000 * statistics.median(gaps) if gaps else float("nan"))
            rss.append(_rss_mb())
            say(f"soak: minute {minute + 1}: RSS {rss[-1]:.0f} MB, median frame"
                f" {frame_ms[-1]:.1f} ms, {len(paints)} frames")
        for timer in timers:
            timer.stop()
        window.pause()
        if window.recorder is not None:
            window.toggle_record()
        window.close()
    later = rss[1:] if len(rss) > 2 else rss
    slope = float(np.polyfit(np.arange(len(later)), later, 1)[0]) if len(later) > 1 else 0.0
    return {"soak_minutes": minutes, "soak_rss_start_mb": rss[0], "soak_rss_end_mb": rss[-1],
            "soak_rss_growth_mb": rss[-1] - rss[0], "soak_rss_mb_per_min": slope,
            "soak_frame_ms_first": frame_ms[0], "soak_frame_ms_last": frame_ms[-1],
            "soak_frame_drift": frame_ms[-1] / frame_ms[0] if frame_ms[0] else float("nan"),
            "soak_recordings": state["recordings"], "soak_perturbations": state["k"],
            "soak_rss_per_minute_mb": rss, "soak_frame_ms_per_minute": frame_ms}


def _noop(x: int) -> int:
    return x


def _timed_task(scene_text: str, scene_path: str, columns: tuple[str, ...],
                params: dict[str, object]) -> tuple[float, list[dict[str, object]]]:
    """A sweep task and its own duration, measured where it runs."""
    from simulator.sweep import run_task

    t0 = time.perf_counter()
    rows = run_task(scene_text, scene_path, params, columns)
    return time.perf_counter() - t0, rows


def _bench_dask(say: Callable[[str], None], n_tasks: int = 8,
                repeat: int = 2) -> dict[str, object]:
    """Sweep tasks of >= 1 s on a 2-worker LocalCluster against the same tasks one after
    another in this process (numba on one thread, as in each worker), best of ``repeat``
    rounds taken in turn: tasks/s and the speed-up. The scheduling overhead per task is
    (2 x cluster wall - the tasks' own durations measured on the workers) / tasks, as a
    fraction of a task (target <= 10%): other load on the machine slows the tasks
    themselves, not this difference. Plus the cluster's start-up and the cost of tasks that
    do nothing. A note instead when Dask is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return {"dask": "not installed (pip install 'steersim[sweep]')"}
    from simulator import sweep as sw
    from simulator.cluster import connect, map_unordered

    scene = Scene.load("red_door", build_lanes=False)
    plan = sw.plan(scene, sw.parse_grid(f"seed=0:{n_tasks} agent=search ensemble=8192"))
    args = (scene.text, str(scene.path), plan.columns)
    say(f"dask: {n_tasks} sweep tasks (red_door, search, 8192 copies), one process vs a"
        " 2-worker LocalCluster")
    threads = numba.get_num_threads()
    t0 = time.perf_counter()
    serial_s, cluster_s, busy_s = [], [], []
    with connect(None, 2, dashboard_address=None) as client:
        t_start = time.perf_counter() - t0
        list(map_unordered(client, _timed_task, plan.tasks[:4], *args))  # warm workers
        _timed_task(*args, plan.tasks[0])
        for _ in range(repeat):
            numba.set_num_threads(1)
            try:
                t0 = time.perf_counter()
                serial = [_timed_task(*args, t)[1] for t in plan.tasks]
                serial_s.append(time.perf_counter() - t0)
            finally:
                numba.set_num_threads(threads)
            t0 = time.perf_counter()
            done = list(map_unordered(client, _timed_task, plan.tasks, *args))
            cluster_s.append(time.perf_counter() - t0)
            busy_s.append(sum(d for d, _ in done))
        n_noop = 500
        list(map_unordered(client, _noop, range(50)))
        t0 = time.perf_counter()
        list(map_unordered(client, _noop, range(n_noop)))
        t_noop = time.perf_counter() - t0
    best = min(range(repeat), key=lambda i: cluster_s[i])
    t_serial, t_cluster, t_busy = min(serial_s), cluster_s[best], busy_s[best]
    overhead = (2 * t_cluster - t_busy) / n_tasks
    same = sorted(map(str, (r for _, r in done))) == sorted(map(str, serial))
    return {
        "dask_task_s": t_serial / n_tasks,
        "dask_task_on_worker_s": t_busy / n_tasks,
        "dask_one_process_tasks_per_s": n_tasks / t_serial,
        "dask_2_workers_tasks_per_s": n_tasks / t_cluster,
        "dask_speedup_2_workers": t_serial / t_cluster,
        "dask_overhead_per_task_s": overhead,
        "dask_overhead_fraction": overhead / (t_busy / n_tasks),
        "dask_cluster_start_s": t_start,
        "dask_empty_tasks_per_s": n_noop / t_noop,
        "dask_empty_task_ms": 1000 * t_noop / n_noop,
        "dask_rows_equal_one_process": same,
    }
