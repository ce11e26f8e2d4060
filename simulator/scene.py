"""Scenes: TOML files validated into a :class:`Scene`.

Errors a user can make in a scene file surface as :class:`SceneError`, whose message is one
line naming the file and the field (``scenes/x.toml: lanes[0].agent: unknown agent 'foo'``).
The maze part of the schema lives here; other worlds register their distribution model in
``DISTRIBUTION_MODELS``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.observe import CORNERS
from agents.registry import (
    AGENT_NAMES,
    EXTERNAL_PREFIX,
    TRAINED_PREFIX,
    AgentSpec,
    parse_objective,
)
from agents.store import build_agent
from simulator.arena_scene import ArenaDistributionModel, ArenaModel, pack_arena
from simulator.arena_scene import physics_params as arena_physics
from simulator.drivers import get_driver
from simulator.errors import UserError
from simulator.thermal_scene import ThermalDistributionModel, ThermalModel, pack_thermal
from simulator.worlds import maze

SCENES_DIR = Path(__file__).resolve().parent.parent / "scenes"
SPARE_OBJECT_SLOTS = 4  # room for objects a user adds while the world runs


class SceneError(UserError):
    """A scene file is missing, unreadable or invalid; ``str()`` is one line for the user."""


class _Strict(BaseModel):
    # No NaN or infinity anywhere in a scene: every float is finite and inside its range.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AgentModel(_Strict):
    agent: str = "thermostat"
    objective: str | None = None  # defaults to the scene's base objective
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("agent")
    @classmethod
    def _known_agent(cls, value: str) -> str:
        if value not in AGENT_NAMES and not value.startswith((TRAINED_PREFIX, EXTERNAL_PREFIX)):
            raise ValueError(f"unknown agent {value!r} (choose from {', '.join(AGENT_NAMES)},"
                             f" {TRAINED_PREFIX}FILE#k or {EXTERNAL_PREFIX}module:callable)")
        return value


class LaneModel(AgentModel):
    """A lane: one agent given inline, or several under ``agents`` (competition)."""

    label: str | None = None
    agents: list[AgentModel] | None = None

    def members(self) -> list[AgentModel]:
        return list(self.agents) if self.agents else [self]


class PerturbationModel(_Strict):
    step: int = Field(ge=0, le=2**31 - 1)  # packed as int32, as are targets
    kind: str
    target: int = Field(-1, ge=-1, le=2**31 - 1)
    params: dict[str, float | str] = Field(default_factory=dict)
    lanes: Literal["all"] | list[int] = "all"


class MazeObjectModel(_Strict):
    kind: str
    color: str | list[str] = "red"
    reward: float = Field(1.0, ge=-1000.0, le=1000.0)
    row: int | None = None
    col: int | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in maze.OBJECT_TO_IDX:
            raise ValueError(f"unknown object kind {value!r} ({', '.join(maze.OBJECT_KINDS)})")
        return value

    @field_validator("color")
    @classmethod
    def _color(cls, value: str | list[str]) -> str | list[str]:
        for c in [value] if isinstance(value, str) else value:
            if c != "any" and c not in maze.COLOR_TO_IDX:
                raise ValueError(f"unknown colour {c!r} ({', '.join(maze.COLORS)}, any)")
        return value

    @property
    def color_mask(self) -> int:
        names = [self.color] if isinstance(self.color, str) else self.color
        if "any" in names:
            return maze.ALL_COLORS_MASK
        return sum(1 << maze.COLOR_TO_IDX[c] for c in names)


class MazeDistributionModel(_Strict):
    """Either a hand-drawn ``map`` or a generated maze of ``size`` (odd rows and columns)."""

    generator: Literal["map", "maze"] = "map"
    map: str | None = None
    legend: dict[str, MazeObjectModel] = Field(default_factory=dict)
    size: tuple[int, int] | None = None
    braid: float = Field(0.15, ge=0.0, le=1.0)
    agent: Literal["map", "random"] = "map"
    objects: list[MazeObjectModel] = Field(default_factory=list)
    hazards: int = Field(0, ge=0)
    noise: float = Field(0.0, ge=0.0, le=1.0)




class RewardsModel(_Strict):
    step: float = Field(-0.01, ge=-1000.0, le=1000.0)
    hazard: float = Field(-1.0, ge=-1000.0, le=1000.0)


class SceneModel(_Strict):
    name: str
    title: str = ""
    description: str = ""
    world: str
    horizon: int = Field(100, ge=1, le=1_000_000)
    seed: int = Field(0, ge=0, lt=2**63)
    ensemble: int = Field(256, ge=1, le=1_000_000)
    base_objective: str
    default_distribution: str | None = None
    rewards: RewardsModel = Field(default_factory=RewardsModel)
    lanes: list[LaneModel] = Field(min_length=1)
    distributions: dict[str, dict[str, Any]] = Field(min_length=1)
    perturbations: list[PerturbationModel] = Field(default_factory=list)
    # What a misgeneralization study counts as a proxy (besides the base objective):
    # objectives such as "reach:red", or "at:<corner>" (the episode ends with the agent
    # next to that corner of the grid: top_left, top_right, bottom_left, bottom_right).
    proxies: list[str] = Field(default_factory=list)
    thermal: ThermalModel | None = None  # the room and its physics (thermal world only)
    arena: ArenaModel | None = None  # rules of motion (arena world only)
    # A parameter grid for `steersim sweep` (name → list of values or a "0:100" range;
    # checked by simulator/sweep.py when a sweep runs).
    sweep: dict[str, Any] = Field(default_factory=dict)


class MazeLayout:
    """A maze distribution packed for :func:`simulator.worlds.maze.draw_initial`.

    template (H, W) int8; obj_spec (K0, 5) float64; dist_params (6,) float64.
    """

    def __init__(self, template: np.ndarray, obj_spec: np.ndarray, dist_params: np.ndarray):
        self.template = template
        self.obj_spec = obj_spec
        self.dist_params = dist_params

    @property
    def shape(self) -> tuple[int, int]:
        return self.template.shape  # type: ignore[return-value]


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _pack_maze(dist: MazeDistributionModel, where: str) -> MazeLayout:
    objects = list(dist.objects)
    agent_rc = (-1, -1)
    if dist.generator == "maze":
        if dist.size is None:
            raise SceneError(f"{where}.size: a generated maze needs size = [rows, cols]")
        rows, cols = dist.size
        if rows < 5 or cols < 5 or rows % 2 == 0 or cols % 2 == 0 or rows > 255 or cols > 255:
            raise SceneError(f"{where}.size: rows and cols must be odd numbers from 5 to 255")
        if dist.agent == "map":
            raise SceneError(f"{where}.agent: a generated maze has no map; use agent = 'random'")
        template = np.zeros((rows, cols), np.int8)
    else:
        if not dist.map or not dist.map.strip():
            raise SceneError(f"{where}.map: missing (draw the map, or set generator = 'maze')")
        lines = [line.rstrip() for line in dist.map.strip("\n").splitlines()]
        width = max(len(line) for line in lines)
        if any(len(line) != width for line in lines):
            raise SceneError(f"{where}.map: every row must have the same length ({width})")
        template = np.zeros((len(lines), width), np.int8)
        for r, line in enumerate(lines):
            for c, ch in enumerate(line):
                if ch == "#":
                    template[r, c] = maze.CELL_WALL
                elif ch == "~":
                    template[r, c] = maze.CELL_LAVA
                elif ch == "A":
                    if agent_rc != (-1, -1):
                        raise SceneError(f"{where}.map: more than one agent 'A'")
                    agent_rc = (r, c)
                elif ch in dist.legend:
                    objects.append(dist.legend[ch].model_copy(update={"row": r, "col": c}))
                elif ch not in ". ":
                    raise SceneError(
                        f"{where}.map: unknown character {ch!r} at row {r}, col {c}"
                        " (use # . ~ A or a legend letter)"
                    )
        if dist.agent == "map" and agent_rc == (-1, -1):
            raise SceneError(f"{where}.map: no agent 'A' (or set agent = 'random')")
    if dist.agent == "random":
        agent_rc = (-1, -1)
    height, width = template.shape
    spec = np.zeros((len(objects), 5))
    for k, obj in enumerate(objects):
        if (obj.row is None) != (obj.col is None):
            raise SceneError(f"{where}.objects[{k}]: give both row and col, or neither")
        row = -1 if obj.row is None else obj.row
        col = -1 if obj.col is None else obj.col
        if row >= 0 and not (0 <= row < height and 0 <= col < width):
            raise SceneError(f"{where}.objects[{k}]: ({row}, {col}) is outside the map")
        spec[k] = (maze.OBJECT_TO_IDX[obj.kind], obj.color_mask, obj.reward, row, col)
    mode = maze.DIST_MODE_MAZE if dist.generator == "maze" else maze.DIST_MODE_MAP
    params = np.array([mode, agent_rc[0], agent_rc[1], dist.hazards, dist.braid, dist.noise])
    return MazeLayout(template, spec, params)


# World kind → (distribution model, packer turning a validated distribution into the arrays
# its driver's initial-state kernel takes). Other worlds add their entry here.
WORLDS: dict[str, tuple[type[BaseModel], Any]] = {
    "maze": (MazeDistributionModel, _pack_maze),
    "thermal": (ThermalDistributionModel, pack_thermal),
    "arena": (ArenaDistributionModel, pack_arena),
}


# Agent parameters that tie an agent to a device of the world rather than tune it.
BINDING_PARAMS = frozenset({"heater", "pusher", "body"})


class Scene:
    """A validated scene: the model, its source text, and packed per-distribution layouts."""

    def __init__(self, model: SceneModel, text: str, path: Path | None,
                 layouts: dict[str, MazeLayout]):
        self.model = model
        self.text = text
        self.path = path
        self.layouts = layouts

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def world(self) -> str:
        return self.model.world

    @property
    def distributions(self) -> list[str]:
        return list(self.layouts)

    @property
    def default_distribution(self) -> str:
        return self.model.default_distribution or next(iter(self.layouts))

    def pick_distribution(self, name: str | None) -> str:
        """``name``, or the default distribution if None; UserError if there is none such."""
        chosen = name or self.default_distribution
        if chosen not in self.layouts:
            raise UserError(f"{self.name}: no distribution {chosen!r}"
                            f" (choose from {', '.join(self.distributions)})")
        return chosen

    @property
    def content_hash(self) -> str:
        """SHA-256 of what training depends on — world kind, horizon, rewards, every
        distribution, the world's physics — and nothing else (not lanes, titles or
        perturbations), so a scene can name the agents trained on it."""
        import hashlib
        import json

        keep = self.model.model_dump(include={"world", "horizon", "rewards", "distributions",
                                              "thermal", "arena"})
        text = json.dumps(keep, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def n_object_slots(self) -> int:
        return max(len(lay.obj_spec) for lay in self.layouts.values()) + SPARE_OBJECT_SLOTS

    def lane_agent_group(self, index: int, agent: str | None = None,
                         objective: str | None = None, **extra: Any) -> list[AgentSpec]:
        """Lane ``index``'s agents; ``agent``/``objective`` override the scene, ``extra``
        parameters are set on every agent of the lane (UserError)."""
        group = []
        for member in self.model.lanes[index].members():
            name = agent or member.agent
            # Parameters belong to the scene's own agent, so an override starts from
            # defaults — except those binding the agent to its place in the world (which
            # heater or pusher it drives), without which two overridden agents would collide.
            params = dict(member.params) if name == member.agent else {
                key: value for key, value in member.params.items() if key in BINDING_PARAMS}
            params.update(extra)
            group.append(build_agent(
                name, objective or member.objective or self.model.base_objective, self.world,
                scene_hash=self.content_hash,
                base_dir=str(self.path.parent) if self.path else None, **params))
        return group

    def lane_agents(self, agent: str | None = None,
                    objective: str | None = None) -> list[list[AgentSpec]]:
        """Per lane, the list of its agents, with optional command-line overrides."""
        return [self.lane_agent_group(i, agent, objective) for i in range(len(self.model.lanes))]

    @classmethod
    def from_text(cls, text: str, path: Path | None = None, build_lanes: bool = True) -> Scene:
        """Validate a scene's text. ``build_lanes`` False skips building the lanes' agents
        (training needs the scene, not its lanes — which may name the very agents file
        being trained)."""
        where = str(path) if path else "<scene>"
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SceneError(f"{where}: not valid TOML: {exc}") from None
        try:
            model = SceneModel.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            msg = err["msg"].removeprefix("Value error, ")
            raise SceneError(f"{where}: {_fmt_loc(err['loc'])}: {msg}") from None
        if model.world not in WORLDS:
            raise SceneError(f"{where}: world: unknown world {model.world!r}"
                             f" (choose from {', '.join(WORLDS)})")
        dist_model, pack = WORLDS[model.world]
        layouts = {}
        for name, raw_dist in model.distributions.items():
            loc = f"{where}: distributions.{name}"
            try:
                dist = dist_model.model_validate(raw_dist)
            except ValidationError as exc:
                err = exc.errors()[0]
                msg = err["msg"].removeprefix("Value error, ")
                raise SceneError(f"{loc}.{_fmt_loc(err['loc'])}: {msg}") from None
            layouts[name] = pack(dist, loc)
        if model.default_distribution and model.default_distribution not in layouts:
            raise SceneError(
                f"{where}: default_distribution: {model.default_distribution!r} is not one of"
                f" {', '.join(layouts)}"
            )
        if model.world == "arena":  # substeps follow from the rules and every body at once
            arena_physics(model.arena, layouts, model.horizon, where)
        scene = cls(model, text, path, layouts)
        try:
            parse_objective(model.base_objective, model.world)
        except UserError as exc:
            raise SceneError(f"{where}: base_objective: {exc}") from None
        for i in range(len(model.lanes) if build_lanes else 0):
            try:
                scene.lane_agent_group(i)
            except UserError as exc:
                raise SceneError(f"{where}: lanes[{i}]: {exc}") from None
        for i, proxy in enumerate(model.proxies):
            if model.world != "maze":
                raise SceneError(f"{where}: proxies: only maze scenes name proxies")
            if proxy.startswith("at:"):
                if proxy[3:] not in CORNERS:
                    raise SceneError(f"{where}: proxies[{i}]: {proxy!r}: corners are"
                                     f" {', '.join('at:' + c for c in CORNERS)}")
                continue
            try:
                parse_objective(proxy, model.world)
            except UserError as exc:
                raise SceneError(f"{where}: proxies[{i}]: {exc}") from None
        for i, pert in enumerate(model.perturbations):
            driver = get_driver(model.world)
            if pert.kind not in driver.event_kinds:
                raise SceneError(
                    f"{where}: perturbations[{i}].kind: unknown kind {pert.kind!r}"
                    f" ({', '.join(driver.event_kinds)})"
                )
            try:
                driver.encode_event(pert.kind, pert.target, dict(pert.params))
            except UserError as exc:
                raise SceneError(f"{where}: perturbations[{i}]: {exc}") from None
            if pert.lanes != "all" and any(not 0 <= j < len(model.lanes) for j in pert.lanes):
                raise SceneError(f"{where}: perturbations[{i}].lanes: no such lane")
        return scene

    @classmethod
    def load(cls, path: str | Path, build_lanes: bool = True) -> Scene:
        """Load a scene by path or by the name of a shipped scene (``red_door``)."""
        path = resolve_scene_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SceneError(f"{path}: cannot read: {exc.strerror}") from None
        return cls.from_text(text, path, build_lanes)


def resolve_scene_path(name: str | Path) -> Path:
    """A path as given if it exists, else ``scenes/<name>.toml``; SceneError if neither."""
    path = Path(name)
    if path.exists():
        return path
    for candidate in (SCENES_DIR / f"{name}.toml", SCENES_DIR / str(name)):
        if candidate.exists():
            return candidate
    raise SceneError(f"{name}: no such scene file (shipped scenes: {', '.join(shipped_scenes())})")


def shipped_scenes() -> list[str]:
    return sorted(p.stem for p in SCENES_DIR.glob("*.toml"))
