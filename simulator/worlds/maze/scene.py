"""The maze's part of the scene schema: a ``[distributions.<name>]`` table is a hand-drawn
``map`` (``#`` wall, ``.`` floor, ``~`` lava, ``A`` the agent, legend letters for objects)
or a generated maze of ``size``, plus objects drawn at random cells and the slip noise.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from simulator.core.grid import grid_lines, unknown_character
from simulator.core.schema import SceneError, Strict
from simulator.worlds.maze import kernels as maze

SPARE_OBJECT_SLOTS = 4  # room for objects a user adds while the world runs
MAX_MAP = 1024  # rows and columns of a drawn map; beyond this it is a pasted file, not a maze


class MazeObjectModel(Strict):
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


class MazeDistributionModel(Strict):
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




class MazeLayout:
    """A maze distribution packed for :func:`simulator.worlds.maze.kernels.draw_initial`.

    template (H, W) int8; obj_spec (K0, 5) float64; dist_params (6,) float64.
    """

    def __init__(self, template: np.ndarray, obj_spec: np.ndarray, dist_params: np.ndarray):
        self.template = template
        self.obj_spec = obj_spec
        self.dist_params = dist_params

    @property
    def shape(self) -> tuple[int, int]:
        return self.template.shape  # type: ignore[return-value]


def pack(dist: MazeDistributionModel, where: str) -> MazeLayout:
    """A validated distribution → the arrays :func:`~simulator.worlds.maze.kernels.draw_initial`
    takes; SceneError naming the field for what the schema alone cannot check."""
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
        try:
            lines = grid_lines(dist.map, MAX_MAP)
            width = len(lines[0])
        except ValueError as exc:
            raise SceneError(f"{where}.map: {exc}") from None
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
                    exc = unknown_character(ch, r, c, "# . ~ A or a legend letter")
                    raise SceneError(f"{where}.map: {exc}")
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


def object_slots(scene: Any) -> int:
    """Object slots a maze state of ``scene`` needs: its largest distribution's objects,
    plus room for objects a user adds while the world runs."""
    return max(len(lay.obj_spec) for lay in scene.layouts.values()) + SPARE_OBJECT_SLOTS
