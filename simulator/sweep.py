"""Parameter sweeps: every combination of a grid is one run, one task on dask.distributed.

``steersim sweep SCENE --grid "seed=0:100 agent=search,heuristic distribution=train,deploy"``
expands the grid (``name=a,b,c`` a list, ``name=0:100`` or ``0:100:5`` a whole-number
range, end excluded; the same as a ``[sweep]`` table in the scene or in a TOML file of its
own), runs each combination as a task — on a LocalCluster by default, on an existing
scheduler by address, or in this process — and appends one row per agent of each run to a
CSV table as tasks finish (flushed, so a killed or interrupted sweep leaves a valid partial
table, and running it again into the same table runs only the tasks not yet in it).

Parameters: ``seed``, ``lane`` (which of the scene's lanes; default every lane, or lane 0
when ``agent`` is swept), ``agent``, ``objective``, ``distribution``, ``ensemble`` (copies;
N > 1 adds the narrowing summary), and any other name is an agent parameter (``budget``,
``depth``, ...). A run is one lane of the scene: a Session of that lane alone, with the
scene's perturbations that hit it.

Dask is imported only by :mod:`simulator.cluster`, when a cluster is used.
"""

from __future__ import annotations

import csv
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.cluster import scene_from_text
from simulator.core.errors import UserError
from simulator.scene import Scene

PARAMS = ("seed", "lane", "agent", "objective", "distribution", "ensemble")
_INT_PARAMS = {"seed": (0, 2**63 - 1), "lane": (0, 10**6), "ensemble": (1, 1_000_000)}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE = re.compile(r"^(-?\d+):(-?\d+)(?::(\d+))?$")
GRID_EXAMPLE = '"seed=0:100 agent=search,heuristic distribution=train,deploy"'
MAX_TASKS = 1_000_000

# What each row reports besides its parameters. The ensemble columns are over the run's
# copies (copy 0 alone when ensemble = 1); the narrowing columns need ensemble > 1.
OUTCOME_COLUMNS = (
    "agent_index", "agent_label", "agent_objective", "status", "outcome",
    "achieved_objective", "achieved_base", "return", "steps", "fraction_of_steps",
    "copies", "objective_rate", "base_rate", "mean_return", "mean_steps",
    "H_initial", "H_final", "F_final", "OP_final", "F_own_final", "OP_own_final",
    "recording",
)
_METRICS = ("H_initial", "H_final", "F_final", "OP_final", "F_own_final", "OP_own_final")


# --- the grid ----------------------------------------------------------------------------
def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _values(name: str, spec: Any, where: str) -> list[Any]:
    """A parameter's values from a grid token's right-hand side or a TOML value."""
    if isinstance(spec, list):
        items = [v for item in spec for v in _values(name, item, where)]
    elif isinstance(spec, bool) or not isinstance(spec, (str, int, float)):
        raise UserError(f"{where}: {name}: give numbers, names, or a range such as 0:100")
    elif not isinstance(spec, str):
        items = [spec]
    elif m := _RANGE.match(spec.strip()):
        lo, hi, step = int(m[1]), int(m[2]), int(m[3] or 1)
        if step < 1 or hi <= lo:
            raise UserError(f"{where}: {name}={spec}: a range a:b[:step] needs b > a and"
                            " step >= 1 (b is excluded)")
        items = list(range(lo, hi, step))
    else:
        parts = [p.strip() for p in spec.split(",")]
        if not spec.strip() or any(not p for p in parts):
            raise UserError(f"{where}: {name}={spec}: empty value (give a,b,c or a:b)")
        items = [_value(p) for p in parts]
    if not items:
        raise UserError(f"{where}: {name}: no values")
    return list(dict.fromkeys(items))


def _check_name(name: str, where: str, seen: dict[str, Any]) -> None:
    if not _NAME.match(name):
        raise UserError(f"{where}: {name!r} is not a parameter name (letters, digits, _)")
    if name in seen:
        raise UserError(f"{where}: {name} is given twice")


