"""The arena world's part of the scene schema.

``[arena]`` holds the physics rules shared by every distribution (time step, speed limit,
thrust, wall restitution); each ``[distributions.<name>]`` table is a whole arena as it may
start: its size, bodies (fixed or drawn positions), walls and goal regions — so a
``deploy`` distribution can move the goal or add a wall that ``train`` never had.

Lengths in metres, masses in kilograms, time in seconds; y points up and the box spans
``[0, width] x [0, height]``. Goals are named (``goal:left`` in an objective) and keep their
names across distributions.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from simulator.core.schema import SceneError, Strict
from simulator.worlds.arena import kernels as arena

# Stated ranges: an arena at most MAX_SIZE metres across, bodies from 1 cm to 100 m, speeds,
# forces and impulses far beyond what a tabletop scene needs. Every float must be finite.
MAX_SIZE = 1000.0  # m
MAX_SUBSTEPS = 10_000  # per step, from the anti-tunnelling rule
MAX_GRID_CELLS = 4_000_000  # broadphase cells of one arena
Coordinate = Annotated[float, Field(ge=-MAX_SIZE, le=MAX_SIZE)]
Velocity = Annotated[float, Field(ge=-1000.0, le=1000.0)]
Range = Coordinate | tuple[Coordinate, Coordinate]


class ArenaModel(Strict):
    """The ``[arena]`` section: rules of motion.

    ``substeps`` is a floor: the engine uses at least as many as the anti-tunnelling rule
    needs for ``max_speed`` and the smallest body
    (:func:`simulator.worlds.arena.kernels.substeps_for`).
    """

    dt: float = Field(0.05, gt=0.0, le=1.0)
    max_speed: float = Field(4.0, gt=0.0, le=1000.0)
    thrust: float = Field(6.0, ge=0.0, le=1e4)
    wall_restitution: float = Field(1.0, ge=0.0, le=1.0)
    substeps: int = Field(1, ge=1, le=1000)
    correction: float = Field(0.8, gt=0.0, le=1.0)


class BodyModel(Strict):
    """A body (or ``count`` alike). ``x``/``y``: a number (fixed) or ``[low, high]`` (drawn
    per copy); omitted: anywhere in the box. ``speed``: a random extra velocity of magnitude
    up to ``speed`` in a random direction."""

    role: Literal["pusher", "ball"]
    radius: float = Field(0.3, ge=0.01, le=100.0)
    mass: float = Field(1.0, gt=0.0, le=1e6)
    restitution: float = Field(0.9, ge=0.0, le=1.0)
    friction: float = Field(0.5, ge=0.0, le=10.0)
    x: Range | None = None
    y: Range | None = None
    vel: tuple[Velocity, Velocity] = (0.0, 0.0)
    speed: float = Field(0.0, ge=0.0, le=1000.0)
    count: int = Field(1, ge=1, le=100_000)

    @field_validator("x", "y")
    @classmethod
    def _ordered(cls, value: Range | None) -> Range | None:
        if isinstance(value, tuple) and value[0] > value[1]:
            raise ValueError("give [low, high] with low <= high")
        return value


class WallModel(Strict):
    """A ``segment = [x0, y0, x1, y1]`` (a capsule of the given thickness) or an axis-aligned
    ``box = [x0, y0, x1, y1]``."""

    segment: tuple[Coordinate, Coordinate, Coordinate, Coordinate] | None = None
    box: tuple[Coordinate, Coordinate, Coordinate, Coordinate] | None = None
    thickness: float = Field(0.0, ge=0.0, le=100.0)

    @model_validator(mode="after")
    def _one_shape(self) -> WallModel:
        if (self.segment is None) == (self.box is None):
            raise ValueError("give exactly one of segment = [x0, y0, x1, y1] or box = [...]")
        if self.box is not None and (self.box[0] >= self.box[2] or self.box[1] >= self.box[3]):
            raise ValueError("box = [x0, y0, x1, y1] needs x0 < x1 and y0 < y1")
        return self


class GoalModel(Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    box: tuple[Coordinate, Coordinate, Coordinate, Coordinate]

    @field_validator("box")
    @classmethod
    def _ordered(cls, value: tuple[float, float, float, float]) -> tuple[float, ...]:
        if value[0] >= value[2] or value[1] >= value[3]:
            raise ValueError("box = [x0, y0, x1, y1] needs x0 < x1 and y0 < y1")
        return value


class ArenaDistributionModel(Strict):
    size: tuple[float, float] = (8.0, 6.0)
    bodies: list[BodyModel] = Field(min_length=1)
    walls: list[WallModel] = Field(default_factory=list)
    goals: list[GoalModel] = Field(default_factory=list)
    noise: float = Field(0.0, ge=0.0, le=100.0)
    wind: tuple[Velocity, Velocity] = (0.0, 0.0)

    @field_validator("size")
    @classmethod
    def _positive(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 < v <= MAX_SIZE for v in value):
            raise ValueError(f"width and height must be positive and at most {MAX_SIZE:g} m")
        return value


class ArenaLayout:
    """An arena distribution packed for :func:`simulator.worlds.arena.kernels.draw_initial`.

    body_spec (B, N_BODY_SPEC) float64; wall_spec (NW, 6) float64; goal_spec (G, 4)
    float64; goal_codes (G,) int32; box_size (2,) float64; dist_params (3,) float64.
    """

    def __init__(self, body_spec: np.ndarray, wall_spec: np.ndarray, goal_spec: np.ndarray,
                 goal_names: tuple[str, ...], box_size: np.ndarray, dist_params: np.ndarray):
        self.body_spec = body_spec
        self.wall_spec = wall_spec
        self.goal_spec = goal_spec
        self.goal_names = goal_names
        self.goal_codes = np.array([arena.goal_name_code(n) for n in goal_names], np.int32)
        self.box_size = box_size
        self.dist_params = dist_params

    @property
    def n_bodies(self) -> int:
        return self.body_spec.shape[0]

    @property
    def n_pushers(self) -> int:
        return int(np.sum(self.body_spec[:, arena.B_ROLE] == arena.ROLE_PUSHER))

    @property
    def n_balls(self) -> int:
        return self.n_bodies - self.n_pushers

    @property
    def radii(self) -> np.ndarray:
        return self.body_spec[:, arena.B_RADIUS]


def _range(value: Range | None, low: float, high: float, radius: float,
           where: str) -> tuple[float, float]:
    """A coordinate's (low, high) inside [low + radius, high - radius]; SceneError if not."""

    inner = (low + radius, high - radius)
    if inner[0] > inner[1]:
        raise SceneError(f"{where}: a body of radius {radius} does not fit in the arena")
    if value is None:
        return inner
    lo, hi = (value, value) if isinstance(value, int | float) else value
    if lo < inner[0] - 1e-12 or hi > inner[1] + 1e-12:
        raise SceneError(f"{where}: must lie within [{inner[0]:g}, {inner[1]:g}]"
                         f" (the arena, less the body's radius)")
    return float(lo), float(hi)


