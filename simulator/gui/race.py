"""The live run the GUI shows: a thin view of one :class:`Session`, with its metrics.

Qt-free, so it is tested without a window. The lanes are the lanes of one Session — its
clock, event logs and lane numbers are the window's — whose ensembles may differ in size:
a reflex agent's lane gets 4096 copies, a tree search lane (a search per copy per step) a
few hundred (DESIGN.md, performance budget). Copy ``e`` of a world depends only on
(seed, e), so copy 0 — the shown world — starts identical in every lane and the race is
fair. What the view adds to the Session: the lanes as the user chose them
(:class:`LaneChoice`), a :class:`MetricsTracker`, the named parameters of the user's
perturbations (for previews and flashes) and copies of what the window paints
(:class:`RaceView`). :class:`simulator.gui.replay.Replay` shows a recording through the
same interface.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from agents.registry import AgentSpec
from agents.store import build_agent
from simulator.core.driver import StepTrace
from simulator.core.errors import UserError
from simulator.metrics import MetricsTracker
from simulator.scene import Scene
from simulator.session import Event, Lane, Session
from simulator.worlds import world as world_kind

SEARCH_AGENTS = frozenset({"search"})
def default_copies(agents: list[AgentSpec], world: str = "maze") -> int:
    """Ensemble size for a lane of ``world``: fewer copies when an agent searches."""
    reflex, search = world_kind(world).copies
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


@dataclass
class LaneRun:
    """One lane of the race as the window reads it: the Session's lane, its choice and the
    agents' last step."""

    index: int
    choice: LaneChoice
    race: Race
    last_trace: StepTrace | None = None

    @property
    def lane(self) -> Lane:
        return self.race.session.lanes[self.index]

    @property
    def session(self) -> Session:
        return self.race.session

    @property
    def tracker(self) -> MetricsTracker | None:
        """The race's tracker (its series of this lane are ``tracker.series(index, ...)``)."""
        return self.race.tracker

    @property
    def agents(self) -> list[AgentSpec]:
        return self.lane.agents

    @property
    def state(self) -> Any:
        return self.lane.state

    @property
    def n_copies(self) -> int:
        return self.lane.n_copies

    @property
    def title(self) -> str:
        return self.choice.label or self.lane.label

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
        tracker, i = self.tracker, self.index
        f_now = op_now = None
        if tracker is not None:
            f_now = float(tracker.series(i, "F")[-1])
            op_now = float(tracker.series(i, "OP")[-1])
        plot = None
        if series and tracker is not None:
            values = {name: tracker.series(i, name) for name in PLOTTED}
            plot = LanePlot(values, tracker.funnel(i), tracker.recovery(i))
        internals = {k: np.array(v) for k, v in self.internals().items()}
        return LaneView(shown_copy(self.state, self.session.scene.world), internals,
                        self.copy0_acted(), self.session.outcomes(lane=i), f_now, op_now,
                        plot)


PLOTTED = ("H", "F", "OP")  # the series the live plots show


def shown_copy(state: Any, world: str) -> Any:
    """A copy of ``state`` (E copies) for drawing: every field copied, except the world's
    ``copy0_fields``, which hold copy 0's values for every copy (read-only): the window
    draws them from copy 0 only (4096 maze grids are 360 KB; copying them cost the worker
    0.4 ms a step and lane)."""
    only0 = world_kind(world).copy0_fields
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


class ShownRun:
    """What the window shows and steps: a :class:`Session` (:attr:`session`) of a scene
    (:attr:`scene`), live (:class:`Race`) or replayed
    (:class:`~simulator.gui.replay.Replay`). Subclasses give ``live``, ``step(n)``,
    ``reset()``, ``done``, ``horizon``, ``view(series)``, ``header(lane)``,
    ``pending(lane, now)`` and ``flashes(lane, step)``."""

    live: bool
    scene: Scene
    session: Session
    seconds_per_step = 0.0  # wall time of one step in the last step() call

    @property
    def seed(self) -> int:
        return self.session.seed

    @property
    def distribution(self) -> str:
        return self.session.distribution

    @property
    def step_index(self) -> int:
        """The Session's clock: the step every still-running copy is at."""
        return self.session.step_index

    @property
    def world(self) -> str:
        return self.scene.world

    def funnel_range(self) -> tuple[float, float]:
        """The range of the funnel plot's coordinate (its bins span it)."""
        return self.session.funnel_range()


