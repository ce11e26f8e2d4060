"""The strict base every part of the scene schema builds on, and its one-line errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from simulator.core.errors import UserError


class SceneError(UserError):
    """A scene file is missing, unreadable or invalid; ``str()`` is one line for the user."""


class Strict(BaseModel):
    """Unknown keys are refused, values are frozen, and no NaN or infinity passes anywhere:
    a NaN temperature passed every comparison and hung a run, an infinite thrust ran for
    minutes without an answer. Every float of a scene is finite and inside its range."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def fmt_loc(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a TOML path: ``lanes[0].agent``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(model: type[BaseModel], raw: Any, where: str) -> Any:
    """``model`` validated from ``raw``; SceneError ``"<where>.<field>: <message>"`` naming
    the first problem."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        sep = "." if where and not where.endswith(": ") else ""
        raise SceneError(f"{where}{sep}{fmt_loc(err['loc'])}: {msg}") from None
