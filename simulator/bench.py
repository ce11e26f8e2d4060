"""Engine benchmarks for ``steersim bench``. Figures, never pass/fail: targets are compared
against peers measured side by side (DESIGN.md, performance budget)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numba
import numpy as np

from agents.registry import make_agent
from simulator.drivers import EventArrays, get_driver
from simulator.scene import Scene
from simulator.worlds import maze

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
                   progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Run every benchmark; returns a flat dict of figures (steps per second unless named)."""
    from simulator.session import Session

    say = progress or (lambda _msg: None)
    figures: dict[str, object] = {
        "steersim_version": _version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "numba_threads": numba.get_num_threads(),
    }
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
    from agents.registry import make_agent as make
    from simulator.session import Session
    from simulator.worlds import thermal

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


def _bench_recording(quick: bool, say: Callable[[str], None]) -> dict[str, object]:
    """What the HDF5 recorder costs: the same runs stepped with and without it
    (:func:`simulator.recording.record` against :func:`~simulator.recording.run_episodes`,
    the same loop), interleaved, best of several, the writer on the thread or inline as
    ``record`` chooses. Two realistic cases — walled_maze/anywhere at the scene's ensemble
    with metrics over several runs, and the thermostat scene's 1800 steps with one copy —
    and, labelled as such, the worst case: single-copy runs of short maze episodes, where
    the fixed HDF5 cost of an episode (two dozen datasets) meets the cheapest simulation.

    Other jobs on the machine skew wall times, so each timed run also measures the CPU the
    rest of the machine used meanwhile (Linux); the best of the quiet runs is reported when
    there are some, and ``recording_other_load_cpus`` says how busy the machine was.
    ``recording_write_mb_per_s`` is the thermal case's rows (uncompressed) per second of
    h5py work; ``recording_ms_per_episode`` the h5py work per maze ensemble episode.
    """
    import os
    import statistics
    import tempfile
    from pathlib import Path

    from simulator.recording import record, run_episodes

    def busy_ticks() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as stat:
                ticks = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # busy, total (all cpus)

    def timed(fn: Callable[[], object]) -> tuple[float, float | None]:
        """Wall seconds of fn() and the CPUs other processes kept busy meanwhile."""
        before, own0 = busy_ticks(), os.times()
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        after, own1 = busy_ticks(), os.times()
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
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "bench.h5"
        for suffix, scene, dist, n_copies, runs, what in cases:
            say(f"recording: {what}: {runs} runs x {len(scene.model.lanes)} lanes,"
                f" {n_copies} copies, with and without the recorder")
            kwargs = {"episodes": runs, "n_copies": n_copies, "distribution": dist}
            results = []

            def with_recorder(scene=scene, kwargs=kwargs, results=results) -> None:
                results.append(record(scene, target, force=True, handle_signals=False,
                                      **kwargs))

            def without(scene=scene, kwargs=kwargs) -> None:
                run_episodes(scene, **kwargs)

            with_recorder()  # warm-up: compilation, caches
            without()
            timings: dict[str, list[tuple[float, float | None]]] = {"with": [], "off": []}
            for _ in range(repeats):  # interleaved: load changes hit both alike
                timings["with"].append(timed(with_recorder))
                timings["off"].append(timed(without))
            loads += [other for samples in timings.values() for _, other in samples
                      if other is not None]
            best_with, best_off = best(timings["with"]), best(timings["off"])
            last = results[-1]
            name = suffix or "_maze_ensemble"
            out[f"recording_overhead{suffix}"] = best_with / best_off
            out[f"recording_writer{name}"] = "thread" if last.background else "inline"
            # The share of the recorded run the simulation's thread spent in the recorder
            # (capturing rows, handing them over, writing inline, waiting at the end).
            in_writer = min(r.seconds_in_writer for r in results[1:])
            out[f"recording_time_in_writer{suffix}"] = in_writer / best_with
            h5py_seconds = min(r.seconds_in_background for r in results[1:])
            if suffix == "":
                out["recording_ms_per_episode"] = h5py_seconds / last.episodes * 1e3
                out["recording_bytes_per_episode"] = target.stat().st_size / last.episodes
            elif suffix == "_thermal_1_copy":
                out["recording_write_mb_per_s"] = last.bytes_recorded / 1e6 / h5py_seconds
            else:
                out["recording_ms_per_episode_worst"] = h5py_seconds / last.episodes * 1e3
    out["recording_other_load_cpus"] = round(statistics.median(loads), 2) if loads else None
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
    from simulator.worlds import arena

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
