"""The tiny world's ``[distributions.<name>]`` table, its packing, and an example scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from simulator.core.schema import Strict
from tinyworld.kernels import MAX_LENGTH


class TinyDistributionModel(Strict):
    """A line of ``length`` cells; the agent starts uniformly in ``start`` = [lo, hi]."""

    length: int = Field(8, ge=2, le=MAX_LENGTH)
    start: tuple[int, int] = (0, 0)
    goal: int = Field(7, ge=0)
    noise: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _on_the_line(self) -> TinyDistributionModel:
        lo, hi = self.start
        if not 0 <= lo <= hi < self.length or self.goal >= self.length:
            raise ValueError(f"start and goal must lie on the line (cells 0..{self.length - 1})")
        return self


@dataclass(frozen=True)
class TinyLayout:
    dist_params: np.ndarray  # (5,) float64: length, start lo, start hi, goal, noise


def pack(dist: TinyDistributionModel, where: str) -> TinyLayout:
    return TinyLayout(np.array([dist.length, *dist.start, dist.goal, dist.noise], np.float64))


EXAMPLE_SCENE = """
name = "tiny_line"
world = "tiny"
horizon = 12
seed = 3
ensemble = 8
base_objective = "reach:goal"

[[lanes]]
agent = "thermostat"

[[lanes]]
agent = "random"

[[perturbations]]
step = 3
kind = "move_goal"
params = { pos = 2 }

[distributions.default]
length = 8
start = [0, 5]
goal = 7
noise = 0.1
"""
