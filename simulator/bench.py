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
    """What the HDF5 recorder costs: the same runs of walled_maze stepped with and without
    it (:func:`simulator.recording.run_episodes`), interleaved, best of each. Once at the
    scene's ensemble size (metrics on, as ``record --ensemble`` does) and once with a
    single copy, where the recorder's fixed cost per episode (about twenty HDF5 datasets)
    meets the cheapest possible simulation. Write speed is the bytes captured per second
    spent inside the recorder."""
    import tempfile
    from pathlib import Path

    from simulator.recording import record, run_episodes

    scene = Scene.load("walled_maze")
    out: dict[str, object] = {}
    cases = (("", 64 if quick else scene.model.ensemble, 1 if quick else 2),
             ("_single_copy", 1, 6 if quick else 20))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "bench.h5"
        for suffix, n_copies, episodes in cases:
            say(f"recording: walled_maze, {episodes} runs x 3 lanes, ensemble {n_copies},"
                " with and without the recorder")
            kwargs = {"episodes": episodes, "n_copies": n_copies}
            results = []

            def with_recorder(kwargs=kwargs, results=results) -> None:
                results.append(record(scene, target, force=True, handle_signals=False,
                                      **kwargs))

            def without(kwargs=kwargs) -> None:
                run_episodes(scene, **kwargs)

            with_recorder()
            without()
            best_with = best_without = float("inf")
            for _ in range(2 if quick else 3):  # interleaved: load changes hit both alike
                for fn in (with_recorder, without):
                    t0 = time.perf_counter()
                    fn()
                    seconds = time.perf_counter() - t0
                    if fn is without:
                        best_without = min(best_without, seconds)
                    else:
                        best_with = min(best_with, seconds)
            out[f"recording_overhead{suffix}"] = best_with / best_without
            last = results[-1]
            # Less sensitive to other load than the ratio of two wall times: the share of
            # the recorded run's wall time spent inside the recorder.
            in_writer = min(r.seconds_in_writer for r in results[1:])
            out[f"recording_time_in_writer{suffix}"] = in_writer / best_with
            if suffix:
                out["recording_ms_per_episode"] = in_writer / last.episodes * 1e3
            else:
                out["recording_write_mb_per_s"] = last.bytes_recorded / 1e6 / in_writer
                out["recording_bytes_per_episode"] = target.stat().st_size / last.episodes
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
