"""Scenes: TOML files validated into a :class:`Scene`.

Errors a user can make in a scene file surface as :class:`SceneError`, whose message is one
line naming the file and the field (``scenes/x.toml: lanes[0].agent: unknown agent 'foo'``).
What every scene has (lanes, perturbations, rewards) is validated here; what a world kind
adds — its ``[distributions.<name>]`` tables and its own ``[<kind>]`` section — by the
schema its package registers (:mod:`simulator.worlds`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agents.registry import AGENT_NAMES, EXTERNAL_PREFIX, TRAINED_PREFIX, AgentSpec
from agents.store import build_agent
from simulator.core.errors import UserError
from simulator.core.schema import SceneError, Strict, validate
from simulator.worlds import get_driver, parse_objective, world, world_kinds

SCENES_DIR = Path(__file__).resolve().parent.parent / "scenes"
# The world sections the content hash named before world kinds were packages (as null
# when absent): kept so that agents files trained then still match their scenes.
_HASHED_SECTIONS = ("thermal", "arena")

__all__ = ["Scene", "SceneError", "SceneModel", "resolve_scene_path", "shipped_scenes"]


class AgentModel(Strict):
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


class PerturbationModel(Strict):
    step: int = Field(ge=0, le=2**31 - 1)  # packed as int32, as are targets
    kind: str
    target: int = Field(-1, ge=-1, le=2**31 - 1)
    params: dict[str, float | str] = Field(default_factory=dict)
    lanes: Literal["all"] | list[int] = "all"


class RewardsModel(Strict):
    step: float = Field(-0.01, ge=-1000.0, le=1000.0)
    hazard: float = Field(-1.0, ge=-1000.0, le=1000.0)


class SceneModel(Strict):
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
    # A parameter grid for `steersim sweep` (name → list of values or a "0:100" range;
    # checked by simulator/sweep.py when a sweep runs).
    sweep: dict[str, Any] = Field(default_factory=dict)




class Scene:
    """A validated scene: the model, its source text, and packed per-distribution layouts."""

    def __init__(self, model: SceneModel, text: str, path: Path | None,
                 layouts: dict[str, Any], physics: BaseModel | None = None):
        self.model = model
        self.text = text
        self.path = path
        self.layouts = layouts  # distribution name → the world's packed layout
        self.physics_given = physics  # the scene's validated [<world>] section, if any
        # The world's section as validated, else its defaults (None for a world without one).
        entry = world(model.world).physics
        self.physics = physics if physics is not None or not entry else (
            world(model.world).load(entry)())

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

        keep = self.model.model_dump(include={"world", "horizon", "rewards", "distributions"})
        for section in _HASHED_SECTIONS:
            keep[section] = None
        if self.physics_given is not None:
            keep[self.world] = self.physics_given.model_dump()
        text = json.dumps(keep, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def lane_agent_group(self, index: int, agent: str | None = None,
                         objective: str | None = None, **extra: Any) -> list[AgentSpec]:
        """Lane ``index``'s agents; ``agent``/``objective`` override the scene, ``extra``
        parameters are set on every agent of the lane (UserError)."""
        group = []
        binding = world(self.world).binding
        for member in self.model.lanes[index].members():
            name = agent or member.agent
            # Parameters belong to the scene's own agent, so an override starts from
            # defaults — except those binding the agent to its place in the world (which
            # heater or pusher it drives), without which two overridden agents would collide.
            params = dict(member.params) if name == member.agent else {
                key: value for key, value in member.params.items() if key in binding}
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
        kind = raw.get("world")
        if isinstance(kind, str) and kind not in world_kinds():
            raise SceneError(f"{where}: world: unknown world {kind!r}"
                             f" (choose from {', '.join(world_kinds())})")
        spec = world(kind) if isinstance(kind, str) else None
        section = raw.pop(kind, None) if spec is not None and spec.physics else None
        model = validate(SceneModel, raw, f"{where}: ")
        assert spec is not None  # SceneModel requires a world
        physics = None if section is None else validate(spec.load("physics"), section,
                                                        f"{where}: {kind}")
        dist_model, pack = spec.load("distribution"), spec.load("pack")
        layouts = {}
        for name, raw_dist in model.distributions.items():
            loc = f"{where}: distributions.{name}"
            layouts[name] = pack(validate(dist_model, raw_dist, loc), loc)
        if model.default_distribution and model.default_distribution not in layouts:
            raise SceneError(
                f"{where}: default_distribution: {model.default_distribution!r} is not one of"
                f" {', '.join(layouts)}"
            )
        if spec.finish:  # checks that need the whole scene (the arena's substeps)
            spec.load("finish")(physics, layouts, model.horizon, where)
        scene = cls(model, text, path, layouts, physics)
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
            if not spec.proxy:
                raise SceneError(f"{where}: proxies: {model.world} scenes name no proxies")
            try:
                spec.load("proxy")(proxy)
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