def pack_arena(dist: ArenaDistributionModel, where: str) -> ArenaLayout:
    """Validate a distribution against its own arena and pack it (SceneError names the
    field)."""

    width, height = dist.size
    rows: list[list[float]] = []
    for k, body in enumerate(dist.bodies):
        loc = f"{where}.bodies[{k}]"
        x_lo, x_hi = _range(body.x, 0.0, width, body.radius, f"{loc}.x")
        y_lo, y_hi = _range(body.y, 0.0, height, body.radius, f"{loc}.y")
        role = arena.ROLE_PUSHER if body.role == "pusher" else arena.ROLE_BALL
        row = [role, body.radius, body.mass, body.restitution, body.friction, x_lo, x_hi,
               y_lo, y_hi, body.vel[0], body.vel[1], body.speed]
        rows.extend([row] * body.count)
    body_spec = np.array(rows, np.float64).reshape(len(rows), arena.N_BODY_SPEC)
    if len(rows) >= arena.GRID_MIN_BODIES:
        largest = float(body_spec[:, arena.B_RADIUS].max())
        n_cx, n_cy = arena.grid_shape(width, height, 2.0 * largest)
        if n_cx * n_cy > MAX_GRID_CELLS:
            raise SceneError(f"{where}.size: an arena of {width:g} x {height:g} m over bodies"
                             f" of radius {largest:g} m needs {n_cx * n_cy:,} broadphase cells"
                             f" (at most {MAX_GRID_CELLS:,}): use a smaller arena or larger"
                             " bodies")
    if np.sum(body_spec[:, arena.B_ROLE] == arena.ROLE_PUSHER) > arena.MAX_AGENTS:
        raise SceneError(f"{where}.bodies: at most {arena.MAX_AGENTS} pushers")
    walls = np.zeros((len(dist.walls), 6))
    for k, wall in enumerate(dist.walls):
        shape = wall.segment if wall.segment is not None else wall.box
        kind = arena.WALL_SEGMENT if wall.segment is not None else arena.WALL_BOX
        assert shape is not None  # the model guarantees one
        if not all(0.0 <= shape[i] <= (width, height)[i % 2] for i in range(4)):
            raise SceneError(f"{where}.walls[{k}]: must lie inside the arena"
                             f" [0, {width:g}] x [0, {height:g}]")
        walls[k] = (kind, *shape, 0.5 * wall.thickness)
    names = [goal.name for goal in dist.goals]
    for k, goal in enumerate(dist.goals):
        if names.index(goal.name) != k:
            raise SceneError(f"{where}.goals[{k}].name: {goal.name!r} is used twice")
        if goal.box[0] < 0.0 or goal.box[1] < 0.0 or goal.box[2] > width or goal.box[3] > height:
            raise SceneError(f"{where}.goals[{k}].box: must lie inside the arena"
                             f" [0, {width:g}] x [0, {height:g}]")
    goals = np.array([goal.box for goal in dist.goals], np.float64).reshape(len(names), 4)
    params = np.array([dist.noise, dist.wind[0], dist.wind[1]])
    return ArenaLayout(body_spec, walls, goals, tuple(names), np.array(dist.size, np.float64),
                       params)


