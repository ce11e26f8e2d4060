"""The tiny world: one agent on a line of cells walks left or right toward a goal cell.

A test-only world kind (registered by tests/test_world_conformance.py, never shipped):
the smallest package that passes the conformance suite, and the worked example of
docs/adding-a-world.md. Modules: ``kernels`` (state, the one transition rule, events,
initial states), ``policies`` (objectives, agent parameters, policy kernel), ``scene``
(schema and an example scene), ``driver``, ``sense``, ``render``.
"""

from simulator.core.world import NoiseSpec, World

_P = "tinyworld"

WORLD = World(
    kind="tiny",
    title="Tiny line",
    driver=f"{_P}.driver:DRIVER",
    distribution=f"{_P}.scene:TinyDistributionModel",
    pack=f"{_P}.scene:pack",
    objective=f"{_P}.policies:parse_objective",
    agent_params=f"{_P}.policies:agent_params",
    renderer=f"{_P}.render",
    sense=f"{_P}.sense",
    warmup=(f"{_P}.driver:tiny_rollout", f"{_P}.kernels:draw_initial"),
    copies=(256, 256),
    held=False,  # objectives are reached once (as in the maze), not held over time
    noise=NoiseSpec("p", 1.0, "%", "Slip noise: chance an action is replaced at random"),
    help="The tiny line has no GUI tools: perturb it with teleport and move_goal events.",
)
