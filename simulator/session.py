"""The Session: the one object every front end drives.

scene → Session → lanes (each an ensemble of copies) → engine kernels → sinks. The CLI,
the recorder and the GUI all talk to a Session; none of them calls a kernel. A Session owns
the perturbation log: every change to a world that the agent did not make — a click, a
scene schedule, a noise setting — is an :class:`Event`, appended to the log and applied by
the kernels through one path, so a run can always be replayed from seed + log.

Copy 0 of every lane is the world shown and reported; the lanes share scene, seed and
distribution, so their copies start identical and the race between agents is fair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from agents.maze import matches
from agents.registry import AgentSpec, Objective, parse_objective
from simulator.errors import UserError
from simulator.rollout import EventArrays, StepTrace, run_maze
from simulator.scene import Scene
from simulator.worlds import maze

EventSource = Literal["user", "scene", "noise"]


@dataclass(frozen=True)
class Event:
    """A perturbation ``(step, kind, target, params)`` applied at the start of ``step``.

    lane : index of the lane hit; copy : ensemble copy hit, -1 for every copy (the same
    kick to the whole ensemble); params : (N_EVENT_PARAMS,) float64, see
    :func:`encode_maze_event`.
    """

    step: int
    kind: str
    target: int
    params: tuple[float, ...]
    lane: int
    copy: int = -1
    source: EventSource = "user"


# Which named parameters each maze event takes, and where they go in the params vector.
_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "teleport": ("row", "col"),
    "draw_wall": ("row", "col"),
    "erase_wall": ("row", "col"),
    "place_hazard": ("row", "col"),
    "remove_hazard": ("row", "col"),
    "add_object": ("row", "col", "kind", "color", "reward"),
    "move_object": ("row", "col"),
    "recolor_object": ("color",),
    "remove_object": (),
    "set_noise": ("p",),
}
_PARAM_SLOT = {"row": 0, "col": 1, "kind": 2, "color": 3, "reward": 4, "p": 2}
_NEEDS_TARGET = {"move_object", "recolor_object", "remove_object"}


def encode_maze_event(kind: str, target: int, params: dict[str, Any]) -> tuple[float, ...]:
    """Named parameters → the kernel's params vector; UserError names what is wrong.

    ``recolor_object`` takes ``color`` in slot 2 (where the kernel reads the new colour);
    ``add_object`` takes kind and colour names or codes.
    """
    if kind not in _EVENT_FIELDS:
        raise UserError(f"unknown perturbation {kind!r} ({', '.join(_EVENT_FIELDS)})")
    wanted = _EVENT_FIELDS[kind]
    unknown = set(params) - set(wanted)
    if unknown:
        raise UserError(f"{kind}: unknown parameter(s) {', '.join(sorted(unknown))}"
                         f" (takes {', '.join(wanted) or 'none'})")
    missing = [name for name in wanted if name not in params and name != "reward"]
    if missing:
        raise UserError(f"{kind}: missing parameter(s) {', '.join(missing)}")
    if kind in _NEEDS_TARGET and target < 0:
        raise UserError(f"{kind}: needs target = <object slot>")
    vec = [0.0] * maze.N_EVENT_PARAMS
    vec[4] = 1.0  # default reward of an added object
    for name in wanted:
        if name not in params:
            continue
        value = params[name]
        if name == "kind" and isinstance(value, str):
            if value not in maze.OBJECT_TO_IDX:
                raise UserError(f"{kind}: unknown object kind {value!r}")
            value = maze.OBJECT_TO_IDX[value]
        if name == "color" and isinstance(value, str):
            if value not in maze.COLOR_TO_IDX:
                raise UserError(f"{kind}: unknown colour {value!r}")
            value = maze.COLOR_TO_IDX[value]
        slot = 2 if (kind == "recolor_object" and name == "color") else _PARAM_SLOT[name]
        try:
            vec[slot] = float(value)
        except (TypeError, ValueError):
            raise UserError(f"{kind}: {name} must be a number, not {value!r}") from None
    return tuple(vec)


def pack_events(events: Iterable[Event]) -> EventArrays:
    """Sort a lane's events by step (stable: same-step events keep log order) and pack them."""
    ordered = sorted(events, key=lambda ev: ev.step)
    n = len(ordered)
    out = EventArrays(
        step=np.array([ev.step for ev in ordered], np.int32).reshape(n),
        kind=np.array([maze.EVENT_TO_IDX[ev.kind] for ev in ordered], np.int32).reshape(n),
        target=np.array([ev.target for ev in ordered], np.int32).reshape(n),
        params=np.array([ev.params for ev in ordered], np.float64).reshape(
            n, maze.N_EVENT_PARAMS),
        copy=np.array([ev.copy for ev in ordered], np.int32).reshape(n),
    )
    return out


