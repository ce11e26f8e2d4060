"""The ``steersim`` command line. Every command drives a Session; none calls a kernel.

User mistakes (bad scene, bad flag, bad recording) print one line and exit with code 2.
Heavy modules are imported inside commands so ``steersim --version`` and ``steersim scenes``
start instantly and headless commands never load Qt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from simulator import __version__, worlds
from simulator.core.errors import UserError


class _UsageError(click.UsageError):
    """A usage error shown as every other error is: one line, with the help hint in it
    (click's own is three: usage, hint, error)."""

    def show(self, file: Any = None) -> None:
        hint = ""
        if self.ctx is not None:
            hint = f" (try '{self.ctx.command_path} {self.ctx.help_option_names[0]}')"
        click.echo(f"steersim: error: {self.format_message()}{hint}", err=True, file=file)


def _one_line(exc: click.UsageError, ctx: click.Context | None) -> _UsageError:
    """``exc`` as a one-line error; ``ctx`` names the command for the hint when the parser
    gave none."""
    return _UsageError(exc.format_message(), exc.ctx or ctx)


class _Group(click.Group):
    """Turns UserError into one line on stderr and exit code 2, and click's usage errors
    (bad flags, unknown commands) into one line too."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _UsageError:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, parent) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError:
            raise
        except click.UsageError as exc:  # a subcommand's flags, parsed in here
            raise _one_line(exc, ctx) from None
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
    from simulator.scene import Scene
    from simulator.session import Session

    sc = Scene.load(scene)
    agents = sc.lane_agents(agent, objective)  # every flag checked before any kernel loads
    sc.pick_distribution(distribution)
    _compile_notice(sc.world)
    session = Session(sc, seed=seed, distribution=distribution, n_copies=ensemble,
                      agents=agents)
    tracker = None
    if ensemble > 1:
        from simulator.metrics import agent_metrics, run_measured

        tracker = run_measured(session, steps)
    else:
        session.run(steps)
    outcomes = [o.as_dict() for o in session.outcomes()]
    if tracker is not None:
        from simulator.metrics import ensemble_rates

        for out, rates in zip(outcomes, ensemble_rates(session), strict=True):
            out["ensemble"] = rates
            out["metrics"] = agent_metrics(tracker, out["lane"], out["agent_index"])
    header = {"scene": sc.name, "world": sc.world, "seed": session.seed,
              "distribution": session.distribution, "base_objective": sc.model.base_objective}
    if as_json:
        click.echo(json.dumps({**header, "lanes": outcomes}, indent=2))
        return
    click.echo(f"{sc.name}  seed={session.seed}  distribution={session.distribution}"
               f"  base={sc.model.base_objective}")
    held = worlds.world(sc.world).held
    for out in outcomes:
        mark = "✔" if out["achieved_objective"] else "✘"
        base_mark = "✔" if out["achieved_base"] else "✘"
        spec = session.lanes[out["lane"]].agents[out["agent_index"]]
        # A trained agent's kernel name (policy, learned_pile) says less than its source.
        who = f"trained {spec.trained}" if spec.trained else out["agent"]
        click.echo(
            f"  lane {out['lane']}: {who:<10} {out['objective']:<16} "
            f"{out['status']:<10} steps={out['steps']:<5} return={out['ret']:+.3f} "
            f"end={out['detail'] or '-':<12} objective {mark}  base {base_mark}"
            # Worlds where an objective is held (not reached once) say for how long.
            + (f"  held {out['fraction_of_steps']:.0%} of steps" if held else "")
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
@click.option("--gui", is_flag=True,
              help="Also measure the desktop GUI: frames/s and click latency with 3 lanes at"
                   " 60 steps/s (offscreen without a display).")
@click.option("--gui-only", is_flag=True, help="Only the GUI figures.")
@click.option("--soak", "soak_minutes", type=click.FloatRange(min=0.1),
              help="Instead: play the GUI offscreen for MINUTES (3 lanes, perturbations,"
                   " periodic recordings) and report RSS growth and frame-time drift.")
def bench(as_json: bool, quick: bool, gui: bool, gui_only: bool,
          soak_minutes: float | None) -> None:
    """Measure the engine: ensemble stepping and simulated steps inside the tree search
    (with --gui, the desktop GUI's frame rate and click latency too)."""
    from simulator.bench import run_benchmarks, soak

    say = None if as_json else _progress
    if soak_minutes is not None:
        figures = soak(soak_minutes, say or (lambda _msg: None))
    else:
        figures = run_benchmarks(quick=quick, progress=say, gui=gui or gui_only,
                                 engine=not gui_only)
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


# --- recordings: record, inspect, verify (simulator/recording/; docs/recording-format.md) --
@main.command()
@click.argument("scene", default=DEFAULT_SCENE)
@click.option("--episodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs to record; each gives one episode per lane, run k from its own seed.")
@click.option("--agent", help="Replace every lane's agent (null, random, thermostat, ...).")
@click.option("--objective", help="Replace every lane's objective, e.g. reach:red.")
@click.option("--distribution", help="Initial-state distribution, e.g. train or deploy.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1),
              help="Base seed (default: the scene's); run k uses a seed derived from it.")
@click.option("--ensemble", type=click.IntRange(min=1, max=1_000_000), default=1,
              show_default=True,
              help="Copies per lane; copy 0 is recorded, N > 1 also records metrics.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="File to write (default: recordings/<scene>-<time>.h5).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--compression", type=click.Choice(["lzf", "gzip"]), default="lzf",
              show_default=True, help="HDF5 compression filter (with shuffle).")
@click.option("--writer", type=click.Choice(["auto", "process", "thread", "inline"]),
              default="auto", show_default=True,
              help="Where the HDF5 writes run: a writer process (auto, where available), "
                   "a thread of this process, or inline between steps.")
def record(scene: str, episodes: int, agent: str | None, objective: str | None,
           distribution: str | None, seed: int | None, ensemble: int, output: str | None,
           force: bool, compression: str, writer: str) -> None:
    """Record SCENE headless to one HDF5 file: full state per step, actions, rewards,
    agent internals and the perturbation log of every lane, for every run."""
    from simulator import recording
    from simulator.scene import Scene

    sc = Scene.load(scene)
    # Every flag is checked before the writer process starts or a kernel compiles, so a
    # mistake is reported at once, not after the first-run compile.
    agents = sc.lane_agents(agent, objective)
    sc.pick_distribution(distribution)
    if output is not None:
        recording.check_target(Path(output), force)
    _compile_notice(sc.world)
    total = episodes * sc.model.horizon
    with click.progressbar(length=total, label=f"recording {sc.name}", file=sys.stderr,
                           show_pos=True) as bar:
        shown = {"run": 0, "step": 0}

        def progress(p: recording.RecordProgress) -> None:
            if p.finished:  # a run that stops early jumps to its full share of the bar
                bar.update((p.run + 1) * sc.model.horizon - bar.pos)
            elif p.step - shown["step"] >= 32 or p.run != shown["run"]:
                bar.update(p.run * sc.model.horizon + p.step - bar.pos)
                shown.update(run=p.run, step=p.step)

        result = recording.record(
            sc, output, episodes=episodes, seed=seed, distribution=distribution,
            agents=agents, n_copies=ensemble, force=force,
            compression=compression, progress=progress,
            process=None if writer == "auto" else writer == "process",
            background=None if writer in ("auto", "process") else writer == "thread")
    size = result.path.stat().st_size
    if result.status != recording.STATUS_COMPLETE:
        click.echo(f"steersim: interrupted: {result.path} closed cleanly; {result.runs_complete}"
                   f" of {episodes} runs complete, the unfinished episodes marked interrupted",
                   err=True)
        sys.exit(130)
    click.echo(f"wrote {result.path}: {result.episodes} episodes ({episodes} runs x "
               f"{result.episodes // episodes} lanes), {_size(size)}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(file: str, as_json: bool) -> None:
    """Summarise a recording: episodes, lanes, agents, outcomes, status, steps, size."""
    from simulator.recording import Recording, reading

    with Recording.open(file) as rec, reading(file):
        rec.check()
        summary = _recording_summary(rec)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{summary['file']}  {_size(summary['size_bytes'])}  steersim format "
               f"v{summary['format_version']}  status {summary['status']}")
    click.echo(f"scene {summary['scene']} ({summary['world']})  seed {summary['seed']}  "
               f"distribution {summary['distribution']}  ensemble {summary['n_copies']}  "
               f"created {summary['created_utc']} by steersim {summary['steersim_version']}")
    episodes = summary["episodes"]
    counts = {s: sum(e["status"] == s for e in episodes)
              for s in ("complete", "interrupted", "running")}
    shown_counts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    click.echo(f"{len(episodes)} episodes: {shown_counts or 'none'}")
    if episodes:
        click.echo(f"{'episode':<12}{'run':>4}{'lane':>5}  {'agent → objective':<28}"
                   f"{'distribution':<13}{'steps':>6}  {'status':<12}outcome")
    for ep in episodes:
        who = ", ".join(f"{a['name']} → {a['objective']}" for a in ep["agents"])
        click.echo(f"{ep['name']:<12}{ep['run']:>4}{ep['lane']:>5}  {who:<27} "
                   f"{ep['distribution']:<13}{ep['steps']:>6}  {ep['status']:<12}"
                   f"{_outcome_text(ep)}")
    unfinished = [ep["name"] for ep in episodes if ep["status"] == "running"]
    if unfinished:
        click.echo(f"unfinished: {', '.join(unfinished)} (status running: the recorder is "
                   "still writing, or was killed; the steps shown are those readable)")


@main.command()
@click.argument("file", type=click.Path(dir_okay=True))
def verify(file: str) -> None:
    """Re-simulate every episode from its seed and event log; compare state bit for bit.

    Exits 1 naming the episode, step and field of the first divergence.
    """
    from simulator import recording

    failed = 0

    def report(check: recording.EpisodeCheck) -> None:
        nonlocal failed
        if check.ok:
            note = "" if check.status == "complete" else f" ({check.status}: recorded part)"
            click.echo(f"{check.episode:<12} ok  {check.steps} steps{note}")
        else:
            failed += 1
            click.echo(check.divergence)

    with recording.Recording.open(file) as rec, recording.reading(file):
        rec.check()
        _compile_notice(rec.world)
        checks = recording.verify(rec, progress=report)
    if failed:
        click.echo(f"steersim: verify: {failed} of {len(checks)} episodes diverge", err=True)
        sys.exit(1)
    click.echo(f"all {len(checks)} episodes match bit for bit")


def _recording_summary(rec: Any) -> dict[str, Any]:
    attrs = rec.attrs
    episodes = []
    for ep in rec:
        episodes.append({
            "name": ep.name, "run": ep.run, "lane": ep.lane, "lane_label": ep.lane_label,
            "agents": [{"name": a.get("name"), "objective": a.get("objective")}
                       for a in ep.agents],
            "seed": ep.seed, "distribution": ep.distribution, "n_copies": ep.n_copies,
            "steps": ep.n_steps, "status": ep.status, "unfinished": ep.status == "running",
            "outcome": ep.outcome, "metrics": sorted(ep.metrics()),
        })
    return {
        "file": str(rec.path), "size_bytes": rec.file_size,
        "format_version": rec.format_version, "status": rec.status,
        "scene": rec.scene_name, "world": rec.world, "seed": rec.seed,
        "distribution": attrs.get("distribution"), "n_copies": attrs.get("n_copies", 1),
        "created_utc": attrs.get("created_utc"),
        "steersim_version": attrs.get("steersim_version"), "episodes": episodes,
    }


def _outcome_text(ep: dict[str, Any]) -> str:
    if not ep["outcome"]:
        return "-"
    parts = []
    for out in ep["outcome"]:
        mark = "✔" if out.get("achieved_objective") else "✘"
        base = "✔" if out.get("achieved_base") else "✘"
        parts.append(f"{out.get('detail') or out.get('status')}  objective {mark} base {base}"
                     f"  return {out.get('ret', 0.0):+.3f}")
    return "; ".join(parts)


def _size(n_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024  # type: ignore[assignment]
    return f"{n_bytes} B"


# --- recover: salvage a damaged recording (simulator/recording/recovery.py) -------------
@main.command()
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The recording to write with the recovered episodes.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def recover(file: str, output: str, force: bool) -> None:
    """Rebuild every finished episode of a damaged recording FILE (cut short, killed) into
    a new recording OUTPUT, bit for bit; one line per episode lost, then a summary.

    Exits 0 when at least one episode was recovered, 2 when none could be.
    """
    from simulator.recording.recovery import recover as salvage

    report = salvage(file, output, force=force)
    for lost in report.lost:
        click.echo(lost.line)
    click.echo(report.summary)


# --- plot: figures of a recording's narrowing metrics (simulator/plots.py) ----------------
@main.command()
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for the PNG files (created if missing).")
@click.option("--basin/--no-basin", default=True, show_default=True,
              help="Also draw each maze lane's basin map (re-simulates every start cell).")
def plot(file: str, out_dir: str, basin: bool) -> None:
    """Write PNG figures of FILE's metrics: H, F and OP against time per lane with the null
    baseline dashed and perturbations marked, one figure per run; and basin maps.

    Needs a recording made with --ensemble N > 1 (metrics are measured over the ensemble).
    Works without a display. A sweep's table (TABLE.csv from `steersim sweep`) gives
    DIR/TABLE.png: outcome vs each swept parameter, with Wilson intervals.
    """
    if file.lower().endswith(".csv"):
        from pathlib import Path

        from simulator.plots import write_sweep_figure
        from simulator.sweep import outcome_by_parameter, read_table

        rows = outcome_by_parameter(read_table(file))
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        fig = Path(out_dir) / f"{Path(file).stem}.png"
        click.echo(f"wrote {write_sweep_figure(fig, f'{Path(file).stem}: sweep', rows)}")
        return
    import numpy as np

    from simulator.metrics import basin_map
    from simulator.plots import LaneFigureData, write_figures
    from simulator.recording import Recording, reading

    written: list[Any] = []
    with Recording.open(file) as rec, reading(file):
        runs: dict[int, list[Any]] = {}
        for ep in rec:
            runs.setdefault(ep.run, []).append(ep)
        if not any(ep.metrics() for eps in runs.values() for ep in eps):
            raise UserError(f"{file}: no metrics recorded (record with --ensemble N, N > 1)")
        for run_index, eps in sorted(runs.items()):
            lanes = []
            for ep in sorted(eps, key=lambda e: e.lane):
                m = ep.metrics()
                if not m:
                    continue
                baseline = {name: m[f"baseline_{name}"] for name in ("H", "F")
                            if f"baseline_{name}" in m}
                baseline["OP"] = np.zeros_like(m["OP"])  # the baseline against itself
                basin_cells = None
                if basin and worlds.world(rec.world).basin:
                    session = ep.session()
                    basin_cells = basin_map(session, 0)
                lanes.append(LaneFigureData(
                    ep.lane_label, {k: m[k] for k in ("H", "F", "OP") if k in m}, baseline,
                    sorted({ev.step for ev in ep.events() if ev.kind != "set_noise"}),
                    basin_cells))
            title = (f"{rec.scene_name} — run {run_index} (seed {eps[0].seed}, "
                     f"{eps[0].distribution}, ensemble {eps[0].n_copies})")
            written += write_figures(out_dir, title, lanes, prefix=f"run{run_index}_")
    for path in written:
        click.echo(f"wrote {path}")


# --- the desktop GUI (simulator/gui/; Qt is imported only inside this command) ------------
@main.command()
@click.argument("target", required=False)
def gui(target: str | None) -> None:
    """Open the desktop GUI on TARGET: a scene name or .toml file, or a recording (.h5).

    Without TARGET, opens the last scene used (the first time: red_door).
    """
    from simulator.gui import launch

    sys.exit(launch(target))


# --- talks: present and export (simulator/present.py, simulator/export.py; pygame is ----
# --- imported only inside these commands) --------------------------------------------------
@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=True))
@click.option("--episode", type=click.IntRange(min=0),
              help="Show only episode K (as `steersim inspect` numbers them).")
@click.option("--run", "run_number", type=click.IntRange(min=0),
              help="Show every lane of run R side by side (default: the first run).")
@click.option("--fullscreen", is_flag=True, help="Start fullscreen (F toggles).")
@click.option("--size", default="1280x720", show_default=True, help="Window size WxH.")
@click.option("--speed", type=click.FloatRange(min=0.1, max=60), default=4.0,
              show_default=True, help="Steps per second while playing (Up/Down change it).")
@click.option("--loop", is_flag=True, help="Start again after the last step (L toggles).")
@click.option("--play", is_flag=True, help="Start playing at once (default: paused at step 0,"
              " Space plays).")
def present(file: str | None, episode: int | None, run_number: int | None, fullscreen: bool,
            size: str, speed: float, loop: bool, play: bool) -> None:
    """Replay recording FILE full-screen for a talk (default: the shipped demo).

    Keys: Space play/pause, Left/Right step, Up/Down speed, Home/End first/last step,
    Page Up/Down previous/next run, F fullscreen, L loop, H help, Esc quit.
    """
    from simulator.present import demo_recording
    from simulator.present import present as show
    from simulator.reel import parse_size

    window = parse_size(size)
    target = file if file is not None else demo_recording()
    show(target, episode=episode, run=run_number, fullscreen=fullscreen, size=window,
         speed=speed, loop=loop, play=play)


@main.command()
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("-o", "--output", type=click.Path(),
              help="Video to write: OUT.mp4 or OUT.gif.")
@click.option("--format", "fmt", type=click.Choice(["video", "minari"]), default="video",
              show_default=True,
              help="video (-o OUT.mp4|gif), or minari: a Minari dataset (needs steersim[rl]).")
@click.option("--dataset-id", help="With --format minari: the dataset's id, e.g."
              " steersim/red_door-v0 (written under MINARI_DATASETS_PATH).")
@click.option("--fps", type=float, default=6.0, show_default=True,
              help="Recorded steps per second of video (one frame per step).")
@click.option("--size", help="Frame size WxH (default 1280x720 for MP4, 960x540 for GIF).")
@click.option("--episode", type=click.IntRange(min=0),
              help="Only episode K (as `steersim inspect` numbers them).")
@click.option("--run", "run_number", type=click.IntRange(min=0),
              help="Every lane of run R side by side (default: the first run).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def export(file: str, output: str | None, fmt: str, dataset_id: str | None, fps: float,
           size: str | None, episode: int | None, run_number: int | None, force: bool) -> None:
    """Export recording FILE as an MP4 or GIF video, drawn as `steersim present` shows it,
    or (--format minari) as a Minari offline-RL dataset."""
    if fmt == "minari":
        _export_minari(file, dataset_id, force)
        return
    if output is None:
        raise UserError("export: give -o OUT.mp4 or OUT.gif (or --format minari)")
    from simulator import export as video

    bars: list[Any] = []  # opened at the first frame, so a bad input prints only its error

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label=f"exporting {output}",
                                          file=sys.stderr, show_pos=True).__enter__())
        bars[0].update(done - bars[0].pos)

    try:
        result = video.export(file, output, fps=fps, size=size, episode=episode,
                              run=run_number, force=force, progress=progress)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    size_bytes = result.path.stat().st_size
    click.echo(f"wrote {result.path}: {result.frames} frames, {result.size[0]}x"
               f"{result.size[1]} at {result.fps:g} fps, {_size(size_bytes)}")


