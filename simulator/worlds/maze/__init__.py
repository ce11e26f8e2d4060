"""The maze: a MiniGrid-like gridworld of walls, lava and coloured objects (goal, door,
key, gem), one agent per copy moving up/down/left/right or staying.

Modules: ``kernels`` (state, the one transition rule, events, initial states), ``policies``
(the agents' policy kernels), ``observe`` / ``learned`` / ``goals`` (the learners'
objective-free observation, learned policies' kernels, candidate goals), ``objective``,
``scene`` (schema), ``driver``, ``sense``, ``render``, ``tools``.
"""

from simulator.core.world import NoiseSpec, World

_P = "simulator.worlds.maze"

WORLD = World(
    kind="maze",
    title="Maze",
    driver=f"{_P}.driver:DRIVER",
    distribution=f"{_P}.scene:MazeDistributionModel",
    pack=f"{_P}.scene:pack",
    objective=f"{_P}.objective:parse_objective",
    proxy=f"{_P}.objective:check_proxy",
    agent_params=f"{_P}.objective:agent_params",
    renderer=f"{_P}.render",
    sense=f"{_P}.sense",
    tools=f"{_P}.tools:TOOLS",
    warmup=(f"{_P}.driver:maze_rollout", f"{_P}.kernels:draw_initial"),
    copies=(4096, 512),
    copy0_fields=("cell",),
    trainable=True,
    held=False,
    basin=f"{_P}.basin:basin_map",
    noise=NoiseSpec("p", 1.0, "%", "Slip noise: chance an action is replaced at random"),
    help="""\
Maze tools (drag on a world view):
T teleport the agent · W draw walls (right button erases) · E erase walls
H lava (right button removes) · M move an object (click: bring the target)
C recolor an object (right button: next colour)""",
)
