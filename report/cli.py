"""``hosiery-report``: the command line. One line on standard error for anything wrong;
``--version`` prints the product's version.

Exit status: 0 written; 1 InfluxDB failed (unreachable, credentials, a query) or the file could
not be written; 2 bad arguments (options, times, the registry or calendar file, a calendar the
hourly rollups cannot be grouped into).
"""

import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TextIO

import httpx
from pydantic import ValidationError
from pydantic_settings import CliApp, SettingsError
from rich import progress as rich_progress
from rich.console import Console

from contract.calendar import time_zone
from contract.registry import Registry, RegistryFileError, load_registry
from contract.shift_calendar import read_calendar, registry_calendar
from contract.times import join_negative_times, parse_time
from contract.version import version_line
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from report.build import Request, report_rows
from report.errors import CalendarFileError, ReportError, UsageError
from report.fetch import Progress
from report.output import write_report
from report.settings import ReportSettings

PROG = "hosiery-report"
EXIT_FAILED = 1
EXIT_USAGE = 2


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


def _settings_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = "-".join(str(p) for p in first["loc"]).replace("_", "-")
    message = first["msg"].removeprefix("Value error, ")
    return f"{'--' + where + ': ' if where else ''}{message}"


def _registry(settings: ReportSettings) -> Registry | None:
    if settings.registry is None:
        return None
    try:
        return load_registry(settings.registry)
    except RegistryFileError as exc:
        raise CalendarFileError(str(exc)) from None


def request_of(settings: ReportSettings, now_ms: int) -> Request:
    """The report's request from the settings; :class:`UsageError`, :class:`CalendarFileError`."""
    try:
        since, until = parse_time(settings.since, now_ms), parse_time(settings.until, now_ms)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if since >= until:
        raise UsageError("--since must be before --until")
    if settings.format == "xlsx" and str(settings.output) == "-":
        raise UsageError("--format xlsx needs a file for --output, not -")
    registry = _registry(settings)
    default_tz = time_zone(settings.timezone)
    tz = default_tz if registry is None else registry.time_zone(default_tz)
    file = None
    if settings.shift_calendar is not None:
        try:
            file = read_calendar(settings.shift_calendar, tz)
        except ValueError as exc:
            raise CalendarFileError(str(exc)) from None
    return Request(
        since=since,
        until=until,
        by=settings.by,
        tz=tz,
        calendar=registry_calendar(registry, file, tz),
        enterprises=() if registry is None else tuple(e.id for e in registry.enterprises),
        only=settings.enterprise,
        raw_recent_ms=round(settings.raw_recent * 1000),
    )


def _tz_name(request: Request) -> str:
    offset = request.tz.utcoffset(None)
    if offset is None:
        return str(request.tz)
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _progress(err: TextIO) -> tuple[AbstractContextManager[object], Progress | None]:
    if not err.isatty():  # a bar on a terminal only: none in scripts, logs and pipes
        return nullcontext(), None
    bar = rich_progress.Progress(
        rich_progress.TextColumn("hosiery-report: reading"),
        rich_progress.BarColumn(),
        rich_progress.TextColumn("{task.completed}/{task.total} steps"),
        rich_progress.TimeElapsedColumn(),
        console=Console(file=err),
        transient=True,
    )
    task = bar.add_task("reading", total=None)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


def run(
    settings: ReportSettings,
    *,
    now_ms: int | None = None,
    client: httpx.Client | None = None,
    stdout: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Make and write the report of ``settings``; the exit status."""
    err = sys.stderr if err is None else err
    stdout = sys.stdout if stdout is None else stdout
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    try:
        request = request_of(settings, now)
    except ReportError as exc:
        err.write(f"{PROG}: {_one_line(str(exc))}\n")
        return EXIT_USAGE
    config = InfluxConfig.of(settings)
    http = make_client(config) if client is None else client
    bar, progress = _progress(err)
    try:
        with bar:
            rows = report_rows(http, config, request, now, progress)
    except ReportError as exc:
        err.write(f"{PROG}: {_one_line(str(exc))}\n")
        return EXIT_USAGE
    except InfluxError as exc:
        err.write(f"{PROG}: {_one_line(str(exc))}\n")
        return EXIT_FAILED
    finally:
        if client is None:
            http.close()
    to_stdout = str(settings.output) == "-"
    try:
        data = write_report(None if to_stdout else settings.output, rows, settings.format,
                            _tz_name(request))  # fmt: skip
    except OSError as exc:
        err.write(f"{PROG}: cannot write {settings.output}: {exc.strerror or exc}\n")
        return EXIT_FAILED
    if to_stdout:
        stdout.write(data.decode())
    else:
        err.write(f"{PROG}: {len(rows)} rows written to {settings.output}\n")
    return 0


def main(argv: Sequence[str] | None = None, *, err: TextIO | None = None) -> int:
    """The command: options as in :class:`~report.settings.ReportSettings`."""
    args = list(sys.argv[1:] if argv is None else argv)
    err = sys.stderr if err is None else err
    if "--version" in args:
        sys.stdout.write(version_line(PROG) + "\n")
        return 0
    try:
        settings = CliApp.run(ReportSettings, cli_args=join_negative_times(args))
    except ValidationError as exc:
        err.write(f"{PROG}: {_one_line(_settings_error(exc))}\n")
        return EXIT_USAGE
    except SettingsError as exc:
        err.write(f"{PROG}: {_one_line(str(exc))}\n")
        return EXIT_USAGE
    return run(settings, err=err)


if __name__ == "__main__":
    sys.exit(main())