def _export_minari(file: str, dataset_id: str | None, force: bool) -> None:
    if not dataset_id:
        raise UserError("export --format minari: give --dataset-id, e.g. steersim/red_door-v0")
    try:
        from simulator.envs.minari_export import export_minari
    except ImportError as exc:
        raise UserError(f"export --format minari needs the rl extra (pip install"
                        f" 'steersim[rl]'): {exc}") from None
    result = export_minari(file, dataset_id, force=force)
    click.echo(f"wrote Minari dataset {result.dataset_id}: {result.episodes} episodes,"
               f" {result.steps} steps")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# --- Dask: sweeps, and train/misgen on a cluster (simulator/sweep.py, simulator/cluster.py) --
def _dask_options(fn: Any) -> Any:
    """--scheduler / --dask / --workers: run a command's tasks on dask.distributed."""
    fn = click.option("--workers", type=click.IntRange(min=1, max=256),
                      help="Workers of the LocalCluster (default: one per core).")(fn)
    fn = click.option("--dask", "use_dask", is_flag=True,
                      help="Split the work into tasks on a LocalCluster on this machine.")(fn)
    return click.option("--scheduler", metavar="ADDRESS",
                        help="Split the work into tasks on an existing dask.distributed "
                             "cluster, e.g. tcp://host:8786.")(fn)


