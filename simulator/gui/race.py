"""The race the GUI shows: lanes of one scene, stepped together, with their metrics.

Qt-free, so it is tested without a window. Each lane is its own :class:`Session` (one lane
each) so that lanes can hold ensembles of different sizes: a reflex agent's lane gets 4096
copies, a tree search lane — which costs a search per copy per step — a few hundred
(DESIGN.md, performance budget). All sessions share scene, seed and distribution, and
copy ``e`` of a world depends only on (seed, e), so copy 0 — the shown world — starts
identical in every lane and the race is fair. A user perturbation for "all lanes" is logged
in each lane's session at the same step, through :meth:`Session.perturb`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from agents.registry import AgentSpec
from agents.store import build_agent
from simulator.core.driver import StepTrace
from simulator.core.errors import UserError
from simulator.metrics import MetricsTracker
from simulator.scene import Scene
from simulator.session import Event, Session

SEARCH_AGENTS = frozenset({"search"})
# Ensemble sizes per world kind: (reflex agents, a lane with a tree search). DESIGN.md asks
# for 4096 copies of a reflex agent and as many searching copies as fit a frame; the other
# worlds cost more per copy (a 16 x 10 room is 160 cells of physics; a ball push searches
# through the rigid-body step), so they get fewer. Measured on the 2-core machine with the
# GUI's one kernel thread, engine + metrics per step and lane: maze 4096 reflex 1.3-1.5 ms,
# 512 search 0.7 ms; thermal 1024 reflex 3.9 ms, 32 search 2.8 ms; arena 1024 reflex
# 2.7 ms, 16 search 5.2 ms.
DEFAULT_COPIES: dict[str, tuple[int, int]] = {
    "maze": (4096, 512),
    "thermal": (512, 32),
    "arena": (512, 8),
}
FALLBACK_COPIES = (1024, 64)
REFLEX_COPIES, SEARCH_COPIES = DEFAULT_COPIES["maze"]


def default_copies(agents: list[AgentSpec], world: str = "maze") -> int:
    """Ensemble size for a lane of ``world``: fewer copies when an agent searches."""
    reflex, search = DEFAULT_COPIES.get(world, FALLBACK_COPIES)
    return search if any(a.name in SEARCH_AGENTS for a in agents) else reflex


@dataclass
class MemberChoice:
    """One agent of a lane as the user picked it: name, objective text, parameters."""

    agent: str
    objective: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class LaneChoice:
    """A lane as the user set it up; ``n_copies`` None means :func:`default_copies`."""

    members: list[MemberChoice]
    label: str = ""
    n_copies: int | None = None

    def build(self, world: str, scene_hash: str | None = None,
              base_dir: str | None = None) -> list[AgentSpec]:
        """The lane's agents (UserError naming the agent on a bad name or parameter). A
        ``trained:FILE#...`` agent is read from its file; ``scene_hash``, when given, must
        be the hash it was trained on, and a relative FILE is also looked for in
        ``base_dir`` (the scene's folder)."""
        return [build_agent(m.agent, m.objective, world, scene_hash=scene_hash,
                            base_dir=base_dir, **m.params) for m in self.members]


def scene_dir(scene: Scene) -> str | None:
    """The folder of the scene's file (where its lanes' relative agents files live)."""
    return str(scene.path.parent) if scene.path else None


def scene_lanes(scene: Scene) -> list[LaneChoice]:
    """The scene's own lanes as editable choices."""
    out = []
    for lane in scene.model.lanes:
        members = [MemberChoice(m.agent, m.objective or scene.model.base_objective,
                                dict(m.params)) for m in lane.members()]
        out.append(LaneChoice(members, lane.label or ""))
    return out


def _lane_scene(scene: Scene, index: int) -> Scene:
    """The scene as lane ``index``'s one-lane session sees it: scheduled perturbations that
    name lanes are kept only when they hit this lane (and then hit "all" of its one lane)."""
    perts = scene.model.perturbations
    if all(p.lanes == "all" for p in perts):
        return scene
    kept = [p if p.lanes == "all" else p.model_copy(update={"lanes": "all"})
            for p in perts if p.lanes == "all" or index in p.lanes]
    model = scene.model.model_copy(update={"perturbations": kept})
    return type(scene)(model, scene.text, scene.path, scene.layouts)


def funnel_range(scene: Scene, driver: Any, state: Any,
                 tracker: MetricsTracker | None = None) -> tuple[float, float]:
    """The range the metrics bin the funnel coordinate over: the driver's ``funnel`` range
    when it has one (maze: distance 0 .. H + W), else the first projected axis."""
    if hasattr(driver, "funnel"):
        _, low, high = driver.funnel(scene, state)
        return float(low), float(high)
    lows, highs, _ = driver.bins(scene)
    return float(np.asarray(lows)[0]), float(np.asarray(highs)[0])


@dataclass
class LaneRun:
    """One lane of the race: its session, metrics and what its agents did last step."""

    index: int
    choice: LaneChoice
    session: Session
    tracker: MetricsTracker | None
    last_trace: StepTrace | None = None
    # Copy 0's state before the first step and after each step, with each step's trace of
    # copy 0: what a recording started mid-run needs to begin at step 0.
    history: list[tuple[dict[str, np.ndarray], StepTrace | None]] = field(default_factory=list)

    def remember(self, trace: StepTrace | None) -> None:
        """Keep copy 0's state (and the step's trace, sliced to copy 0) in the history."""
        state = {name: values[:1].copy() for name, values in self.state.as_dict().items()}
        if trace is not None:
            trace = StepTrace(trace.action[:, :1].copy(), trace.reward[:, :1].copy(),
                              {k: v[:, :1].copy() for k, v in trace.internals.items()},
                              trace.world_steps[:1].copy())
        self.history.append((state, trace))

    @property
    def agents(self) -> list[AgentSpec]:
        return self.session.lanes[0].agents

    @property
    def state(self) -> Any:
        return self.session.lanes[0].state

    @property
    def n_copies(self) -> int:
        return self.session.n_copies

    @property
    def title(self) -> str:
        return self.choice.label or self.session.lanes[0].label

    @property
    def ensemble_note(self) -> str:
        """How big the lane's ensemble is and why (shown in the lane's header)."""
        if self.choice.n_copies is not None:
            return f"{self.n_copies} copies (set by you)"
        if any(a.name in SEARCH_AGENTS for a in self.agents):
            return f"{self.n_copies} copies (search: fewer, to keep the frame rate)"
        return f"{self.n_copies} copies"

    def internals(self) -> dict[str, np.ndarray]:
        """The last step's agent internals of the shown copy: name → (A,) values."""
        if self.last_trace is None or self.last_trace.n_steps == 0:
            return {}
        return {name: values[-1, 0] for name, values in self.last_trace.internals.items()}

    def copy0_acted(self) -> bool:
        """Whether copy 0's agents took the last step (a stopped copy's trace holds -1 or
        NaN actions)."""
        if self.last_trace is None or self.last_trace.n_steps == 0:
            return False
        action = np.asarray(self.last_trace.action[-1, 0])
        if np.issubdtype(action.dtype, np.floating):
            return not bool(np.all(np.isnan(action) | (action == -1)))
        return not bool(np.all(action == -1))

    def view(self, series: bool) -> LaneView:
        """What the window shows of this lane now, copied (see :class:`LaneView`)."""
        tracker = self.tracker
        f_now = op_now = None
        if tracker is not None:
            f_now = float(tracker.series(0, "F")[-1])
            op_now = float(tracker.series(0, "OP")[-1])
        plot = None
        if series and tracker is not None:
            values = {name: tracker.series(0, name) for name in PLOTTED}
            plot = LanePlot(values, tracker.funnel(0), tracker.recovery(0))
        internals = {k: np.array(v) for k, v in self.internals().items()}
        return LaneView(shown_copy(self.state, self.session.driver.kind), internals,
                        self.copy0_acted(), self.session.outcomes(), f_now, op_now, plot)


PLOTTED = ("H", "F", "OP")  # the series the live plots show
# Per world kind, state fields the window draws from copy 0 only (the ghost cloud reads
# positions): a view copies copy 0's and repeats it without copying (a stride-0 array).
# 4096 maze grids are 360 KB; copying them cost the worker 0.4 ms a step and lane.
COPY0_FIELDS: dict[str, tuple[str, ...]] = {"maze": ("cell",)}


def shown_copy(state: Any, world: str) -> Any:
    """A copy of ``state`` (E copies) for drawing: every field copied, except those of
    :data:`COPY0_FIELDS`, which hold copy 0's values for every copy (read-only)."""
    only0 = COPY0_FIELDS.get(world, ())
    fields = {}
    for name, values in state.as_dict().items():
        if name in only0:
            fields[name] = np.broadcast_to(values[:1].copy(), values.shape)
        else:
            fields[name] = values.copy()
    return type(state)(**fields)


@dataclass
class LanePlot:
    """A lane's plotted metrics at one step: series name → (T,) float64 (row t is the race
    at step t), the funnel (T, n_bins) and (event step, recovery steps or None) pairs."""

    values: dict[str, np.ndarray]
    funnel: np.ndarray | None = None
    recovery: list[tuple[int, int | None]] = field(default_factory=list)


@dataclass
class LaneView:
    """One lane as the window shows it at one step, copied out of the race so that a worker
    thread can step on while the window paints it.

    ``state`` is the lane's whole ensemble (E copies: copy 0 and the ghost cloud);
    ``internals`` copy 0's last-step agent internals, name → (A,); ``acted`` whether copy 0's
    agents took that step; ``outcomes`` copy 0's, one per agent; ``f_now`` / ``op_now`` the
    ensemble's F and OP now (None without metrics); ``plot`` the plotted series, when asked.
    """

    state: Any
    internals: dict[str, np.ndarray]
    acted: bool
    outcomes: list[Any]
    f_now: float | None
    op_now: float | None
    plot: LanePlot | None = None


@dataclass
class RaceView:
    """The race as the window shows it: every lane's :class:`LaneView` at race step
    ``step``, whether every copy has stopped, and (when ``lanes[i].plot`` is set) the null
    baseline's plotted series ``baseline``, name → (T,)."""

    step: int
    done: bool
    lanes: list[LaneView]
    baseline: dict[str, np.ndarray] | None = None

    @property
    def has_plots(self) -> bool:
        return self.baseline is not None


class Race:
    """Lanes of one scene stepped in lock-step; the GUI's only handle on the simulation.

    Parameters
    ----------
    scene : the validated scene.
    lanes : the lanes to run (default: the scene's).
    seed, distribution : as for :class:`Session` (default: the scene's).
    metrics : keep a :class:`MetricsTracker` per lane (H, F, OP, funnel, recovery).
    """

    def __init__(self, scene: Scene, lanes: list[LaneChoice] | None = None,
                 seed: int | None = None, distribution: str | None = None,
                 metrics: bool = True):
        self.scene = scene
        self.choices = lanes if lanes is not None else scene_lanes(scene)
        if not self.choices:
            raise UserError("a race needs at least one lane")
        self.seed = scene.model.seed if seed is None else int(seed)
        self.distribution = distribution or scene.default_distribution
        self.metrics = metrics
        self.named_params: dict[Event, dict[str, Any]] = {}
        self.lanes: list[LaneRun] = []
        self.seconds_per_step = 0.0  # wall time of one step in the last step() call
        self._build()

    def _build(self) -> None:
        runs = []
        for i, choice in enumerate(self.choices):
            try:
                agents = choice.build(self.scene.world, self.scene.content_hash,
                                      scene_dir(self.scene))
            except (ValueError, TypeError) as exc:  # UserError, or a parameter of a bad type
                raise UserError(f"lane {i + 1}: {exc}") from None
            lane_scene = _lane_scene(self.scene, i)
            n_copies = choice.n_copies or default_copies(agents, self.scene.world)
            session = Session(lane_scene, seed=self.seed, distribution=self.distribution,
                              n_copies=n_copies, agents=[agents])
            tracker = MetricsTracker(session) if self.metrics else None
            run = LaneRun(i, choice, session, tracker)
            run.remember(None)
            runs.append(run)
        self.lanes = runs
        self.clock = 0
        self.named_params.clear()

    # --- driving -------------------------------------------------------------------------
    def reset(self) -> None:
        """Redraw every lane's worlds; user perturbations are forgotten."""
        self._build()

    def step(self, n_steps: int = 1) -> int:
        """Advance every lane by up to ``n_steps`` steps, one at a time so the metrics see
        every step (row t of every series is the race at step t). Returns the steps taken
        (0 once every copy has stopped)."""
        start = time.perf_counter()
        taken = 0
        for _ in range(n_steps):
            if self.done:
                break
            for run in self.lanes:
                run.last_trace = run.session.step(1)[0]
                run.remember(run.last_trace)
                if run.tracker is not None:
                    run.tracker.update()
            taken += 1
            self.clock += 1
        if taken:
            self.seconds_per_step = (time.perf_counter() - start) / taken
        return taken

    def perturb(self, kind: str, target: int = -1, params: dict[str, Any] | None = None,
                lanes: Literal["all"] | list[int] = "all", copy: int = -1) -> list[Event]:
        """Log a perturbation for the next step of the chosen lanes (every copy of their
        ensembles by default). UserError on bad input, and then nothing is logged."""
        hit = range(len(self.lanes)) if lanes == "all" else lanes
        runs = []
        for i in hit:
            if not 0 <= i < len(self.lanes):
                raise UserError(f"no lane {i + 1} (there are {len(self.lanes)})")
            runs.append(self.lanes[i])
        # Validate once before logging anywhere, so a bad event leaves no lane half-hit.
        self.lanes[0].session.driver.encode_event(kind, target, dict(params or {}))
        logged = []
        for run in runs:
            # At the race's step, not the lane's copy 0's: after copy 0's episode ended, the
            # copies still running must still feel the kick.
            for ev in run.session.perturb(kind, target, dict(params or {}), [0], copy,
                                          step=self.clock):
                ev = replace(ev, lane=run.index)
                self.named_params[ev] = {**(params or {}), "target": target}
                logged.append(ev)
        return logged

    # --- reading -------------------------------------------------------------------------
    @property
    def step_index(self) -> int:
        """Steps the race has taken: the step every still-running copy is at. (A lane's
        Session counts its copy 0, which stops when its episode ends.)"""
        return self.clock

    @property
    def horizon(self) -> int:
        return self.lanes[0].session.horizon

    @property
    def done(self) -> bool:
        return all(run.session.done for run in self.lanes)

    @property
    def world(self) -> str:
        return self.scene.world

    @property
    def events(self) -> list[Event]:
        """Every lane's perturbation log, with lane numbers of the race."""
        return [replace(ev, lane=run.index) for run in self.lanes
                for ev in run.session.lanes[0].events]

    def funnel_range(self) -> tuple[float, float]:
        """The range of the funnel plot's coordinate (its bins span it)."""
        return funnel_range(self.scene, self.lanes[0].session.driver, self.lanes[0].state,
                            self.lanes[0].tracker)

    def view(self, series: bool = True) -> RaceView:
        """A copy of what the window shows (every lane's ensemble state, internals, outcome,
        F and OP; with ``series``, the plotted metrics and the null baseline). Taken between
        two steps, so it is consistent; about 0.1 ms for 3 lanes of 4096 maze copies."""
        lanes = [run.view(series) for run in self.lanes]
        baseline = None
        first = self.lanes[0].tracker
        if series and first is not None:
            baseline = {name: first.baseline(name, 0) for name in PLOTTED}
        return RaceView(self.step_index, self.done, lanes, baseline)

    def pending(self, lane: int, now: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """User perturbations of ``lane`` logged for step ``now`` or later (default: the
        race's step, i.e. not taken yet), with their named parameters (for previews)."""
        now = self.step_index if now is None else now
        return [(ev.kind, self.named_params.get(replace(ev, lane=lane), {}))
                for ev in self.lanes[lane].session.lanes[0].events
                if ev.step >= now and ev.source == "user"]

    def recent_events(self, lane: int, window: int) -> list[tuple[Event, int]]:
        """(event, steps since it was applied) for events of the last ``window`` steps."""
        now = self.step_index
        return [(ev, now - ev.step) for ev in self.lanes[lane].session.lanes[0].events
                if 0 < now - ev.step <= window]
