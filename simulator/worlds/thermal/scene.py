"""The thermal world's part of the scene schema: the ``[thermal]`` section (the room and its
physics) and the ``[distributions.<name>]`` tables (initial temperatures and conditions).

The room is drawn as ASCII art: ``#`` wall, ``.`` air, ``0``-``9`` a temperature sensor on
air (``hold:sensor1:...`` reads the ``1``), and legend letters for heaters, coolers,
windows and reservoirs. Heaters and coolers are numbered in legend order (an agent's
``heater``), windows likewise (a perturbation's ``target``); a letter repeated on the map
is one device spread over several cells. Beyond the map's edge is the outdoor air.

Validated values are physical (SI units, °C); :func:`physics_params` packs them for the
kernels. A ``dt`` that breaks the explicit scheme's stability bound is refused with the
largest stable value (see :mod:`simulator.worlds.thermal.kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from simulator.core.grid import grid_lines, unknown_character
from simulator.core.schema import Strict
from simulator.worlds.thermal import kernels as thermal

# The stated range of every temperature in a scene (rooms, walls, reservoirs, the outdoor
# schedule): from a polar night to a sauna, with room to spare; beyond it is a typo.
MIN_CELSIUS, MAX_CELSIUS = -100.0, 200.0
Celsius = Annotated[float, Field(ge=MIN_CELSIUS, le=MAX_CELSIUS)]
Kelvin = Annotated[float, Field(ge=-100.0, le=100.0)]  # a shift of temperature
Hour = Annotated[float, Field(ge=0.0, le=24.0)]


class MaterialModel(Strict):
    """conductivity W/(m K); heat_capacity volumetric, J/(m^3 K)."""

    conductivity: float = Field(ge=0.0, le=1e4)
    heat_capacity: float = Field(gt=0.0, le=1e8)


class LegendModel(Strict):
    kind: Literal["heater", "cooler", "window", "reservoir"]
    power: float | None = Field(None, gt=0.0, le=1e7)  # W, heaters and coolers
    open: bool = False  # windows: open at the start unless a distribution draws it
    temperature: Celsius | None = None  # °C, reservoirs


class OutsideModel(Strict):
    """Outdoor temperature over a day: (hour, °C) points, linear between, periodic.

    ``day_length`` (s of simulated time per day) may be shorter than 86400 to show a
    day and a night within one run: a time-lapse of the outdoors only.
    """

    schedule: list[tuple[float, Celsius]] = Field(
        default_factory=lambda: [(4.0, 2.0), (15.0, 9.0)], min_length=1,
        max_length=thermal.MAX_SCHEDULE)
    day_length: float = Field(86400.0, gt=0.0, le=1e8)

    @field_validator("schedule")
    @classmethod
    def _hours(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        hours = [h for h, _ in value]
        if any(not 0.0 <= h < 24.0 for h in hours) or len(set(hours)) != len(hours):
            raise ValueError("hours must be distinct and in [0, 24)")
        return value


DEFAULT_MAP = """
#######ww#######
#..............#
#.H............#
#.H............#
#......0.......#
#..............#
#..............#
#.............1#
#..............#
################
"""


def _default_legend() -> dict[str, LegendModel]:
    return {"H": LegendModel(kind="heater", power=2000.0), "w": LegendModel(kind="window")}


# Effective conductivity of room air: still air conducts 0.026 W/(m K), but convection mixes
# a heated room within minutes; an eddy diffusivity of 0.05 m^2/s (k = alpha * rho c) gives
# that mixing time on a 0.5 m grid. Walls: light insulated panels (U ~ 0.3 W/(m^2 K) through
# 0.5 m); windows: double glazing (U ~ 2.8 W/(m^2 K) over a 0.5 m cell).
AIR = MaterialModel(conductivity=60.0, heat_capacity=1200.0)
WALL = MaterialModel(conductivity=0.15, heat_capacity=4.0e4)
GLASS = MaterialModel(conductivity=1.4, heat_capacity=2.0e4)


class ThermalModel(Strict):
    """The ``[thermal]`` section: the room and its physics (all defaults give a small room)."""

    cell_size: float = Field(0.5, gt=0.0, le=100.0)  # m, a cell's side
    height: float = Field(2.5, gt=0.0, le=100.0)  # m, the room's ceiling height
    film: float = Field(25.0, ge=0.0, le=1e4)  # W/(m^2 K) outside surface coefficient; 0 insulates
    air: MaterialModel = AIR
    wall: MaterialModel = WALL
    window: MaterialModel = GLASS
    outside: OutsideModel = Field(default_factory=OutsideModel)
    legend: dict[str, LegendModel] = Field(default_factory=_default_legend)
    map: str = DEFAULT_MAP
    dt: float = Field(1.0, gt=0.0, le=1e6)  # s; declared last so its check sees the materials

    @field_validator("legend")
    @classmethod
    def _legend(cls, value: dict[str, LegendModel]) -> dict[str, LegendModel]:
        for char, entry in value.items():
            if len(char) != 1 or char in "#." or char.isdigit() or char.isspace():
                raise ValueError(f"{char!r}: a legend key is one character other than"
                                 " '#', '.', a digit or a space")
            if entry.kind in ("heater", "cooler") and entry.power is None:
                raise ValueError(f"{char}: a {entry.kind} needs power = <watts>")
            if entry.kind == "reservoir" and entry.temperature is None:
                raise ValueError(f"{char}: a reservoir needs temperature = <°C>")
        return value

    @field_validator("map")
    @classmethod
    def _map(cls, value: str, info: ValidationInfo) -> str:
        legend = info.data.get("legend")
        if legend is not None:
            parse_room(value, legend)  # raises ValueError naming the problem
        return value

    @field_validator("dt")
    @classmethod
    def _stable(cls, value: float, info: ValidationInfo) -> float:
        data = info.data
        if any(key not in data for key in ("map", "legend", "air", "wall", "window")):
            return value  # an earlier field failed; that error is reported instead
        room = parse_room(data["map"], data["legend"])
        kinds = set(np.unique(room.cell).tolist())
        if room.n_windows:
            kinds |= {thermal.CELL_WINDOW, thermal.CELL_OPEN_WINDOW}
        params = _pack(data, value, horizon=1)
        worst_kind, worst = max(thermal.stability_number(params, kinds).items(),
                                key=lambda kv: kv[1])
        if worst > 1.0:
            raise ValueError(
                f"{value:g} s breaks the explicit scheme's stability bound in"
                f" {thermal.CELL_NAMES[worst_kind]} (dt * sum G / C = {worst:.3g} > 1);"
                f" use dt <= {value / worst:.4g} s"
            )
        return value


@dataclass(frozen=True)
class Room:
    """A parsed map: cell, tag (H, W) int8; fixed_temp (H, W) float64 (NaN but on
    reservoirs); sensors (NS, 2) int32; watts (NH,) float64 (negative: coolers);
    window_default (NW,) int8; names of heaters and windows by index (legend letters)."""

    cell: np.ndarray
    tag: np.ndarray
    fixed_temp: np.ndarray
    sensors: np.ndarray
    watts: np.ndarray
    window_default: np.ndarray
    heater_marks: tuple[str, ...]
    window_marks: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return self.cell.shape  # type: ignore[return-value]

    @property
    def n_windows(self) -> int:
        return len(self.window_marks)


def parse_room(text: str, legend: dict[str, LegendModel]) -> Room:
    """Parse the ASCII room; ValueError names a bad character, row or missing sensor."""
    lines = grid_lines(text, 512)
    width = len(lines[0])
    heater_marks = tuple(c for c, e in legend.items() if e.kind in ("heater", "cooler"))
    window_marks = tuple(c for c, e in legend.items() if e.kind == "window")
    if len(heater_marks) > 127 or len(window_marks) > 127:
        raise ValueError("at most 127 heaters and 127 windows")
    cell = np.full((len(lines), width), thermal.CELL_AIR, np.int8)
    tag = np.full((len(lines), width), thermal.NO_TAG, np.int8)
    fixed = np.full((len(lines), width), np.nan)
    sensors: dict[int, tuple[int, int]] = {}
    used: set[str] = set()
    for r, line in enumerate(lines):
        for c, ch in enumerate(line):
            if ch == "#":
                cell[r, c] = thermal.CELL_WALL
            elif ch == ".":
                pass
            elif ch.isdigit():
                if int(ch) in sensors:
                    raise ValueError(f"sensor {ch} appears twice (row {r}, col {c})")
                sensors[int(ch)] = (r, c)
            elif ch in legend:
                used.add(ch)
                entry = legend[ch]
                if entry.kind in ("heater", "cooler"):
                    tag[r, c] = heater_marks.index(ch)
                elif entry.kind == "window":
                    cell[r, c] = thermal.CELL_OPEN_WINDOW if entry.open else thermal.CELL_WINDOW
                    tag[r, c] = window_marks.index(ch)
                else:
                    cell[r, c] = thermal.CELL_RESERVOIR
                    fixed[r, c] = entry.temperature
            else:
                raise unknown_character(ch, r, c, "# . 0-9 or a legend letter")
    unused = [ch for ch in legend if ch not in used]
    if unused:
        raise ValueError(f"legend {', '.join(unused)} not on the map")
    if not sensors:
        raise ValueError("no sensor: put a digit 0 on the map")
    if sorted(sensors) != list(range(len(sensors))):
        found = ", ".join(str(k) for k in sorted(sensors))
        raise ValueError(f"sensors must be numbered 0, 1, ... without gaps (found {found})")
    watts = np.array([legend[m].power * (1.0 if legend[m].kind == "heater" else -1.0)
                      for m in heater_marks], np.float64)
    window_default = np.array([1 if legend[m].open else 0 for m in window_marks], np.int8)
    return Room(cell, tag, fixed, np.array([sensors[k] for k in sorted(sensors)], np.int32),
                watts, window_default, heater_marks, window_marks)


def _pack(data: dict[str, Any], dt: float, horizon: int) -> np.ndarray:
    conductivity = np.zeros(thermal.N_KINDS)
    capacity = np.ones(thermal.N_KINDS)
    air, wall, window = data["air"], data["wall"], data["window"]
    for kind, material in ((thermal.CELL_AIR, air), (thermal.CELL_WALL, wall),
                           (thermal.CELL_WINDOW, window),
                           # An opening and a reservoir touch the room as air does.
                           (thermal.CELL_OPEN_WINDOW, air), (thermal.CELL_RESERVOIR, air)):
        conductivity[kind] = material.conductivity
        capacity[kind] = material.heat_capacity
    outside = data["outside"]
    return thermal.pack_params(dt, horizon, outside.day_length, data["cell_size"],
                               data["height"], data["film"], conductivity, capacity,
                               list(outside.schedule))


def physics_params(model: ThermalModel, horizon: int) -> np.ndarray:
    """The kernels' (N_PARAMS,) float64 rule vector for a validated ``[thermal]`` section."""
    return _pack(dict(model), model.dt, horizon)