def _maybe_cluster(scheduler: str | None, use_dask: bool, workers: int | None) -> Any:
    """A Client when --scheduler or --dask asks for one (the dashboard address on stderr),
    else a context that gives None: the work runs in this process."""
    import contextlib

    if not scheduler and not use_dask:
        return contextlib.nullcontext(None)
    from simulator.cluster import connect

    return connect(scheduler, workers, say=lambda msg: click.echo(msg, err=True))


@main.command()
@click.argument("scene", default=DEFAULT_SCENE)
@click.option("--grid", "grid_text", metavar="GRID",
              help='Parameters to sweep: "seed=0:100 agent=search,heuristic '
                   'distribution=train,deploy" (a:b a range, b excluded; a,b,c a list), or '
                   "a TOML file with a [sweep] table (default: the scene's [sweep] table).")
@click.option("--ensemble", type=click.IntRange(min=1, max=1_000_000), default=1,
              show_default=True,
              help="Copies per run unless the grid sweeps it; N > 1 adds the narrowing "
                   "summary (H, F, OP) to each row.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="CSV table (default: recordings/<scene>-sweep.csv). An existing table "
                   "of the same sweep is resumed: finished runs are skipped.")
@click.option("--force", is_flag=True, help="Start the table again instead of resuming it.")
@click.option("--record", "record_dir", type=click.Path(file_okay=False),
              help="Also write one HDF5 recording per run into this folder.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write the figure of outcome vs each swept parameter (PNG).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing dask.distributed cluster, e.g. tcp://host:8786 "
                   "(default: a LocalCluster on this machine).")
