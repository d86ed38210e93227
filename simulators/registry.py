"""The park registry: which enterprises and machines exist and what each is expected to knit.

Written by ``hosiery-sim park --registry PATH``; read by whoever needs to know which machines
are expected to report (the collector's silence detection, dashboards' targets).
"""

from pathlib import Path
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.ids import Identifier
from simulators.calibration import (
    expected_pairs_per_hour,
    machine_pairs_per_hour,
    target_pairs_per_year,
)
from simulators.errors import RegistryError
from simulators.params import HOURS_PER_YEAR
from simulators.park import Park

REGISTRY_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RegistryMachine(_Model):
    id: Identifier
    style: Identifier
    nominal_pairs_per_hour: Annotated[float, Field(ge=0)]
    """Pairs per hour while the machine runs."""
    expected_pairs_per_hour: Annotated[float, Field(ge=0)]
    """Pairs per hour averaged over a year (stops, shifts, rest days and holidays)."""


class RegistryEnterprise(_Model):
    id: Identifier
    college: bool
    shift: Identifier
    machines: tuple[RegistryMachine, ...]


class RegistryShift(_Model):
    name: Identifier
    windows: tuple[tuple[float, float], ...]
    """Staffed local-time hour ranges [start, end) of a working day."""
    workdays: tuple[int, ...]
    """Weekdays worked, 0 = Monday."""


class RegistryHoliday(_Model):
    name: str
    month: int
    day: int
    days: int


class RegistryStyle(_Model):
    name: Identifier
    seconds_per_sock: float
    pairs_per_hour: float
    rpm: float


class Registry(_Model):
    version: int
    seed: int
    machines: int
    utc_offset_hours: float
    expected_pairs_per_hour: float
    expected_pairs_per_year: float
    target_pairs_per_year: float
    styles: tuple[RegistryStyle, ...]
    shifts: tuple[RegistryShift, ...]
    holidays: tuple[RegistryHoliday, ...]
    enterprises: tuple[RegistryEnterprise, ...]


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
        version=REGISTRY_VERSION,
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
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(registry.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return registry


def read_registry(path: Path) -> Registry:
    """Load a registry file, or raise :class:`RegistryError` naming what is wrong."""
    try:
        return Registry.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise RegistryError(f"cannot read park registry {path}: {exc.strerror}") from exc
    except ValidationError as exc:
        raise RegistryError(
            f"{path} is not a park registry: {exc.error_count()} errors, first: "
            f"{exc.errors()[0]['msg']} at {'.'.join(map(str, exc.errors()[0]['loc']))}"
        ) from exc