def parse_grid(text: str, where: str = "--grid") -> dict[str, list[Any]]:
    """``"seed=0:4 agent=search,heuristic"`` → {"seed": [0, 1, 2, 3], "agent": [...]}.
    UserError (one line) on bad syntax."""
    grid: dict[str, list[Any]] = {}
    for token in text.split():
        name, eq, spec = token.partition("=")
        if not eq or not name:
            raise UserError(f"{where}: {token!r} is not name=values (e.g. {GRID_EXAMPLE})")
        _check_name(name, where, grid)
        grid[name] = _values(name, spec, where)
    return grid


def grid_from_table(table: dict[str, Any], where: str) -> dict[str, list[Any]]:
    """A ``[sweep]`` table (name → value, list or "a:b" range) as a grid."""
    grid: dict[str, list[Any]] = {}
    for name, spec in table.items():
        _check_name(name, where, grid)
        grid[name] = _values(name, spec, where)
    return grid


def load_grid(spec: str | None, scene: Scene) -> dict[str, list[Any]]:
    """The grid of a sweep: ``spec`` is grid text or a TOML file with a ``[sweep]`` table;
    without it, the scene's own ``[sweep]`` table (possibly empty: every lane once)."""
    if spec is None:
        return grid_from_table(dict(scene.model.sweep), f"{scene.path or scene.name}: sweep")
    if spec.strip().endswith(".toml"):
        path = Path(spec.strip())
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML: {exc}") from None
        table = raw.get("sweep")
        if not isinstance(table, dict):
            raise UserError(f"{path}: no [sweep] table")
        return grid_from_table(table, f"{path}: sweep")
    return parse_grid(spec)


# --- tasks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """The tasks of a sweep, in grid order: ``tasks[i]`` maps every parameter column to its
    value; ``swept`` are the names the grid varies."""

    scene: Scene
    columns: tuple[str, ...]
    tasks: tuple[dict[str, Any], ...]
    swept: tuple[str, ...]

    @property
    def header(self) -> tuple[str, ...]:
        return self.columns + OUTCOME_COLUMNS

    def key(self, params: dict[str, Any]) -> tuple[str, ...]:
        """A task's identity in the table: its parameter values as the CSV holds them."""
        return tuple(_cell(params[c]) for c in self.columns)


def plan(scene: Scene, grid: dict[str, list[Any]], ensemble: int = 1,
         where: str = "--grid") -> Plan:
    """Expand ``grid`` over ``scene``; UserError naming the parameter and value when one
    cannot run (unknown distribution or lane, an agent that does not build, ...)."""
    grid = dict(grid)
    n_lanes = len(scene.model.lanes)
    grid.setdefault("lane", [0] if "agent" in grid else list(range(n_lanes)))
    for name, (lo, hi) in _INT_PARAMS.items():
        for v in grid.get(name, ()):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise UserError(f"{where}: {name}={v}: give whole numbers from {lo} to"
                                f" {min(hi, n_lanes - 1) if name == 'lane' else hi}")
    for v in grid["lane"]:
        if v >= n_lanes:
            raise UserError(f"{where}: lane={v}: {scene.name} has {n_lanes} lanes (0 to"
                            f" {n_lanes - 1})")
    for v in grid.get("distribution", ()):
        if str(v) not in scene.layouts:
            raise UserError(f"{where}: distribution={v}: {scene.name} has"
                            f" {', '.join(scene.distributions)}")
    defaults = {"seed": scene.model.seed, "agent": "", "objective": "",
                "distribution": scene.default_distribution, "ensemble": ensemble}
    extras = tuple(n for n in grid if n not in PARAMS)
    columns = ("scene",) + PARAMS + extras
    sizes = [len(v) for v in grid.values()]
    if math.prod(sizes) > MAX_TASKS:
        raise UserError(f"{where}: {math.prod(sizes):,} combinations (at most {MAX_TASKS:,})")
    tasks: list[dict[str, Any]] = [{"scene": scene.name}]
    for name in columns[1:]:  # the grid order of the columns: seed varies slowest
        values = grid.get(name, [defaults.get(name)])
        tasks = [{**t, name: v} for t in tasks for v in values]
    for t in tasks:
        for name in ("agent", "objective", "distribution"):
            t[name] = str(t[name])
    built: set[tuple[Any, ...]] = set()
    for t in tasks:  # every distinct agent once, here, so a bad one fails before any run
        key = (t["lane"], t["agent"], t["objective"]) + tuple(t[n] for n in extras)
        if key in built:
            continue
        built.add(key)
        try:
            _lane_agents(scene, t, extras)
        except UserError as exc:
            shown = " ".join(f"{n}={t[n]}" for n in ("lane", "agent", "objective") + extras
                             if t[n] != "")
            raise UserError(f"{where}: {shown}: {exc}") from None
    swept = tuple(n for n in columns[1:] if len(grid.get(n, ())) > 1)
    return Plan(scene, columns, tuple(tasks), swept)


