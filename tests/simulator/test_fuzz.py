"""Fuzzed perturbation sequences through the Session, for every world kind (issue 19, item 2).

Hypothesis draws sequences of perturbations — every event kind of the world plus unknown
ones, targets and parameters in and out of range, NaN, ±inf, huge numbers, strings, missing
and unknown parameters, bad lanes, copies and steps — interleaved with steps, on short
versions of shipped scenes so lanes stop (at the horizon, or an agent's end) and later
events hit stopped copies. The invariants:

- a refused event raises UserError (one line) and changes no state and no log;
- no NaN or infinity ever enters a state;
- maze agents stand on open cells; arena bodies stay inside their box; the thermal field
  stays inside the bound the physics allows (a maximum principle: the explicit scheme mixes
  neighbours and the outdoor air convexly, so the field leaves [lowest, highest] seen only
  by heater or cooler gain, the room's noise and the kicks the events gave);
- every accepted sequence records, re-simulates and verifies bit for bit.

CI runs a few dozen sequences per world; ``FUZZ_EXAMPLES=2000 pytest tests/simulator/
test_fuzz.py`` runs a longer search (``FUZZ_RECORD_EXAMPLES`` for the recording test).
"""

from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.core.errors import UserError
from simulator.core.events import ParamRange
from simulator.recording import Recording, RecordingWriter, verify
from simulator.scene import Scene
from simulator.session import Session
from simulator.worlds import get_driver
from simulator.worlds.maze import kernels as maze
from simulator.worlds.thermal import kernels as thermal
from tests.helpers import state_digest

SCENES = {"maze": "walled_maze", "thermal": "thermostat", "arena": "ball_push"}
HORIZON = 24  # short runs, so sequences reach the horizon and perturb stopped lanes
N_COPIES = 2
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
RECORD_EXAMPLES = int(os.environ.get("FUZZ_RECORD_EXAMPLES", "6"))

_SCENE_CACHE: dict[str, Scene] = {}


def _scene(world: str) -> Scene:
    """The world's shipped scene with a short horizon."""
    if world not in _SCENE_CACHE:
        text = Scene.load(SCENES[world]).text
        text = re.sub(r"^horizon = \d+", f"horizon = {HORIZON}", text, count=1,
                      flags=re.MULTILINE)
        _SCENE_CACHE[world] = Scene.from_text(text, Path(f"{SCENES[world]}_short.toml"))
    return _SCENE_CACHE[world]


# --- strategies ----------------------------------------------------------------------------
BAD_NUMBERS = [math.nan, math.inf, -math.inf, 1e300, -1e300, 2.0**31, -1.0, 0.5, 1e-300]
BAD_VALUES = ["", "1", "warm", None, True, [1.0]]
# What an event gets wrong, if anything: most events are good, the rest break one thing.
FAULTS = [None] * 8 + ["value"] * 4 + ["kind", "missing", "unknown", "target", "lanes",
                                      "copy", "delay"]


def _extent(world: str) -> tuple[float, float]:
    """The grid's rows and columns, or the arena's width and height."""
    layout = next(iter(_scene(world).layouts.values()))
    if world == "maze":
        return layout.shape
    if world == "arena":
        return tuple(layout.box_size)
    return _probe_state(world).temp.shape[1:]


@functools.cache
def _probe_state(world: str) -> Any:
    """One copy of the world as it starts (its grid, slots, windows, bodies and goals)."""
    scene = _scene(world)
    return get_driver(world).initial_state(scene, scene.default_distribution, 1, 0)


def _good_value(name: str, rng: ParamRange, world: str) -> st.SearchStrategy[Any]:
    extent = _extent(world)
    if name in ("row", "col", "x", "y"):
        high = extent[0 if name in ("row", "x") else 1]
        if world == "maze":
            return st.integers(0, int(high) - 1)
        return st.floats(0.0, float(high) - (1.0 if world == "thermal" else 0.0))
    if world == "maze" and name == "kind":
        return st.one_of(st.sampled_from(maze.OBJECT_KINDS), st.integers(0, 3))
    if world == "maze" and name == "color":
        return st.one_of(st.sampled_from(maze.COLORS), st.integers(0, 5))
    if rng.integer:
        return st.integers(int(rng.low), int(rng.high))
    return st.one_of(st.floats(rng.low, rng.high), st.sampled_from([rng.low, rng.high]))


def _bad_value(rng: ParamRange) -> st.SearchStrategy[Any]:
    """Half the time NaN or an infinity (what the probe found getting through), else a
    number just outside the range, a huge one, or not a number at all."""
    return st.one_of(st.sampled_from([math.nan, math.inf, -math.inf]),
                     st.sampled_from([*BAD_NUMBERS, *BAD_VALUES, rng.low - 1.0,
                                      rng.high + 1.0, "dragon"]))


