"""Every assumption of the park model, as one frozen value with documented defaults.

``docs/simulator.md`` gives each parameter's rationale; :data:`DEFAULT_PARK` reproduces the park
described in ``PARK.md`` (1,220 enterprises, 40,000 machines, 3.5 billion pairs a year).
"""

from dataclasses import dataclass, field

from simulators.errors import ParameterError
from simulators.machine import DEFAULT_MACHINE, MachineParams
from simulators.shifts import DEFAULT_CALENDAR, DEFAULT_SHIFTS, CalendarParams, ShiftPattern
from simulators.styles import DEFAULT_STYLES, Style

DEFAULT_SEED = 1
"""The seed of the default park and run."""


@dataclass(frozen=True, slots=True)
class SizeParams:
    """Sizes of the enterprises that are not college-founded: a truncated lognormal.

    Raw sizes are ``exp(N(0, sigma))`` with draws above ``truncate_z`` standard deviations
    rejected, then scaled to the exact machine total and rounded (see :mod:`simulators.sizes`);
    ``min_machines``/``max_machines`` bound every size.
    """

    sigma: float = 0.6
    truncate_z: float = 2.75
    min_machines: int = 2
    max_machines: int = 200

    def __post_init__(self) -> None:
        if not 0.0 < self.sigma <= 3.0:
            raise ParameterError("size sigma must be in (0, 3]")
        if not 0.5 <= self.truncate_z <= 10.0:
            raise ParameterError("size truncate_z must be 0.5-10")
        if not 1 <= self.min_machines <= self.max_machines <= 500:
            raise ParameterError("enterprise sizes need 1 <= min_machines <= max_machines <= 500")


@dataclass(frozen=True, slots=True)
class ParkParams:
    """The park: its size, its enterprises, styles, working time and machine behaviour."""

    enterprises: int = 1220
    machines: int = 40_000
    college_enterprises: int = 371
    college_machines_each: int = 10
    annual_target_pairs: float = 3.5e9
    """The park's stated annual capacity; calibration aims at it."""
    sizes: SizeParams = field(default_factory=SizeParams)
    styles: tuple[Style, ...] = DEFAULT_STYLES
    shifts: tuple[ShiftPattern, ...] = DEFAULT_SHIFTS
    calendar: CalendarParams = DEFAULT_CALENDAR
    machine: MachineParams = DEFAULT_MACHINE

    def __post_init__(self) -> None:
        if not 1 <= self.enterprises <= 9999:
            raise ParameterError("enterprises must be 1-9999")
        if not 0 <= self.college_enterprises <= self.enterprises:
            raise ParameterError("college_enterprises must be 0..enterprises")
        if not 1 <= self.college_machines_each <= self.sizes.max_machines:
            raise ParameterError("college_machines_each must be 1..max_machines")
        others = self.enterprises - self.college_enterprises
        other_machines = self.machines - self.college_enterprises * self.college_machines_each
        low, high = self.sizes.min_machines, self.sizes.max_machines
        if (others == 0 and other_machines != 0) or not (
            others * low <= other_machines <= others * high
        ):
            raise ParameterError(
                f"{other_machines} machines cannot be spread over {others} enterprises "
                f"of {low}-{high} machines"
            )
        if self.annual_target_pairs <= 0:
            raise ParameterError("annual_target_pairs must be positive")
        _check_mix("style", [s.name for s in self.styles], [s.share for s in self.styles])
        _check_mix("shift pattern", [s.name for s in self.shifts], [s.share for s in self.shifts])


def _check_mix(what: str, names: list[str], shares: list[float]) -> None:
    if not names:
        raise ParameterError(f"at least one {what} is needed")
    if len(set(names)) != len(names):
        raise ParameterError(f"{what} names repeat")
    if abs(sum(shares) - 1.0) > 1e-6:
        raise ParameterError(f"{what} shares must add up to 1 (they add up to {sum(shares):.6f})")


DEFAULT_PARK = ParkParams()