@click.option("--workers", type=click.IntRange(min=0, max=256),
              help="Workers of the LocalCluster (default: one per core); 0 runs every "
                   "task in this process, without Dask.")
def sweep(scene: str, grid_text: str | None, ensemble: int, output: str | None, force: bool,
          record_dir: str | None, plot_path: str | None, scheduler: str | None,
          workers: int | None) -> None:
    """Run every combination of a parameter grid over SCENE as a Dask task; one row per
    run (and agent) in a CSV table, appended as runs finish. Ctrl-C leaves a valid partial
    table; running the same sweep again finishes it."""
    from pathlib import Path

    from simulator import sweep as sw
    from simulator.scene import Scene

    if plot_path and not plot_path.lower().endswith(".png"):
        raise UserError(f"{plot_path}: the figure is a PNG (name it .png)")
    sc = Scene.load(scene, build_lanes=False)
    plan = sw.plan(sc, sw.load_grid(grid_text, sc), ensemble)
    out = Path(output) if output else Path("recordings") / f"{sc.name}-sweep.csv"
    if out.suffix.lower() != ".csv":
        raise UserError(f"{out}: the table is CSV (name it .csv)")
    _compile_notice(sc.world)
    # Nothing left to run (a finished table, re-plotted): no cluster to start.
    local = (workers == 0 and not scheduler) or sw.pending(plan, out, force) == 0
    cluster = _maybe_cluster(scheduler, not local, workers)
    with cluster as client, click.progressbar(length=len(plan.tasks), file=sys.stderr,
                                              label=f"sweeping {sc.name}",
                                              show_pos=True) as bar:
        result = sw.run_sweep(plan, out, client=client, record_dir=record_dir, force=force,
                              progress=lambda done, _total: bar.update(done - bar.pos))
    if result.interrupted:
        click.echo(f"steersim: interrupted: {out} holds {result.skipped + result.ran} of "
                   f"{result.total} runs; run the same command again to finish it", err=True)
        sys.exit(130)
    rows = sw.read_table(out)
    click.echo(f"{sc.name}: {result.total} runs ({result.ran} run now, {result.skipped} "
               f"already in the table) → {out}, {len(rows)} rows")
    by_param = sw.outcome_by_parameter(rows)
    click.echo(sw.format_summary(by_param))
    if plot_path:
        from simulator.plots import write_sweep_figure

        click.echo(f"wrote {write_sweep_figure(plot_path, f'{sc.name}: sweep', by_param)}")