def physics_params(model: ArenaModel | None, layouts: dict[str, ArenaLayout],
                   horizon: int, where: str = "<scene>") -> np.ndarray:
    """The kernels' (N_PARAMS,) rule vector for a scene: substeps from the anti-tunnelling
    rule over the smallest body of any distribution; broadphase cells as wide as the
    largest body. SceneError if that takes more than MAX_SUBSTEPS substeps a step."""

    model = model or ArenaModel()
    radii = np.concatenate([layout.radii for layout in layouts.values()])
    substeps = max(model.substeps, arena.substeps_for(model.dt, model.max_speed,
                                                      float(radii.min())))
    if substeps > MAX_SUBSTEPS:
        raise SceneError(f"{where}: arena.max_speed: {model.max_speed:g} m/s over dt"
                         f" {model.dt:g} s needs {substeps:,} substeps a step against the"
                         f" smallest body (radius {float(radii.min()):g} m; at most"
                         f" {MAX_SUBSTEPS:,}): lower max_speed or dt, or use larger bodies")
    cell = 2.0 * float(radii.max())
    return arena.pack_params(model.dt, substeps, model.max_speed, model.thrust,
                             model.wall_restitution, horizon, cell, model.correction)


def bins(layouts: dict[str, ArenaLayout], bin_size: float = 0.5) -> tuple[Any, Any, Any]:
    """Bins of about ``bin_size`` metres over the largest arena: lows, highs, n_bins (2,)."""
    width = max(layout.box_size[0] for layout in layouts.values())
    height = max(layout.box_size[1] for layout in layouts.values())
    n_bins = np.array([max(1, math.ceil(width / bin_size)), max(1, math.ceil(height / bin_size))])
    return np.zeros(2), np.array([width, height]), n_bins
