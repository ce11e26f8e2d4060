"""What every world's state shares: struct-of-arrays dataclasses with a leading copy axis.

A world's state class is a ``@dataclass`` of numpy arrays, each ``(E, ...)`` for E
ensemble copies, inheriting :class:`StateArrays` for the helpers the Session, recorder and
GUI use on any world.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Self

import numpy as np

# Episode statuses, as every world's ``status`` (E,) int8 array holds them.
STATUS_RUNNING, STATUS_TERMINATED, STATUS_TRUNCATED = 0, 1, 2
STATUS_NAMES = ("running", "terminated", "truncated")


def status_name(code: Any) -> str:
    """``"running"``, ``"terminated"`` or ``"truncated"`` for a status code."""
    return STATUS_NAMES[int(code)]


class StateArrays:
    """Helpers over a dataclass of ``(E, ...)`` arrays (mixed into each world's state)."""

    @property
    def n_copies(self) -> int:
        return int(getattr(self, fields(self)[0].name).shape[0])  # type: ignore[arg-type]

    def field_names(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.field_names()}

    def copy(self) -> Self:
        return type(self)(**{k: v.copy() for k, v in self.as_dict().items()})

    def select(self, index: int | slice | np.ndarray) -> Self:
        """The copies at ``index`` as a new state (always keeps the leading axis)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return type(self)(**{k: v[index].copy() for k, v in self.as_dict().items()})
