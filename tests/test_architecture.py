"""The layout is the architecture: imports go one way, down these layers, and none forms a
cycle (a lazy import inside a function counts: it hides a cycle from Python, not from the
reader).

Lowest first:

0. the core: ``simulator.core`` (errors, randomness, events, states, schema base);
1. agent data: ``agents.registry`` (names, specs, codes) and ``agents.rules`` (the rule engine);
2. the registry of world kinds: ``simulator.worlds`` and each world package's ``WORLD``;
3. each world's engine: kernels, policy kernels, observation, objectives, scene schema;
4. the agents built on the engine: learners, trained-agents files, external policies;
5. the session layer: scenes, the Session, world drivers, metrics, training, studies, envs;
6. sinks: recording, rendering, export, the reel and presenter;
7. front ends: the CLI, the GUI (and each world's GUI tools), the RL adapters (Gymnasium,
   PettingZoo, Minari), sweeps, the benchmark, example policies.

So ``agents`` and ``simulator`` meet at two clean seams: agents build on the core and the
worlds' engines, and the session and everything above it build on agents — never back.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_WORLD_ENGINE = ("kernels", "rules", "objective", "policies", "observe", "learned", "goals",
                 "sense", "scene")
_WORLD_SESSION = ("driver", "basin")
_SINKS = ("simulator.recording", "simulator.render", "simulator.export", "simulator.reel",
          "simulator.present", "simulator.plots")
_FRONT = ("simulator.cli", "simulator.__main__", "simulator.gui", "simulator.bench",
          "simulator.envs", "simulator.sweep", "agents.examples")


def _modules() -> dict[str, Path]:
    out = {}
    for package in ("simulator", "agents"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _layer(name: str) -> int:
    parts = name.split(".")
    if name == "simulator" or name.startswith("simulator.core"):
        return 0
    if name in ("agents", "agents.registry", "agents.rules"):
        return 1
    if parts[:2] == ["simulator", "worlds"]:
        if len(parts) <= 3:
            return 2
        leaf = parts[3]
        if leaf in _WORLD_ENGINE:
            return 3
        if leaf in _WORLD_SESSION:
            return 5
        return 7 if leaf == "tools" else 6  # a world's GUI tools; its renderer is a sink
    if name.startswith(_FRONT):
        return 7
    if name.startswith("agents"):
        return 4
    if name.startswith(_SINKS):
        return 6
    return 5


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in mods and m != name
                       and not name.startswith(m + ".")}
    return graph


def test_imports_go_down_the_layers():
    graph = _imports(_modules())
    upward = sorted(f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)})"
                    for src, dsts in graph.items() for dst in dsts
                    if _layer(dst) > _layer(src))
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = _imports(_modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_every_world_kind_is_one_package():
    """Nothing outside a world's package names a world module of another kind's files:
    the old per-world folders are gone."""
    for gone in ("simulator/drivers", "simulator/thermal_scene.py", "simulator/arena_scene.py",
                 "agents/maze.py", "agents/thermal.py", "agents/arena.py",
                 "simulator/render/maze.py", "simulator/recording.py", "simulator/h5file.py"):
        assert not (ROOT / gone).exists(), gone
