"""Row capture on the simulation's thread: copy 0 of every state field (and, with traces
refilled in place, of every step row) gathered by address into preallocated blocks by
one compiled call per step (:func:`gather_rows`), and :class:`StepRows`, one episode's
buffered rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
from numba.extending import intrinsic

from simulator.recording.blocks import Block
from simulator.recording.format import BLOCK_BYTES, MAX_BLOCK_STEPS

if TYPE_CHECKING:
    from simulator.core.driver import StepTrace


@intrinsic
def _byte_pointer(typingctx: Any, address: Any) -> Any:
    """``uint8*`` at an integer address (numba has no built-in cast from int to pointer)."""
    if not isinstance(address, numba.types.Integer):
        return None
    sig = numba.types.CPointer(numba.types.uint8)(address)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(cache=True)  # keeps the GIL: a microsecond call is no time to hand it over
def gather_rows(table: np.ndarray, row: int) -> int:
    """Copy copy 0 of many state fields into row ``row`` of their block buffers.

    table (n, 5) int64, one line per field: address of the field's copy 0, address of the
    buffer's row 0, bytes per row, the lane's index if the field is its ``status`` (else
    -1), and an offset added to ``row`` (step rows trail state rows by the initial state
    in an episode's first block). Returns a bit mask of the lanes whose copy 0 status is
    not 0 (running).
    """
    stopped = 0
    for j in range(table.shape[0]):
        n = table[j, 2]
        src = _byte_pointer(table[j, 0])
        dst = _byte_pointer(table[j, 1] + (row + table[j, 4]) * n)
        for b in range(n):
            dst[b] = src[b]
        lane = table[j, 3]
        if lane >= 0:
            for b in range(n):
                if src[b] != 0:
                    stopped |= 1 << lane
                    break
    return stopped


def address_of(arr: np.ndarray) -> int:
    return int(arr.__array_interface__["data"][0])


def trace_sources(trace: StepTrace, agent_keys: Sequence[str]
                   ) -> list[tuple[str, int, int]]:
    """Where copy 0's step rows live in a one-step trace: (dataset path, address, bytes)
    for actions (the trace's action[0, 0], (A, ...)), rewards (reward[0, 0], (A,)) and
    agent/<key>/<name> (internals[name][0, 0, a]) — the rows StepRows.add_step copies."""
    def at(arr: np.ndarray, index: tuple[int, ...]) -> tuple[int, int]:
        view = arr[index + (Ellipsis,)]
        if not view.flags.c_contiguous:
            raise ValueError("a trace row is not contiguous")
        return address_of(arr) + sum(i * s for i, s in zip(index, arr.strides, strict=False)), \
            view.nbytes

    out = [("actions", *at(trace.action, (0, 0))), ("rewards", *at(trace.reward, (0, 0)))]
    for name, values in trace.internals.items():
        for a, key in enumerate(agent_keys):
            out.append((f"agent/{key}/{name}", *at(values, (0, 0, a))))
    return out


class StepRows:
    """One episode's per-step rows, buffered in memory ``capacity`` at a time.

    State rows (copy 0 of every state field) and step rows (actions, rewards, agent
    internals) are kept under their dataset paths; there is one more state row than step
    rows over an episode (the initial state). Terminations and truncations follow from the
    state rows' ``status``. Step rows are either copied at once (:meth:`add_step`) or kept
    as the trace that holds them (:meth:`add_trace`, for small ensembles) and copied when
    the block is written. The writer hands blocks to the file, :func:`verify` compares them
    to it.
    """

    def __init__(self, state: Mapping[str, np.ndarray], agent_keys: Sequence[str],
                 capacity: int):
        self.capacity = capacity
        self.agent_keys = list(agent_keys)
        self._fields = [(name, arr.shape[1:], arr.dtype) for name, arr in state.items()]
        self.state = self._state_buffers()
        self.steps: dict[str, np.ndarray] = {}
        self._step_specs: list[tuple[str, tuple[int, ...], np.dtype]] = []
        self._internal_dst: list[tuple[str, int, np.ndarray]] = []
        self.traces: list[StepTrace] = []
        self.n_state = 0
        self.n_step = 0
        self.streamed: dict[str, int] = {}  # state rows of these buffers already handed off
        self.generation = 0  # bumped whenever the buffers are handed off

    def _state_buffers(self) -> dict[str, np.ndarray]:
        return {f"state/{name}": np.empty((self.capacity,) + shape, dtype)
                for name, shape, dtype in self._fields}

    @staticmethod
    def capacity_for(state: Mapping[str, np.ndarray], block_bytes: int = BLOCK_BYTES) -> int:
        """Rows per block so one block of state stays near ``block_bytes``: a power of two,
        so that chunks (:func:`rows_per_chunk`) tile it."""
        row_bytes = sum(arr[0].nbytes for arr in state.values()) or 1
        rows = int(max(16, min(MAX_BLOCK_STEPS, block_bytes // row_bytes)))
        return 1 << (rows.bit_length() - 1)

    @property
    def full(self) -> bool:
        return self.n_state == self.capacity or self.n_step == self.capacity

    def add_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy 0 of every field of ``state`` (name → (E, ...)) as the next state row."""
        i = self.n_state
        for name, _, _ in self._fields:
            self.state[f"state/{name}"][i] = state[name][0]
        self.n_state = i + 1

    def _allocate_steps(self, trace: StepTrace) -> None:
        action, reward = trace.action[0, 0], trace.reward[0, 0]
        specs = [("actions", action.shape, action.dtype), ("rewards", reward.shape,
                                                          reward.dtype)]
        self._internal_dst = []
        for name, values in trace.internals.items():
            row = values[0, 0]  # (A, ...)
            for a, key in enumerate(self.agent_keys):
                specs.append((f"agent/{key}/{name}", row.shape[1:], row.dtype))
                self._internal_dst.append((name, a, f"agent/{key}/{name}"))
        self._step_specs = specs
        self._new_step_buffers()

    def _new_step_buffers(self) -> None:
        self.steps = {path: np.empty((self.capacity,) + shape, dtype)
                      for path, shape, dtype in self._step_specs}
        self._internal_bufs = [(name, a, self.steps[path])
                               for name, a, path in self._internal_dst]

    def add_step(self, trace: StepTrace) -> None:
        """Copy row 0 (copy 0) of a one-step trace as the next step row."""
        if not self._step_specs:
            self._allocate_steps(trace)
        if self.traces:  # switching from kept traces to copies mid-block
            kept, self.traces, self.n_step = self.traces, [], 0
            for old in kept:
                self.add_step(old)
        i = self.n_step
        steps = self.steps
        steps["actions"][i] = trace.action[0, 0]
        steps["rewards"][i] = trace.reward[0, 0]
        for name, a, buf in self._internal_bufs:
            buf[i] = trace.internals[name][0, 0, a]
        self.n_step = i + 1

    def add_trace(self, trace: StepTrace) -> None:
        """Keep a one-step trace as the next step row, copied out when the block is taken
        (cheaper than :meth:`add_step` when the trace is small: few copies)."""
        self.traces.append(trace)
        self.n_step += 1

    def take(self, final: bool = False) -> Block:
        """The buffered rows as a block nobody writes to any more; the buffers start empty.
        ``final``: no rows will follow, so no new buffers are allocated."""
        streamed = self.streamed
        block = Block(
            {path: buf[streamed.get(path, 0):self.n_state] for path, buf in self.state.items()},
            {} if self.traces else {path: buf[:self.n_step] for path, buf in self.steps.items()},
            self.traces, self.agent_keys, self.capacity)
        self.streamed = {}
        if not final:
            self.state = self._state_buffers()
            if self._step_specs:
                self._new_step_buffers()
        self.traces = []
        self.n_state = self.n_step = 0
        self.generation += 1
        return block

