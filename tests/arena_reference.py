"""A plain-NumPy reference of one arena step, written from the physics in the docstring of
:mod:`simulator.worlds.arena.kernels` rather than from the kernels: all pairs tested (no cells),
every array operation spelled out. Used to check
:func:`simulator.worlds.arena.kernels.world_step`."""

from __future__ import annotations

import math

import numpy as np

SEGMENT, BOX = 0, 1


def _wall_distance(p: np.ndarray, v: np.ndarray, kind: int,
                   geom: np.ndarray) -> tuple[float, np.ndarray]:
    """Signed distance from point p to a wall's surface and the unit normal wall → p."""
    x0, y0, x1, y1, half = geom
    if kind == SEGMENT:
        a, b = np.array([x0, y0]), np.array([x1, y1])
        edge = b - a
        l2 = float(edge @ edge)
        s = 0.0 if l2 == 0.0 else min(max(float((p - a) @ edge) / l2, 0.0), 1.0)
        diff = p - (a + s * edge)
        d = float(np.hypot(*diff))
        if d > 0.0:
            return d - half, diff / d
        n = np.array([-edge[1], edge[0]]) / math.sqrt(l2)
        return -half, (-n if n @ v > 0.0 else n)
    q = np.array([min(max(p[0], x0), x1), min(max(p[1], y0), y1)])
    diff = p - q
    d = float(np.hypot(*diff))
    if d > 0.0:
        return d - half, diff / d
    gaps = [(p[0] - x0, (-1.0, 0.0)), (x1 - p[0], (1.0, 0.0)), (p[1] - y0, (0.0, -1.0)),
            (y1 - p[1], (0.0, 1.0))]
    gap, n = min(gaps, key=lambda g: g[0])
    return -gap - half, np.array(n)


def ref_world_step(params: dict[str, float], pos: np.ndarray, vel: np.ndarray,
                   radius: np.ndarray, mass: np.ndarray, restitution: np.ndarray,
                   friction: np.ndarray, force: np.ndarray, walls: list[tuple[int, np.ndarray]],
                   box: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """One step (no noise) of B bodies: pos, vel (B, 2); force (B, 2) N held over the step.

    params: dt, substeps, max_speed, wall_restitution, correction. Returns new (pos, vel).
    """
    pos, vel = pos.astype(float).copy(), vel.astype(float).copy()
    n = len(pos)
    n_sub = int(params["substeps"])
    h = params["dt"] / n_sub
    vmax = params["max_speed"]
    inv_mass = 1.0 / mass
    decay = np.exp(-friction * h)

    def clamp_speed(v: np.ndarray) -> np.ndarray:
        speed = float(np.hypot(*v))
        return v * (vmax / speed) if speed > vmax else v

    dv = np.zeros((n, 2))
    dp = np.zeros((n, 2))
    for _ in range(n_sub):
        for i in range(n):
            vel[i] = clamp_speed(vel[i] + dv[i])
            pos[i] = pos[i] + dp[i]
            vel[i] = clamp_speed((vel[i] + h * force[i] * inv_mass[i]) * decay[i])
            pos[i] = pos[i] + h * vel[i]
        dv[:] = 0.0
        dp[:] = 0.0
        for i in range(n):  # every body's response from the same (pos, vel): Jacobi
            for j in range(n):
                if j == i:
                    continue
                diff = pos[j] - pos[i]
                reach = radius[i] + radius[j]
                d = float(np.hypot(*diff))
                if d >= reach:
                    continue
                normal = diff / d if d > 0 else np.array([1.0 if i < j else -1.0, 0.0])
                w_sum = inv_mass[i] + inv_mass[j]
                vn = float((vel[j] - vel[i]) @ normal)
                if vn < 0.0:  # impulse P = -(1 + e) vn / w_sum on j, -P on i
                    e = restitution[i] * restitution[j]
                    dv[i] += (1.0 + e) * vn / w_sum * inv_mass[i] * normal
                dp[i] -= params["correction"] * (reach - d) / w_sum * inv_mass[i] * normal
            e = restitution[i] * params["wall_restitution"]
            x, y = pos[i]
            planes = [(x, np.array([1.0, 0.0])), (box[0] - x, np.array([-1.0, 0.0])),
                      (y, np.array([0.0, 1.0])), (box[1] - y, np.array([0.0, -1.0]))]
            contacts = [_wall_distance(pos[i], vel[i], kind, geom) for kind, geom in walls]
            # A body touches at most one side per axis (left or right, bottom or top).
            contacts += [planes[0] if x < radius[i] else planes[1],
                         planes[2] if y < radius[i] else planes[3]]
            for dist, normal in contacts:
                pen = radius[i] - dist
                if pen <= 0.0:
                    continue
                vn = float(vel[i] @ normal)
                if vn < 0.0:
                    dv[i] -= (1.0 + e) * vn * normal
                dp[i] += pen * normal
    for i in range(n):
        vel[i] = clamp_speed(vel[i] + dv[i])
        pos[i] = pos[i] + dp[i]
    return pos, vel
