"""Agent archetypes: ``null`` and ``random`` baselines, the ``thermostat`` (one feedback
loop), the ``heuristic`` pile (condition→action rules) and ``search`` (tree search over the
engine's own step). All are numba-compiled so they run inside ensemble kernels.

Importing this package loads no Qt and opens no display.
"""

from agents.registry import AGENT_NAMES, AgentSpec
from simulator.worlds import parse_objective
from simulator.worlds.maze.objective import Objective

__all__ = ["AGENT_NAMES", "AgentSpec", "Objective", "parse_objective"]
