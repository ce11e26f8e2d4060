"""State-space narrowing, measured over ensembles (DESIGN.md: "optimization is narrowing").

Per lane and step, over the lane's N copies:

- ``H`` — Shannon entropy (bits) of the binned projection of state onto the coordinate that
  matters (maze: agent cell; thermal: sensor temperature; arena: ball position).
- ``F`` — fraction of copies in the target set of the scene's base objective.
- ``OP`` — optimization power in bits against a null-agent baseline ensemble of the same
  scene, seed and perturbations (Yudkowsky, "Measuring Optimization Power", 2008): an outcome
  ``s`` scores ``-log2 P_baseline(S >= s)``, floored at ``1/M`` for M baseline copies so it
  is capped at ``log2 M``. We report the ensemble's mean score *minus the baseline scored
  against itself*, so an agent that behaves exactly like the baseline has OP = 0 bits and
  no ensemble exceeds ``log2 M``.
- ``F_own`` / ``OP_own`` — the same against the lane's own agent's objective: a misaligned
  agent shows high ``OP_own`` and low ``OP``. In a lane of rival agents, agent ``i > 0`` has
  its own pair ``F_own<i>`` / ``OP_own<i>``.

Entropy alone cannot tell a thermostat from passive cooling, so F and OP always accompany H.
The tracker also keeps the funnel (density of a 1-D coordinate against time), recovery times
after perturbations and, for the maze, a basin map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from simulator.session import Session
from simulator.worlds import make_agent, parse_objective, world

SERIES = ("H", "F", "OP", "F_own", "OP_own")
FUNNEL_BINS = 48
RECOVERY_TOLERANCE = 0.02  # F within this of its pre-perturbation level counts as recovered


# --- the measures, as pure functions over arrays -------------------------------------
@njit(cache=True)
def _binned_entropy(points, lows, highs, n_bins):
    """Entropy in bits of points (E, D) on the regular grid n_bins (D,) over [lows, highs]."""
    n_points, n_dims = points.shape
    total_bins = 1
    for d in range(n_dims):
        total_bins *= n_bins[d]
    counts = np.zeros(total_bins, np.int64)
    for i in range(n_points):
        flat = 0
        for d in range(n_dims):
            k = int((points[i, d] - lows[d]) / (highs[d] - lows[d]) * n_bins[d])
            k = min(max(k, 0), n_bins[d] - 1)
            flat = flat * n_bins[d] + k
        counts[flat] += 1
    h = 0.0
    for c in counts:
        if c > 0:
            p = c / n_points
            h -= p * np.log2(p)
    return max(h, 0.0)  # never report "-0.00"


def entropy_bits(points: np.ndarray, lows: np.ndarray, highs: np.ndarray,
                 n_bins: np.ndarray) -> float:
    """Entropy in bits of ``points`` (E, D) binned on a regular grid of ``n_bins`` (D,) bins
    spanning [lows, highs] (D,); points outside are clipped into the edge bins."""
    return float(_binned_entropy(np.asarray(points, np.float64), np.asarray(lows, np.float64),
                                 np.asarray(highs, np.float64), np.asarray(n_bins, np.int64)))


@njit(cache=True)
def _mean_self_information(scores, baseline_sorted):
    """Mean over scores (E,) of -log2 of the fraction of baseline outcomes at least as good,
    floored at 1/M; baseline_sorted (M,) ascending."""
    m = baseline_sorted.shape[0]
    total = 0.0
    for i in range(scores.shape[0]):
        at_least = m - np.searchsorted(baseline_sorted, scores[i])
        total -= np.log2(max(at_least, 1) / m)
    return total / scores.shape[0]


def optimization_power(scores: np.ndarray, baseline: np.ndarray) -> float:
    """OP in bits of an ensemble's outcome scores (E,) against baseline scores (M,).

    Mean Yudkowsky self-information of the ensemble minus that of the baseline against
    itself: 0 for an ensemble distributed like the baseline, at most log2 M.
    """
    ordered = np.sort(baseline)
    return float(_mean_self_information(scores, ordered)
                 - _mean_self_information(baseline, ordered))


def recovery_times(f_series: np.ndarray, event_steps: list[int],
                   tolerance: float = RECOVERY_TOLERANCE) -> list[tuple[int, int | None]]:
    """For each perturbation step s: steps until F returns to within ``tolerance`` of its
    level just before s (0 if it never dropped), or None if it has not recovered yet.

    f_series (T,) holds F after each step: f_series[t] is F at time t + 1; F before the
    event at step s is f_series[s - 1] (the initial F for s = 0 is taken as f_series[0]).
    """
    out: list[tuple[int, int | None]] = []
    n = f_series.shape[0]
    for s in sorted(set(event_steps)):
        if s >= n:
            continue
        before = f_series[s - 1] if s > 0 else f_series[0]
        after = f_series[s:]
        dropped = after < before - tolerance
        if not dropped.any():
            out.append((s, 0))
            continue
        first_drop = int(np.argmax(dropped))
        back = np.nonzero(after[first_drop:] >= before - tolerance)[0]
        out.append((s, int(first_drop + back[0]) + 1 if back.size else None))
    return out


# --- the tracker -------------------------------------------------------------------------
@dataclass
class _LaneSeries:
    values: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in SERIES})
    funnel: list[np.ndarray] = field(default_factory=list)


class MetricsTracker:
    """Follows a Session step by step and keeps every lane's narrowing series.

    Owns a baseline Session — the same scene, seed, distribution and ensemble size, driven by
    the null agent — that receives every lane's perturbations too, so OP compares like with
    like. Call :meth:`update` after each ``session.step(1)``.
    """

    def __init__(self, session: Session, n_bins: int = FUNNEL_BINS):
        self.session = session
        self.driver = session.driver
        self.scene = session.scene
        self.n_bins = n_bins
        self.lows, self.highs, self.bin_counts = (
            np.asarray(a) for a in self.driver.bins(self.scene))
        null = [make_agent("null", self.scene.model.base_objective, self.scene.world)]
        self.baseline_session = Session(
            self.scene, seed=session.seed, distribution=session.distribution,
            n_copies=[lane.n_copies for lane in session.lanes],
            agents=[null * len(lane.agents) for lane in session.lanes])
        self.base_objective = parse_objective(self.scene.model.base_objective, self.scene.world)
        self._mirrored = [len(lane.events) for lane in session.lanes]
        self._lanes = [_LaneSeries() for _ in session.lanes]
        self._baseline = [_LaneSeries() for _ in session.lanes]
        self.steps: list[int] = []
        self.record()

    # Mirror new user events into the baseline before it steps.
    def _sync_events(self) -> None:
        for i, lane in enumerate(self.session.lanes):
            for ev in lane.events[self._mirrored[i]:]:
                self.baseline_session.lanes[i].log(ev)
            self._mirrored[i] = len(lane.events)

    def update(self) -> None:
        """Advance the baseline to the session's step and record one row of every series."""
        self._sync_events()
        behind = self.session.step_index - self.baseline_session.step_index
        if behind > 0:
            # Refilled traces: allocating a trace-less step's empty ones cost more.
            self.baseline_session.step(behind, trace=False, reuse_trace=True)
        self.record()

    def record(self) -> None:
        """Measure the current states (no stepping)."""
        self.steps.append(self.session.step_index)
        # Baseline lanes with the same event log hold identical states: measure each once.
        cache: dict[Any, Any] = {}
        for i, lane in enumerate(self.session.lanes):
            base_state = self.baseline_session.lanes[i].state
            key = (base_state.n_copies, tuple(self.baseline_session.lanes[i].events))
            self._measure(lane.state, base_state, [a.objective for a in lane.agents],
                          self._lanes[i], cache, key)
            if ("row", key) not in cache:
                row = _LaneSeries()
                self._measure(base_state, base_state, [self.base_objective], row, cache, key)
                cache[("row", key)] = row
            for name, values in cache[("row", key)].values.items():
                self._baseline[i].values[name].append(values[0])
            self._baseline[i].funnel.append(cache[("row", key)].funnel[0])

    def _baseline_scores(self, base_state: Any, objective: Any, cache: dict[Any, Any],
                         key: Any) -> tuple[np.ndarray, float]:
        """Sorted baseline scores (M,) for ``objective`` and their mean self-information."""
        ck = ("scores", key, objective.text)
        if ck not in cache:
            ordered = np.sort(self.driver.score(self.scene, base_state, objective))
            cache[ck] = ordered, float(_mean_self_information(ordered, ordered))
        return cache[ck]

    def _measure(self, state: Any, base_state: Any, own_objectives: list[Any],
                 out: _LaneSeries, cache: dict[Any, Any], key: Any) -> None:
        drv, scene = self.driver, self.scene
        points = drv.projection(scene, state)
        v = out.values
        v["H"].append(entropy_bits(points, self.lows, self.highs, self.bin_counts))
        targets = [("", self.base_objective), ("_own", own_objectives[0])]
        targets += [(f"_own{i}", obj) for i, obj in enumerate(own_objectives[1:], start=1)]
        for suffix, objective in targets:
            v.setdefault("F" + suffix, [])
            v.setdefault("OP" + suffix, [])
            ck = ("own", id(state), objective.text)
            if ck not in cache:  # an aligned agent's own objective is the base one
                cache[ck] = (float(drv.in_target(scene, state, objective).mean()),
                             drv.score(scene, state, objective))
            fraction, scores = cache[ck]
            v["F" + suffix].append(fraction)
            ordered, base_info = self._baseline_scores(base_state, objective, cache, key)
            v["OP" + suffix].append(float(_mean_self_information(scores, ordered)) - base_info)
        coord, lo, hi = self._funnel_coordinate(state)
        hist, _ = np.histogram(np.clip(coord, lo, hi), bins=self.n_bins, range=(lo, hi))
        out.funnel.append(hist / max(len(coord), 1))

    def _funnel_coordinate(self, state: Any) -> tuple[np.ndarray, float, float]:
        if hasattr(self.driver, "funnel"):
            return self.driver.funnel(self.scene, state)
        points = self.driver.projection(self.scene, state)
        return points[:, 0], float(self.lows[0]), float(self.highs[0])

    # --- reading ---------------------------------------------------------------------------
    def names(self, lane: int) -> list[str]:
        """The lane's series names: SERIES plus F_own<i>/OP_own<i> for rival agents."""
        return list(self._lanes[lane].values)

    def series(self, lane: int, name: str) -> np.ndarray:
        """(T,) float64 series ``name`` (see :meth:`names`) of lane ``lane``; T = updates + 1."""
        return np.asarray(self._lanes[lane].values[name], np.float64)

    def baseline(self, name: str, lane: int = 0) -> np.ndarray:
        """(T,) float64 series of the null baseline (which saw lane ``lane``'s events)."""
        return np.asarray(self._baseline[lane].values[name], np.float64)

    def funnel(self, lane: int) -> np.ndarray:
        """(T, n_bins) float64: per time, the ensemble's density over the funnel coordinate."""
        return np.asarray(self._lanes[lane].funnel, np.float64)

    def recovery(self, lane: int) -> list[tuple[int, int | None]]:
        """(event step, steps to recover F or None) for each perturbation of the lane."""
        steps = [ev.step for ev in self.session.lanes[lane].events if ev.kind != "set_noise"]
        return recovery_times(self.series(lane, "F")[1:], steps)

    def summary(self, lane: int) -> dict[str, float]:
        """Final and mean values of each series, for reports."""
        out: dict[str, float] = {}
        for name in self.names(lane):
            values = self.series(lane, name)
            out[f"{name}_final"] = float(values[-1])
            out[f"{name}_mean"] = float(values.mean())
        out["OP_baseline_final"] = float(self.baseline("OP", lane)[-1])
        out["H_initial"] = float(self.series(lane, "H")[0])
        return out

    def as_arrays(self, lane: int) -> dict[str, np.ndarray]:
        """Every series of a lane plus the baseline's, for the recorder's ``metrics/``."""
        out = {name: self.series(lane, name) for name in self.names(lane)}
        out.update({f"baseline_{name}": self.baseline(name, lane) for name in ("H", "F")})
        out["funnel"] = self.funnel(lane)
        return out


