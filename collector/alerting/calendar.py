"""The shift calendar file (``--shift-calendar``) as the collector reads it.

The model, its parsing and :class:`ParkCalendar` are :mod:`contract.shift_calendar`'s (the
report reads the same file); this module reads the file and maps its problems to
:class:`~collector.errors.CalendarError`.
"""

import datetime as dt
import tomllib
from pathlib import Path

import orjson

from collector.errors import CalendarError
from contract.shift_calendar import CalendarFile, ParkCalendar, parse_calendar

__all__ = ["CalendarFile", "ParkCalendar", "load_calendar", "parse_calendar"]


def load_calendar(path: Path, default_tz: dt.tzinfo = dt.UTC) -> CalendarFile:
    """Read a shift calendar (``.json``: JSON, anything else: TOML); one-line
    :class:`~collector.errors.CalendarError` when it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CalendarError(f"cannot read shift calendar {path}: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise CalendarError(f"shift calendar {path} is not valid {kind}: {exc}") from None
    try:
        return parse_calendar(data, default_tz)
    except ValueError as exc:
        raise CalendarError(f"shift calendar {path}: {exc}") from None