def _good_target(world: str, kind: str) -> st.SearchStrategy[int]:
    """Targets the world has: object slots, windows, bodies or goals (-1: all, or none)."""
    state = _probe_state(world)
    if world == "maze":
        if kind in ("move_object", "recolor_object", "remove_object", "add_object"):
            low = -1 if kind == "add_object" else 0
            return st.integers(low, state.obj_kind.shape[1] - 1)
    elif world == "thermal":
        if kind in ("open_window", "close_window"):
            return st.integers(-1, state.window_open.shape[1] - 1)
    elif kind == "move_goal":
        return st.integers(0, state.goal.shape[1] - 1)
    elif kind not in ("wind", "set_noise"):
        low = 0 if kind in ("drag", "teleport") else -1
        return st.integers(low, state.pos.shape[1] - 1)
    return st.sampled_from([-1, -1, 0, 1, 5])


@st.composite
def _event(draw: st.DrawFn, world: str) -> tuple[str, Any]:
    events = get_driver(world).events  # the world's declared EventTable
    fault = draw(st.sampled_from(FAULTS))
    kinds = list(get_driver(world).event_kinds)
    kind = "explode" if fault == "kind" else draw(st.sampled_from(kinds))
    fields = list(events.kinds[kind].names) if kind in events.kinds else []
    params = {name: draw(_good_value(name, events.ranges[name], world)) for name in fields}
    if fault == "value" and fields:
        name = draw(st.sampled_from(fields))
        params[name] = draw(_bad_value(events.ranges[name]))
    if fault == "missing" and fields:
        del params[draw(st.sampled_from(fields))]
    if fault == "unknown":
        params["bogus"] = 1.0
    good_target = _good_target(world, kind)
    target = draw(st.sampled_from([-2, 2**31, 2**40, -(2**31), 99, "0", 1.0, None])
                  if fault == "target" else good_target)
    lanes = draw(st.sampled_from([[7], [-1], [True], "some"] if fault == "lanes" else
                                 ["all", "all", [0], [1], [0, 1]]))
    copy = draw(st.sampled_from([N_COPIES, -2, 0.5] if fault == "copy" else [-1, -1, 0, 1]))
    delay = draw(st.sampled_from([-1, 2**31] if fault == "delay" else [None, None, 0, 1, 3]))
    return "perturb", (kind, target, params, lanes, copy, delay, fault)


def _actions(world: str) -> st.SearchStrategy[list[tuple[str, Any]]]:
    step = st.tuples(st.just("step"), st.integers(1, 10))
    return st.lists(st.one_of(_event(world), _event(world), step), min_size=1, max_size=14)


# --- invariants ----------------------------------------------------------------------------
class _ThermalBound:
    """The range the thermal field may occupy, widened as steps and events allow."""

    def __init__(self, session: Session):
        temp = np.concatenate([lane.state.temp for lane in session.lanes])
        self.low, self.high = float(temp.min()), float(temp.max())
        params = session.params
        n = int(params[thermal.P_N_SCHEDULE])
        temps = params[thermal.P_SCHED_TEMP:thermal.P_SCHED_TEMP + n]
        self.sched_low, self.sched_high = float(temps.min()), float(temps.max())
        gains = []
        for lane in session.lanes:
            s = lane.state
            for e in range(s.n_copies):
                gains.append(thermal.build_model(s.cell[e], s.tag[e], s.heater_watts[e],
                                                 params)[5])
        gain = np.concatenate(gains) if gains else np.zeros(1)
        self.heat = float(max(gain.max(initial=0.0), 0.0))
        self.cool = float(max(-gain.min(initial=0.0), 0.0))
        self.session = session

    def _outside(self) -> tuple[float, float]:
        offset = np.concatenate([lane.state.outside_offset for lane in self.session.lanes])
        return self.sched_low + float(offset.min()), self.sched_high + float(offset.max())

    def widen(self, events: list[Any], n_steps: int) -> None:
        """Account for ``events`` (applied during the next steps) and ``n_steps`` steps."""
        for ev in events:
            amount = ev.params[3]
            if ev.kind == "heat" or (ev.kind == "kick_room" and amount > 0):
                self.high += abs(amount)
            elif ev.kind == "cool" or ev.kind == "kick_room":
                self.low -= abs(amount)
        self._before = self._outside()

    def check(self, n_steps: int) -> None:
        after = self._outside()
        out_low, out_high = min(self._before[0], after[0]), max(self._before[1], after[1])
        noise = max(float(lane.state.noise.max()) for lane in self.session.lanes)
        noise = max(noise, thermal_noise_seen(self.session)) * math.sqrt(3.0)
        self.low = min(self.low, out_low) - n_steps * (self.cool + noise)
        self.high = max(self.high, out_high) + n_steps * (self.heat + noise)
        for lane in self.session.lanes:
            temp = lane.state.temp
            assert temp.min() >= self.low - 1e-9 and temp.max() <= self.high + 1e-9, (
                f"thermal field [{temp.min()}, {temp.max()}] outside [{self.low}, {self.high}]")


def thermal_noise_seen(session: Session) -> float:
    """The largest noise level any logged set_noise event asked for."""
    return max((ev.params[3] for ev in session.events if ev.kind == "set_noise"), default=0.0)


