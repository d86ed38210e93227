"""The park registry file: enterprises, machines, styles, shifts and holidays, as one model.

``hosiery-sim park --registry PATH`` writes it; operators may edit it; the collector (alerting,
capacity), ``hosiery-top`` and ``hosiery-sim backfill`` read it. Only ``enterprises[].id`` and
``enterprises[].machines[].id`` are required; ``docs/contract.md`` describes every field.
"""

import datetime as dt
import math
import re
from pathlib import Path
from typing import Annotated, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.ids import Identifier

VERSION = 1
HOURS_PER_YEAR = 8760
"""Hours of a 365-day year: capacity per year is a rate per hour times this."""

Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RegistryMachine(_Model):
    id: Identifier
    style: Identifier | None = None
    nominal_pairs_per_hour: Rate | None = None
    """Pairs per hour while the machine runs."""
    expected_pairs_per_hour: Rate | None = None
    """Pairs per hour averaged over a year (stops, shifts, rest days and holidays)."""


class RegistryEnterprise(_Model):
    id: Identifier
    college: bool = False
    shift: Identifier | None = None
    """One of the registry's ``shifts``; None: no shift calendar (always planned)."""
    machines: tuple[RegistryMachine, ...] = ()

    @model_validator(mode="after")
    def _unique_machines(self) -> Self:
        seen: set[str] = set()
        for j, machine in enumerate(self.machines):
            if machine.id in seen:
                raise ValueError(
                    f"machines[{j}].id: machine {machine.id!r} is listed twice in enterprise "
                    f"{self.id}"
                )
            seen.add(machine.id)
        return self

    @property
    def nominal_pairs_per_hour(self) -> float:
        return sum(m.nominal_pairs_per_hour or 0.0 for m in self.machines)

    @property
    def expected_pairs_per_year(self) -> float:
        return sum(m.expected_pairs_per_hour or 0.0 for m in self.machines) * HOURS_PER_YEAR


class RegistryShift(_Model):
    name: Identifier
    windows: Annotated[tuple[tuple[float, float], ...], Field(min_length=1)]
    """Staffed local-time hour ranges ``[start, end)`` of a working day."""
    workdays: Annotated[tuple[Annotated[int, Field(ge=0, le=6)], ...], Field(min_length=1)]
    """Weekdays worked, 0 = Monday."""

    @model_validator(mode="after")
    def _sorted_windows(self) -> Self:
        previous = 0.0
        for start, end in self.windows:
            if not previous <= start < end <= 24.0:
                raise ValueError(
                    "windows must be sorted, disjoint hour ranges [start, end) within 0-24"
                )
            previous = end
        return self


class RegistryHoliday(_Model):
    """``days`` consecutive days closed from ``month``/``day``, every year."""

    name: str
    month: Annotated[int, Field(ge=1, le=12)]
    day: Annotated[int, Field(ge=1, le=31)]
    days: Annotated[int, Field(ge=1, le=366)] = 1

    @model_validator(mode="after")
    def _a_date(self) -> Self:
        try:
            dt.date(2000, self.month, self.day)  # a leap year: 29 February is a date
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self


class RegistryStyle(_Model):
    name: Identifier
    seconds_per_sock: Rate | None = None
    pairs_per_hour: Rate | None = None
    rpm: Rate | None = None


