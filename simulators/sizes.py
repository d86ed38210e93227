"""How many enterprises of each kind a (scaled) park has, and how many machines each has."""

import math
import random
from dataclasses import dataclass

from simulators.errors import ParameterError
from simulators.params import ParkParams, SizeParams

MAX_MACHINES = 1_000_000


@dataclass(frozen=True, slots=True)
class Composition:
    """The enterprises of a park: college-founded ones of a fixed size and the others."""

    college_enterprises: int
    college_machines_each: int
    other_enterprises: int
    other_machines: int

    @property
    def enterprises(self) -> int:
        return self.college_enterprises + self.other_enterprises

    @property
    def machines(self) -> int:
        return self.college_enterprises * self.college_machines_each + self.other_machines


def machines_for_scale(params: ParkParams, scale: float) -> int:
    """The machine count of a park ``scale`` times the size of ``params`` (at least 1)."""
    if not 0.0 < scale <= 25.0:
        raise ParameterError(f"scale must be in (0, 25], not {scale}")
    return max(1, round(params.machines * scale))


def composition(params: ParkParams, machines: int | None = None) -> Composition:
    """The park of ``params``, or a park of ``machines`` machines with the same proportions."""
    each = params.college_machines_each
    if machines is None or machines == params.machines:
        return Composition(
            params.college_enterprises,
            each,
            params.enterprises - params.college_enterprises,
            params.machines - params.college_enterprises * each,
        )
    if not 1 <= machines <= MAX_MACHINES:
        raise ParameterError(f"machines must be 1-{MAX_MACHINES:,}, not {machines}")
    factor = machines / params.machines
    college = min(round(params.college_enterprises * factor), machines // each)
    other_machines = machines - college * each
    others = round((params.enterprises - params.college_enterprises) * factor)
    low, high = params.sizes.min_machines, params.sizes.max_machines
    if other_machines == 0:
        others = 0
    else:
        others = max(others, math.ceil(other_machines / high), 1)
        others = min(others, max(1, other_machines // low))
    return Composition(college, each, others, other_machines)


def fit_sizes(raw: list[float], total: int, low: int, high: int) -> list[int]:
    """Scale ``raw`` sizes so that they are integers in ``[low, high]`` adding up to ``total``.

    Deterministic: a bisection finds the smallest scale whose rounded, bounded sizes reach the
    total; the few machines rounding puts too many are taken from the largest enterprises.
    """
    count = len(raw)
    if count == 0:
        if total:
            raise ParameterError(f"{total} machines cannot be spread over no enterprise")
        return []
    low = min(low, total // count)
    if not count * low <= total <= count * high:
        raise ParameterError(
            f"{total} machines cannot be spread over {count} enterprises of {low}-{high}"
        )

    def sizes_at(scale: float) -> list[int]:
        return [min(high, max(low, math.floor(r * scale + 0.5))) for r in raw]

    below, above = 0.0, high / min(raw) + 1.0
    for _ in range(200):
        middle = (below + above) / 2
        if sum(sizes_at(middle)) < total:
            below = middle
        else:
            above = middle
    sizes = sizes_at(above)
    excess = sum(sizes) - total
    order = sorted(range(count), key=lambda i: (-raw[i], i))
    while excess > 0:
        for i in order:
            if excess and sizes[i] > low:
                sizes[i] -= 1
                excess -= 1
    return sizes


def sample_sizes(rng: random.Random, count: int, total: int, params: SizeParams) -> list[int]:
    """``count`` heavy-tailed enterprise sizes adding up to exactly ``total``."""
    limit = params.truncate_z * params.sigma
    raw: list[float] = []
    while len(raw) < count:
        x = rng.gauss(0.0, params.sigma)
        if x <= limit:
            raw.append(math.exp(x))
    return fit_sizes(raw, total, params.min_machines, params.max_machines)
