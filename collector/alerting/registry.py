"""The park registry: the enterprises and machines the park expects to report.

``hosiery-sim park --registry PATH`` writes it; operators may edit it (add, remove or move
machines). The collector reads only what it needs and ignores every other field:

.. code-block:: json

    {"version": 1,
     "utc_offset_hours": 8.0,
     "shifts": [{"name": "two-shift", "windows": [[6.0, 22.0]], "workdays": [0, 1, 2, 3, 4, 5, 6]}],
     "holidays": [{"name": "labour-day", "month": 5, "day": 1, "days": 3}],
     "enterprises": [{"id": "E0001", "shift": "two-shift",
                      "machines": [{"id": "M001", "style": "terry-sport"}]}]}

Only ``enterprises[].id`` and ``enterprises[].machines[].id`` are required. ``shift`` names one
of ``shifts`` (local-time hour windows ``[start, end)`` and weekdays, 0 = Monday, evaluated at
``utc_offset_hours``); ``holidays`` recur every year. ``style`` selects a per-style idle
threshold when readings do not carry one.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.alerting.calendar import Holiday, ShiftPattern
from collector.errors import RegistryError
from contract.holidays import StatutoryDays
from contract.ids import Identifier

SUPPORTED_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Machine(_Model):
    id: Identifier
    style: Identifier | None = None


class _Enterprise(_Model):
    id: Identifier
    shift: Identifier | None = None
    machines: list[_Machine] = Field(default_factory=list)


class _Shift(_Model):
    name: Identifier
    windows: Annotated[list[tuple[float, float]], Field(min_length=1)]
    workdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1)]


class _Holiday(_Model):
    name: str
    month: int
    day: int
    days: int = 1


class _Registry(_Model):
    version: int | None = None
    utc_offset_hours: Annotated[float, Field(ge=-14, le=14)] | None = None
    shifts: list[_Shift] = Field(default_factory=list)
    holidays: list[_Holiday] = Field(default_factory=list)
    country: str | None = None
    enterprises: list[_Enterprise]


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


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _pattern(shift: _Shift, tz: dt.tzinfo, where: str) -> ShiftPattern:
    windows = []
    previous = 0.0
    for start, end in shift.windows:
        if not previous <= start < end <= 24.0:
            raise ValueError(
                f"{where}: windows must be sorted, disjoint hour ranges [start, end) within 0-24"
            )
        previous = end
        windows.append((round(start * 60), round(end * 60)))
    return ShiftPattern(shift.name, tuple(windows), frozenset(shift.workdays), tz)


def parse_registry(raw: bytes, default_tz: dt.tzinfo = dt.UTC) -> ParkRegistry:
    """Parse registry JSON; ``ValueError`` naming the first problem and where it is."""
    try:
        spec = _Registry.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = _where(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "json_invalid":
            raise ValueError(f"not valid JSON: {message}") from None
        raise ValueError(f"{where}: {message}" if where else message) from None
    if spec.version is not None and spec.version != SUPPORTED_VERSION:
        raise ValueError(f"version {spec.version} is not supported (only {SUPPORTED_VERSION})")
    tz: dt.tzinfo = (
        default_tz
        if spec.utc_offset_hours is None
        else dt.timezone(dt.timedelta(hours=spec.utc_offset_hours))
    )
    shifts: dict[str, ShiftPattern] = {}
    for i, shift in enumerate(spec.shifts):
        if shift.name in shifts:
            raise ValueError(f"shifts[{i}].name: shift {shift.name!r} is listed twice")
        shifts[shift.name] = _pattern(shift, tz, f"shifts[{i}]")
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
    enterprises, patterns = _enterprises(spec.enterprises, shifts)
    return ParkRegistry(enterprises, patterns, tuple(holidays), spec.country)


def _enterprises(
    specs: list[_Enterprise], shifts: dict[str, ShiftPattern]
) -> tuple[dict[str, dict[str, str | None]], dict[str, ShiftPattern]]:
    enterprises: dict[str, dict[str, str | None]] = {}
    patterns: dict[str, ShiftPattern] = {}
    for i, e in enumerate(specs):
        if e.id in enterprises:
            raise ValueError(f"enterprises[{i}].id: enterprise {e.id!r} is listed twice")
        machines: dict[str, str | None] = {}
        for j, m in enumerate(e.machines):
            if m.id in machines:
                raise ValueError(
                    f"enterprises[{i}].machines[{j}].id: machine {m.id!r} is listed twice "
                    f"in enterprise {e.id}"
                )
            machines[m.id] = m.style
        enterprises[e.id] = machines
        if e.shift is not None:
            if e.shift not in shifts:
                raise ValueError(
                    f"enterprises[{i}].shift: shift {e.shift!r} of enterprise {e.id} is not "
                    "one of the registry's shifts"
                )
            patterns[e.id] = shifts[e.shift]
    return enterprises, patterns


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
