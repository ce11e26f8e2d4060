"""Fused lane kernels: world step + agent policy + perturbations, parallel over copies.

This is the session layer's bridge to the engine: it is the only module that combines a
world's kernels with the agents' policies. One call advances every copy of a lane's
ensemble by up to ``n_steps`` steps without returning to Python; each copy runs its own
loop, so a copy's trajectory depends only on (seed, copy index, event log).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from agents.maze import act
from agents.registry import AgentSpec
from simulator.rng import STREAM_NOISE, STREAM_NOISE_ACTION, rand_int, rand_uniform
from simulator.worlds.maze import (
    N_ACTIONS,
    STATUS_RUNNING,
    MazeState,
    apply_event,
    episode_status,
    transition,
)


@njit(cache=True, parallel=True, nogil=True)
def maze_rollout(n_steps, seed, params, agent_code, agent_params, rules, objective,
                 ev_step, ev_kind, ev_target, ev_params, ev_copy,
                 cell, agent_pos, obj_kind, obj_color, obj_pos, obj_reward, t, status, ret,
                 reached, noise,
                 tr_action, tr_reward, tr_rule, tr_nodes, world_steps):
    """Advance every running copy by up to ``n_steps`` steps, in place.

    Per step of copy e: apply the events logged for (t[e], e), let the agent act, maybe
    replace the action by slip noise, apply :func:`transition`. A copy that terminates or
    is truncated stops and stays as it is.

    Events (n_events,): ev_step int32 (sorted ascending), ev_kind int32, ev_target int32,
    ev_params (n_events, N_EVENT_PARAMS) float64, ev_copy int32 (-1: every copy).
    State arrays as in :class:`MazeState`. Traces are (n_steps, E) — action int8, reward
    float64, rule int16, nodes int32 — or (0, E) to skip tracing; world_steps (E,) int64
    accumulates the search's simulated steps.
    """
    n_copies = cell.shape[0]
    trace = tr_action.shape[0] > 0
    n_events = ev_step.shape[0]
    for e in prange(n_copies):
        # The copy's scalars live in registers for the whole loop and are written back once:
        # this, not the arithmetic, is what the ensemble's throughput depends on.
        cell_e, kind_e, color_e = cell[e], obj_kind[e], obj_color[e]
        pos_e, reward_e = obj_pos[e], obj_reward[e]
        row, col = agent_pos[e, 0], agent_pos[e, 1]
        step, status_e, ret_e = t[e], status[e], ret[e]
        reached_e, noise_e = reached[e], noise[e]
        searched = 0
        i_ev = 0
        while i_ev < n_events and ev_step[i_ev] < step:  # events already in this copy's past
            i_ev += 1
        for s in range(n_steps):
            if status_e != STATUS_RUNNING:
                break
            if i_ev < n_events and ev_step[i_ev] == step:
                agent_pos[e, 0], agent_pos[e, 1] = row, col
                while i_ev < n_events and ev_step[i_ev] == step:
                    if ev_copy[i_ev] < 0 or ev_copy[i_ev] == e:
                        apply_event(e, ev_kind[i_ev], ev_target[i_ev], ev_params[i_ev], cell,
                                    agent_pos, obj_kind, obj_color, obj_pos, obj_reward, noise)
                    i_ev += 1
                row, col, noise_e = agent_pos[e, 0], agent_pos[e, 1], noise[e]
            action, rule, nodes, steps = act(
                agent_code, agent_params, rules, objective, cell_e, kind_e, color_e, pos_e,
                reward_e, row, col, seed, e, step, params,
            )
            searched += steps
            if noise_e > 0.0 and rand_uniform(seed, e, step, STREAM_NOISE) < noise_e:
                action = rand_int(seed, e, step, STREAM_NOISE_ACTION, N_ACTIONS)
            row, col, reward, terminated, slot = transition(
                cell_e, kind_e, pos_e, reward_e, row, col, action, params
            )
            ret_e += reward
            step += 1
            status_e, reached_e = episode_status(terminated, slot, step, params)
            if trace:
                tr_action[s, e] = action
                tr_reward[s, e] = reward
                tr_rule[s, e] = rule
                tr_nodes[s, e] = nodes
        agent_pos[e, 0], agent_pos[e, 1] = row, col
        t[e], status[e], ret[e], reached[e] = step, status_e, ret_e, reached_e
        world_steps[e] += searched


@dataclass
class StepTrace:
    """What happened in one :func:`run_maze` call, per step and copy.

    action (S, E) int8 executed action (-1 where the copy had already stopped);
    reward (S, E) float64; rule (S, E) int16 heuristic rule fired (-1 none);
    nodes (S, E) int32 search nodes expanded; world_steps (E,) int64 simulated inside search.
    """

    action: np.ndarray
    reward: np.ndarray
    rule: np.ndarray
    nodes: np.ndarray
    world_steps: np.ndarray


@dataclass
class EventArrays:
    """A lane's perturbation log packed for the kernels (sorted by step, stable)."""

    step: np.ndarray  # (n,) int32
    kind: np.ndarray  # (n,) int32
    target: np.ndarray  # (n,) int32
    params: np.ndarray  # (n, N_EVENT_PARAMS) float64
    copy: np.ndarray  # (n,) int32

    @classmethod
    def empty(cls, n_params: int) -> EventArrays:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
                   np.zeros((0, n_params)), np.zeros(0, np.int32))


def run_maze(state: MazeState, agent: AgentSpec, events: EventArrays, params: np.ndarray,
             seed: int, n_steps: int, trace: bool = True) -> StepTrace:
    """Advance ``state`` in place by up to ``n_steps`` steps; returns the per-step trace."""
    n_copies = state.n_copies
    rows = n_steps if trace else 0
    tr = StepTrace(
        action=np.full((rows, n_copies), -1, np.int8),
        reward=np.zeros((rows, n_copies), np.float64),
        rule=np.full((rows, n_copies), -1, np.int16),
        nodes=np.zeros((rows, n_copies), np.int32),
        world_steps=np.zeros(n_copies, np.int64),
    )
    maze_rollout(
        n_steps, seed, params, agent.code, agent.params, agent.rules, agent.objective.as_array(),
        events.step, events.kind, events.target, events.params, events.copy,
        state.cell, state.agent_pos, state.obj_kind, state.obj_color, state.obj_pos,
        state.obj_reward, state.t, state.status, state.ret, state.reached, state.noise,
        tr.action, tr.reward, tr.rule, tr.nodes, tr.world_steps,
    )
    return tr
