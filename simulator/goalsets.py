"""Dense vs sparse constraints: which candidate goals stay compatible with training.

From N training episodes (copies 0..N-1 of the scene's ``train`` distribution, the same a
Session draws), a candidate goal (:func:`simulator.worlds.maze.goals.candidate_goals`) is
compatible with
training under a regime when it agrees with the base objective on every constraint the
regime imposes:

- ``sparse``: the episode's outcome — pursuing the candidate earns the reward exactly when
  pursuing the base objective does, from the same object;
- ``dense``: the base objective's optimal action at every state of its own pursuit — the
  candidate's shortest-path moves include one of the base objective's there (ties allowed).

The compatible set can only shrink as N grows, and the base objective is always in it. What
the set predicts at deployment: each candidate is pursued on ``deploy`` episodes and its
ends classified as in :mod:`simulator.misgen` (base / proxy / other / nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from simulator import misgen
from simulator.core.errors import UserError
from simulator.core.rng import STREAM_MIX, rand_uniform
from simulator.scene import Scene
from simulator.worlds import get_driver, parse_objective, world
from simulator.worlds.maze.goals import Candidate, candidate_goals, pursue_goals

REGIMES = ("sparse", "dense")
# Which regime each learner's training imposes (for the side-by-side test on learners).
LEARNER_REGIME = {"reinforce": "sparse", "reward_search": "sparse", "bc": "dense",
                  "pile": "dense"}


def scene_goals(scene: Scene) -> list[Candidate]:
    """The candidate goals of a maze scene (UserError for other worlds)."""
    if not world(scene.world).trainable:  # goals are the learners' world's (the maze's)
        raise UserError(f"{scene.name}: candidate goals are defined for maze scenes, not"
                        f" {scene.world}")
    present: set[tuple[int, int]] = set()
    for layout in scene.layouts.values():
        for kind, colour_mask, *_ in layout.obj_spec:
            for c in range(6):
                if int(colour_mask) & (1 << c):
                    present.add((int(kind), c))
    base = parse_objective(scene.model.base_objective)
    return candidate_goals((base.kind, base.color), scene.model.base_objective, present)


@dataclass
class Pursuit:
    """Every candidate pursued on E episodes: reached (E, C) int8, pos (E, C, 2) int32,
    status (E, C) int8, dense (E, C) bool, and the drawn initial state."""

    state: Any
    reached: np.ndarray
    pos: np.ndarray
    status: np.ndarray
    dense: np.ndarray


def _draw(scene: Scene, distribution: str, n: int, seed: int, mix: float,
          mix_from: str) -> Any:
    driver = get_driver(scene.world)
    state = driver.initial_state(scene, distribution, n, seed)
    if mix > 0:
        if scene.layouts[mix_from].shape != scene.layouts[distribution].shape:
            raise UserError(f"{scene.name}: --mix needs {mix_from!r} and {distribution!r} to"
                            " have the same grid size")
        other = driver.initial_state(scene, mix_from, n, seed)
        pick = np.array([rand_uniform(seed, e, 0, STREAM_MIX) < mix for e in range(n)])
        for name, values in state.as_dict().items():
            values[pick] = getattr(other, name)[pick]
    return state


def pursue(scene: Scene, goals: list[Candidate], state: Any) -> Pursuit:
    masks = np.stack([g.as_array() for g in goals])
    corners = np.array([g.corner for g in goals], np.int32)
    n, n_cand = state.n_copies, len(goals)
    reached = np.empty((n, n_cand), np.int8)
    pos = np.empty((n, n_cand, 2), np.int32)
    status = np.empty((n, n_cand), np.int8)
    dense = np.empty((n, n_cand), np.bool_)
    pursue_goals(masks, corners, 0, get_driver(scene.world).params(scene), state.cell,
                 state.agent_pos, state.obj_kind, state.obj_color, state.obj_pos,
                 state.obj_reward, reached, pos, status, dense)
    return Pursuit(state, reached, pos, status, dense)


def sparse_agreement(p: Pursuit) -> np.ndarray:
    """(E, C) bool: the candidate's pursuit earns the base pursuit's reward from the same
    object (or neither earns one)."""
    rows = np.arange(p.reached.shape[0])[:, None]
    slot = p.reached.astype(np.int64)
    reward = np.where(slot >= 0, p.state.obj_reward[rows, np.maximum(slot, 0)], 0.0)
    rewarded = reward > 0
    same = (slot == slot[:, :1]) | ~rewarded[:, :1]
    return (rewarded == rewarded[:, :1]) & same


@dataclass
class GoalsetReport:
    """sizes[regime][i]: compatible-set size after ns[i] episodes; compatible[regime] (C,)
    bool after the last; deploy[c]: outcome fractions of candidate c on ``deploy``."""

    scene: str
    goals: list[Candidate]
    ns: list[int]
    regimes: list[str]
    mix: float
    sizes: dict[str, list[int]]
    compatible: dict[str, np.ndarray]
    deploy: list[dict[str, float]]
    predicted: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scene": self.scene, "episodes": self.ns, "mix": self.mix,
            "sizes": self.sizes, "n_candidates": len(self.goals),
            "goals": [{"name": g.name, "family": g.family,
                       **{f"compatible_{r}": bool(self.compatible[r][i]) for r in self.regimes},
                       "deploy": self.deploy[i]} for i, g in enumerate(self.goals)],
            "predicted": self.predicted}


def goalsets(scene: Scene, ns: list[int], regimes: list[str], *, seed: int | None = None,
             mix: float = 0.0, mix_from: str = "deploy", distribution: str = "train",
             deploy: str = "deploy", n_deploy: int = 500) -> GoalsetReport:
    """Compatible-set sizes against N per regime, and what the final sets predict."""
    for r in regimes:
        if r not in REGIMES:
            raise UserError(f"unknown regime {r!r} (choose from {', '.join(REGIMES)})")
    goals = scene_goals(scene)
    for d in (distribution, deploy):
        if d not in scene.layouts:
            raise UserError(f"{scene.name}: no distribution {d!r}"
                            f" (choose from {', '.join(scene.distributions)})")
    if not ns or min(ns) < 1:
        raise UserError("--episodes: give counts of at least 1, e.g. 1,10,100,1000")
    seed = scene.model.seed if seed is None else seed
    ns = sorted(set(ns))
    p = pursue(scene, goals, _draw(scene, distribution, ns[-1], seed, mix, mix_from))
    agree = {"sparse": sparse_agreement(p), "dense": p.dense}
    sizes, compatible = {}, {}
    for r in regimes:
        cumulative = np.logical_and.accumulate(agree[r], axis=0)
        sizes[r] = [int(cumulative[n - 1].sum()) for n in ns]
        compatible[r] = cumulative[-1]
    episodes = misgen.draw_episodes(scene, deploy, n_deploy, seed + 1)
    q = pursue(scene, goals, episodes.state)
    fractions = []
    for c in range(len(goals)):
        final = SimpleNamespace(reached=q.reached[:, c], obj_kind=q.state.obj_kind,
                                obj_color=q.state.obj_color, agent_pos=q.pos[:, c],
                                status=q.status[:, c])
        outcome = misgen.classify(scene, episodes, final)
        fractions.append({o: float(np.mean(outcome == i)) for i, o in enumerate(misgen.OUTCOMES)})
    predicted = {}
    for r in regimes:
        chosen = [fractions[c] for c in np.nonzero(compatible[r])[0]]
        majority = [max(misgen.OUTCOMES, key=lambda o, f=f: f[o]) for f in chosen]
        predicted[r] = {o: majority.count(o) / max(len(chosen), 1) for o in misgen.OUTCOMES}
    return GoalsetReport(scene.name, goals, ns, list(regimes), mix, sizes, compatible,
                         fractions, predicted)


def format_report(rep: GoalsetReport) -> str:
    lines = [f"{rep.scene}: {len(rep.goals)} candidate goals"
             + (f", training mixed with p = {rep.mix:g} deploy-like layouts" if rep.mix else "")]
    lines.append("  compatible goals after N training episodes:")
    lines.append("    " + f"{'N':>8}" + "".join(f"{r:>10}" for r in rep.regimes))
    for i, n in enumerate(rep.ns):
        lines.append("    " + f"{n:>8}" + "".join(f"{rep.sizes[r][i]:>10}" for r in rep.regimes))
    lines.append(f"  after {rep.ns[-1]} episodes, per goal (✔ compatible), pursued on deploy:")
    head = "".join(f"{r:>8}" for r in rep.regimes)
    lines.append(f"    {'goal':<24}{head}   base  proxy  other nothing")
    for i, g in enumerate(rep.goals):
        marks = "".join(f"{'✔' if rep.compatible[r][i] else '·':>8}" for r in rep.regimes)
        f = rep.deploy[i]
        lines.append(f"    {g.name[:24]:<24}{marks}  {f['base']:5.2f}  {f['proxy']:5.2f}"
                     f"  {f['other']:5.2f}  {f['nothing']:5.2f}")
    lines.append("  what each compatible set predicts at deployment (share of its goals by"
                 " majority outcome):")
    for r in rep.regimes:
        pr = rep.predicted[r]
        lines.append(f"    {r:<8} " + "  ".join(f"{o} {pr[o]:.2f}" for o in misgen.OUTCOMES))
    return "\n".join(lines)


def side_by_side(scene: Scene, files: list[Any], reports: list[GoalsetReport],
                 n_episodes: int = 500) -> list[dict[str, Any]]:
    """Per learner group of the agents files: its measured deployment outcomes (misgen,
    mean over agents) beside the prediction of the compatible set of its regime at its
    diversification p (the report with that p, if computed)."""
    results = misgen.study(scene, files, n_episodes=n_episodes, sanity=False)
    rows = []
    by_mix = {r.mix: r for r in reports}
    for g in misgen.summarise(results):
        regime = LEARNER_REGIME.get(g.learner, "")
        rep = by_mix.get(g.mix)
        predicted = rep.predicted.get(regime) if rep is not None else None
        rows.append({"group": g.group, "learner": g.learner, "mix": g.mix, "regime": regime,
                     "agents": g.n_agents, "measured": g.mean, "measured_sd": g.spread,
                     "proxy_majority": g.proxy_majority,
                     "proxy_majority_ci": list(g.proxy_majority_ci),
                     "compatible_goals": (rep.sizes[regime][-1]
                                          if rep is not None and regime in rep.sizes else None),
                     "predicted": predicted})
    return rows


def format_side_by_side(rows: list[dict[str, Any]]) -> str:
    lines = ["  the test on learners: measured on deploy (mean ± sd over agents) vs predicted"
             " (share of compatible goals by majority outcome)"]
    lines.append(f"    {'group':<22}{'regime':<8}{'p':>5} {'|set|':>6}  "
                 + "  ".join(f"{o:>17}" for o in misgen.OUTCOMES) + "  proxy-majority")
    for r in rows:
        cells = []
        for o in misgen.OUTCOMES:
            pred = "  -  " if r["predicted"] is None else f"{r['predicted'][o]:.2f}"
            cells.append(f"{r['measured'][o]:.2f}±{r['measured_sd'][o]:.2f} / {pred:>5}")
        lo, hi = r["proxy_majority_ci"]
        size = "-" if r["compatible_goals"] is None else str(r["compatible_goals"])
        lines.append(f"    {r['group'][:22]:<22}{r['regime']:<8}{r['mix']:>5g} {size:>6}  "
                     + "  ".join(f"{c:>17}" for c in cells)
                     + f"  {r['proxy_majority']}/{r['agents']} [{lo:.2f}, {hi:.2f}]")
    return "\n".join(lines)
