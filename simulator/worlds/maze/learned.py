"""What a trained maze agent does at deployment, compiled: the same code the learners train.

Two kinds of learned behaviour read the objective-free observation of
:mod:`simulator.worlds.maze.observe`
(the third learned agent, a reward model planned on by the tree search, is the ordinary
search agent given a learned objective mask, see :func:`simulator.worlds.maze.policies.matches`):

- a **linear softmax policy** (``policy``): ``logits[a] = obs[a] @ weights``, weights
  ``(N_OBS,) float64``; the action is drawn from ``softmax(logits)`` with the counter-based
  stream (seed, copy, step, STREAM_AGENT), so a trained agent is as replayable as any other;
- a **learned heuristic pile** (``learned_pile``): a rule table in the :mod:`agents.rules`
  format over :data:`simulator.worlds.maze.observe.RULE_FEATURES`; the first rule that holds fires.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from agents.rules import RULE_WIDTH, first_rule
from simulator.core.rng import STREAM_AGENT, rand_uniform
from simulator.worlds.maze.kernels import ACT_STAY, N_ACTIONS
from simulator.worlds.maze.observe import (
    N_CORNERS,
    N_OBS,
    N_RULE_FEATURES,
    distance_maps,
    observe,
    rule_features,
)


@njit(cache=True)
def policy_probs(weights, obs, probs):
    """Softmax over actions of ``obs @ weights``: obs (N_ACTIONS, N_OBS), probs (N_ACTIONS,)."""
    top = -1e300
    for a in range(N_ACTIONS):
        z = 0.0
        for f in range(N_OBS):
            z += obs[a, f] * weights[f]
        probs[a] = z
        if z > top:
            top = z
    total = 0.0
    for a in range(N_ACTIONS):
        probs[a] = np.exp(probs[a] - top)
        total += probs[a]
    for a in range(N_ACTIONS):
        probs[a] /= total


@njit(cache=True)
def sample_action(probs, u):
    """The action whose cumulative probability first exceeds ``u`` in [0, 1)."""
    acc = 0.0
    for a in range(N_ACTIONS - 1):
        acc += probs[a]
        if u < acc:
            return a
    return N_ACTIONS - 1


@njit(cache=True)
def policy_act(weights, obs, seed, copy, t):
    """Draw the linear policy's action for one observation (keyed by seed, copy, t)."""
    probs = np.empty(N_ACTIONS)
    policy_probs(weights, obs, probs)
    return sample_action(probs, rand_uniform(seed, copy, t, STREAM_AGENT))


@njit(cache=True)
def pile_act(rules, obs):
    """First rule of a learned pile that holds on the observation; (action, rule or -1)."""
    features = np.empty(N_RULE_FEATURES, np.int32)
    rule_features(obs, features)
    i = first_rule(rules, rules.shape[0], features)
    if i >= 0:
        return rules[i, RULE_WIDTH - 1], i
    return ACT_STAY, -1


@njit(cache=True)
def observe_now(cell, obj_kind, obj_color, obj_pos, row, col):
    """Observation (N_ACTIONS, N_OBS) of the world as it is now (maps recomputed: in a lane
    the grid may have been perturbed since the last step)."""
    height, width = cell.shape
    maps = np.empty((obj_kind.shape[0] + N_CORNERS, height * width), np.int32)
    distance_maps(cell, obj_kind, obj_pos, maps)
    obs = np.empty((N_ACTIONS, N_OBS))
    observe(cell, obj_kind, obj_color, obj_pos, maps, row, col, obs)
    return obs
