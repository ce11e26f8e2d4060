"""An external policy in plain NumPy: a linear softmax-free scorer over the maze observation.

``act(obs)`` takes the maze observation batched over a lane's copies, ``(E, 5, 18)``
float32 (simulator/worlds/maze/sense.py), and returns one action per copy, ``(E,)`` in 0..4: the
action
whose features score highest under ``WEIGHTS`` (18 numbers, one per feature), ties to the
lowest action. Use it as ``--agent python:agents.examples.numpy_policy:act``.

``train()`` fits the weights on a scene's Gymnasium vector env by the cross-entropy method
(sample weight vectors, keep the best tenth by mean return, refit) — no deep-learning
framework, a minute on two cores — and saves them beside this file as ``weights.npy``,
which ``act`` then loads. ``python -m agents.examples.numpy_policy red_door`` runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

WEIGHTS_FILE = Path(__file__).with_name("weights.npy")
# Hand-set default: approach doors, avoid walls and lava (features as in
# simulator/worlds/maze/observe.py:
# toward goal, door, key, gem, 6 colours, object, 4 corners, then blocked, lava, stay).
DEFAULT_WEIGHTS = np.zeros(18)
DEFAULT_WEIGHTS[1] = 1.0  # toward_door
DEFAULT_WEIGHTS[15:17] = -2.0  # blocked, lava


def _weights() -> np.ndarray:
    return np.load(WEIGHTS_FILE) if WEIGHTS_FILE.exists() else DEFAULT_WEIGHTS


def act(obs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(E, 5, 18) observations → (E,) int64 actions: the best-scoring action per copy."""
    w = _weights() if weights is None else weights
    return np.argmax(obs @ w, axis=1)


def train(scene: str = "red_door", n_copies: int = 256, generations: int = 12,
          population: int = 40, seed: int = 0) -> np.ndarray:
    """Cross-entropy method on ``steersim/<Scene>-v0`` (its ``train`` distribution)."""
    import gymnasium

    import simulator.envs  # noqa: F401  (registers the steersim envs)
    from simulator.envs import env_id

    rng = np.random.default_rng(seed)
    envs = gymnasium.make_vec(env_id(scene), num_envs=n_copies,
                              vectorization_mode="vector_entry_point", distribution="train")
    mean, std = np.zeros(18), np.ones(18)

    def score(w: np.ndarray) -> float:
        obs, _ = envs.reset(seed=seed)
        total, done = np.zeros(n_copies), np.zeros(n_copies, bool)
        while not done.all():
            obs, reward, term, trunc, _ = envs.step(act(obs, w))
            total += np.where(done, 0.0, reward)
            done |= term | trunc
        return float(total.mean())

    for g in range(generations):
        candidates = mean + std * rng.standard_normal((population, 18))
        scores = np.array([score(w) for w in candidates])
        elite = candidates[np.argsort(scores)[-population // 10:]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + 0.05
        print(f"generation {g}: best mean return {scores.max():+.3f}")
    envs.close()
    np.save(WEIGHTS_FILE, mean)
    return mean


if __name__ == "__main__":
    train(*sys.argv[1:2])