def _lane_agents(scene: Scene, params: dict[str, Any], extras: Sequence[str]) -> list[Any]:
    return scene.lane_agent_group(int(params["lane"]), params["agent"] or None,
                                  params["objective"] or None,
                                  **{n: params[n] for n in extras})


def lane_scene(scene: Scene, lane: int) -> Scene:
    """``scene`` with lane ``lane`` alone, keeping the scheduled perturbations that hit it."""
    model = scene.model
    perts = [p if p.lanes == "all" else p.model_copy(update={"lanes": [0]})
             for p in model.perturbations if p.lanes == "all" or lane in p.lanes]
    only = model.model_copy(update={"lanes": [model.lanes[lane]], "perturbations": perts})
    return Scene(only, scene.text, scene.path, scene.layouts)


def recording_name(params: dict[str, Any], columns: Sequence[str]) -> str:
    """The file one run is recorded to inside ``--record DIR``."""
    parts = [f"{c}={params[c]}" for c in columns[1:] if params[c] != ""]
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", f"{params['scene']}_" + "_".join(parts)) + ".h5"


def run_task(scene_text: str, scene_path: str | None, params: dict[str, Any],
             columns: Sequence[str], record_dir: str | None = None) -> list[dict[str, Any]]:
    """Run one combination; one row per agent of the lane. Pure in its inputs (the same
    rows wherever it runs), so it is what each Dask task calls."""
    from simulator.metrics import agent_metrics, ensemble_rates, run_measured
    from simulator.session import Session

    scene = scene_from_text(scene_text, scene_path)
    extras = [c for c in columns if c not in PARAMS and c != "scene"]
    group = _lane_agents(scene, params, extras)
    one = lane_scene(scene, int(params["lane"]))
    n_copies = int(params["ensemble"])
    session = Session(one, seed=int(params["seed"]), distribution=params["distribution"],
                      n_copies=n_copies, agents=[group])
    tracker = run_measured(session) if n_copies > 1 else None
    if tracker is None:
        session.run()
    recorded = ""
    if record_dir:
        recorded = recording_name(params, columns)
        _record(one, Path(record_dir) / recorded, params, group)
    rows = []
    for out, rates in zip(session.outcomes(), ensemble_rates(session), strict=True):
        row = {c: params[c] for c in columns}
        row.update(agent_index=out.agent_index, agent_label=out.agent,
                   agent_objective=out.objective, status=out.status, outcome=out.detail or "",
                   achieved_objective=out.achieved_objective, achieved_base=out.achieved_base,
                   steps=out.steps, fraction_of_steps=out.fraction_of_steps,
                   recording=recorded, **{"return": out.ret}, **rates)
        metrics = agent_metrics(tracker, 0, out.agent_index) if tracker else {}
        row.update({m: metrics.get(m, "") for m in _METRICS})
        rows.append(row)
    return rows


