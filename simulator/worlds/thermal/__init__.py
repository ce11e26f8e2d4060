"""The thermal room: a 2-D heat-diffusion grid with heaters, windows and sensors, where
thermostats and searches hold a temperature band against weather and kicks.

Modules: ``kernels`` (state, diffusion, events, initial states), ``policies`` (the agents'
kernels and objectives), ``scene`` (schema), ``driver``, ``sense``, ``render``, ``tools``.
"""

from simulator.core.world import NoiseSpec, World

_P = "simulator.worlds.thermal"

WORLD = World(
    kind="thermal",
    title="Thermal room",
    driver=f"{_P}.driver:DRIVER",
    distribution=f"{_P}.scene:ThermalDistributionModel",
    pack=f"{_P}.scene:pack_thermal",
    physics=f"{_P}.scene:ThermalModel",
    objective=f"{_P}.policies:parse_thermal_objective",
    agent_params=f"{_P}.policies:thermal_params",
    renderer=f"{_P}.render",
    sense=f"{_P}.sense",
    tools=f"{_P}.tools:TOOLS",
    warmup=(f"{_P}.driver:thermal_rollout", f"{_P}.kernels:draw_initial"),
    copies=(512, 32),
    binding=("heater",),
    noise=NoiseSpec("sigma", 0.5, "K", "Random heat fluctuation of the room per step"),
    help="""\
Thermal tools (drag on a room):
H heat the air under the brush (right button cools) · C cool it (right button heats)
O open or close a window (click it) · K kick the whole room +2 K (right button: -2 K)""",
)
