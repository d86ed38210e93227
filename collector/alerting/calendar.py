"""The shift calendar file (``--shift-calendar``) as the collector reads it.

The model, its parsing and :class:`ParkCalendar` are :mod:`contract.shift_calendar`'s (the
report reads the same file); this module reads the file and maps its problems to
:class:`~collector.errors.CalendarError`.
"""

import datetime as dt
from pathlib import Path

from collector.errors import CalendarError
from contract.shift_calendar import CalendarFile, ParkCalendar, parse_calendar, read_calendar

__all__ = ["CalendarFile", "ParkCalendar", "load_calendar", "parse_calendar"]


def load_calendar(path: Path, default_tz: dt.tzinfo = dt.UTC) -> CalendarFile:
    """Read a shift calendar (``.json``: JSON, anything else: TOML); one-line
    :class:`~collector.errors.CalendarError` when it cannot be used."""
    try:
        return read_calendar(path, default_tz)
    except ValueError as exc:
        raise CalendarError(str(exc)) from None
