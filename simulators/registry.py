"""The park registry of a simulated park: built from its parameters, written and read.

The file's format is :mod:`contract.registry`'s; written by ``hosiery-sim park --registry PATH``
for whoever needs to know which machines are expected to report.
"""

from pathlib import Path

from contract.files import write_atomic
from contract.registry import (
    HOURS_PER_YEAR,
    VERSION,
    Registry,
    RegistryEnterprise,
    RegistryFileError,
    RegistryHoliday,
    RegistryMachine,
    RegistryShift,
    RegistryStyle,
    load_registry,
    registry_json,
)
from simulators.calibration import (
    expected_pairs_per_hour,
    machine_pairs_per_hour,
    target_pairs_per_year,
)
from simulators.errors import RegistryError
from simulators.park import Park

__all__ = ["Registry", "read_registry", "registry_of", "write_registry"]


def registry_of(park: Park) -> Registry:
    params = park.params
    per_hour = expected_pairs_per_hour(park)
    enterprises = tuple(
        RegistryEnterprise(
            id=e.id,
            college=e.college,
            shift=e.shift.name,
            machines=tuple(
                RegistryMachine(
                    id=m.id,
                    style=m.style.name,
                    nominal_pairs_per_hour=m.style.pairs_per_hour,
                    expected_pairs_per_hour=machine_pairs_per_hour(m.style, e.shift, params),
                )
                for m in e.machines
            ),
        )
        for e in park.enterprises
    )
    return Registry(
        version=VERSION,
        seed=park.seed,
        machines=len(park.machines),
        utc_offset_hours=params.calendar.utc_offset_hours,
        expected_pairs_per_hour=per_hour,
        expected_pairs_per_year=per_hour * HOURS_PER_YEAR,
        target_pairs_per_year=target_pairs_per_year(park),
        styles=tuple(
            RegistryStyle(
                name=s.name,
                seconds_per_sock=s.seconds_per_sock,
                pairs_per_hour=s.pairs_per_hour,
                rpm=s.rpm,
            )
            for s in params.styles
        ),
        shifts=tuple(
            RegistryShift(name=s.name, windows=s.windows, workdays=s.workdays)
            for s in params.shifts
        ),
        holidays=tuple(
            RegistryHoliday(name=h.name, month=h.month, day=h.day, days=h.days)
            for h in params.calendar.holidays
        ),
        enterprises=enterprises,
    )


def write_registry(path: Path, park: Park) -> Registry:
    registry = registry_of(park)
    write_atomic(path, registry_json(registry), fsync=False)
    return registry


def read_registry(path: Path) -> Registry:
    """Load a registry file, or raise :class:`RegistryError` naming what is wrong."""
    try:
        return load_registry(path)
    except RegistryFileError as exc:
        raise RegistryError(str(exc)) from None
