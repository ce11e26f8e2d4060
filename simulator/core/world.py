"""What steersim knows of a world kind before loading it: a :class:`World` record.

Each world package (``simulator/worlds/<kind>/__init__.py``) defines one ``WORLD``; the
registry (:mod:`simulator.worlds`) maps kind names to them. Everything heavy — numba
kernels, pygame drawing, Qt tools — is named by a string entry point
(``"package.module:attribute"``) and imported only when first used, as Gymnasium's
registry does, so a maze run never compiles the arena's kernels and a headless batch never
imports Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class NoiseSpec:
    """A world's noise knob: the ``set_noise`` parameter, its range and its unit
    ("%" shows a fraction as a percentage)."""

    param: str
    maximum: float
    unit: str
    tip: str

    def text(self, value: float) -> str:
        return f"{value:.0%}" if self.unit == "%" else f"{value:.2f} {self.unit}"


@dataclass(frozen=True)
class World:
    """One world kind: its data, and entry points to the code that serves it.

    Entry points (``"module:attribute"``, or a bare module name where a module is meant):

    driver : the :class:`~simulator.core.driver.WorldDriver` the Session talks to.
    distribution : pydantic model of one ``[distributions.<name>]`` table.
    pack : ``pack(dist, where) -> layout``, a validated distribution as kernel arrays.
    physics : pydantic model of the scene's ``[<kind>]`` table (None: the world has none).
    finish : ``finish(scene_model, physics, layouts, where)`` checks that need the whole
        scene (arena substeps); optional.
    objective : ``parse(text) -> objective`` (UserError on bad text).
    proxy : ``check(text)``, UserError unless ``text`` names a proxy a misgeneralization
        study can count (None: the world names no proxies).
    agent_params : ``build(name, params) -> (params vector, rule table, rule text)``.
    renderer : module with ``layout``, ``draw`` (simulator/render's protocol).
    sense : module with ``ACTION_WIDTH``, ``observation_shape``, ``observation_bounds``,
        ``observe_copies`` (what an agent outside the engine perceives).
    tools : the GUI's tool classes, in toolbar order (GUI only).
    basin : ``basin_map(session, lane, objective)``, which start states reach the target
        (None: the world has no basin map).
    warmup : kernels a first frame needs, checked for a compiled cache before launch.

    Data: ``copies`` (reflex lane, search lane) default ensemble sizes for the GUI;
    ``noise`` its noise knob; ``copy0_fields`` state fields a GUI lane keeps per step for
    copy 0 beyond what the driver's history keeps; ``trainable`` whether learners train
    in it; ``held`` whether objectives are held over time (thermal bands, arena goals)
    rather than reached once (the maze); ``help`` the GUI's help text for it.
    """

    kind: str
    title: str
    driver: str
    distribution: str
    pack: str
    objective: str
    agent_params: str
    renderer: str
    sense: str
    help: str
    noise: NoiseSpec | None = None
    physics: str | None = None
    basin: str | None = None
    proxy: str | None = None
    finish: str | None = None
    tools: str | None = None
    warmup: tuple[str, ...] = ()
    # GUI ensemble sizes (reflex agents, a lane with a tree search). DESIGN.md asks for 4096
    # copies of a reflex agent and as many searching copies as fit a frame; worlds that cost
    # more per copy get fewer. Measured on the 2-core machine with the GUI's one kernel
    # thread, engine + metrics per step and lane: maze 4096 reflex 1.3-1.5 ms, 512 search
    # 0.7 ms; thermal 1024 reflex 3.9 ms, 32 search 2.8 ms; arena 1024 reflex 2.7 ms,
    # 16 search 5.2 ms.
    copies: tuple[int, int] = (1024, 64)
    copy0_fields: tuple[str, ...] = ()
    trainable: bool = False
    # Agent parameters that bind an agent to a device of the world (which heater or pusher
    # it drives) rather than tune it: kept when a lane's agent is overridden.
    binding: tuple[str, ...] = ()
    held: bool = True

    def load(self, entry: str) -> Any:
        """The object an entry point names: a field's value (``"driver"``) or a raw
        ``"module:attribute"`` / ``"module"`` string."""
        target = getattr(self, entry, None) if entry.isidentifier() else entry
        if not isinstance(target, str):
            raise KeyError(f"world {self.kind!r} has no entry point {entry!r}")
        return load_entry(target)


@cache
def load_entry(target: str) -> Any:
    """Import ``"module:attribute"`` (or a bare module) once."""
    module, _, attr = target.partition(":")
    obj: Any = import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj
