"""The window's help text (Help → Keys and gestures): the keys every scene shares, then the
perturbation tools of the open scene's world, one entry per world kind in
:data:`WORLD_HELP` (each can move into its world's package with the world's tools)."""

from __future__ import annotations

COMMON_HELP = """\
Space      play / pause       Right  one step
Backspace  reset              + / -  faster / slower
R          record             L      loop at the end
A          gestures hit all lanes    G ghosts · I internals
Ctrl+O     open a scene or a recording
Ctrl+T     train agents
Ctrl+M     outcome study (click a dot: that agent in a lane)
Ctrl+Shift+O  open an agents file (its agents join the lanes' agent lists)
Ctrl+G     goal sets: candidate goals compatible with training, sparse vs dense
"""

WORLD_HELP: dict[str, str] = {
    "maze": """\
Maze tools (drag on a world view):
T teleport the agent · W draw walls (right button erases) · E erase walls
H lava (right button removes) · M move an object (click: bring the target)
C recolor an object (right button: next colour)
Noise slider: slip noise, the chance an action is replaced at random
""",
    "thermal": """\
Thermal tools (drag on a room):
H heat the air under the brush (right button cools) · C cool it (right button heats)
O open or close a window (click it) · K kick the whole room +2 K (right button: -2 K)
Noise slider: random heat fluctuation of the room per step
""",
    "arena": """\
Arena tools (on the table):
P push: press on a body, pull, release: it is kicked along the pull
D drag a body with the mouse · T teleport a body (press on it, release where it goes)
M move a goal (press inside it, release at its new centre)
Noise slider: random force on every body, per step
""",
}

CLOSING_HELP = """\
Every gesture is a logged perturbation applied at the start of the next step.
"""

REPLAY_HELP = """\
A recording replays as it was recorded: drag the timeline to scrub, pick a run in the
Episode list; Ctrl+P presents it full-screen, Ctrl+E exports a video. Open its scene to
run it live and perturb it.
"""


def help_text(world: str | None, replaying: bool = False) -> str:
    """The help for a scene of world kind ``world`` (None: no scene open)."""
    parts = [COMMON_HELP]
    if replaying:
        parts.append(REPLAY_HELP)
    elif world in WORLD_HELP:
        parts += [WORLD_HELP[world], CLOSING_HELP]
    elif world is not None:
        parts.append(f"The {world} world has no perturbation tools yet.\n")
    return "\n".join(parts)
