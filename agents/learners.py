"""Learners, compiled: many maze agents trained at once inside the engine.

Each learner trains ``N`` agents in one ``prange`` over agents; agent ``i`` runs serially on
episodes whose seeds are drawn from (its seed, episode counter) alone, so its weights depend
only on its seed — never on thread count or on how many agents train beside it. Every
training episode is copy 0 of a one-copy world drawn by the engine's own
:func:`simulator.worlds.maze.kernels.draw_copy`, stepped by the engine's own ``transition``,
``slip`` and ``episode_status``; actions are drawn from the same counter-based streams a
lane uses, so a training episode with episode seed ``s`` is exactly a one-copy Session run
with seed ``s``.

Learners (what each is graded on):

- ``reinforce`` — **sparse-reward RL**: REINFORCE (Williams 1992) with a per-step running
  baseline and Adam, on a linear softmax policy over the objective-free observation
  (:mod:`simulator.worlds.maze.observe`). Only the scene's own rewards reach it.
- ``bc`` — **dense supervision**: behaviour cloning of the search oracle on every state the
  learner itself visits (DAgger-style, Ross et al. 2011): a cross-entropy grade on every
  output, against the set of the base objective's optimal actions (ties allowed). The
  oracle is exhaustive shortest-path search (BFS) toward the scene's base objective.
- ``reward_search`` — **learned objective + search** (a mesa-optimizer): a logistic reward
  model over object features (kind one-hot, colour one-hot, bias), fitted to the rewards of
  exploratory training episodes (each heads for a randomly chosen object); the ordinary
  tree search then plans toward every (kind, colour) the model predicts rewarding.
- ``pile`` — **learned heuristic pile**: a readable rule table (``agents/rules.py`` format
  over :data:`simulator.worlds.maze.observe.RULE_FEATURES`) induced from the oracle by greedy
  sequential
  covering; features that agree on every training state tie, and ties are broken by a
  per-agent random priority (training says nothing about which one to pick).

Shapes: seeds (N,) int64; layouts as :func:`simulator.worlds.maze.kernels.draw_copy` takes them
(template (H, W) int8, obj_spec (K0, 5) float64, dist_params (6,) float64), an ``a``
layout (train) and a ``b`` layout mixed in with probability ``mix`` (diversification);
params (N_PARAMS,) float64 world rules; base (2,) int32 base objective.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from agents.rules import RULE_WIDTH
from simulator.core.rng import (
    STREAM_AGENT,
    STREAM_MIX,
    STREAM_TRAIN,
    rand_int,
    rand_u64,
    rand_uniform,
)
from simulator.worlds.maze.goals import optimal_moves
from simulator.worlds.maze.kernels import (
    ACTIONS,
    COLORS,
    N_ACTIONS,
    OBJ_NONE,
    OBJECT_KINDS,
    P_HORIZON,
    STATUS_RUNNING,
    draw_copy,
    episode_status,
    slip,
    transition,
)
from simulator.worlds.maze.learned import pile_act, policy_probs, sample_action
from simulator.worlds.maze.observe import (
    N_CORNERS,
    N_OBS,
    N_RULE_FEATURES,
    RULE_FEATURES,
    distance_maps,
    observe,
    rule_features,
)
from simulator.worlds.maze.policies import search_act

LEARNERS = ("reinforce", "bc", "reward_search", "pile")
LEARNER_KIND = {"reinforce": "sparse RL", "bc": "dense (behaviour cloning)",
                "reward_search": "learned reward + search", "pile": "induced rule pile"}
B_POLICY, B_PILE, B_SEARCH, B_RANDOM, B_ORACLE = range(5)
N_KINDS, N_COLORS = len(OBJECT_KINDS), len(COLORS)
N_REWARD_FEATURES = N_KINDS + N_COLORS + 1  # kind one-hot, colour one-hot, bias
MASK_LEN = 2 + N_KINDS * N_COLORS
OBJECTIVE_MASK = -2  # agents.registry.OBJECTIVE_MASK (kept equal by a test)
# Counter "copies" of the STREAM_TRAIN stream, so the uses never share numbers.
_K_EPISODE, _K_INIT, _K_PRIORITY, _K_EVAL, _K_PICK = 1, 2, 3, 4, 5


@njit(cache=True)
def episode_seed(seed, use, episode):
    """The seed of training episode ``episode`` of the agent with ``seed`` (63 bits)."""
    return np.int64(rand_u64(seed, use, episode, STREAM_TRAIN) >> np.uint64(1))


@njit(cache=True)
def _draw(use_b, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, ep_seed, cell, agent_pos,
          obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached, noise, maps):
    """Draw one episode into the one-copy scratch state and compute its distance maps."""
    if use_b:
        draw_copy(tmpl_b, spec_b, dp_b, ep_seed, 0, cell, agent_pos, obj_kind, obj_color,
                  obj_pos, obj_reward, t, status, ret, reached, noise)
    else:
        draw_copy(tmpl_a, spec_a, dp_a, ep_seed, 0, cell, agent_pos, obj_kind, obj_color,
                  obj_pos, obj_reward, t, status, ret, reached, noise)
    distance_maps(cell[0], obj_kind[0], obj_pos[0], maps)


@njit(cache=True)
def _rollout(behaviour, weights, rules, objective, eps, base, params, ep_seed, cell,
             agent_pos, obj_kind, obj_color, obj_pos, obj_reward, noise, maps, obs_buf,
             act_buf, rew_buf, opt_buf):
    """Run the drawn episode (copy 0 of the scratch state) to its end under ``behaviour``.

    weights: policy weights (N_OBS,) for B_POLICY, search parameters (budget, depth, ...)
    for B_SEARCH; rules (R, RULE_WIDTH) int32 for B_PILE; objective: what B_SEARCH pursues;
    eps: B_ORACLE's chance of a random action. Fills, per step s: obs_buf[s] (N_ACTIONS,
    N_OBS), act_buf[s] the action chosen (before slip noise), rew_buf[s] the reward,
    opt_buf[s] (N_ACTIONS,) the oracle's optimal set. Returns (n_steps, return, slot
    reached or -1).
    """
    c, kind, color = cell[0], obj_kind[0], obj_color[0]
    pos, rew = obj_pos[0], obj_reward[0]
    row, col = agent_pos[0, 0], agent_pos[0, 1]
    horizon = int(params[P_HORIZON])
    probs = np.empty(N_ACTIONS)
    no_mark = np.empty(0, np.bool_)
    total = 0.0
    n = 0
    end_slot = -1
    for step in range(horizon):
        obs = obs_buf[step]
        observe(c, kind, color, pos, maps, row, col, obs)
        # The oracle: the base objective's shortest-path moves (ties allowed).
        n_opt = optimal_moves(base, -1, kind, color, maps, c, row, col, opt_buf[step])
        if behaviour == B_POLICY:
            policy_probs(weights, obs, probs)
            action = sample_action(probs, rand_uniform(ep_seed, 0, step, STREAM_AGENT))
        elif behaviour == B_PILE:
            action, _ = pile_act(rules, obs)
        elif behaviour == B_SEARCH:
            action, _, _ = search_act(c, kind, color, pos, rew, objective, row, col,
                                      int(weights[0]), int(weights[1]), params, no_mark)
        elif behaviour == B_RANDOM or n_opt == 0 or (
                rand_uniform(ep_seed, 0, step, STREAM_TRAIN) < eps):
            action = rand_int(ep_seed, 0, step, STREAM_AGENT, N_ACTIONS)
        else:  # the oracle: one of its optimal actions, uniformly
            pick = rand_int(ep_seed, 0, step, STREAM_AGENT, n_opt)
            action = 0
            for a in range(N_ACTIONS):
                if opt_buf[step, a]:
                    if pick == 0:
                        action = a
                        break
                    pick -= 1
        act_buf[step] = action
        action = slip(action, noise[0], ep_seed, 0, step)
        row, col, reward, terminated, slot = transition(c, kind, pos, rew, row, col, action,
                                                        params)
        rew_buf[step] = reward
        total += reward
        n = step + 1
        status, slot = episode_status(terminated, slot, n, params)
        if status != STATUS_RUNNING:
            end_slot = slot
            break
    return n, total, end_slot


@njit(cache=True)
def _scratch(height, width, n_slots, horizon):
    """One agent's working arrays: a one-copy MazeState (cell .. noise), its distance maps,
    and per-step buffers of observations, chosen actions, rewards and oracle move sets."""
    return (np.zeros((1, height, width), np.int8), np.zeros((1, 2), np.int32),
            np.full((1, n_slots), OBJ_NONE, np.int8), np.zeros((1, n_slots), np.int8),
            np.zeros((1, n_slots, 2), np.int32), np.zeros((1, n_slots)),
            np.zeros(1, np.int32), np.zeros(1, np.int8), np.zeros(1), np.zeros(1, np.int8),
            np.zeros(1), np.empty((n_slots + N_CORNERS, height * width), np.int32),
            np.zeros((horizon, N_ACTIONS, N_OBS)), np.zeros(horizon, np.int64),
            np.zeros(horizon), np.zeros((horizon, N_ACTIONS), np.bool_))


@njit(cache=True)
def _adam(w, grad, m, v, lr, it):
    """One Adam step (Kingma & Ba 2015) *descending* ``grad``; it counts from 1."""
    b1, b2 = 0.9, 0.999
    for f in range(w.shape[0]):
        m[f] = b1 * m[f] + (1 - b1) * grad[f]
        v[f] = b2 * v[f] + (1 - b2) * grad[f] * grad[f]
        m_hat = m[f] / (1 - b1 ** it)
        v_hat = v[f] / (1 - b2 ** it)
        w[f] -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)


@njit(cache=True)
def _init_weights(seed, w, scale):
    for f in range(w.shape[0]):
        w[f] = scale * (2.0 * rand_uniform(seed, _K_INIT, f, STREAM_TRAIN) - 1.0)


@njit(cache=True, parallel=True)
def train_policies(dense, seeds, n_iters, batch, lr, mix, base, params, tmpl_a, spec_a, dp_a,
                   tmpl_b, spec_b, dp_b, n_slots, weights_out, curve_out, steps_out):
    """Train one linear softmax policy per seed, in place.

    dense False: REINFORCE on the scene's rewards (sparse RL). dense True: behaviour
    cloning of the oracle on the learner's own visited states (cross-entropy against the
    optimal-action set). weights_out (N, N_OBS) float64; curve_out (N, n_iters) float64:
    the mean return of each iteration's ``batch`` training episodes; steps_out (N,) int64
    the environment steps each agent took.
    """
    height, width = tmpl_a.shape
    horizon = int(params[P_HORIZON])
    for i in prange(seeds.shape[0]):
        seed = seeds[i]
        (cell, agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached,
         noise, maps, obs_buf, act_buf, rew_buf, opt_buf) = _scratch(height, width, n_slots,
                                                                      horizon)
        no_rules = np.zeros((0, RULE_WIDTH), np.int32)
        w = weights_out[i]
        _init_weights(seed, w, 0.1)
        m = np.zeros(N_OBS)
        v = np.zeros(N_OBS)
        grad = np.zeros(N_OBS)
        probs = np.empty(N_ACTIONS)
        baseline = np.zeros(horizon)
        for it in range(n_iters):
            grad[:] = 0.0
            total = 0.0
            n_graded = 0
            for b in range(batch):
                ep = it * batch + b
                ep_seed = episode_seed(seed, _K_EPISODE, ep)
                use_b = rand_uniform(seed, 0, ep, STREAM_MIX) < mix
                _draw(use_b, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, ep_seed, cell,
                      agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret,
                      reached, noise, maps)
                n, episode_return, _ = _rollout(
                    B_POLICY, w, no_rules, base, 0.0, base, params, ep_seed, cell,
                    agent_pos, obj_kind, obj_color, obj_pos, obj_reward, noise, maps,
                    obs_buf, act_buf, rew_buf, opt_buf)
                total += episode_return
                steps_out[i] += n
                to_go = 0.0
                for s in range(n - 1, -1, -1):
                    to_go += rew_buf[s]
                    policy_probs(w, obs_buf[s], probs)
                    if dense:
                        mass = 0.0
                        for a in range(N_ACTIONS):
                            if opt_buf[s, a]:
                                mass += probs[a]
                        if mass <= 0.0:
                            continue  # no label where the base target is unreachable
                        n_graded += 1
                        # d(-log sum_{a in opt} p_a)/dw = sum_a (p_a - q_a) obs[a],
                        # q = p restricted to the optimal set, renormalised.
                        for a in range(N_ACTIONS):
                            q = probs[a] / mass if opt_buf[s, a] else 0.0
                            coef = probs[a] - q
                            for f in range(N_OBS):
                                grad[f] += coef * obs_buf[s, a, f]
                    else:
                        adv = to_go - baseline[s]
                        baseline[s] += 0.05 * (to_go - baseline[s])
                        chosen = act_buf[s]
                        # -(G - b) * d log p(chosen)/dw, for a descent step.
                        for a in range(N_ACTIONS):
                            coef = probs[a] - (1.0 if a == chosen else 0.0)
                            for f in range(N_OBS):
                                grad[f] += adv * coef * obs_buf[s, a, f]
            scale = 1.0 / max(n_graded if dense else batch, 1)
            for f in range(N_OBS):
                grad[f] *= scale
            _adam(w, grad, m, v, lr, it + 1)
            curve_out[i, it] = total / batch


@njit(cache=True)
def _mean_return(behaviour, weights, rules, objective, seed, round_index, batch, mix, base,
                 params, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, cell, agent_pos,
                 obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached, noise,
                 maps, obs_buf, act_buf, rew_buf, opt_buf, steps):
    """Mean return of ``batch`` training episodes under a fixed behaviour (learning curves);
    adds the environment steps taken to steps[0]."""
    total = 0.0
    for b in range(batch):
        ep = round_index * batch + b
        ep_seed = episode_seed(seed, _K_EVAL, ep)
        use_b = rand_uniform(seed, 1, ep, STREAM_MIX) < mix
        _draw(use_b, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, ep_seed, cell, agent_pos,
              obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached, noise, maps)
        n, episode_return, _ = _rollout(behaviour, weights, rules, objective, 0.0, base,
                                        params, ep_seed, cell, agent_pos, obj_kind,
                                        obj_color, obj_pos, obj_reward, noise, maps, obs_buf,
                                        act_buf, rew_buf, opt_buf)
        total += episode_return
        steps[0] += n
    return total / batch


@njit(cache=True)
def _reward_mask(model, out):
    """out (MASK_LEN,) int32: OBJECTIVE_MASK header, then 1 for every (kind, colour) the
    logistic model (N_REWARD_FEATURES,) predicts rewarding (p > 0.5)."""
    out[0], out[1] = OBJECTIVE_MASK, 0
    for k in range(N_KINDS):
        for c in range(N_COLORS):
            z = model[k] + model[N_KINDS + c] + model[N_REWARD_FEATURES - 1]
            out[2 + k * N_COLORS + c] = 1 if z > 0.0 else 0


@njit(cache=True, parallel=True)
def train_reward_search(seeds, n_rounds, batch, l2, search_params, mix, base, params,
                        tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, n_slots, model_out,
                        mask_out, curve_out, steps_out):
    """Fit one reward model per seed; the agent is the tree search on its predictions.

    Each round draws ``batch`` exploratory episodes (the search heads for one randomly
    chosen object), adds (kind, colour, rewarded?) of the object each ended on to the data,
    refits the logistic model by gradient descent (L2 ``l2``), and measures the search on
    the model's mask over ``batch`` training episodes for the curve.
    model_out (N, N_REWARD_FEATURES) float64; mask_out (N, MASK_LEN) int32; curve_out
    (N, n_rounds) float64; search_params (N_AGENT_PARAMS,) float64 (budget, depth);
    steps_out (N,) int64 environment steps taken (exploration and evaluation).
    """
    height, width = tmpl_a.shape
    horizon = int(params[P_HORIZON])
    for i in prange(seeds.shape[0]):
        seed = seeds[i]
        (cell, agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached,
         noise, maps, obs_buf, act_buf, rew_buf, opt_buf) = _scratch(height, width, n_slots,
                                                                      horizon)
        no_rules = np.zeros((0, RULE_WIDTH), np.int32)
        positives = np.zeros((N_KINDS, N_COLORS))
        seen = np.zeros((N_KINDS, N_COLORS))
        model = model_out[i]
        _init_weights(seed, model, 0.01)
        grad = np.zeros(N_REWARD_FEATURES)
        explore = np.zeros(2, np.int32)
        mask = mask_out[i]
        for rnd in range(n_rounds):
            for b in range(batch):
                ep = rnd * batch + b
                ep_seed = episode_seed(seed, _K_EPISODE, ep)
                use_b = rand_uniform(seed, 0, ep, STREAM_MIX) < mix
                _draw(use_b, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, ep_seed, cell,
                      agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret,
                      reached, noise, maps)
                n_live = 0
                for k in range(n_slots):
                    if obj_kind[0, k] != OBJ_NONE:
                        n_live += 1
                if n_live == 0:
                    continue
                pick = rand_int(seed, _K_PICK, ep, STREAM_TRAIN, n_live)
                for k in range(n_slots):
                    if obj_kind[0, k] != OBJ_NONE:
                        if pick == 0:
                            explore[0], explore[1] = obj_kind[0, k], obj_color[0, k]
                            break
                        pick -= 1
                n, _, slot = _rollout(B_SEARCH, search_params, no_rules, explore, 0.0, base,
                                      params, ep_seed, cell, agent_pos, obj_kind, obj_color,
                                      obj_pos, obj_reward, noise, maps, obs_buf, act_buf,
                                      rew_buf, opt_buf)
                steps_out[i] += n
                if slot >= 0:
                    kind, color = obj_kind[0, slot], obj_color[0, slot]
                    seen[kind, color] += 1.0
                    if obj_reward[0, slot] > 0.0:
                        positives[kind, color] += 1.0
            n_data = seen.sum()
            for _ in range(200):
                grad[:] = 0.0
                for k in range(N_KINDS):
                    for c in range(N_COLORS):
                        if seen[k, c] == 0.0:
                            continue
                        z = model[k] + model[N_KINDS + c] + model[N_REWARD_FEATURES - 1]
                        p = 1.0 / (1.0 + np.exp(-z))
                        # d(mean log-loss)/dz summed over the cell's examples.
                        g = (seen[k, c] * p - positives[k, c]) / max(n_data, 1.0)
                        grad[k] += g
                        grad[N_KINDS + c] += g
                        grad[N_REWARD_FEATURES - 1] += g
                for f in range(N_REWARD_FEATURES):
                    model[f] -= 1.0 * (grad[f] + l2 * model[f])
            _reward_mask(model, mask)
            curve_out[i, rnd] = _mean_return(
                B_SEARCH, search_params, no_rules, mask, seed, rnd, batch, mix, base, params,
                tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, cell, agent_pos, obj_kind,
                obj_color, obj_pos, obj_reward, t, status, ret, reached, noise, maps, obs_buf,
                act_buf, rew_buf, opt_buf, steps_out[i:i + 1])


@njit(cache=True, parallel=True)
def train_piles(seeds, n_episodes, eps, max_rules, eval_batch, mix, base, params, tmpl_a,
                spec_a, dp_a, tmpl_b, spec_b, dp_b, n_slots, rules_out, n_rules_out,
                curve_out, steps_out):
    """Induce one rule pile per seed from the oracle by greedy sequential covering.

    Data: the states of ``n_episodes`` oracle episodes (each action random with chance
    ``eps``, so off-path states are seen), as rule features with the oracle's optimal set.
    Each round adds the rule ``feature -> action`` with the best (correct - 4 * wrong)
    over the states no earlier rule covers; ties go to a per-agent random priority.
    rules_out (N, max_rules, RULE_WIDTH) int32; n_rules_out (N,) int64; curve_out
    (N, max_rules + 1) float64: mean train return of the pile after each rule (NaN past
    the last), entry 0 for the empty pile; steps_out (N,) int64 environment steps taken.
    """
    height, width = tmpl_a.shape
    horizon = int(params[P_HORIZON])
    for i in prange(seeds.shape[0]):
        seed = seeds[i]
        (cell, agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached,
         noise, maps, obs_buf, act_buf, rew_buf, opt_buf) = _scratch(height, width, n_slots,
                                                                      horizon)
        no_rules = np.zeros((0, RULE_WIDTH), np.int32)
        no_weights = np.zeros(2)
        feats = np.zeros((n_episodes * horizon, N_RULE_FEATURES), np.int32)
        opt = np.zeros((n_episodes * horizon, N_ACTIONS), np.bool_)
        n_data = 0
        for ep in range(n_episodes):
            ep_seed = episode_seed(seed, _K_EPISODE, ep)
            use_b = rand_uniform(seed, 0, ep, STREAM_MIX) < mix
            _draw(use_b, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, ep_seed, cell,
                  agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret,
                  reached, noise, maps)
            n, _, _ = _rollout(B_ORACLE, no_weights, no_rules, base, eps, base, params,
                               ep_seed, cell, agent_pos, obj_kind, obj_color, obj_pos,
                               obj_reward, noise, maps, obs_buf, act_buf, rew_buf, opt_buf)
            steps_out[i] += n
            for s in range(n):
                if not opt_buf[s].any():
                    continue
                rule_features(obs_buf[s], feats[n_data])
                opt[n_data] = opt_buf[s]
                n_data += 1
        priority = np.empty((N_RULE_FEATURES, N_ACTIONS), np.uint64)
        for f in range(N_RULE_FEATURES):
            for a in range(N_ACTIONS):
                priority[f, a] = rand_u64(seed, _K_PRIORITY, f * N_ACTIONS + a, STREAM_TRAIN)
        covered = np.zeros(n_data, np.bool_)
        rules = rules_out[i]
        rules[:, :] = -1
        curve_out[i, :] = np.nan
        curve_out[i, 0] = _mean_return(
            B_PILE, no_weights, rules[:0], base, seed, 0, eval_batch, mix, base, params,
            tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, cell, agent_pos, obj_kind, obj_color,
            obj_pos, obj_reward, t, status, ret, reached, noise, maps, obs_buf, act_buf,
            rew_buf, opt_buf, steps_out[i:i + 1])
        n_rules = 0
        for r in range(max_rules):
            best_score, best_f, best_a = 0, -1, -1
            best_priority = np.uint64(0)
            for f in range(N_RULE_FEATURES):
                for a in range(1, N_ACTIONS):
                    correct, wrong = 0, 0
                    for x in range(n_data):
                        if not covered[x] and feats[x, f] == 1:
                            if opt[x, a]:
                                correct += 1
                            else:
                                wrong += 1
                    score = correct - 4 * wrong
                    if score > best_score or (score == best_score and best_f >= 0
                                              and priority[f, a] < best_priority):
                        if score > 0:
                            best_score, best_f, best_a = score, f, a
                            best_priority = priority[f, a]
            if best_f < 0:
                break
            rules[r, 0], rules[r, 1], rules[r, 2] = best_f, 0, 1
            rules[r, RULE_WIDTH - 1] = best_a
            for x in range(n_data):
                if feats[x, best_f] == 1:
                    covered[x] = True
            n_rules = r + 1
            curve_out[i, r + 1] = _mean_return(
                B_PILE, no_weights, rules[:n_rules], base, seed, r + 1, eval_batch, mix, base,
                params, tmpl_a, spec_a, dp_a, tmpl_b, spec_b, dp_b, cell, agent_pos,
                obj_kind, obj_color, obj_pos, obj_reward, t, status, ret, reached, noise,
                maps, obs_buf, act_buf, rew_buf, opt_buf, steps_out[i:i + 1])
        n_rules_out[i] = n_rules


def rule_text(rules: np.ndarray) -> tuple[str, ...]:
    """A learned pile's table (R, RULE_WIDTH) int32 as readable rules (agents/rules.py)."""
    out = []
    for row in rules:
        conds = []
        for j in range(0, RULE_WIDTH - 1, 3):
            f, op, value = (int(x) for x in row[j:j + 3])
            if f < 0:
                continue
            name = RULE_FEATURES[f]
            conds.append(name if (op, value) == (0, 1) else
                         f"!{name}" if (op, value) == (0, 0) else
                         f"{name}{'=' if op == 0 else '!='}{value}")
        out.append(f"{' & '.join(conds)} -> {ACTIONS[int(row[-1])]}")
    return tuple(out)


