"""Entry point for the thread-count determinism test (run in a subprocess)."""

from helpers import state_digest

from simulator.scene import Scene
from simulator.session import Session


def digest() -> str:
    session = Session(Scene.load("red_door"), seed=21, n_copies=300)
    session.perturb("set_noise", params={"p": 0.25}, step=0)
    session.run()
    return "|".join(state_digest(lane.state) for lane in session.lanes)
