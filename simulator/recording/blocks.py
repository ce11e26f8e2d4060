"""Block: one block of an episode's rows, handed from the simulation's thread to the
file writer (and pickled to the writer process: numpy only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from simulator.recording.format import WORLD_TERMINATED, WORLD_TRUNCATED

if TYPE_CHECKING:
    from simulator.core.driver import StepTrace


@dataclasses.dataclass
class Block:
    """One block of an episode's rows, handed from the simulation to the file writer.

    ``state`` and ``steps`` are arrays nobody writes to any more (a state field whose
    first rows were streamed ahead, see :class:`RunRecorder`, holds only the rest).
    ``traces`` holds the one-step StepTraces of steps whose rows were not copied out yet
    (a driver allocates a fresh trace per ``advance`` call, so holding one is as good as
    copying it); the writer turns them into rows with :meth:`arrays`, off the simulation's
    thread.
    """

    state: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    traces: list[StepTrace]
    agent_keys: list[str]
    capacity: int  # rows per block (chunks of later blocks are sized on it)

    @property
    def n_step(self) -> int:
        if self.traces:
            return len(self.traces)
        actions = self.steps.get("actions")
        return 0 if actions is None else len(actions)

    @property
    def nbytes(self) -> int:
        """Bytes of the rows as stored (uncompressed), terminations and truncations included."""
        total = sum(a.nbytes for a in self.state.values())
        total += sum(a.nbytes for a in self.steps.values())
        if self.traces:
            first = self.traces[0]
            per_trace = first.action.nbytes + first.reward.nbytes + sum(
                v.nbytes for v in first.internals.values())
            total += per_trace // max(1, first.action.shape[1]) * len(self.traces)
        return total + 2 * self.n_step

    def packed(self) -> Block:
        """The same rows with any kept traces turned into step rows: what is sent to a
        writer process (a few arrays pickle fast; thousands of small traces do not)."""
        if not self.traces:
            return self
        return Block(self.state, trace_rows(self.traces, self.agent_keys), [],
                      self.agent_keys, self.capacity)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every dataset's rows in file order: state/<field>, actions, rewards,
        terminations, truncations, agent/<key>/<field>."""
        out = dict(self.state)
        steps = self.steps
        if self.traces:
            steps = trace_rows(self.traces, self.agent_keys)
        n_step = len(steps["actions"]) if "actions" in steps else 0
        if n_step:
            status = self.state["state/status"][len(self.state["state/status"]) - n_step:]
            out["actions"] = steps["actions"]
            out["rewards"] = steps["rewards"]
            out["terminations"] = status == WORLD_TERMINATED
            out["truncations"] = status == WORLD_TRUNCATED
            out.update((path, rows) for path, rows in steps.items() if path.startswith("agent/"))
        return out


def trace_rows(traces: Sequence[StepTrace], agent_keys: Sequence[str]
                ) -> dict[str, np.ndarray]:
    """Copy 0's rows of one-step traces: actions (n, A, ...), rewards (n, A), and
    agent/<key>/<field> (n, ...) per agent."""
    out = {"actions": np.concatenate([tr.action for tr in traces])[:, 0],
           "rewards": np.concatenate([tr.reward for tr in traces])[:, 0]}
    for name in traces[0].internals:
        rows = np.concatenate([tr.internals[name] for tr in traces])[:, 0]
        for a, key in enumerate(agent_keys):
            out[f"agent/{key}/{name}"] = rows[:, a]
    return out


# --- the file side: everything that touches h5py while writing -----------------------------
