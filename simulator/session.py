"""The Session: the one object every front end drives.

scene → Session → lanes (each an ensemble of copies) → world driver → engine kernels →
sinks. The CLI, the recorder and the GUI all talk to a Session; none of them calls a
kernel. A Session owns the perturbation log: every change to a world that its agents did not
make — a click, a scene schedule, a noise setting — is an :class:`Event`, appended to the
log and applied by the kernels through one path, so a run can be replayed from seed + log.

Copy 0 of every lane is the world shown and reported; the lanes share scene, seed and
distribution, so their copies start identical and the race between agents is fair. Lanes
may hold ensembles of different sizes (the GUI gives a tree search fewer copies than a
reflex agent): copy ``e`` depends only on (seed, e), so the first copies of every lane
still start identical.

A Session is also what a replay shows: :meth:`Session.from_recording` builds the run of a
recording (its scene, seed, distribution, lanes' agents and event logs), which
:meth:`Session.set_states` positions at a recorded step by reading the states back, and
which stepping re-simulates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from agents.registry import AgentSpec
from simulator.core.driver import INT32_MAX, EventArrays, Outcome, StepTrace, WorldDriver
from simulator.core.errors import UserError
from simulator.core.state import STATUS_RUNNING
from simulator.scene import Scene
from simulator.worlds import get_driver

EventSource = Literal["user", "scene", "noise"]


@dataclass(frozen=True)
class Event:
    """A perturbation ``(step, kind, target, params)`` applied at the start of ``step``.

    lane : the lane hit; copy : the ensemble copy hit, -1 for every copy (the same kick
    to the whole ensemble); params : (n_event_params,) float64 as the world's driver
    encodes them; source : who caused it.
    """

    step: int
    kind: str
    target: int
    params: tuple[float, ...]
    lane: int
    copy: int = -1
    source: EventSource = "user"


def _whole(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high], or UserError naming ``what`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not (
            low <= value <= high):
        raise UserError(f"{what} = {value!r} must be a whole number in [{low}, {high}]")
    return int(value)


def pack_events(events: Iterable[Event], event_kinds: Sequence[str],
                n_params: int) -> EventArrays:
    """Sort a lane's events by step (stable: same-step events keep log order) and pack them."""
    ordered = sorted(events, key=lambda ev: ev.step)
    n = len(ordered)
    return EventArrays(
        step=np.array([ev.step for ev in ordered], np.int32).reshape(n),
        kind=np.array([event_kinds.index(ev.kind) for ev in ordered], np.int32).reshape(n),
        target=np.array([ev.target for ev in ordered], np.int32).reshape(n),
        params=np.array([ev.params for ev in ordered], np.float64).reshape(n, n_params),
        copy=np.array([ev.copy for ev in ordered], np.int32).reshape(n),
    )


@dataclass
class Lane:
    """One world (and its ensemble) driven by one or more agents.

    state : the world's struct-of-arrays state with a leading copy axis (E, ...).
    """

    index: int
    agents: list[AgentSpec]
    state: Any
    events: list[Event] = field(default_factory=list)
    _packed: EventArrays | None = None
    # The trace refilled by Session.step(reuse_trace=True), and the (steps, copies, agents)
    # it was made for.
    _trace: StepTrace | None = field(default=None, repr=False)
    _trace_key: tuple[int, int, int] | None = field(default=None, repr=False)

    @property
    def agent(self) -> AgentSpec:
        """The lane's first (for most scenes, only) agent."""
        return self.agents[0]

    @property
    def label(self) -> str:
        return " vs ".join(agent.label for agent in self.agents)

    @property
    def n_copies(self) -> int:
        """The lane's ensemble size (copy 0 is the shown world)."""
        return int(self.state.n_copies)

    def log(self, event: Event) -> None:
        self.events.append(event)
        self._packed = None


