"""The maze's heuristic-pile features and default rules (the engine is agents/rules.py).

Features, from the agent's cell, toward the nearest object matching the objective:
``dx``/``dy`` (sign of the column/row offset: -1, 0, 1; ``dy=-1`` means above),
``wall_<dir>``, ``lava_<dir>``, ``target_<dir>`` (a matching object is adjacent),
``has_target``; ``<dir>`` is up, down, left or right.
"""

from __future__ import annotations

DIRECTIONS = ("up", "down", "left", "right")
MAZE_FEATURES = (
    ("dx", "dy")
    + tuple(f"wall_{d}" for d in DIRECTIONS)
    + tuple(f"lava_{d}" for d in DIRECTIONS)
    + tuple(f"target_{d}" for d in DIRECTIONS)
    + ("has_target",)
)
N_FEATURES = len(MAZE_FEATURES)

DEFAULT_MAZE_RULES: tuple[str, ...] = (
    "target_up -> up",
    "target_down -> down",
    "target_left -> left",
    "target_right -> right",
    "dy=-1 & !wall_up & !lava_up -> up",
    "dy=1 & !wall_down & !lava_down -> down",
    "dx=1 & !wall_right & !lava_right -> right",
    "dx=-1 & !wall_left & !lava_left -> left",
    # Blocked on the only axis that matters: side-step, a reflex with no plan behind it.
    "dx=0 & !wall_left & !lava_left -> left",
    "dx=0 & !wall_right & !lava_right -> right",
    "dy=0 & !wall_up & !lava_up -> up",
    "dy=0 & !wall_down & !lava_down -> down",
)
