"""Training trained agents on a scene: scene → learner kernels → trained-agents file.

The session layer's side of :mod:`agents.learners`: it checks the request against the
scene (a maze world, distributions that exist and share a shape), packs the layouts and
the base objective, and hands plain arrays to the compiled learners.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents import learners
from agents.learners import LEARNERS, Layout, Trained
from agents.store import write_agents_file
from simulator import __version__
from simulator.cluster import chunks, map_ordered, n_workers, scene_args, scene_from_text
from simulator.core.errors import UserError
from simulator.scene import Scene
from simulator.worlds import get_driver, parse_objective, world, world_kinds
from simulator.worlds.maze.scene import object_slots


@dataclass(frozen=True)
class TrainRequest:
    """What to train: learners, agents per learner, seed, episode budget per agent (None:
    each learner's default), the distribution trained on, and the diversification: a
    fraction ``mix`` of training episodes drawn from ``mix_from`` instead."""

    learners: tuple[str, ...]
    n_agents: int
    seed: int = 0
    episodes: int | None = None
    distribution: str = "train"
    mix: float = 0.0
    mix_from: str = "deploy"


def parse_fractions(text: str, what: str = "--mix") -> list[float]:
    """``"0, 0.02, 0.1"`` → [0.0, 0.02, 0.1] (duplicates dropped, [0.0] when empty);
    UserError naming ``what`` unless each is a number in [0, 1]."""
    out: list[float] = []
    for piece in text.split(","):
        if not piece.strip():
            continue
        try:
            value = float(piece)
        except ValueError:
            raise UserError(f"{what}: {piece.strip()!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise UserError(f"{what}: {value:g} is not between 0 and 1")
        if value not in out:
            out.append(value)
    return out or [0.0]


def check_request(scene: Scene, req: TrainRequest) -> None:
    """UserError (one line) when the scene cannot be trained on as asked."""
    if not world(scene.world).trainable:
        trainable = [kind for kind in world_kinds() if world(kind).trainable]
        raise UserError(f"{scene.name}: learners train on {', '.join(trainable)} worlds;"
                        f" this scene is a {scene.world} world")
    for name in req.learners:
        if name not in LEARNERS:
            raise UserError(f"unknown learner {name!r} (choose from {', '.join(LEARNERS)})")
    for dist in (req.distribution, req.mix_from) if req.mix > 0 else (req.distribution,):
        if dist not in scene.layouts:
            raise UserError(f"{scene.name}: no distribution {dist!r}"
                            f" (choose from {', '.join(scene.distributions)})")
    if not 0.0 <= req.mix <= 1.0:
        raise UserError(f"--mix {req.mix} must be between 0 and 1")
    if req.mix > 0 and scene.layouts[req.mix_from].shape != scene.layouts[req.distribution].shape:
        raise UserError(f"{scene.name}: --mix needs {req.mix_from!r} and {req.distribution!r}"
                        " to have the same grid size")
    if req.n_agents < 1:
        raise UserError("--agents must be at least 1")


def _layout(scene: Scene, name: str) -> Layout:
    lay = scene.layouts[name]
    return Layout(lay.template, lay.obj_spec, lay.dist_params)


def concat(parts: list[Trained]) -> Trained:
    """One learner's chunks joined into one :class:`Trained` (agents in seed order)."""
    first = parts[0]
    steps = [p.env_steps for p in parts]
    return Trained(first.learner, np.concatenate([p.seeds for p in parts]),
                   np.concatenate([p.params for p in parts]),
                   np.concatenate([p.masks for p in parts]),
                   [r for p in parts for r in p.rules],
                   np.concatenate([p.curve for p in parts]), dict(first.hyper), first.mix,
                   np.concatenate(steps) if all(s is not None for s in steps) else None)


def train_scene(scene: Scene, req: TrainRequest,
                progress: Callable[[str, int], None] | None = None, chunk: int = 16,
                on_chunk: Callable[[str, Trained], None] | None = None,
                client: Any = None) -> list[Trained]:
    """Train ``req.n_agents`` agents per learner, ``chunk`` agents at a time.

    ``progress(learner, n_done)`` and ``on_chunk(learner, trained_so_far)`` after every
    chunk (``on_chunk`` may raise to stop: the GUI's cancel). Agent i of every learner has
    the same seed, derived from (req.seed, i), so the chunking changes nothing trained.
    With ``client`` (dask.distributed), the agents are split into tasks on its workers:
    the same weights bit for bit.
    """
    check_request(scene, req)
    seeds = learners.agent_seeds(req.seed, req.n_agents)
    if client is not None:
        return train_on(client, scene, req, progress)
    out = []
    for name in req.learners:
        parts: list[Trained] = []
        for start in range(0, req.n_agents, chunk):
            part = train_learner(scene, req, name,
                                 np.ascontiguousarray(seeds[start:start + chunk]))
            parts.append(part)
            if progress is not None:
                progress(name, start + len(part.seeds))
            if on_chunk is not None:
                on_chunk(name, concat(parts))
        out.append(concat(parts))
    return out


def train_learner(scene: Scene, req: TrainRequest, name: str, seeds: np.ndarray,
                  progress: Callable[[int], None] | None = None) -> Trained:
    """One learner's agents of ``req`` for the given seeds (any subset of the request's:
    an agent's weights depend only on its seed)."""
    params = get_driver(scene.world).params(scene)
    base = parse_objective(scene.model.base_objective, scene.world).as_array()
    train_layout = _layout(scene, req.distribution)
    mix_layout = _layout(scene, req.mix_from) if req.mix > 0 else None
    hyper = (learners.hyper_for_episodes(name, req.episodes) if req.episodes
             else dict(learners.DEFAULT_HYPER[name]))
    return learners.train(name, seeds, train_layout, mix_layout, req.mix, base, params,
                          object_slots(scene), hyper, progress=progress)


def save(path: str | Path, scene: Scene, req: TrainRequest, trained: Sequence[Trained]) -> Path:
    """Write the trained agents with the scene's content hash and text."""
    return write_agents_file(path, list(trained), scene_name=scene.name,
                             scene_hash=scene.content_hash, scene_toml=scene.text,
                             world=scene.world, seed=req.seed, distribution=req.distribution,
                             mix_from=req.mix_from, version=__version__)


# --- the same, split into tasks on a dask.distributed cluster (simulator/cluster.py) -------
def _train_part(scene_text: str, scene_path: str | None, req: TrainRequest,
                part: tuple[str, int, int]) -> Trained:
    learner, lo, hi = part
    scene = scene_from_text(scene_text, scene_path)
    return train_learner(scene, req, learner,
                         learners.agent_seeds(req.seed, hi - lo, first=lo))


def train_on(client: Any, scene: Scene, req: TrainRequest,
             progress: Callable[[str, int], None] | None = None) -> list[Trained]:
    """:func:`train_scene` with each learner's agents split into tasks by seed: agent i
    keeps seed ``agent_seeds(req.seed, n)[i]``, so the weights are the same bit for bit as
    a local run's. ``progress(learner, n_done)`` as parts finish."""
    parts = [(name, lo, hi) for name in req.learners
             for lo, hi in chunks(req.n_agents, n_workers(client))]
    done = dict.fromkeys(req.learners, 0)

    def finished(i: int) -> None:
        name, lo, hi = parts[i]
        done[name] += hi - lo
        if progress is not None:
            progress(name, done[name])

    out = map_ordered(client, _train_part, parts, *scene_args(scene), req, finished=finished)
    return [concat([r for (nm, _, _), r in zip(parts, out, strict=True) if nm == name])
            for name in req.learners]
