"""A recording as a Minari dataset: ``steersim export FILE --format minari --dataset-id ID``.

Every complete episode of the recording becomes one Minari episode (its id in recording
order, its ``seed`` the episode's), with Minari's layout: ``observations`` (N + 1, ...) —
the Gymnasium envs' observation (simulator/worlds/<kind>/sense.py) computed from the recorded full
state at
every step — and ``actions``, ``rewards``, ``terminations``, ``truncations`` (N, ...) of the
lane's first agent as recorded (the executed actions: a maze slip shows as the move made).
The spaces are the Gymnasium envs' spaces. Datasets land in Minari's local folder
(``MINARI_DATASETS_PATH``, default ``~/.minari/datasets``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.core.errors import UserError
from simulator.recording import Episode, Recording
from simulator.worlds import get_driver, sense


@dataclass
class MinariExport:
    dataset_id: str
    episodes: int
    steps: int


def episode_arrays(episode: Episode) -> dict[str, np.ndarray]:
    """One recorded episode in Minari's layout (see the module docstring)."""
    world = episode.recording.world
    state_type = get_driver(world).state_type
    states = state_type(**{name: episode.states(name) for name in episode.state_fields})
    actions = episode.actions[:, 0]
    if sense(world).N_DISCRETE:
        actions = actions.astype(np.int64)
    else:
        actions = actions.reshape(len(actions), -1).astype(np.float32)
    return {
        "observations": sense(world).observe_copies(states),
        "actions": actions,
        "rewards": episode.rewards[:, 0].astype(np.float64),
        "terminations": episode.terminations.astype(np.bool_),
        "truncations": episode.truncations.astype(np.bool_),
    }


def export_minari(file: str | Path, dataset_id: str, force: bool = False) -> MinariExport:
    """Write the recording ``file`` as the local Minari dataset ``dataset_id``."""
    import minari
    from minari.data_collector import EpisodeBuffer

    from simulator.envs.gym_env import action_space, observation_space

    recording = Recording.open(file)
    with recording:
        if dataset_id in minari.list_local_datasets():
            if not force:
                raise UserError(f"{dataset_id}: a local Minari dataset of that name exists"
                                " (use --force to replace it)")
            minari.delete_dataset(dataset_id)
        done = [ep for ep in recording if ep.status == "complete" and ep.n_steps > 0]
        if not done:
            raise UserError(f"{file}: no complete episode to export")
        buffers = []
        for k, episode in enumerate(done):
            arrays = episode_arrays(episode)
            buffers.append(EpisodeBuffer(id=k, seed=episode.seed, **arrays))
        first_state = done[0].world_state_at(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # Minari's "no author" etc.
                minari.create_dataset_from_buffers(
                    dataset_id, buffers,
                    observation_space=observation_space(recording.world, first_state),
                    action_space=action_space(recording.world), algorithm_name="steersim",
                    description=f"steersim recording {Path(file).name} of scene"
                                f" {recording.scene_name}")
        except ValueError as exc:
            raise UserError(f"--dataset-id {dataset_id}: {exc}") from None
    return MinariExport(dataset_id, len(buffers), sum(len(b.rewards) for b in buffers))