@dataclass
class Outcome:
    """How copy 0 of a lane ended (or stands)."""

    lane: int
    agent: str
    objective: str
    status: str  # running | terminated | truncated
    steps: int
    ret: float
    reached: str | None  # "red door", "lava", or None
    achieved_objective: bool
    achieved_base: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Lane:
    """One world (and its ensemble) driven by one agent. state has a leading copy axis."""

    index: int
    agent: AgentSpec
    state: maze.MazeState
    events: list[Event] = field(default_factory=list)
    _packed: EventArrays | None = None

    def packed_events(self) -> EventArrays:
        if self._packed is None:
            self._packed = pack_events(self.events)
        return self._packed

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
    n_copies : ensemble size per lane (copy 0 is the shown world).
    agents : one AgentSpec per lane; default: the scene's lanes.
    """

    def __init__(self, scene: Scene, seed: int | None = None, distribution: str | None = None,
                 n_copies: int = 1, agents: Sequence[AgentSpec] | None = None):
        self.scene = scene
        self.seed = scene.model.seed if seed is None else int(seed)
        self.distribution = distribution or scene.default_distribution
        if self.distribution not in scene.layouts:
            raise UserError(f"{scene.name}: no distribution {self.distribution!r}"
                             f" (choose from {', '.join(scene.distributions)})")
        if n_copies < 1:
            raise UserError("ensemble size must be at least 1")
        self.n_copies = int(n_copies)
        self.params = scene.params()
        self.agents = list(agents) if agents is not None else scene.lane_agents()
        self.lanes: list[Lane] = []
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------
    def initial_state(self) -> maze.MazeState:
        """A fresh draw of ``n_copies`` worlds from the distribution (same for every lane)."""
        layout = self.scene.layouts[self.distribution]
        height, width = layout.shape
        state = maze.MazeState.empty(self.n_copies, height, width, self.scene.n_object_slots)
        maze.draw_initial(layout.template, layout.obj_spec, layout.dist_params, self.seed,
                          state.cell, state.agent_pos, state.obj_kind, state.obj_color,
                          state.obj_pos, state.obj_reward, state.t, state.status, state.ret,
                          state.reached, state.noise)
        return state

    def reset(self) -> None:
        """Redraw every lane's worlds and clear user events; scene-scheduled events remain."""
        start = self.initial_state()
        self.lanes = [Lane(i, agent, start.copy()) for i, agent in enumerate(self.agents)]
        for pert in self.scene.model.perturbations:
            hit = range(len(self.lanes)) if pert.lanes == "all" else pert.lanes
            params = encode_maze_event(pert.kind, pert.target, dict(pert.params))
            for lane in hit:
                self.lanes[lane].log(Event(pert.step, pert.kind, pert.target, params, lane,
                                           source="scene"))

    @property
    def step_index(self) -> int:
        """Steps completed by the shown world (copy 0 of lane 0)."""
        return int(self.lanes[0].state.t[0])

    @property
    def done(self) -> bool:
        """True when every copy of every lane has terminated or been truncated."""
        return all(bool(np.all(lane.state.status != maze.STATUS_RUNNING)) for lane in self.lanes)

    # --- driving -------------------------------------------------------------------------
    def step(self, n_steps: int = 1, trace: bool = True) -> list[StepTrace]:
        """Advance every lane by up to ``n_steps`` (stopped copies stay put)."""
        return [
            run_maze(lane.state, lane.agent, lane.packed_events(), self.params, self.seed,
                     n_steps, trace)
            for lane in self.lanes
        ]

    def run(self, max_steps: int | None = None, trace: bool = False) -> list[StepTrace]:
        """Step until every copy stops or ``max_steps`` more steps have passed."""
        horizon = int(self.params[maze.P_HORIZON])
        n = horizon if max_steps is None else min(max_steps, horizon)
        return self.step(n, trace)

    def perturb(self, kind: str, target: int = -1, params: dict[str, Any] | None = None,
                lanes: Literal["all"] | Sequence[int] = "all", copy: int = -1,
                step: int | None = None, source: EventSource = "user") -> list[Event]:
        """Log a perturbation for the given lanes, applied at the start of ``step``
        (default: the next step of the shown world). UserError on bad input; nothing is
        logged then."""
        vec = encode_maze_event(kind, target, params or {})
        hit = range(len(self.lanes)) if lanes == "all" else list(lanes)
        for lane in hit:
            if not 0 <= lane < len(self.lanes):
                raise UserError(f"no lane {lane} (there are {len(self.lanes)})")
        when = self.step_index if step is None else int(step)
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
    def describe_object(self, state: maze.MazeState, copy: int, slot: int) -> str:
        kind = maze.OBJECT_KINDS[state.obj_kind[copy, slot]]
        return f"{maze.COLORS[state.obj_color[copy, slot]]} {kind}"

    def outcome(self, lane_index: int, copy: int = 0) -> Outcome:
        lane = self.lanes[lane_index]
        st = lane.state
        status = ("running", "terminated", "truncated")[int(st.status[copy])]
        slot = int(st.reached[copy])
        reached: str | None = None
        achieved = achieved_base = False
        if slot >= 0:
            reached = self.describe_object(st, copy, slot)
            kind, color = st.obj_kind[copy, slot], st.obj_color[copy, slot]
            achieved = bool(matches(kind, color, lane.agent.objective.as_array()))
            base = self.base_objective.as_array()
            achieved_base = bool(matches(kind, color, base))
        elif status == "terminated":
            reached = "lava"
        return Outcome(lane_index, lane.agent.name, lane.agent.objective.text, status,
                       int(st.t[copy]), float(st.ret[copy]), reached, achieved, achieved_base)

    @property
    def base_objective(self) -> Objective:
        return parse_objective(self.scene.model.base_objective)

    def outcomes(self) -> list[Outcome]:
        return [self.outcome(i) for i in range(len(self.lanes))]