# --- learned agents: train, misgen (agents/learners.py, simulator/misgen.py) ----------------
def _learner_list(text: str) -> tuple[str, ...]:
    from agents.learners import LEARNERS

    names = tuple(LEARNERS) if text.strip() == "all" else tuple(
        t.strip() for t in text.split(",") if t.strip())
    for name in names:
        if name not in LEARNERS:
            raise UserError(f"--learner: unknown learner {name!r} (choose from"
                            f" {', '.join(LEARNERS)}, or all)")
    if not names:
        raise UserError("--learner: name at least one learner")
    return names


def _mix_list(text: str) -> list[float]:
    from simulator.training import parse_fractions

    return parse_fractions(text, "--mix")


def _curve_mean(curve: Any) -> Any:
    """(I,) mean over agents of a training curve (N, I), ignoring NaN padding (NaN where
    no agent has a value)."""
    import numpy as np

    finite = np.isfinite(curve)
    counts = finite.sum(axis=0)
    total = np.where(finite, curve, 0.0).sum(axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def _curve_text(curve: Any) -> str:
    """Mean train return at five points of the training curve (N, I), NaN-aware."""
    import numpy as np

    mean = _curve_mean(curve)
    mean = mean[np.isfinite(mean)] if np.isfinite(mean).any() else np.zeros(1)
    points = np.linspace(0, len(mean) - 1, min(5, len(mean))).round().astype(int)
    return "  ".join(f"{mean[p]:+.2f}" for p in points)


@main.command()
@click.argument("scene", default=DEFAULT_SCENE)
@click.option("--learner", "learner_text", default="reinforce,bc", show_default=True,
              help="Comma-separated learners: reinforce (sparse RL), bc (behaviour cloning, "
                   "dense), reward_search (learned reward + tree search), pile (induced "
                   "rules), or all.")
@click.option("--agents", "n_agents", type=click.IntRange(1, 100_000), default=100,
              show_default=True, help="Agents per learner, one per training seed.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0,
              show_default=True, help="Training seed; agent i's seed derives from it.")
@click.option("--episodes", type=click.IntRange(min=1),
              help="Training episodes per agent (default: each learner's own budget).")
@click.option("--distribution", default="train", show_default=True,
              help="The distribution trained on.")
@click.option("--mix", "mix_text", default="0", show_default=True,
              help="Diversification: the fraction p of training episodes drawn from "
                   "--mix-from instead; a comma list (0,0.02,0.1) trains every learner at "
                   "each p, for a dose-response table in misgen.")
@click.option("--mix-from", default="deploy", show_default=True,
              help="Where the mixed-in episodes come from.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Agents file to write (default: recordings/<scene>-agents.h5).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the learning curves as JSON.")
@_dask_options
def train(scene: str, learner_text: str, n_agents: int, seed: int, episodes: int | None,
          distribution: str, mix_text: str, mix_from: str, output: str | None, force: bool,
          as_json: bool, scheduler: str | None, use_dask: bool, workers: int | None) -> None:
    """Train agents on SCENE's training distribution; write one agents file.

    Each agent perceives only the objective-free observation (object kinds and colours as
    separate inputs); same seed, same weights, whatever the thread count."""
    from pathlib import Path

    from simulator.scene import Scene
    from simulator.training import TrainRequest, check_request

    sc = Scene.load(scene, build_lanes=False)
    mixes = _mix_list(mix_text)
    reqs = [TrainRequest(_learner_list(learner_text), n_agents, seed, episodes, distribution,
                         mix, mix_from) for mix in mixes]
    for req in reqs:
        check_request(sc, req)
    out = Path(output) if output else Path("recordings") / f"{sc.name}-agents.h5"
    if out.exists() and not force:
        raise UserError(f"{out}: exists (use --force to overwrite)")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: no such folder")
    import time

    import numpy as np

    from agents.learners import final_return
    from simulator import training

    _compile_notice(sc.world)
    start = time.perf_counter()
    per_run = n_agents * len(reqs[0].learners)
    total = per_run * len(reqs)
    trained = []
    with _maybe_cluster(scheduler, use_dask, workers) as client, click.progressbar(
            length=total, label=f"training on {sc.name}:{distribution}", file=sys.stderr,
            show_pos=True) as bar:
        for k, req in enumerate(reqs):
            counts = dict.fromkeys(req.learners, 0)

            def progress(name: str, n_done: int, first: int = k * per_run,
                         counts: dict[str, int] = counts) -> None:
                counts[name] = n_done  # learners may progress side by side on a cluster
                bar.update(first + sum(counts.values()) - bar.pos)

            trained += training.train_scene(sc, req, progress, client=client)
    elapsed = time.perf_counter() - start
    training.save(out, sc, reqs[0], trained)
    rows = []
    for tr in trained:
        final = final_return(tr.curve)
        rows.append({"learner": tr.learner, "agents": len(tr.seeds), "mix": tr.mix,
                     "hyper": tr.hyper, "final_return_mean": float(np.nanmean(final)),
                     "final_return_sd": float(np.nanstd(final)),
                     "curve_mean": _curve_mean(tr.curve).tolist()})
    if as_json:
        click.echo(json.dumps({"scene": sc.name, "output": str(out), "seconds": elapsed,
                               "learners": rows}, indent=2))
        return
    from agents.learners import LEARNER_KIND

    mixed = f" (p = {', '.join(f'{m:g}' for m in mixes)} of {mix_from})" if any(mixes) else ""
    click.echo(f"trained {total} agents on {sc.name}:{distribution}{mixed} in {elapsed:.1f} s")
    click.echo("  learner        kind                          mean train return along"
               " training           final (sd)")
    for tr, row in zip(trained, rows, strict=True):
        name = tr.learner + (f" p={tr.mix:g}" if tr.mix else "")
        click.echo(f"  {name:<14} {LEARNER_KIND[tr.learner]:<29} {_curve_text(tr.curve):<36}"
                   f" {row['final_return_mean']:+.2f} ({row['final_return_sd']:.2f})")
    click.echo(f"wrote {out}")


def _misgen_inputs(args: tuple[str, ...]) -> tuple[Any, list[Any]]:
    """Split ``AGENTS.h5 ... [SCENE]`` into the scene and the agents files."""
    from agents.store import read_agents_file
    from simulator.scene import Scene

    files = [a for a in args if a.endswith((".h5", ".hdf5"))]
    scenes = [a for a in args if a not in files]
    if len(scenes) > 1:
        raise UserError(f"misgen: one scene at most (got {', '.join(scenes)})")
    agents = [read_agents_file(f) for f in files]
    if scenes:
        scene = Scene.load(scenes[0], build_lanes=False)
        for f in agents:  # refused here, before anything compiles
            if f.scene_hash != scene.content_hash:
                raise UserError(
                    f"{f.path}: trained on scene {f.attrs.get('scene_name')!r} (content hash"
                    f" {f.scene_hash[:12]}), not {scene.name!r} ({scene.content_hash[:12]})")
        return scene, agents
    if not agents:
        raise UserError("misgen: give an agents file (from 'steersim train') or a scene with"
                        " --lanes")
    # The scene the agents learned on: the shipped one of that name if it is unchanged
    # (its lanes may name files beside it), else the text the agents file keeps.
    name = str(agents[0].attrs.get("scene_name", ""))
    try:
        shipped = Scene.load(name, build_lanes=False) if name else None
    except UserError:
        shipped = None
    if shipped is not None and shipped.content_hash == agents[0].scene_hash:
        return shipped, agents
    try:
        return Scene.from_text(str(agents[0].attrs.get("scene_toml", "")), agents[0].path,
                               build_lanes=False), agents
    except UserError as exc:
        raise UserError(f"{agents[0].path}: its stored scene: {exc}") from None


@main.command()
@click.argument("inputs", nargs=-1, required=True, metavar="AGENTS.h5... [SCENE]")
@click.option("--distribution", default="deploy", show_default=True,
              help="Where the agents are deployed.")
@click.option("--episodes", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="Deployment episodes per agent (the same episodes for every agent).")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1),
              help="Seed of the deployment episodes (default: the scene's).")