def _check_state(world: str, session: Session) -> None:
    for lane in session.lanes:
        for name, arr in lane.state.as_dict().items():
            if arr.dtype.kind == "f":
                assert np.all(np.isfinite(arr)), f"lane {lane.index}: {name} not finite"
        s = lane.state
        if world == "maze":
            rows, cols = s.agent_pos[:, 0], s.agent_pos[:, 1]
            height, width = s.cell.shape[1:]
            assert np.all((rows >= 0) & (rows < height) & (cols >= 0) & (cols < width))
            on = s.cell[np.arange(s.n_copies), rows, cols]
            assert np.all(on != maze.CELL_WALL), f"lane {lane.index}: an agent inside a wall"
        elif world == "arena":
            r = s.radius[:, :, None]
            box = s.box[:, None, :]
            # Contacts are resolved softly (``correction``): a body may sink into a wall by
            # a fraction of its radius for a step, never through it.
            assert np.all(s.pos >= 0.5 * r) and np.all(s.pos <= box - 0.5 * r), (
                f"lane {lane.index}: a body left its box: {s.pos}")


def _snapshot(session: Session) -> tuple[list[int], list[str]]:
    return ([len(lane.events) for lane in session.lanes],
            [state_digest(lane.state) for lane in session.lanes])


def _apply(session: Session, action: tuple[str, Any], tally: dict[str, int]) -> list[Any]:
    """Try one perturbation; assert a refusal touched nothing. Returns the logged events."""
    kind, target, params, lanes, copy, delay, fault = action
    step = None if delay is None else session.step_index + delay
    before = _snapshot(session)
    try:
        logged = session.perturb(kind, target, dict(params), lanes=lanes, copy=copy, step=step)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)
        assert fault is not None, f"a good event was refused: {exc}"
        assert _snapshot(session) == before, f"refused {kind} changed something: {exc}"
        tally["refused"] += 1
        return []
    tally["accepted"] += 1
    hit = len(session.lanes) if lanes == "all" else len(lanes)
    assert len(logged) == hit
    return logged


def _drive(world: str, actions: list[tuple[str, Any]], tally: dict[str, int],
           session: Session | None = None, on_step: Any = None) -> Session:
    """Play ``actions`` on ``session`` (default: a fresh one), checking every invariant
    after each run of steps; ``on_step`` gets every single step's traces (a recorder)."""
    session = session or Session(_scene(world), n_copies=N_COPIES)
    bound = _ThermalBound(session) if world == "thermal" else None
    pending: list[Any] = []
    _check_state(world, session)
    for what, arg in actions:
        if what == "perturb":
            pending += _apply(session, arg, tally)
            continue
        if session.done:
            tally["steps_on_stopped"] += 1
        if bound is not None:
            bound.widen(pending, arg)
        pending = []
        if on_step is None:
            session.step(arg, trace=False)
        else:
            for _ in range(arg):
                on_step(session.step(1, trace=True))
        _check_state(world, session)
        if bound is not None:
            bound.check(arg)
    tally["sequences"] += 1
    return session


TALLY: dict[str, dict[str, int]] = {}


def _tally(world: str) -> dict[str, int]:
    return TALLY.setdefault(world, {"sequences": 0, "accepted": 0, "refused": 0,
                                    "steps_on_stopped": 0})


@pytest.mark.parametrize("world", list(SCENES))
def test_fuzzed_perturbations_are_refused_cleanly_or_keep_the_world_physical(world):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(actions=_actions(world))
    def run(actions: list[tuple[str, Any]]) -> None:
        _drive(world, actions, _tally(world))

    run()
    tally = _tally(world)
    assert tally["sequences"] >= EXAMPLES and tally["accepted"] and tally["refused"]


@pytest.mark.parametrize("world", list(SCENES))
def test_fuzzed_accepted_sequences_record_and_verify_bit_for_bit(world, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"fuzz_{world}")
    counter = iter(range(10**6))

    @settings(max_examples=RECORD_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(actions=_actions(world))
    def run(actions: list[tuple[str, Any]]) -> None:
        scene = _scene(world)
        path = folder / f"seq{next(counter)}.h5"
        tally = _tally(f"{world} recorded")
        with RecordingWriter(path, scene, scene.model.seed, background=False) as writer:
            session = Session(scene, n_copies=N_COPIES)
            recorder = writer.begin_run(session, 0)
            driven = _drive(world, actions, tally, session, recorder.capture)
            recorder.finish()
        with Recording.open(path) as rec:
            checks = verify(rec)
            assert checks and all(check.ok for check in checks), [c.divergence for c in checks]
            for lane, ep in zip(driven.lanes, rec, strict=True):
                last = ep.state_at(ep.n_steps)
                for name, arr in lane.state.as_dict().items():
                    assert np.array_equal(last[name], arr[0]), (ep.name, name)

    run()


def test_zz_report_fuzz_counts(capsys):
    """Prints how many sequences ran (shown with ``pytest -s``)."""
    with capsys.disabled():
        for world, tally in sorted(TALLY.items()):
            print(f"\nfuzz {world}: {tally}")