def basin_map(session: Session, lane: int, objective: Any | None = None) -> np.ndarray:
    """Which start states reach the target within the horizon, for worlds that define a
    basin map (the maze: (H, W) int8, see :func:`simulator.worlds.maze.basin.basin_map`);
    NotImplementedError for the others."""
    spec = world(session.scene.world)
    if not spec.basin:
        raise NotImplementedError(f"basin maps are not defined for the {spec.kind} world")
    return spec.load("basin")(session, lane, objective)


def run_measured(session: Session, steps: int | None = None) -> MetricsTracker:
    """Run ``session`` up to ``steps`` (default: its horizon) one step at a time, measuring
    the narrowing series as it goes (metrics need every step)."""
    tracker = MetricsTracker(session)
    limit = min(steps or session.horizon, session.horizon)
    for _ in range(limit):
        if session.done:
            break
        session.step(1, trace=False, reuse_trace=True)
        tracker.update()
    return tracker


def agent_metrics(tracker: MetricsTracker, lane: int, agent_index: int) -> dict[str, Any]:
    """One agent's narrowing summary: the lane's shared H, F and OP, its own F_own/OP_own
    (rival agents share a lane's H, F and OP but each has its own pair), and the lane's
    recovery times."""
    summary = tracker.summary(lane)
    own = f"_own{agent_index}" if agent_index else "_own"
    out: dict[str, Any] = {k: v for k, v in summary.items() if "_own" not in k}
    out.update({k.replace(own, "_own"): v for k, v in summary.items()
                if k.startswith(("F" + own + "_", "OP" + own + "_"))})
    out["recovery"] = tracker.recovery(lane)
    return out


def ensemble_rates(session: Session) -> list[dict[str, float]]:
    """Per agent of every lane (in :meth:`Session.outcomes` order), over the ensemble: the
    fraction of copies that reached the agent's objective and the base objective, the mean
    return and the mean steps."""
    per_copy = [session.outcomes(copy) for copy in range(session.n_copies)]
    out = []
    for i in range(len(per_copy[0])):
        ends = [copy_outcomes[i] for copy_outcomes in per_copy]
        out.append({
            "copies": session.n_copies,
            "objective_rate": float(np.mean([o.achieved_objective for o in ends])),
            "base_rate": float(np.mean([o.achieved_base for o in ends])),
            "mean_return": float(np.mean([o.ret for o in ends])),
            "mean_steps": float(np.mean([o.steps for o in ends])),
        })
    return out
