"""Maze objectives and agent parameters: what ``reach:red_door`` means, and how a maze
agent's named parameters become the kernels' vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.registry import N_AGENT_PARAMS
from agents.rules import RULE_WIDTH, compile_rules
from simulator.core.errors import UserError
from simulator.worlds.maze.kernels import ACTIONS, COLOR_TO_IDX, OBJECT_TO_IDX
from simulator.worlds.maze.observe import CORNERS
from simulator.worlds.maze.rules import DEFAULT_MAZE_RULES, MAZE_FEATURES

# Search parameters (float64 vector): node budget, depth limit.
SEARCH_DEFAULTS = {"budget": 4000.0, "depth": 64.0}


@dataclass(frozen=True)
class Objective:
    """What an agent pursues: reach an object whose kind and colour match.

    ``kind`` / ``color`` are code-table indices, or -1 for "any". Text form:
    ``reach:door``, ``reach:red``, ``reach:red_door``, ``reach:goal``.
    """

    kind: int = -1
    color: int = -1

    @property
    def text(self) -> str:
        parts = []
        if self.color >= 0:
            parts.append(list(COLOR_TO_IDX)[self.color])
        if self.kind >= 0:
            parts.append(list(OBJECT_TO_IDX)[self.kind])
        return "reach:" + ("_".join(parts) if parts else "any")

    def as_array(self) -> np.ndarray:
        """(2,) int32: kind, colour."""
        return np.array([self.kind, self.color], np.int32)


def parse_objective(text: str) -> Objective:
    """Parse ``reach:<colour>``, ``reach:<kind>``, ``reach:<colour>_<kind>`` or ``reach:any``.

    Raises UserError with a message naming what is wrong.
    """
    verb, _, what = text.strip().partition(":")
    if verb != "reach" or not what:
        raise UserError(f"objective {text!r} must look like 'reach:door' or 'reach:red'")
    if what == "any":
        return Objective()
    kind = color = -1
    for word in what.replace("+", "_").split("_"):
        if word in OBJECT_TO_IDX and kind < 0:
            kind = OBJECT_TO_IDX[word]
        elif word in COLOR_TO_IDX and color < 0:
            color = COLOR_TO_IDX[word]
        else:
            raise UserError(
                f"objective {text!r}: unknown word {word!r} (kinds: {', '.join(OBJECT_TO_IDX)};"
                f" colours: {', '.join(COLOR_TO_IDX)})"
            )
    return Objective(kind, color)


def check_proxy(text: str) -> None:
    """UserError unless ``text`` is a maze objective or ``at:<corner>`` (the episode ends
    next to that corner of the grid)."""
    if text.startswith("at:"):
        if text[3:] not in CORNERS:
            raise UserError(f"{text!r}: corners are {', '.join('at:' + c for c in CORNERS)}")
        return
    parse_objective(text)


def agent_params(name: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                             tuple[str, ...]]:
    """Validate a maze agent's parameters → (params vector, rule table, rule text)."""
    vec = np.zeros(N_AGENT_PARAMS)
    rules = np.zeros((0, RULE_WIDTH), np.int32)
    rule_text: tuple[str, ...] = ()
    if name == "search":
        merged = dict(SEARCH_DEFAULTS)
        for key, value in params.items():
            if key not in merged:
                raise UserError(f"search agent: unknown parameter {key!r} (budget, depth)")
            try:
                merged[key] = float(value)
            except (TypeError, ValueError):
                raise UserError(f"search agent: {key} must be a number, not {value!r}") from None
        if merged["budget"] < 1 or merged["depth"] < 1:
            raise UserError("search agent: budget and depth must be at least 1")
        vec[0], vec[1] = merged["budget"], merged["depth"]
    elif name == "heuristic":
        params = dict(params)
        text = params.pop("rules", None)
        if params:
            raise UserError(f"heuristic agent: unknown parameter(s) {', '.join(params)}")
        rule_text = tuple(text) if text else DEFAULT_MAZE_RULES
        rules = compile_rules(rule_text, MAZE_FEATURES, ACTIONS)
    elif params:
        raise UserError(f"{name} agent takes no parameters (got {', '.join(params)})")
    return vec, rules, rule_text


