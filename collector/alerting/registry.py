"""The park registry as alerting sees it: expected machines, their styles, shifts, holidays.

The file's format is :mod:`contract.registry`'s; this module turns it into the calendar's types.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from collector.errors import RegistryError
from contract import registry as contract_registry
from contract.calendar import Holiday, ShiftPattern
from contract.holidays import StatutoryDays
from contract.shift_calendar import registry_pattern


@dataclass(frozen=True, slots=True)
class ParkRegistry:
    """The expected machines (enterprise -> machine -> style) and the registry's calendar."""

    enterprises: dict[str, dict[str, str | None]] = field(default_factory=dict)
    patterns: dict[str, ShiftPattern] = field(default_factory=dict)
    """Each enterprise's shift pattern, for the enterprises that name one."""
    holidays: tuple[Holiday, ...] = ()
    country: str | None = None
    """Statutory holidays and make-up working days of this country (``CN``), if any."""

    @property
    def machine_count(self) -> int:
        return sum(len(machines) for machines in self.enterprises.values())

    def style(self, enterprise: str, machine: str) -> str | None:
        return self.enterprises.get(enterprise, {}).get(machine)


def parse_registry(raw: bytes, default_tz: dt.tzinfo = dt.UTC) -> ParkRegistry:
    """Parse registry JSON; ``ValueError`` naming the first problem and where it is."""
    spec = contract_registry.parse_registry(raw)
    tz = spec.time_zone(default_tz)
    shifts = {shift.name: registry_pattern(shift, tz) for shift in spec.shifts}
    holidays = []
    for i, h in enumerate(spec.holidays):
        try:
            holidays.append(Holiday(h.name, h.month, h.day, h.days, tz))
        except ValueError as exc:
            raise ValueError(f"holidays[{i}]: {exc}") from None
    if spec.country is not None:
        try:
            StatutoryDays(spec.country)
        except ValueError as exc:
            raise ValueError(f"country: {exc}") from None
    enterprises = {e.id: {m.id: m.style for m in e.machines} for e in spec.enterprises}
    patterns = {e.id: shifts[e.shift] for e in spec.enterprises if e.shift is not None}
    return ParkRegistry(enterprises, patterns, tuple(holidays), spec.country)


def load_registry(path: Path, default_tz: dt.tzinfo = dt.UTC) -> ParkRegistry:
    """Read the park registry; a one-line :class:`~collector.errors.RegistryError` else."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read park registry {path}: {exc.strerror or exc}") from None
    try:
        return parse_registry(raw, default_tz)
    except ValueError as exc:
        raise RegistryError(f"park registry {path}: {exc}") from None
