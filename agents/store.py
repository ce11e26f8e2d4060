"""Trained-agents files: every agent's weights, learner, hyper-parameters, the content hash
of the scene it was trained on, and its training curve, in one HDF5 file.

Layout (format ``steersim-agents``, version 1)::

    / attrs: format, format_version, steersim_version, created_utc, scene_name,
             scene_hash, scene_toml, world, seed (the training run's seed)
    /<group>            one per learner and diversification fraction, e.g. ``reinforce``,
                        ``bc_mix0.05``; attrs: learner, hyper (JSON), mix, mix_from,
                        distribution (trained on), n_agents
      seeds   (N,) int64                  each agent's seed
      params  (N, P) float64              policy weights (P = N_OBS) or reward model
      masks   (N, MASK_LEN) int32         reward_search: the learned objective mask
      curve   (N, I) float64              mean train return per iteration (NaN padded)
      rules   (N,) str                    pile: each agent's rule table as JSON text

An agent is named ``FILE#k`` (the k-th agent of the file, groups in file order) or
``FILE#group/k``. Files are written to a temporary name and renamed, so an interrupted
``train`` never leaves a half-written file where a good one stood.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.learners import LEARNERS, MASK_LEN, Trained
from agents.registry import EXTERNAL_PREFIX, TRAINED_PREFIX, AgentSpec, ObjectiveLike
from agents.rules import RULE_WIDTH, compile_rules
from simulator.core.errors import UserError
from simulator.worlds import make_agent, parse_objective
from simulator.worlds.maze.kernels import ACTIONS
from simulator.worlds.maze.observe import RULE_FEATURES

FORMAT = "steersim-agents"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainedAgent:
    """One stored agent as the registry builds an AgentSpec from it.

    agent_name: the kernel behaviour (policy, learned_pile, search); params (P,) float64;
    rules (R, RULE_WIDTH) int32; mask (MASK_LEN,) int32 or None; description: what the
    label shows ("reinforce #3 of red_door.agents.h5").
    """

    agent_name: str
    params: np.ndarray
    rules: np.ndarray
    rule_text: tuple[str, ...]
    mask: np.ndarray | None
    description: str
    learner: str
    group: str
    index: int


@dataclass
class AgentsFile:
    """A whole trained-agents file read back: its attributes and one Trained per group."""

    path: Path
    attrs: dict[str, Any]
    groups: dict[str, Trained]

    @property
    def scene_hash(self) -> str:
        return str(self.attrs.get("scene_hash", ""))

    def refs(self) -> list[tuple[str, int]]:
        """(group, index) of every agent, in the file's order (what ``#k`` counts)."""
        return [(g, i) for g, tr in self.groups.items() for i in range(len(tr.seeds))]


def group_name(learner: str, mix: float) -> str:
    return learner if mix == 0 else f"{learner}_mix{mix:g}"