@click.option("--lanes", is_flag=True,
              help="Also measure the scene's own hand-told lanes, as references.")
@click.option("--no-sanity", is_flag=True, help="Skip the same measurement on 'train'.")
@click.option("--json", "as_json", is_flag=True, help="Print every agent and group as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per agent.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the preference/capability figure (PNG).")
@_dask_options
def misgen(inputs: tuple[str, ...], distribution: str, episodes: int, seed: int | None,
           lanes: bool, no_sanity: bool, as_json: bool, as_csv: bool,
           output: str | None, scheduler: str | None, use_dask: bool,
           workers: int | None) -> None:
    """What trained agents pursue after deployment: per agent, the share of episodes
    ending on the base target, a proxy, another object or nothing (Wilson 95% intervals),
    with capability; per learner, the share of agents whose majority outcome is the proxy.
    Several agents files (e.g. trained with different --mix) give a dose-response table."""
    if as_json and as_csv:
        raise UserError("misgen: --json or --csv, not both")
    sc, files = _misgen_inputs(inputs)
    if distribution not in sc.layouts:
        raise UserError(f"{sc.name}: no distribution {distribution!r}"
                        f" (choose from {', '.join(sc.distributions)})")
    if output and not output.lower().endswith(".png"):
        raise UserError(f"{output}: the figure is a PNG (name it .png)")
    from simulator import misgen as mg

    _compile_notice(sc.world)
    n_agents = sum(len(tr.seeds) for f in files for tr in f.groups.values())
    with _maybe_cluster(scheduler, use_dask, workers) as client, click.progressbar(
            length=max(n_agents, 1), label=f"deploying on {sc.name}:{distribution}",
            file=sys.stderr, show_pos=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        results = mg.study(sc, files, distribution=distribution, n_episodes=episodes,
                           seed=seed, sanity=not no_sanity, lanes=lanes, progress=progress,
                           client=client)
    groups = mg.summarise(results)
    if output:
        from simulator.plots import write_misgen_figure

        write_misgen_figure(output, f"{sc.name}: {distribution}",
                            [r for r in results if r.distribution == distribution], groups)
    if as_json:
        click.echo(json.dumps({"scene": sc.name, "distribution": distribution,
                               "episodes": episodes, "proxies": sc.model.proxies,
                               "agents": [r.as_dict() for r in results],
                               "groups": [g.as_dict() for g in groups]}, indent=2))
        return
    if as_csv:
        import csv

        rows = [r.as_dict() for r in results]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["agent"])
        writer.writeheader()
        writer.writerows(rows)
        return
    click.echo(f"{sc.name}: base {sc.model.base_objective}; proxies "
               f"{', '.join(sc.model.proxies) or '(none)'}; {episodes} episodes per agent")
    click.echo(mg.format_groups(groups))
    if output:
        click.echo(f"wrote {output}")


