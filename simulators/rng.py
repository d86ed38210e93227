"""A tiny deterministic random generator for per-machine draws.

A :class:`random.Random` instance takes about 2.5 KB; the full park has 40,000 machines, each
with its own stream so that its trajectory depends only on the seed and its own identity, never on
the order in which the fleet happens to advance machines. SplitMix64 needs one integer of state.
"""

import math

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def derive_seed(*parts: int) -> int:
    """Combine integers into one well-mixed 64-bit seed (stable across Python runs)."""
    state = 0
    for part in parts:
        state = _mix((state + _GAMMA + (part & _MASK)) & _MASK)
    return state


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush, a few integer ops."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next_u64(self) -> int:
        self._state = (self._state + _GAMMA) & _MASK
        return _mix(self._state)

    def random(self) -> float:
        """Uniform in [0, 1)."""
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.random())

    def erlang(self, shape: int, mean: float) -> float:
        """Sum of ``shape`` exponentials, total mean ``mean`` (a gamma with integer shape)."""
        product = 1.0
        for _ in range(shape):
            product *= 1.0 - self.random()
        return -(mean / shape) * math.log(product)