def write_agents_file(path: str | Path, trained: list[Trained], *, scene_name: str,
                      scene_hash: str, scene_toml: str, world: str, seed: int,
                      distribution: str, mix_from: str, version: str) -> Path:
    """Write every run in ``trained`` to ``path`` (atomically: temporary file, then rename)."""
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        # track_order: groups read back in training order, which is what #k counts.
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION,
                            "steersim_version": version, "scene_name": scene_name,
                            "scene_hash": scene_hash, "scene_toml": scene_toml,
                            "world": world, "seed": int(seed),
                            "created_utc": datetime.now(UTC).isoformat(timespec="seconds")})
            for tr in trained:
                name = group_name(tr.learner, tr.mix)
                if name in f:
                    raise UserError(f"{path}: learner {name} twice in one file")
                g = f.create_group(name)
                g.attrs.update({"learner": tr.learner, "hyper": json.dumps(tr.hyper),
                                "mix": tr.mix, "mix_from": mix_from,
                                "distribution": distribution, "n_agents": len(tr.seeds)})
                g["seeds"] = tr.seeds.astype(np.int64)
                g["params"] = tr.params.astype(np.float64)
                g["masks"] = tr.masks.astype(np.int32)
                g["curve"] = tr.curve.astype(np.float64)
                if tr.rules:
                    texts = [json.dumps(list(tr.rule_text(i))) for i in range(len(tr.seeds))]
                    g.create_dataset("rules", data=texts, dtype=h5py.string_dtype())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_agents_file(path: str | Path) -> AgentsFile:
    """Read a trained-agents file; UserError (one line naming the file) if it is missing,
    not HDF5, not an agents file, or damaged."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such agents file")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise UserError(f"{path}: not a steersim agents file (train one with"
                                " 'steersim train SCENE -o FILE')")
            if int(attrs.get("format_version", 0)) > FORMAT_VERSION:
                raise UserError(f"{path}: agents format version {attrs['format_version']} is"
                                " newer than this steersim reads")
            groups: dict[str, Trained] = {}
            for name, g in f.items():
                learner = str(g.attrs["learner"])
                if learner not in LEARNERS:
                    raise UserError(f"{path}: {name}: unknown learner {learner!r}")
                seeds = np.asarray(g["seeds"][()], np.int64)
                n = len(seeds)
                params = np.asarray(g["params"][()], np.float64)
                masks = np.asarray(g["masks"][()], np.int32)
                curve = np.asarray(g["curve"][()], np.float64)
                if params.shape[0] != n or curve.shape[0] != n or (
                        masks.size and masks.shape != (n, MASK_LEN)):
                    raise UserError(f"{path}: {name}: arrays disagree on the number of agents")
                rules: list[np.ndarray] = []
                if "rules" in g:
                    texts = [t.decode() if isinstance(t, bytes) else t for t in g["rules"][()]]
                    rules = [compile_rules(json.loads(t), RULE_FEATURES, ACTIONS)
                             if json.loads(t) else np.zeros((0, RULE_WIDTH), np.int32)
                             for t in texts]
                groups[name] = Trained(learner, seeds, params, masks, rules, curve,
                                       json.loads(g.attrs["hyper"]), float(g.attrs["mix"]))
    except UserError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise UserError(f"{path}: cannot read agents file: {exc}") from None
    if not groups:
        raise UserError(f"{path}: holds no agents")
    return AgentsFile(path, attrs, groups)


_CACHE: dict[tuple[str, int, int], AgentsFile] = {}


def _read_cached(path: Path) -> AgentsFile:
    """read_agents_file, remembered while the file's size and mtime stay the same (a scene
    builds its lanes several times; a retrained file is read again)."""
    try:
        st = path.stat()
    except OSError:
        return read_agents_file(path)
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = read_agents_file(path)
    return _CACHE[key]


def parse_ref(ref: str) -> tuple[str, str | None, int]:
    """``FILE#k`` or ``FILE#group/k`` → (file, group or None, k); UserError when malformed."""
    file, hash_mark, which = ref.rpartition("#")
    if not hash_mark or not file:
        raise UserError(f"trained agent {ref!r}: name one agent, e.g. 'trained:agents.h5#0'"
                        " or 'trained:agents.h5#reinforce/3'")
    group, slash, index = which.rpartition("/")
    try:
        k = int(index)
    except ValueError:
        raise UserError(f"trained agent {ref!r}: {index!r} is not an agent number") from None
    if k < 0:
        raise UserError(f"trained agent {ref!r}: agent numbers start at 0")
    return file, (group if slash else None), k


def resolve_path(file: str, base_dir: str | None) -> Path:
    """A relative agents file is looked up in the working directory, then in ``base_dir``
    (a scene's own folder), so a shipped scene can name the agents shipped beside it."""
    path = Path(file)
    if not path.is_absolute() and not path.exists() and base_dir is not None:
        candidate = Path(base_dir) / file
        if candidate.exists():
            return candidate
    return path


