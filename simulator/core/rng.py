"""Counter-based randomness.

Every random number in the engine is a pure function of ``(seed, copy, step, stream)``:
a splitmix64 finaliser applied to a mix of those four integers. There is no generator
state to carry, so a copy's trajectory cannot depend on thread count, ensemble size,
the order copies are visited in, or whether anything else drew numbers in between.

Streams separate independent uses within one step (agent choice, noise, initial state).
"""

import numpy as np
from numba import njit

STREAM_INIT = 1
STREAM_AGENT = 2
STREAM_NOISE = 3
STREAM_NOISE_ACTION = 4
STREAM_TRAIN = 5  # learners: episode seeds, weight initialisation, exploration
STREAM_MIX = 6  # learners: which distribution a training episode is drawn from
STREAM_ENV = 7  # Gymnasium envs: the seeds of episodes redrawn after a reset (simulator/envs)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser (Steele, Lea & Flood 2014): a bijective avalanche of 64 bits."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def rand_u64(seed: int, copy: int, step: int, stream: int) -> np.uint64:
    """A uniformly distributed uint64 determined only by the four counters."""
    z = _mix(np.uint64(seed) + _GOLDEN)
    z = _mix(z ^ (np.uint64(copy) * _GOLDEN))
    z = _mix(z ^ (np.uint64(step) + _M1))
    return _mix(z ^ (np.uint64(stream) * _M2))


@njit(cache=True)
def rand_uniform(seed: int, copy: int, step: int, stream: int) -> float:
    """A float in [0, 1) with 53 random bits, determined only by the four counters."""
    return float(rand_u64(seed, copy, step, stream) >> _S11) * _INV53


@njit(cache=True)
def rand_int(seed: int, copy: int, step: int, stream: int, n: int) -> int:
    """An integer uniform on ``[0, n)`` (n > 0); modulo bias is below 2**-40 for n < 2**24."""
    # np.int64, not int(): numba keeps int(uint64) unsigned, and uint64 mixed with int64
    # silently unifies to float64.
    return np.int64(rand_u64(seed, copy, step, stream) % np.uint64(n))
