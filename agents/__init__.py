"""The agent layer: agent names and specs (``registry``), the heuristic pile's rule engine
(``rules``), the learners that train agents inside the engine (``learners``), trained-agents
files (``store``) and policies from outside the engine (``external``).

The archetypes — ``null`` and ``random`` baselines, the ``thermostat``, the ``heuristic``
pile and ``search`` — are compiled per world, as policy kernels in each world's package
(``simulator/worlds/<kind>/policies.py``), so they run inside its ensemble kernels. This
package root imports nothing else, and no module of it loads Qt or opens a display.
"""

from agents.registry import AGENT_NAMES, AgentSpec

__all__ = ["AGENT_NAMES", "AgentSpec"]