# --- goal sets: dense vs sparse constraints (simulator/goalsets.py) --------------------------
def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{flag}: {text!r} is not a comma list of whole numbers") from None
    if not values or min(values) < 1:
        raise UserError(f"{flag}: give counts of at least 1, e.g. 1,10,100,1000")
    return values


def _name_list(text: str, flag: str, allowed: tuple[str, ...]) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in allowed:
            raise UserError(f"{flag}: unknown {flag.strip('-')} {name!r}"
                            f" (choose from {', '.join(allowed)})")
    if not names:
        raise UserError(f"{flag}: name at least one of {', '.join(allowed)}")
    return names


@main.command()
@click.argument("scene", default=DEFAULT_SCENE)
def goals(scene: str) -> None:
    """List SCENE's candidate goals: the hypotheses of what training could teach."""
    from simulator.goalsets import scene_goals
    from simulator.scene import Scene

    sc = Scene.load(scene, build_lanes=False)
    for goal in scene_goals(sc):
        click.echo(f"{goal.name:<28} {goal.family}")


@main.command()
@click.argument("scene", default=DEFAULT_SCENE)
@click.option("--episodes", "episodes_text", default="1,10,100,1000", show_default=True,
              help="Numbers of training episodes N to report the compatible set after.")
@click.option("--regime", "regime_text", default="sparse,dense", show_default=True,
              help="Constraint regimes: sparse (episode outcome), dense (every action).")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1),
              help="Seed of the training episodes (default: the scene's).")
