"""The maze's basin map: from which start cells the lane's agent reaches its target."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.worlds.maze import kernels as maze
from simulator.worlds.maze.objective import parse_objective


def basin_map(session: Any, lane: int, objective: Any | None = None) -> np.ndarray:
    """Which start cells reach the target within the horizon, (H, W) int8.

    1 = reaches, 0 = does not, -1 = not a start cell (wall, lava, object). Every floor cell of
    copy 0's initial world becomes one copy with the agent placed there; the lane's agent then
    runs for the horizon and the copies in the target set are the basin.
    """
    scene, driver = session.scene, session.driver
    objective = objective or parse_objective(scene.model.base_objective)
    first = driver.initial_state(scene, session.distribution, 1, session.seed)
    height, width = first.cell.shape[1:]
    occupied = np.zeros((height, width), bool)
    for k in range(first.obj_kind.shape[1]):
        if first.obj_kind[0, k] != maze.OBJ_NONE:
            occupied[tuple(first.obj_pos[0, k])] = True
    starts = np.argwhere((first.cell[0] == maze.CELL_FLOOR) & ~occupied)
    trial = maze.MazeState(**{k: np.repeat(v, len(starts), axis=0)
                              for k, v in first.as_dict().items()})
    trial.agent_pos[:] = starts
    lane_obj = session.lanes[lane]
    driver.advance(trial, lane_obj.agents, session.packed_events(lane_obj), session.params,
                   session.seed, session.horizon, trace=False)
    reached = driver.in_target(scene, trial, objective)
    out = np.full((height, width), -1, np.int8)
    out[starts[:, 0], starts[:, 1]] = reached.astype(np.int8)
    return out