class ThermalDistributionModel(Strict):
    """An initial-state distribution: every range ``[low, high]`` is drawn uniformly per copy.

    room: air temperature (°C); walls: wall and glazing temperature (default: the room's
    draw); outside_offset: shift of the outdoor schedule (K); start_hour: time of day at
    t = 0; window_open_probability: each window open independently (default: the legend's
    ``open``); noise: std of the room's random heat fluctuation (K per step). Heaters
    start off.
    """

    room: tuple[Celsius, Celsius] = (18.0, 18.0)
    walls: tuple[Celsius, Celsius] | None = None
    outside_offset: tuple[Kelvin, Kelvin] = (0.0, 0.0)
    start_hour: tuple[Hour, Hour] = (8.0, 8.0)
    window_open_probability: float | None = Field(None, ge=0.0, le=1.0)
    noise: float = Field(0.0, ge=0.0, le=5.0)  # K per step, as the set_noise event allows

    @field_validator("room", "walls", "outside_offset", "start_hour")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError("give [low, high] with low <= high")
        return value


@dataclass(frozen=True)
class ThermalLayout:
    """A distribution packed for :func:`simulator.worlds.thermal.kernels.draw_initial`:
    dist_params (N_DIST_PARAMS,) float64. The room itself comes from ``[thermal]``."""

    dist_params: np.ndarray


def pack_thermal(dist: ThermalDistributionModel, where: str) -> ThermalLayout:
    """Pack a validated distribution (``where`` names it in errors; none arise here)."""
    nan = float("nan")
    walls = dist.walls if dist.walls is not None else (nan, nan)
    p_open = nan if dist.window_open_probability is None else dist.window_open_probability
    params = np.array([*dist.room, *walls, *dist.outside_offset, *dist.start_hour, p_open,
                       dist.noise], np.float64)
    assert params.shape == (thermal.N_DIST_PARAMS,)
    return ThermalLayout(params)
