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