def _record(scene: Scene, path: Path, params: dict[str, Any], group: list[Any]) -> None:
    """Record the run to ``path``: written beside it first, so a half-written file never
    carries a finished run's name."""
    from simulator import recording

    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    recording.record(scene, partial, episodes=1, seed=int(params["seed"]),
                     distribution=params["distribution"], agents=[group],
                     n_copies=int(params["ensemble"]), force=True, handle_signals=False,
                     process=False, background=False)
    os.replace(partial, path)


# --- the table ---------------------------------------------------------------------------
def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class Table:
    """The sweep's CSV table, appended to as tasks finish and flushed after every run.

    Opening an existing table resumes it: its header must be the sweep's; a last line cut
    short by a kill is dropped; :attr:`done` holds the keys of the runs already in it.
    """

    def __init__(self, path: str | Path, plan_: Plan, force: bool = False):
        self.path = Path(path)
        self.plan = plan_
        self.header = list(plan_.header)
        self.done: set[tuple[str, ...]] = set()
        if self.path.exists() and not force:
            text = self.path.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):  # a row cut short: drop it
                text = text[: text.rfind("\n") + 1]
                self.path.write_text(text, encoding="utf-8")
            self.done = _done_keys(self.path, text, plan_)
            fresh = not text
        else:
            if not self.path.parent.is_dir():
                raise UserError(f"{self.path.parent}: no such folder")
            fresh = True
        self._file = self.path.open("w" if fresh else "a", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        if fresh:
            self._writer.writerow(self.header)
            self._file.flush()

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write one run's rows and flush them to the file."""
        lines = [[_cell(r.get(c)) for c in self.header] for r in rows]
        self._writer.writerows(lines)
        self._file.flush()
        os.fsync(self._file.fileno())
        for line in lines:
            self.done.add(tuple(line[: len(self.plan.columns)]))

    def close(self) -> None:
        self._file.close()

    def sort(self) -> None:
        """Rewrite the table in grid order (atomically), once every run is in it: the same
        grid gives the same file, whatever order its tasks finished in."""
        order = {self.plan.key(t): i for i, t in enumerate(self.plan.tasks)}
        n_key = len(self.plan.columns)
        with self.path.open(encoding="utf-8", newline="") as f:
            lines = list(csv.reader(f))
        body = sorted(lines[1:], key=lambda r: (order.get(tuple(r[:n_key]), len(order)),
                                                int(r[n_key] or 0)))
        tmp = self.path.with_name(f".{self.path.name}.sorting")
        with tmp.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(lines[0])
            w.writerows(body)
        os.replace(tmp, self.path)


def _done_keys(path: Path, text: str, plan_: Plan) -> set[tuple[str, ...]]:
    lines = list(csv.reader(text.splitlines()))
    if lines and lines[0] != list(plan_.header):
        raise UserError(f"{path}: a table of another sweep (its columns differ);"
                        " write to a new file or use --force to start it again")
    n_key = len(plan_.columns)
    # A run's rows are written together, so a complete line means a finished run (a cut
    # line is not complete: it is dropped when the table is opened).
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    return {tuple(row[:n_key]) for row in csv.reader(complete.splitlines()[1:]) if row}


def pending(plan_: Plan, output: str | Path, force: bool = False) -> int:
    """How many of the plan's runs the table at ``output`` does not hold yet."""
    path = Path(output)
    if force or not path.exists():
        return len(plan_.tasks)
    done = _done_keys(path, path.read_text(encoding="utf-8"), plan_)
    return sum(plan_.key(t) not in done for t in plan_.tasks)


def read_table(path: str | Path) -> list[dict[str, str]]:
    """A sweep table's rows (strings, as written)."""
    try:
        with Path(path).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    except csv.Error as exc:
        raise UserError(f"{path}: not a CSV table: {exc}") from None
    if rows and not {"achieved_base", "base_rate", "copies"} <= set(rows[0]):
        raise UserError(f"{path}: not a sweep table (no outcome columns)")
    return rows


# --- running -----------------------------------------------------------------------------
@dataclass
class SweepResult:
    path: Path
    total: int  # tasks in the grid
    skipped: int  # already in the table
    ran: int  # run now
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.skipped + self.ran == self.total


def run_sweep(plan_: Plan, output: str | Path, *, client: Any = None,
              record_dir: str | Path | None = None, force: bool = False,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run every task of ``plan_`` not yet in the table at ``output``, appending rows as
    they finish; on ``client`` (a dask.distributed Client) or, without one, here.

    Ctrl-C (KeyboardInterrupt) stops it with every finished run in the table; the result
    says ``interrupted``. A complete table is rewritten in grid order.
    """
    table = Table(output, plan_, force=force)
    todo = [t for t in plan_.tasks if plan_.key(t) not in table.done]
    result = SweepResult(table.path, len(plan_.tasks), len(plan_.tasks) - len(todo), 0)
    if record_dir is not None:
        Path(record_dir).mkdir(parents=True, exist_ok=True)
    scene = plan_.scene
    args = (scene.text, str(scene.path) if scene.path else None)
    rec = str(record_dir) if record_dir is not None else None
    if progress is not None:
        progress(result.skipped, result.total)
    try:
        if client is None:
            for t in todo:
                table.append(run_task(*args, t, plan_.columns, rec))
                result.ran += 1
                if progress is not None:
                    progress(result.skipped + result.ran, result.total)
        else:
            from simulator.cluster import map_unordered

            for rows in map_unordered(client, run_task, todo, *args[:2], columns=plan_.columns,
                                      record_dir=rec):
                table.append(rows)
                result.ran += 1
                if progress is not None:
                    progress(result.skipped + result.ran, result.total)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        table.close()
    if result.complete:
        table.sort()
    return result


# --- reading results ---------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """Outcome at one value of one parameter, over every row with that value: successes
    ``k`` of ``n`` copies (base objective and the agent's own), with Wilson 95% intervals."""

    value: str
    n: int
    base: float
    base_ci: tuple[float, float]
    objective: float
    objective_ci: tuple[float, float]
    mean_return: float


def _sort_values(values: Iterable[str]) -> list[str]:
    vals = list(dict.fromkeys(values))
    try:
        return sorted(vals, key=float)
    except ValueError:
        return vals


def outcome_by_parameter(rows: Sequence[dict[str, str]],
                         names: Sequence[str] | None = None) -> dict[str, list[Point]]:
    """For each parameter that takes more than one value in ``rows`` (or each of
    ``names``), the outcome at each of its values."""
    from simulator.misgen import wilson

    if names is None:
        params = [c for c in (rows[0] if rows else {}) if c not in OUTCOME_COLUMNS
                  and c != "scene"]
        names = [c for c in params if len({r[c] for r in rows}) > 1]
    out: dict[str, list[Point]] = {}
    for name in names:
        points = []
        for value in _sort_values(r[name] for r in rows):
            sel = [r for r in rows if r[name] == value]
            n = sum(int(r["copies"]) for r in sel)
            k_base = sum(float(r["base_rate"]) * int(r["copies"]) for r in sel)
            k_obj = sum(float(r["objective_rate"]) * int(r["copies"]) for r in sel)
            ret = sum(float(r["mean_return"]) * int(r["copies"]) for r in sel) / max(n, 1)
            points.append(Point(value, n, k_base / max(n, 1), wilson(round(k_base), n),
                                k_obj / max(n, 1), wilson(round(k_obj), n), ret))
        out[name] = points
    return out


def format_summary(by_param: dict[str, list[Point]]) -> str:
    lines = []
    for name, points in by_param.items():
        lines.append(f"  {name}:")
        for p in points:
            lines.append(f"    {p.value:<24} base {p.base:5.2f} [{p.base_ci[0]:.2f},"
                         f" {p.base_ci[1]:.2f}]   objective {p.objective:5.2f}"
                         f" [{p.objective_ci[0]:.2f}, {p.objective_ci[1]:.2f}]"
                         f"   return {p.mean_return:+.3f}   n={p.n}")
    return "\n".join(lines) if lines else "  (no parameter takes more than one value)"
