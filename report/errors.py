"""Exceptions of the :mod:`report` package.

Every message is one line a manager or an operator can act on; ``hosiery-report`` prints it
without a traceback (InfluxDB's own errors are :mod:`influx.errors`', printed the same way).

ReportError                 the report cannot be made
 +-- UsageError             an argument is wrong (exit status 2)
 +-- CalendarFileError      the registry or the shift calendar cannot be read or used
 +-- UnalignedPeriodError   a shift or day does not start and end on whole hours (UTC),
                            so the hourly rollups cannot be split into it
"""


class ReportError(Exception):
    """Base class of the report's errors."""


class UsageError(ReportError, ValueError):
    """An argument is wrong: a time that is not a time, a window that ends before it starts."""


class CalendarFileError(ReportError):
    """The park registry or the shift calendar cannot be read or is invalid."""


class UnalignedPeriodError(ReportError, ValueError):
    """A period boundary falls inside an hour: hourly sums cannot be split exactly there."""