@click.option("--mix", "mix_text", default="0", show_default=True,
              help="Training mixed with this fraction of --mix-from layouts (a comma list"
                   " gives one table per p).")
@click.option("--mix-from", default="deploy", show_default=True)
@click.option("--deploy-episodes", type=click.IntRange(1, 100_000), default=500,
              show_default=True, help="Deployment episodes each candidate is pursued on.")
@click.option("--agents", "agents_files", multiple=True, type=click.Path(dir_okay=False),
              help="Agents files (steersim train): put the learners' measured deployment "
                   "outcomes beside the prediction of their regime (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per (p, regime, N).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the narrowing figure (compatible-set size against N), PNG.")
def goalsets(scene: str, episodes_text: str, regime_text: str, seed: int | None,
             mix_text: str, mix_from: str, deploy_episodes: int,
             agents_files: tuple[str, ...], as_json: bool, as_csv: bool,
             output: str | None) -> None:
    """Dense vs sparse constraints: how many candidate goals stay compatible with N
    training episodes under each regime, and what the compatible set predicts at
    deployment; with --agents, beside what trained agents actually do."""
    from simulator.goalsets import REGIMES
    from simulator.scene import Scene

    if as_json and as_csv:
        raise UserError("goalsets: --json or --csv, not both")
    ns = _int_list(episodes_text, "--episodes")
    regimes = _name_list(regime_text, "--regime", REGIMES)
    mixes = _mix_list(mix_text)
    if output and not output.lower().endswith(".png"):
        raise UserError(f"{output}: the figure is a PNG (name it .png)")
    sc = Scene.load(scene, build_lanes=False)
    from agents.store import read_agents_file
    from simulator import goalsets as gs

    files = [read_agents_file(f) for f in agents_files]
    gs.scene_goals(sc)  # a scene it cannot count is refused before anything compiles
    _compile_notice(sc.world)
    reports = [gs.goalsets(sc, ns, regimes, seed=seed, mix=m, mix_from=mix_from,
                           n_deploy=deploy_episodes) for m in mixes]
    side = gs.side_by_side(sc, files, reports, n_episodes=deploy_episodes) if files else []
    if output:
        from simulator.plots import write_goalsets_figure

        write_goalsets_figure(output, f"{sc.name}: compatible goals", reports)
    if as_json:
        click.echo(json.dumps({"reports": [r.as_dict() for r in reports],
                               "learners": side}, indent=2))
        return
    if as_csv:
        click.echo("mix,regime,episodes,compatible")
        for r in reports:
            for regime in r.regimes:
                for n, size in zip(r.ns, r.sizes[regime], strict=True):
                    click.echo(f"{r.mix:g},{regime},{n},{size}")
        return
    for r in reports:
        click.echo(gs.format_report(r))
    if side:
        click.echo(gs.format_side_by_side(side))
    if output:
        click.echo(f"wrote {output}")
