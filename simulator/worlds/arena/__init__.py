"""The arena: 2-D rigid circles under thrust, drag and collisions, where agents push
bodies into goal regions.

Modules: ``kernels`` (state, physics, events, initial states), ``policies`` (the agents'
kernels and objectives), ``scene`` (schema and physics checks), ``driver``, ``sense``,
``render``, ``tools``.
"""

from simulator.core.world import NoiseSpec, World

_P = "simulator.worlds.arena"

WORLD = World(
    kind="arena",
    title="Arena",
    driver=f"{_P}.driver:DRIVER",
    distribution=f"{_P}.scene:ArenaDistributionModel",
    pack=f"{_P}.scene:pack_arena",
    physics=f"{_P}.scene:ArenaModel",
    finish=f"{_P}.scene:physics_params",
    objective=f"{_P}.policies:parse_arena_objective",
    agent_params=f"{_P}.policies:arena_params",
    renderer=f"{_P}.render",
    sense=f"{_P}.sense",
    tools=f"{_P}.tools:TOOLS",
    warmup=(f"{_P}.driver:arena_rollout", f"{_P}.kernels:draw_initial"),
    copies=(512, 8),
    binding=("pusher", "body"),
    noise=NoiseSpec("std", 2.0, "N", "Random force on every body, per step"),
    help="""\
Arena tools (on the table):
P push: press on a body, pull, release: it is kicked along the pull
D drag a body with the mouse · T teleport a body (press on it, release where it goes)
M move a goal (press inside it, release at its new centre)""",
)