class Session:
    """Lanes of one scene, stepped together.

    Parameters
    ----------
    scene : the validated scene.
    seed : overrides the scene's seed.
    distribution : name of the initial-state distribution (default: the scene's).
    n_copies : ensemble size of every lane, or one size per lane (copy 0 is the shown
        world); :attr:`n_copies` is then the largest, :attr:`lane_copies` each lane's.
    agents : per lane, the list of its agents; default: the scene's lanes.
    """

    def __init__(self, scene: Scene, seed: int | None = None, distribution: str | None = None,
                 n_copies: int | Sequence[int] = 1,
                 agents: Sequence[Sequence[AgentSpec]] | None = None):
        self.scene = scene
        self.driver: WorldDriver = get_driver(scene.world)
        self.seed = scene.model.seed if seed is None else int(seed)
        if not 0 <= self.seed < 2**63:
            raise UserError(f"seed {self.seed} must be between 0 and 2**63 - 1")
        self.distribution = scene.pick_distribution(distribution)
        self.params = self.driver.params(scene)
        lane_agents = agents if agents is not None else scene.lane_agents()
        self.agents = [list(group) for group in lane_agents]
        sizes = ([n_copies] * len(self.agents) if isinstance(n_copies, int | np.integer)
                 else list(n_copies))
        if len(sizes) != len(self.agents):
            raise UserError(f"{len(sizes)} ensemble sizes for {len(self.agents)} lanes")
        if any(int(n) < 1 for n in sizes):
            raise UserError("ensemble size must be at least 1")
        self.lane_copies = [int(n) for n in sizes]
        self.n_copies = max(self.lane_copies, default=1)
        self.lanes: list[Lane] = []
        self._clock = 0
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------
    def initial_state(self, n_copies: int | None = None) -> Any:
        """A fresh draw of ``n_copies`` worlds (default :attr:`n_copies`) from the
        distribution: copy e is the same in every lane and every draw."""
        n = self.n_copies if n_copies is None else int(n_copies)
        return self.driver.initial_state(self.scene, self.distribution, n, self.seed)

    def reset(self) -> None:
        """Redraw every lane's worlds and clear user events; scene-scheduled events remain."""
        draws = {n: self.initial_state(n) for n in sorted(set(self.lane_copies))}
        start = draws[self.n_copies]
        self._clock = 0
        self.lanes = [Lane(i, group, draws[n].copy())
                      for i, (group, n) in enumerate(zip(self.agents, self.lane_copies,
                                                         strict=True))]
        for i, pert in enumerate(self.scene.model.perturbations):
            hit = range(len(self.lanes)) if pert.lanes == "all" else pert.lanes
            params = self.driver.encode_event(pert.kind, pert.target, dict(pert.params))
            try:
                self.driver.check_event(start, pert.kind, pert.target, params)
            except UserError as exc:
                where = str(self.scene.path) if self.scene.path else "<scene>"
                raise UserError(f"{where}: perturbations[{i}]: {exc}") from None
            for lane in hit:
                self.lanes[lane].log(Event(pert.step, pert.kind, pert.target, params, lane,
                                           source="scene"))

    @property
    def step_index(self) -> int:
        """The session's clock: steps taken since reset (capped at the horizon).

        Every running copy's own ``t`` equals it; copies that stopped early keep the ``t``
        they stopped at, which is why "now" cannot be read off copy 0.
        """
        return self._clock

    @property
    def horizon(self) -> int:
        return int(self.scene.model.horizon)

    @property
    def done(self) -> bool:
        """True when every copy of every lane has terminated or been truncated."""
        return all(bool(np.all(lane.state.status != STATUS_RUNNING)) for lane in self.lanes)

    # --- driving -------------------------------------------------------------------------
    def packed_events(self, lane: Lane) -> EventArrays:
        if lane._packed is None:
            lane._packed = pack_events(lane.events, self.driver.event_kinds,
                                       self.driver.n_event_params)
        return lane._packed

    def step(self, n_steps: int = 1, trace: bool = True,
             reuse_trace: bool = False) -> list[StepTrace]:
        """Advance every lane by up to ``n_steps`` (stopped copies stay put).

        ``reuse_trace``: each lane's trace is the same StepTrace object, refilled, at every
        call with the same ``n_steps`` — no arrays allocated per step, and their addresses
        stay put (the recorder copies copy 0's rows out by address). Entries of copies that
        did not step keep the values of an earlier call. With ``reuse_trace`` the traces are
        filled even if ``trace`` is False: refilling them costs less than allocating the
        empty ones a trace-less step returns.
        """
        self._clock = min(self._clock + n_steps, self.horizon)
        if not reuse_trace:
            return [
                self.driver.advance(lane.state, lane.agents, self.packed_events(lane),
                                    self.params, self.seed, n_steps, trace)
                for lane in self.lanes
            ]
        out = []
        for lane in self.lanes:
            key = (n_steps, lane.state.n_copies, len(lane.agents))
            kept = lane._trace if lane._trace_key == key else None
            lane._trace = self.driver.advance(lane.state, lane.agents, self.packed_events(lane),
                                              self.params, self.seed, n_steps, True, out=kept)
            lane._trace_key = key
            out.append(lane._trace)
        return out

    def run(self, max_steps: int | None = None, trace: bool = False) -> list[StepTrace]:
        """Step until every copy stops or ``max_steps`` more steps have passed."""
        n = self.horizon if max_steps is None else min(max_steps, self.horizon)
        return self.step(n, trace)

    def perturb(self, kind: str, target: int = -1, params: dict[str, Any] | None = None,
                lanes: Literal["all"] | Sequence[int] = "all", copy: int = -1,
                step: int | None = None, source: EventSource = "user") -> list[Event]:
        """Log a perturbation for the given lanes, applied at the start of ``step``
        (default: the next step of the shown world). UserError on bad input; nothing is
        logged then."""
        if kind not in self.driver.event_kinds:
            raise UserError(f"unknown perturbation {kind!r}"
                            f" ({', '.join(self.driver.event_kinds)})")
        target = _whole(target, f"{kind}: target", -1, INT32_MAX)
        vec = self.driver.encode_event(kind, target, params or {})
        self.driver.check_event(self.lanes[0].state, kind, target, vec)
        hit = list(range(len(self.lanes))) if lanes == "all" else list(lanes)
        for lane in hit:
            if isinstance(lane, bool) or not isinstance(lane, int | np.integer) or not (
                    0 <= lane < len(self.lanes)):
                raise UserError(f"no lane {lane!r} (there are {len(self.lanes)})")
        copy = _whole(copy, f"{kind}: copy", -1,
                      min(self.lanes[lane].n_copies for lane in hit) - 1 if hit else -1)
        when = self.step_index if step is None else _whole(step, f"{kind}: step", 0,
                                                            INT32_MAX)
        if when < self.step_index:
            raise UserError(f"step {when} is in the past (now at {self.step_index})")
        logged = []
        for lane in hit:
            ev = Event(when, kind, target, vec, lane, copy, source)
            self.lanes[lane].log(ev)
            logged.append(ev)
        return logged

    @property
    def events(self) -> list[Event]:
        """Every lane's log, in logged order per lane."""
        return [ev for lane in self.lanes for ev in lane.events]

    # --- reporting -----------------------------------------------------------------------
    def outcomes(self, copy: int = 0, lane: int | None = None) -> list[Outcome]:
        """One Outcome per agent per lane (or of lane ``lane`` only), for ensemble copy
        ``copy``."""
        lanes = self.lanes if lane is None else [self.lanes[lane]]
        return [
            out
            for one in lanes
            for out in self.driver.outcomes(self.scene, one.state, copy, one.agents,
                                            one.index)
        ]

    @property
    def event_kinds(self) -> tuple[str, ...]:
        """The perturbations this world takes (the names :meth:`perturb` accepts)."""
        return tuple(self.driver.event_kinds)

    def event_params(self, ev: Event) -> dict[str, float]:
        """An event's named parameters (decoded from its vector) and its ``target``."""
        return {**self.driver.decode_event(ev.kind, ev.params), "target": ev.target}

    def event_where(self, ev: Event, state: Any | None = None) -> tuple[float, ...] | None:
        """Where ``ev`` hit copy 0 of ``state`` (default: its lane's state now), in the
        renderer's world coordinates, or None for the whole world (for flashes)."""
        state = self.lanes[ev.lane].state if state is None else state
        return self.driver.event_where(state, 0, ev.kind, ev.target, ev.params)

    def expanded_cells(self, lane: int, state: Any | None = None) -> np.ndarray | None:
        """The cells lane ``lane``'s search expands from copy 0 of ``state`` (default: the
        lane's) to choose its next move — the search its kernel runs — or None when the
        world or the lane's agents have no such thing (the GUI's internals overlay)."""
        find = getattr(self.driver, "expanded_cells", None)
        if find is None:
            return None
        one = self.lanes[lane]
        return find(one.state if state is None else state, one.agents, self.params)

    def funnel_range(self) -> tuple[float, float]:
        """The range of the funnel coordinate, which the metrics bin: the world's funnel
        range when it has one (maze: distance 0 .. H + W), else its first projected axis."""
        if hasattr(self.driver, "funnel"):
            _, low, high = self.driver.funnel(self.scene, self.lanes[0].state)
            return float(low), float(high)
        lows, highs, _ = self.driver.bins(self.scene)
        return float(np.asarray(lows)[0]), float(np.asarray(highs)[0])

    # --- replicas and replays ------------------------------------------------------------
    def replica(self, n_copies: int = 1) -> Session:
        """A fresh Session of the same scene, seed, distribution and lanes' agents, at step
        0, with ``n_copies`` copies per lane and no events beyond the scene's: log this
        one's events into it (:meth:`mirror_events`) and step it to :attr:`step_index`,
        and its copies re-run this one's first copies bit for bit (a copy depends only on
        seed, index and events). The GUI records copy 0 of its lanes this way, through
        the same recorder as ``steersim record``."""
        return Session(self.scene, seed=self.seed, distribution=self.distribution,
                       n_copies=n_copies, agents=self.agents)

    def mirror_events(self, source: Session, logged: list[int]) -> None:
        """Log ``source``'s events not mirrored yet into the same lanes here; ``logged``
        holds per lane how many of ``source``'s events were seen already (updated). Events
        for a copy this session does not have are skipped."""
        for i, lane in enumerate(source.lanes):
            for ev in lane.events[logged[i]:]:
                if ev.copy < self.lanes[i].n_copies:
                    self.lanes[i].log(ev)
            logged[i] = len(lane.events)

    @classmethod
    def from_recording(cls, scene: Scene, episodes: Sequence[Any]) -> Session:
        """The one-copy Session of a recorded run: ``episodes`` are its episodes (one per
        lane, in lane order, as :class:`simulator.recording.Episode` reads them), whose
        seed, distribution, agents and event logs it takes. Stepping it re-simulates the
        run; :meth:`set_states` reads recorded states in instead."""
        first = episodes[0]
        session = cls(scene, seed=first.seed, distribution=first.distribution, n_copies=1,
                      agents=[episode.agent_specs() for episode in episodes])
        for lane, episode in zip(session.lanes, episodes, strict=True):
            lane.events = [dataclasses.replace(ev, lane=lane.index)
                           for ev in episode.events()]
            lane._packed = None
        return session

    def set_states(self, states: Sequence[Any], step: int) -> None:
        """Put ``states`` (one per lane) in the lanes and the clock at ``step``: what a
        replay does when it reads a recording's states back."""
        if len(states) != len(self.lanes):
            raise ValueError(f"{len(states)} states for {len(self.lanes)} lanes")
        for lane, state in zip(self.lanes, states, strict=True):
            lane.state = state
            lane._trace = None
            lane._trace_key = None
        self._clock = int(step)
