"""``hosiery-collector totals``: pairs knitted in a time window, per machine, enterprise or park.

The answer is ``SUM("pairs")`` over the points with ``since <= time < until``: each point holds
the pairs knitted since the machine's previous reading, so the sum is the exact output of the
window (readings are stamped by the machine's clock). It reads the retention policy the collector
writes (``raw`` by default), so windows older than that policy's duration come back short.
"""

import csv
import json
import sys
import time
from typing import Any, Literal, TextIO

import httpx
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import CliApp, SettingsConfigDict, SettingsError

from collector.errors import CollectorError, TimeSpecError
from contract import times
from contract.durations import Duration
from contract.settings import HosierySettings
from contract.times import format_time, join_negative_times
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from influx.lines import PRODUCTION
from influx.query import query

By = Literal["machine", "enterprise", "park"]
Format = Literal["json", "csv"]
GROUPS: dict[str, tuple[str, ...]] = {
    "machine": ("enterprise", "machine"),
    "enterprise": ("enterprise",),
    "park": (),
}
FORMATS = ("json", "csv")
EXIT_FAILED = 1
EXIT_USAGE = 2


def parse_time(text: str, now_ms: int) -> int:
    """Epoch milliseconds of ``text`` (:func:`contract.times.parse_time`); raises
    :class:`TimeSpecError`."""
    try:
        return times.parse_time(text, now_ms)
    except ValueError as exc:
        raise TimeSpecError(str(exc)) from None


def totals_query(since_ms: int, until_ms: int, by: str, retention_policy: str | None) -> str:
    """The InfluxQL of a report."""
    source = f'"{retention_policy}"."{PRODUCTION}"' if retention_policy else f'"{PRODUCTION}"'
    # integers and validated names only: nothing here comes from text a user typed
    text = (
        f'SELECT SUM("pairs") AS "pairs" FROM {source} '  # noqa: S608 - see above
        f"WHERE time >= {since_ms}ms AND time < {until_ms}ms"
    )
    tags = GROUPS[by]
    if tags:
        text += " GROUP BY " + ", ".join(f'"{tag}"' for tag in tags)
    return text


def fetch_totals(
    client: httpx.Client, config: InfluxConfig, since_ms: int, until_ms: int, by: str
) -> list[dict[str, Any]]:
    """Rows of ``{tag...: value, "pairs": N}``, sorted by tags; one row for ``park``."""
    statement = totals_query(since_ms, until_ms, by, config.retention_policy)
    result = query(client, config, statement, database=config.database)[0]
    tags = GROUPS[by]
    rows: list[dict[str, Any]] = []
    for series in result.get("series", ()):
        series_tags = series.get("tags") or {}
        pairs = sum(int(values[1] or 0) for values in series.get("values") or ())
        rows.append({**{tag: series_tags.get(tag, "") for tag in tags}, "pairs": pairs})
    rows.sort(key=lambda row: tuple(row[tag] for tag in tags))
    if by == "park" and not rows:
        rows.append({"pairs": 0})
    return rows


def write_report(
    out: TextIO, fmt: str, by: str, since_ms: int, until_ms: int, rows: list[dict[str, Any]]
) -> None:
    """Print ``rows`` as JSON (one document) or CSV (with a header)."""
    if fmt == "json":
        document = {
            "since": format_time(since_ms),
            "until": format_time(until_ms),
            "by": by,
            "rows": rows,
            "total": sum(row["pairs"] for row in rows),
        }
        out.write(json.dumps(document) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=[*GROUPS[by], "pairs"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _window(since: str, until: str, by: str, fmt: str, now_ms: int) -> tuple[int, int]:
    if by not in GROUPS:
        raise TimeSpecError(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    if fmt not in FORMATS:
        raise TimeSpecError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    since_ms, until_ms = parse_time(since, now_ms), parse_time(until, now_ms)
    if since_ms >= until_ms:
        raise TimeSpecError(
            f"--since ({format_time(since_ms)}) must be before --until ({format_time(until_ms)})"
        )
    return since_ms, until_ms


def run_totals(
    config: InfluxConfig,
    since: str,
    until: str,
    by: str = "machine",
    fmt: str = "json",
    out: TextIO | None = None,
    *,
    err: TextIO | None = None,
    client: httpx.Client | None = None,
    now_ms: int | None = None,
) -> int:
    """Print the pairs knitted from ``since`` to ``until``; return the exit status.

    0: printed; 1: InfluxDB failed (one line on ``err``); 2: bad arguments (one line on ``err``).
    ``since`` and ``until`` are parsed by :func:`parse_time` against one ``now``.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    try:
        since_ms, until_ms = _window(since, until, by, fmt, now)
    except TimeSpecError as exc:
        err.write(f"hosiery-collector totals: {exc}\n")
        return EXIT_USAGE
    own = client is None
    http = make_client(config) if client is None else client
    try:
        rows = fetch_totals(http, config, since_ms, until_ms, by)
    except (CollectorError, InfluxError) as exc:
        err.write(f"hosiery-collector totals: {exc}\n")
        return EXIT_FAILED
    finally:
        if own:
            http.close()
    write_report(out, fmt, by, since_ms, until_ms, rows)
    return 0


class TotalsSettings(HosierySettings):
    """hosiery-collector totals: pairs knitted in a time window."""

    model_config = SettingsConfigDict(
        env_prefix="HOSIERY_",
        cli_kebab_case=True,
        cli_prog_name="hosiery-collector totals",
        frozen=True,
        extra="ignore",
    )

    since: str = Field(description="start (included): RFC 3339, now, now-1h, -24h or epoch ms")
    until: str = Field("now", description="end (excluded), same forms as --since")
    by: By = Field("machine", description="one row per machine, enterprise, or the whole park")
    format: Format = Field("json", description="json or csv")
    influx_url: str = Field("http://127.0.0.1:8086", description="InfluxDB, http://HOST:PORT")
    influx_db: str = Field("hosiery", description="database (InfluxDB 2.x/3.x: the DBRP name)")
    influx_rp: str = Field("raw", description="retention policy to read")
    influx_username: str | None = Field(None, description="InfluxDB 1.x user")
    influx_password: SecretStr | None = Field(None, description="InfluxDB 1.x password")
    influx_token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token")
    influx_timeout: Duration = Field(30.0, gt=0, description="how long to wait for the answer")


def main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``totals`` command: options as in :class:`TotalsSettings` (also ``HOSIERY_*``)."""
    err = sys.stderr if err is None else err
    try:
        settings = CliApp.run(TotalsSettings, cli_args=join_negative_times(argv))
        config = InfluxConfig.of(settings, retention_policy=settings.influx_rp or None)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "-".join(str(p) for p in first["loc"]).replace("_", "-")
        message = first["msg"].removeprefix("Value error, ")
        err.write(f"hosiery-collector totals: {'--' + where + ': ' if where else ''}{message}\n")
        return EXIT_USAGE
    except SettingsError as exc:
        err.write(f"hosiery-collector totals: {exc}\n")
        return EXIT_USAGE
    return run_totals(
        config, settings.since, settings.until, settings.by, settings.format, out, err=err
    )
