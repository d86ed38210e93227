"""The park: enterprises, their machines, styles and shift patterns, built from a seed."""

import random
import statistics
from dataclasses import dataclass

from simulators.params import DEFAULT_PARK, DEFAULT_SEED, ParkParams
from simulators.shifts import ShiftPattern
from simulators.sizes import composition, sample_sizes
from simulators.styles import Style


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """A machine of the park: its ids, its style and its position in the park (``index``)."""

    enterprise: str
    id: str
    style: Style
    index: int


@dataclass(frozen=True, slots=True)
class Enterprise:
    """An enterprise (one MQTT gateway): ``E0001`` ... numbered from 1."""

    id: str
    number: int
    college: bool
    """Founded by college graduates (371 in the park, each started with 10 machines)."""
    shift: ShiftPattern
    machines: tuple[MachineSpec, ...]


@dataclass(frozen=True, slots=True)
class Park:
    seed: int
    params: ParkParams
    enterprises: tuple[Enterprise, ...]
    machines: tuple[MachineSpec, ...]

    @property
    def college_enterprises(self) -> tuple[Enterprise, ...]:
        return tuple(e for e in self.enterprises if e.college)

    def size_stats(self) -> tuple[int, float, int]:
        """Machines per enterprise: minimum, median, maximum."""
        sizes = [len(e.machines) for e in self.enterprises]
        return min(sizes), statistics.median(sizes), max(sizes)


def enterprise_id(number: int) -> str:
    return f"E{number:04d}"


def machine_id(number: int) -> str:
    return f"M{number:03d}"


def build_park(
    params: ParkParams = DEFAULT_PARK, *, seed: int = DEFAULT_SEED, machines: int | None = None
) -> Park:
    """Build the park (or a scaled park of ``machines`` machines); the same seed, the same park.

    College-founded enterprises have ``college_machines_each`` machines; the others are sized by
    :func:`simulators.sizes.sample_sizes`. Enterprises are shuffled before they are numbered, so
    college-founded ones are spread over the numbers. Each enterprise draws a shift pattern and
    each machine a style, both in proportion to their shares.
    """
    rng = random.Random(seed)
    comp = composition(params, machines)
    other_sizes = sample_sizes(rng, comp.other_enterprises, comp.other_machines, params.sizes)
    kinds = [(True, comp.college_machines_each)] * comp.college_enterprises + [
        (False, size) for size in other_sizes
    ]
    rng.shuffle(kinds)
    shift_weights = [s.share for s in params.shifts]
    style_weights = [s.share for s in params.styles]
    enterprises: list[Enterprise] = []
    all_machines: list[MachineSpec] = []
    for number, (college, size) in enumerate(kinds, start=1):
        eid = enterprise_id(number)
        shift = rng.choices(params.shifts, shift_weights)[0]
        styles = rng.choices(params.styles, style_weights, k=size)
        specs = tuple(
            MachineSpec(eid, machine_id(n), style, len(all_machines) + n - 1)
            for n, style in enumerate(styles, start=1)
        )
        all_machines.extend(specs)
        enterprises.append(Enterprise(eid, number, college, shift, specs))
    return Park(seed, params, tuple(enterprises), tuple(all_machines))