# --- the Python API ------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """A maze distribution packed for draw_copy: template (H, W) int8, obj_spec (K0, 5)
    float64, dist_params (6,) float64 (see simulator.worlds.maze.kernels)."""

    template: np.ndarray
    obj_spec: np.ndarray
    dist_params: np.ndarray


# Hyper-parameters per learner (the CLI's --episodes sets each learner's episode budget).
DEFAULT_HYPER: dict[str, dict[str, float]] = {
    "reinforce": {"iterations": 100, "batch": 16, "lr": 0.05},
    "bc": {"iterations": 25, "batch": 8, "lr": 0.1},
    "reward_search": {"rounds": 8, "batch": 16, "l2": 0.01, "budget": 4000, "depth": 64},
    "pile": {"episodes": 100, "eps": 0.3, "max_rules": 16, "eval_batch": 16},
}


def episodes_per_agent(learner: str, hyper: dict[str, float]) -> int:
    """Training episodes one agent of ``learner`` consumes under ``hyper``."""
    if learner in ("reinforce", "bc"):
        return int(hyper["iterations"] * hyper["batch"])
    if learner == "reward_search":
        return int(hyper["rounds"] * hyper["batch"])
    return int(hyper["episodes"])


def hyper_for_episodes(learner: str, episodes: int) -> dict[str, float]:
    """The default hyper-parameters with the episode budget set to ``episodes``."""
    hyper = dict(DEFAULT_HYPER[learner])
    if learner in ("reinforce", "bc"):
        hyper["iterations"] = max(1, round(episodes / hyper["batch"]))
    elif learner == "reward_search":
        hyper["rounds"] = max(1, round(episodes / hyper["batch"]))
    else:
        hyper["episodes"] = max(1, int(episodes))
    return hyper


@dataclass
class Trained:
    """Agents trained by one learner. Per agent i: seeds[i]; params[i] (P,) float64 — policy
    weights (N_OBS,), or the reward model (N_REWARD_FEATURES,) followed by nothing else;
    masks[i] (MASK_LEN,) int32 for reward_search (else empty); rules[i] (R, RULE_WIDTH)
    int32 for pile; curve[i] (I,) float64 mean train return per iteration (NaN padded)."""

    learner: str
    seeds: np.ndarray
    params: np.ndarray
    masks: np.ndarray
    rules: list[np.ndarray]
    curve: np.ndarray
    hyper: dict[str, float] = field(default_factory=dict)
    mix: float = 0.0
    env_steps: np.ndarray | None = None  # (N,) int64 environment steps each agent took

    def rule_text(self, i: int) -> tuple[str, ...]:
        return rule_text(self.rules[i]) if self.rules else ()


def agent_seeds(seed: int, n_agents: int, first: int = 0) -> np.ndarray:
    """(n_agents,) int64: the seed of agent ``first + i`` of a training run with ``seed``."""
    return np.array([int(rand_u64(seed, first + i, 0, STREAM_TRAIN) >> np.uint64(1))
                     for i in range(n_agents)], np.int64)


def train(learner: str, seeds: np.ndarray, train_layout: Layout, mix_layout: Layout | None,
          mix: float, base: np.ndarray, params: np.ndarray, n_slots: int,
          hyper: dict[str, float] | None = None, chunk: int = 16,
          progress: Callable[[int], None] | None = None) -> Trained:
    """Train one agent of ``learner`` per seed (seeds (N,) int64); ``progress(n_done)``
    after each chunk of agents. Deterministic by seed, whatever ``chunk`` or thread count.
    """
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}")
    hyper = dict(DEFAULT_HYPER[learner]) | dict(hyper or {})
    mix_layout = mix_layout or train_layout
    layouts = (train_layout.template, train_layout.obj_spec, train_layout.dist_params,
               mix_layout.template, mix_layout.obj_spec, mix_layout.dist_params)
    n = len(seeds)
    masks = np.zeros((0, MASK_LEN), np.int32)
    rules: list[np.ndarray] = []
    done = 0
    steps = np.zeros(n, np.int64)
    if learner in ("reinforce", "bc"):
        params_out = np.zeros((n, N_OBS))
        curve = np.zeros((n, int(hyper["iterations"])))
    elif learner == "reward_search":
        params_out = np.zeros((n, N_REWARD_FEATURES))
        masks = np.zeros((n, MASK_LEN), np.int32)
        curve = np.zeros((n, int(hyper["rounds"])))
    else:
        params_out = np.zeros((n, 0))
        max_rules = int(hyper["max_rules"])
        table = np.zeros((n, max_rules, RULE_WIDTH), np.int32)
        n_rules = np.zeros(n, np.int64)
        curve = np.zeros((n, max_rules + 1))
    while done < n:
        sl = slice(done, min(done + chunk, n))
        s = np.ascontiguousarray(seeds[sl])
        if learner in ("reinforce", "bc"):
            w, c = params_out[sl], curve[sl]
            train_policies(learner == "bc", s, int(hyper["iterations"]), int(hyper["batch"]),
                           float(hyper["lr"]), float(mix), base, params, *layouts, n_slots,
                           w, c, steps[sl])
        elif learner == "reward_search":
            search = np.zeros(8)
            search[0], search[1] = hyper["budget"], hyper["depth"]
            train_reward_search(s, int(hyper["rounds"]), int(hyper["batch"]),
                                float(hyper["l2"]), search, float(mix), base, params,
                                *layouts, n_slots, params_out[sl], masks[sl], curve[sl],
                                steps[sl])
        else:
            train_piles(s, int(hyper["episodes"]), float(hyper["eps"]), max_rules,
                        int(hyper["eval_batch"]), float(mix), base, params, *layouts,
                        n_slots, table[sl], n_rules[sl], curve[sl], steps[sl])
        done = sl.stop
        if progress is not None:
            progress(done)
    if learner == "pile":
        rules = [table[i, : n_rules[i]].copy() for i in range(n)]
    return Trained(learner, np.asarray(seeds, np.int64), params_out, masks, rules, curve,
                   hyper, float(mix), steps)


def final_return(curve: np.ndarray) -> np.ndarray:
    """(N,) the last finite value of each agent's training curve (N, I)."""
    out = np.full(curve.shape[0], np.nan)
    for i, row in enumerate(curve):
        finite = row[np.isfinite(row)]
        if finite.size:
            out[i] = finite[-1]
    return out
