"""The ``steersim`` command line. Every command drives a Session; none calls a kernel.

User mistakes (bad scene, bad flag, bad recording) print one line and exit with code 2.
Heavy modules are imported inside commands so ``steersim --version`` and ``steersim scenes``
start instantly and headless commands never load Qt.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from simulator import __version__
from simulator.errors import UserError


class _Group(click.Group):
    """Turns UserError into one line on stderr and exit code 2, as click does for bad flags."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"steersim: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="steersim")
@click.pass_context
def main(ctx: click.Context) -> None:
    """steersim: watch thermostats, heuristic piles and tree search steer small worlds.

    With no command, opens the desktop GUI on the default scene.
    """
    if ctx.invoked_subcommand is None:
        gui_cmd = main.get_command(ctx, "gui")
        if gui_cmd is None:  # the GUI is not installed in this build: say so, do something
            click.echo("steersim: the GUI is not available; running the default scene headless")
            ctx.invoke(run, scene=DEFAULT_SCENE)
        else:
            ctx.invoke(gui_cmd)


DEFAULT_SCENE = "red_door"


@main.command()
def scenes() -> None:
    """List the shipped scenes."""
    from simulator.scene import Scene, SceneError, shipped_scenes

    for name in shipped_scenes():
        try:
            scene = Scene.load(name)
        except SceneError as exc:
            click.echo(f"{name:<22} (invalid: {exc})")
            continue
        lanes = ", ".join(" vs ".join(a.label for a in group) for group in scene.lane_agents())
        click.echo(f"{name:<22} {scene.world:<8} {scene.model.title}")
        click.echo(f"{'':<22} lanes: {lanes}; distributions: {', '.join(scene.distributions)}")


@main.command()
@click.argument("scene", default=DEFAULT_SCENE)
@click.option("--agent", help="Replace every lane's agent (null, random, thermostat, ...).")
@click.option("--objective", help="Replace every lane's objective, e.g. reach:red.")
@click.option("--distribution", help="Initial-state distribution, e.g. train or deploy.")
@click.option("--steps", type=click.IntRange(min=1), help="Stop after N steps (default: horizon).")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), help="Override the seed.")
@click.option("--ensemble", type=click.IntRange(min=1, max=1_000_000), default=1,
              show_default=True,
              help="Copies per lane; with N > 1 also prints the narrowing metrics.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def run(scene: str, agent: str | None, objective: str | None, distribution: str | None,
        steps: int | None, seed: int | None, ensemble: int, as_json: bool) -> None:
    """Run SCENE headless and print each lane's outcome (copy 0 of its ensemble)."""
    import numpy as np

    from simulator.scene import Scene
    from simulator.session import Session

    sc = Scene.load(scene)
    _compile_notice(sc.world)
    session = Session(sc, seed=seed, distribution=distribution, n_copies=ensemble,
                      agents=sc.lane_agents(agent, objective))
    tracker = None
    if ensemble > 1:
        from simulator.metrics import MetricsTracker

        # Metrics need every step: advance one at a time, measuring as we go.
        tracker = MetricsTracker(session)
        limit = min(steps or session.horizon, session.horizon)
        for _ in range(limit):
            if session.done:
                break
            session.step(1, trace=False)
            tracker.update()
    else:
        session.run(steps)
    outcomes = [o.as_dict() for o in session.outcomes()]
    if tracker is not None:
        per_copy = [session.outcomes(copy) for copy in range(ensemble)]
        for i, out in enumerate(outcomes):
            ends = [copy_outcomes[i] for copy_outcomes in per_copy]
            out["ensemble"] = {
                "copies": ensemble,
                "objective_rate": float(np.mean([o.achieved_objective for o in ends])),
                "base_rate": float(np.mean([o.achieved_base for o in ends])),
                "mean_return": float(np.mean([o.ret for o in ends])),
                "mean_steps": float(np.mean([o.steps for o in ends])),
            }
            out["metrics"] = tracker.summary(out["lane"])
            out["metrics"]["recovery"] = tracker.recovery(out["lane"])
    header = {"scene": sc.name, "world": sc.world, "seed": session.seed,
              "distribution": session.distribution, "base_objective": sc.model.base_objective}
    if as_json:
        click.echo(json.dumps({**header, "lanes": outcomes}, indent=2))
        return
    click.echo(f"{sc.name}  seed={session.seed}  distribution={session.distribution}"
               f"  base={sc.model.base_objective}")
    for out in outcomes:
        mark = "✔" if out["achieved_objective"] else "✘"
        base_mark = "✔" if out["achieved_base"] else "✘"
        click.echo(
            f"  lane {out['lane']}: {out['agent']:<10} {out['objective']:<16} "
            f"{out['status']:<10} steps={out['steps']:<5} return={out['ret']:+.3f} "
            f"end={out['detail'] or '-':<12} objective {mark}  base {base_mark}"
        )
        if "ensemble" in out:
            ens, m = out["ensemble"], out["metrics"]
            click.echo(f"          ensemble of {ens['copies']}: objective reached "
                       f"{ens['objective_rate']:.1%}, base reached {ens['base_rate']:.1%}, "
                       f"mean return {ens['mean_return']:+.3f}")
            click.echo(f"          H {m['H_initial']:.2f} → {m['H_final']:.2f} bits   "
                       f"F {m['F_final']:.2f}   OP {m['OP_final']:.2f} bits (base)   "
                       f"F_own {m['F_own_final']:.2f}   OP_own {m['OP_own_final']:.2f} bits")
            if m["recovery"]:
                shown = ", ".join(f"step {s}: {'-' if r is None else r}"
                                  for s, r in m["recovery"])
                click.echo(f"          recovery after perturbations: {shown}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--quick", is_flag=True, help="Smaller workloads (for smoke tests).")
def bench(as_json: bool, quick: bool) -> None:
    """Measure the engine: ensemble stepping and simulated steps inside the tree search."""
    from simulator.bench import run_benchmarks

    figures = run_benchmarks(quick=quick, progress=None if as_json else _progress)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        shown = f"{value:,.0f}" if isinstance(value, float) and value > 100 else value
        click.echo(f"{key:<34} {shown}")


def _compile_notice(world: str) -> None:
    """Tell the user why the first run on a machine pauses (stderr, so --json stays clean)."""
    from simulator.warmup import needs_compile

    if needs_compile(world):
        click.echo("steersim: compiling the engine's kernels (first run only, about 30 s)…",
                   err=True)


def _progress(message: str) -> None:
    click.echo(f"… {message}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
