"""steersim's worlds for the RL ecosystem: Gymnasium, PettingZoo and Minari (``pip install
steersim[rl]``).

Importing this package registers one Gymnasium id per shipped scene, ``steersim/<Name>-v0``
(``red_door`` → ``steersim/RedDoor-v0``), each with a native vector entry point; choose the
initial-state distribution with ``distribution=``. Without importing it first, name the
module in the id: ``gymnasium.make("simulator.envs:steersim/RedDoor-v0")``. Nothing here is
imported by ``import simulator``: gymnasium loads only when you ask for an env.

- :mod:`simulator.envs.gym_env` — ``SteerEnv`` and the native ``SteerVectorEnv``;
- :mod:`simulator.envs.parallel` — PettingZoo ``ParallelEnv`` for competition scenes;
- :mod:`simulator.envs.minari_export` — recordings as Minari datasets.
"""

from __future__ import annotations

import gymnasium

from simulator.scene import shipped_scenes

NAMESPACE = "steersim"


def env_id(scene: str) -> str:
    """The Gymnasium id of a shipped scene: ``red_door`` → ``steersim/RedDoor-v0``."""
    return f"{NAMESPACE}/{''.join(w.capitalize() for w in scene.split('_'))}-v0"


def register_envs() -> list[str]:
    """Register every shipped scene (idempotent); returns the ids."""
    ids = []
    for scene in shipped_scenes():
        name = env_id(scene)
        if name not in gymnasium.registry:
            gymnasium.register(
                id=name,
                entry_point="simulator.envs.gym_env:SteerEnv",
                vector_entry_point="simulator.envs.gym_env:SteerVectorEnv",
                kwargs={"scene": scene},
            )
        ids.append(name)
    return ids


ENV_IDS = register_envs()
