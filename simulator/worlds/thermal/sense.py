"""What an agent outside the engine perceives of the thermal room, batched over copies:
``(E, NS + NH + NW)`` float32 — every sensor's reading (°C), every heater's power fraction
in [0, 1] (after the last step), every window open (1) or shut (0), in the scene legend's
order. An action is the heater's power fraction (the kernel clips it to [0, 1]).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTION_WIDTH = 1
N_DISCRETE = 0  # continuous actions in [ACTION_LOW, ACTION_HIGH]
ACTION_LOW, ACTION_HIGH = 0.0, 1.0
SOLO = False  # a lane's other agents (other heaters) act beside the controlled one


def scratch(state: Any) -> None:
    return None  # nothing to keep between calls


def observation_shape(state: Any) -> tuple[int, ...]:
    return (state.sensor_pos.shape[1] + state.heater_power.shape[1]
            + state.window_open.shape[1],)


def observation_bounds(state: Any) -> tuple[np.ndarray, np.ndarray]:
    # Finite, loose bounds no physical reading leaves: absolute zero up to a furnace.
    shape = observation_shape(state)
    low, high = np.full(shape, -273.15, np.float32), np.full(shape, 1e4, np.float32)
    n_sensors = state.sensor_pos.shape[1]
    low[n_sensors:], high[n_sensors:] = 0.0, 1.0
    return low, high


def observe_copies(state: Any, maps: Any = None, refresh: Any = None) -> np.ndarray:
    """Every copy's observation, (E, NS + NH + NW) float32."""
    n_copies = state.n_copies
    out = np.empty((n_copies, *observation_shape(state)), np.float32)
    rows, cols = state.sensor_pos[:, :, 0], state.sensor_pos[:, :, 1]
    readings = state.temp[np.arange(n_copies)[:, None], rows, cols]
    np.concatenate([readings, state.heater_power, state.window_open], axis=1, out=out,
                   casting="unsafe")
    return out