class Race(ShownRun):
    """The live run: lanes of one scene in one :class:`Session`, stepped in lock-step.

    Parameters
    ----------
    scene : the validated scene.
    lanes : the lanes to run (default: the scene's).
    seed, distribution : as for :class:`Session` (default: the scene's).
    metrics : keep a :class:`MetricsTracker` (H, F, OP, funnel, recovery per lane).
    """

    live = True  # a Replay is not: it cannot be perturbed or recorded

    def __init__(self, scene: Scene, lanes: list[LaneChoice] | None = None,
                 seed: int | None = None, distribution: str | None = None,
                 metrics: bool = True):
        self.scene = scene
        self.choices = lanes if lanes is not None else scene_lanes(scene)
        if not self.choices:
            raise UserError("a race needs at least one lane")
        agents, sizes = [], []
        for i, choice in enumerate(self.choices):
            try:
                group = choice.build(scene.world, scene.content_hash, scene_dir(scene))
            except (ValueError, TypeError) as exc:  # UserError, or a parameter of a bad type
                raise UserError(f"lane {i + 1}: {exc}") from None
            agents.append(group)
            sizes.append(choice.n_copies or default_copies(group, scene.world))
        self.session = Session(scene, seed=seed, distribution=distribution, n_copies=sizes,
                               agents=agents)
        self.metrics = metrics
        self._build()

    def _build(self) -> None:
        self.tracker = MetricsTracker(self.session) if self.metrics else None
        self.lanes = [LaneRun(i, choice, self) for i, choice in enumerate(self.choices)]

    # --- driving -------------------------------------------------------------------------
    def reset(self) -> None:
        """Redraw every lane's worlds; user perturbations are forgotten."""
        self.session.reset()
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
            traces = self.session.step(1)
            for run, trace in zip(self.lanes, traces, strict=True):
                run.last_trace = trace
            if self.tracker is not None:
                self.tracker.update()
            taken += 1
        if taken:
            self.seconds_per_step = (time.perf_counter() - start) / taken
        return taken

    def perturb(self, kind: str, target: int = -1, params: dict[str, Any] | None = None,
                lanes: Literal["all"] | list[int] = "all", copy: int = -1) -> list[Event]:
        """Log a perturbation for the next step of the chosen lanes (every copy of their
        ensembles by default) through :meth:`Session.perturb`. UserError on bad input, and
        then nothing is logged."""
        if lanes != "all":
            for i in lanes:
                if not 0 <= i < len(self.lanes):
                    raise UserError(f"no lane {i + 1} (there are {len(self.lanes)})")
        # At the session's clock, not copy 0's: after copy 0's episode ended, the copies
        # still running must still feel the kick.
        return self.session.perturb(kind, target, dict(params or {}), lanes, copy)

    # --- reading -------------------------------------------------------------------------
    @property
    def horizon(self) -> int:
        return self.session.horizon

    @property
    def done(self) -> bool:
        return self.session.done

    @property
    def events(self) -> list[Event]:
        """Every lane's perturbation log."""
        return self.session.events

    def view(self, series: bool = True) -> RaceView:
        """A copy of what the window shows (every lane's ensemble state, internals, outcome,
        F and OP; with ``series``, the plotted metrics and the null baseline). Taken between
        two steps, so it is consistent; about 0.1 ms for 3 lanes of 4096 maze copies."""
        lanes = [run.view(series) for run in self.lanes]
        baseline = None
        if series and self.tracker is not None:
            baseline = {name: self.tracker.baseline(name, 0) for name in PLOTTED}
        return RaceView(self.step_index, self.done, lanes, baseline)

    def header(self, lane: int) -> tuple[str, str, str]:
        """(title, agents, ensemble note) of lane ``lane``'s header."""
        run = self.lanes[lane]
        return run.title, run.lane.label, run.ensemble_note

    def pending(self, lane: int, now: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """User perturbations of ``lane`` logged for step ``now`` or later (default: the
        race's step, i.e. not taken yet), with their named parameters (for previews)."""
        now = self.step_index if now is None else now
        return [(ev.kind, self.session.event_params(ev))
                for ev in self.lanes[lane].lane.events
                if ev.step >= now and ev.source == "user"]

    def flashes(self, lane: int, step: int) -> list[Any]:
        """Highlights of logged events at ``step`` (a live run's come from the gestures)."""
        return []


def describe_internals(agents: list[Any], values: dict[str, np.ndarray]) -> list[str]:
    """Readable lines of a lane's agent internals: ``values`` name → (A,) per agent."""
    lines = []
    for a, agent in enumerate(agents):
        prefix = f"{agent.name}: " if len(agents) > 1 else ""
        parts = []
        for name, per_agent in values.items():
            value = per_agent[a] if np.ndim(per_agent) else per_agent
            if name == "rule":
                rule = int(value)
                if agent.rule_text and 0 <= rule < len(agent.rule_text):
                    parts.append(f"rule {rule + 1}: {agent.rule_text[rule]}")
                elif agent.rule_text:
                    parts.append("no rule fired")
            elif name == "nodes":
                if agent.name == "search":
                    parts.append(f"searched {int(value)} nodes")
            elif name == "heater":
                parts.append(f"heater {'ON' if value else 'off'}")
            elif not (isinstance(value, float) and math.isnan(value)) and int(value) != -1:
                parts.append(f"{name} {value:g}" if isinstance(value, float | np.floating)
                             else f"{name} {value}")
        if parts:
            lines.append(prefix + " · ".join(parts))
    return lines