def agent_from_file(agents: AgentsFile, group: str, index: int) -> TrainedAgent:
    """The agent ``index`` of ``group`` of an open file (UserError when out of range)."""
    if group not in agents.groups:
        raise UserError(f"{agents.path}: no learner group {group!r}"
                        f" (the file has {', '.join(agents.groups)})")
    tr = agents.groups[group]
    if not 0 <= index < len(tr.seeds):
        raise UserError(f"{agents.path}: {group} has agents 0..{len(tr.seeds) - 1}, not {index}")
    description = f"{group} #{index} of {agents.path.name}"
    if tr.learner in ("reinforce", "bc"):
        return TrainedAgent("policy", tr.params[index].copy(), np.zeros((0, RULE_WIDTH),
                            np.int32), (), None, description, tr.learner, group, index)
    if tr.learner == "pile":
        return TrainedAgent("learned_pile", np.zeros(8), tr.rules[index], tr.rule_text(index),
                            None, description, tr.learner, group, index)
    search = np.zeros(8)
    search[0], search[1] = tr.hyper["budget"], tr.hyper["depth"]
    return TrainedAgent("search", search, np.zeros((0, RULE_WIDTH), np.int32), (),
                        tr.masks[index].copy(), description, tr.learner, group, index)


def load_trained(ref: str, world: str, scene_hash: str | None = None,
                 base_dir: str | None = None) -> TrainedAgent:
    """Load ``FILE#k`` / ``FILE#group/k``. UserError when the file is bad, the agent does
    not exist, its world differs, or ``scene_hash`` is given and differs from the hash of
    the scene the agent was trained on."""
    file, group, index = parse_ref(ref)
    agents = _read_cached(resolve_path(file, base_dir))
    if agents.attrs.get("world") != world:
        raise UserError(f"{agents.path}: agents of a {agents.attrs.get('world')} world cannot"
                        f" drive a {world} world")
    if scene_hash is not None and agents.scene_hash != scene_hash:
        raise UserError(
            f"{agents.path}: trained on scene {agents.attrs.get('scene_name')!r} with content"
            f" hash {agents.scene_hash[:12]}, not this scene ({scene_hash[:12]}); retrain"
            " with 'steersim train'")
    if group is None:
        refs = agents.refs()
        if index >= len(refs):
            raise UserError(f"{agents.path}: has agents #0..#{len(refs) - 1}, not #{index}")
        group, index = refs[index]
    return agent_from_file(agents, group, index)


def build_agent(name: str, objective: str | ObjectiveLike, world: str = "maze",
                scene_hash: str | None = None, base_dir: str | None = None,
                **params: Any) -> AgentSpec:
    """Any agent by name: ``trained:FILE#k`` (or ``#group/k``) from a trained-agents file,
    ``python:package.module:callable`` an external policy (agents/external.py), anything
    else through :func:`agents.registry.make_agent`. ``scene_hash``, when given,
    must be the content hash of the scene the trained agent learned on; ``base_dir``: where
    a relative FILE is looked for after the working directory. UserError on bad input.

    A trained agent's ``objective`` only says what reports measure it against (default:
    the scene's base objective); its actions never read it.
    """
    if name.startswith(EXTERNAL_PREFIX):
        from agents.external import make_external

        return make_external(name, objective, world, **params)
    if not name.startswith(TRAINED_PREFIX):
        return make_agent(name, objective, world, **params)
    if params:
        raise UserError(f"{name}: a trained agent takes no parameters"
                        f" (got {', '.join(params)})")
    obj = parse_objective(objective, world) if isinstance(objective, str) else objective
    t = load_trained(name[len(TRAINED_PREFIX):], world, scene_hash, base_dir)
    return AgentSpec(t.agent_name, obj, t.params, t.rules, t.rule_text, world, t.mask,
                     t.description)
