"""The window's help text (Help → Keys and gestures): the keys every scene shares, then the
perturbation tools of the open scene's world (its ``help``, :mod:`simulator.worlds`) and
what its noise slider does."""

from __future__ import annotations

from simulator.worlds import world as world_kind
from simulator.worlds import world_kinds

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
    elif world in world_kinds() and world_kind(world).tools:
        spec = world_kind(world)
        noise = f"Noise slider: {spec.noise.tip.lower()}\n" if spec.noise else ""
        parts += [f"{spec.help}\n{noise}", CLOSING_HELP]
    elif world is not None:
        parts.append(f"The {world} world has no perturbation tools yet.\n")
    return "\n".join(parts)