class Registry(_Model):
    """The whole file."""

    version: int | None = None
    seed: int | None = None
    machines: int | None = None
    """The machine count as written (the enterprises' machines are what counts)."""
    utc_offset_hours: Annotated[float, Field(ge=-14, le=14)] | None = None
    """The park's clock; None: the reader's default time zone."""
    country: str | None = None
    """Statutory holidays and make-up working days of this country (``CN``), if any."""
    expected_pairs_per_hour: Rate | None = None
    expected_pairs_per_year: Rate | None = None
    target_pairs_per_year: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """The park's stated annual capacity (3.5 billion pairs for the whole park)."""
    styles: tuple[RegistryStyle, ...] = ()
    shifts: tuple[RegistryShift, ...] = ()
    holidays: tuple[RegistryHoliday, ...] = ()
    enterprises: tuple[RegistryEnterprise, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.version is not None and self.version != VERSION:
            raise ValueError(f"version {self.version} is not supported (only {VERSION})")
        shifts: set[str] = set()
        for i, shift in enumerate(self.shifts):
            if shift.name in shifts:
                raise ValueError(f"shifts[{i}].name: shift {shift.name!r} is listed twice")
            shifts.add(shift.name)
        enterprises: set[str] = set()
        for i, e in enumerate(self.enterprises):
            if e.id in enterprises:
                raise ValueError(f"enterprises[{i}].id: enterprise {e.id!r} is listed twice")
            enterprises.add(e.id)
            if e.shift is not None and e.shift not in shifts:
                raise ValueError(
                    f"enterprises[{i}].shift: shift {e.shift!r} of enterprise {e.id} is not "
                    "one of the registry's shifts"
                )
        totals = (
            self.nominal_pairs_per_hour,
            self.pairs_per_year,
            sum(e.expected_pairs_per_year for e in self.enterprises),
        )
        if not all(math.isfinite(total) for total in totals):
            raise ValueError("the capacity figures add up to more than a number can hold")
        return self

    @property
    def machine_count(self) -> int:
        return sum(len(e.machines) for e in self.enterprises)

    @property
    def nominal_pairs_per_hour(self) -> float:
        return sum(e.nominal_pairs_per_hour for e in self.enterprises)

    @property
    def pairs_per_year(self) -> float:
        """The stated capacity, or the machines at their nominal rate all year."""
        if self.target_pairs_per_year is not None:
            return self.target_pairs_per_year
        return self.nominal_pairs_per_hour * HOURS_PER_YEAR

    def share(self, enterprise: RegistryEnterprise) -> float:
        """The enterprise's share of the park's capacity: its nominal rate over the park's (its
        machines over the park's when no rate is known)."""
        park_rate = self.nominal_pairs_per_hour
        if park_rate > 0:
            return enterprise.nominal_pairs_per_hour / park_rate
        machines = self.machine_count
        return len(enterprise.machines) / machines if machines else 0.0

    def time_zone(self, default: dt.tzinfo = dt.UTC) -> dt.tzinfo:
        """The park's clock as a time zone (``default`` without ``utc_offset_hours``)."""
        if self.utc_offset_hours is None:
            return default
        return dt.timezone(dt.timedelta(hours=self.utc_offset_hours))


_PATH = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: ")
"""A message that names where inside its location the problem is (``machines[2].id: ...``)."""


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_registry(raw: bytes) -> Registry:
    """Parse registry JSON; ``ValueError`` naming the first problem and where it is."""
    try:
        return Registry.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = _where(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "json_invalid":
            raise ValueError(f"not valid JSON: {message}") from None
        if not where:
            raise ValueError(message) from None
        joint = "." if _PATH.match(message) else ": "
        raise ValueError(f"{where}{joint}{message}") from None


class RegistryFileError(ValueError):
    """A park registry file cannot be read or is not a park registry (one line)."""


def load_registry(path: Path) -> Registry:
    """Read and parse a registry file; :class:`RegistryFileError` naming the file and why."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryFileError(
            f"cannot read park registry {path}: {exc.strerror or exc}"
        ) from None
    try:
        return parse_registry(raw)
    except ValueError as exc:
        raise RegistryFileError(f"{path} is not a park registry: {exc}") from None


def registry_json(registry: Registry) -> bytes:
    """The file's bytes: indented JSON, fields in model order, unset optionals omitted."""
    return orjson.dumps(
        registry.model_dump(mode="json", exclude_none=True), option=orjson.OPT_INDENT_2
    )
