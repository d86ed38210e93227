"""Roll up a time window again: ``python -m collector.reroll --since T --until T``.

Continuous queries recompute only the last ``RESAMPLE FOR`` of their interval (15 minutes for
the 5-minute series, 2 hours for the hourly ones, 2 days for the daily one). Readings stored
later than that, for instance when a gateway delivers hours of buffered readings or the
collector catches up after an outage, reach ``raw`` but not the rollups. This command runs the
continuous queries' own ``SELECT ... INTO`` statements (:mod:`influx.rollups`) over the window,
level by level, widened to whole park-local days. It is idempotent: a rollup point written again
overwrites itself. ``--print`` prints the statements instead (for the ``influx`` shell).

Raw readings older than the ``raw`` retention (7 days) are gone: roll up within that time.
"""

import sys
import time
from collections.abc import Sequence

import httpx
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import CliApp, SettingsConfigDict, SettingsError

from collector.errors import CollectorError
from collector.totals import parse_time
from contract.settings import HosierySettings
from contract.times import join_negative_times
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from influx.query import query
from influx.rollups import backfill_statements

PROG = "python -m collector.reroll"
EXIT_FAILED = 1
EXIT_USAGE = 2


def reroll(
    client: httpx.Client,
    config: InfluxConfig,
    since_ns: int,
    until_ns: int,
    utc_offset_hours: float = 8.0,
) -> list[str]:
    """Run every rollup over ``[since, until)`` (widened to whole days); the statements run."""
    statements = backfill_statements(config.database, since_ns, until_ns, utc_offset_hours)
    for statement in statements:
        query(client, config, statement, database=config.database)
    return statements


class RerollSettings(HosierySettings):
    """Roll up a time window again from raw readings."""

    model_config = SettingsConfigDict(
        env_prefix="HOSIERY_",
        cli_kebab_case=True,
        cli_prog_name=PROG,
        cli_implicit_flags=True,
        frozen=True,
        extra="ignore",
    )

    since: str = Field(description="start: RFC 3339, now-6h, -24h or epoch ms")
    until: str = Field("now", description="end, same forms as --since")
    utc_offset_hours: float = Field(8.0, ge=-14, le=14, description="park time, for day rollups")
    print_only: bool = Field(default=False, description="print the statements, run nothing")
    influx_url: str = Field("http://127.0.0.1:8086", description="InfluxDB, http://HOST:PORT")
    influx_db: str = Field("hosiery", description="database")
    influx_username: str | None = Field(None, description="InfluxDB 1.x user")
    influx_password: SecretStr | None = Field(None, description="InfluxDB 1.x password")
    influx_token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token")


def main(argv: Sequence[str] | None = None, *, client: httpx.Client | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    err = sys.stderr
    try:
        s = CliApp.run(RerollSettings, cli_args=join_negative_times(args))
        config = InfluxConfig(
            url=s.influx_url,
            database=s.influx_db,
            username=s.influx_username,
            password=s.influx_password,
            token=s.influx_token,
            timeout=600.0,
        )
        now_ms = time.time_ns() // 1_000_000
        since_ns = parse_time(s.since, now_ms) * 1_000_000
        until_ns = parse_time(s.until, now_ms) * 1_000_000
    except (ValidationError, SettingsError, CollectorError) as exc:
        err.write(f"{PROG}: {' '.join(str(exc).split())[:300]}\n")
        return EXIT_USAGE
    if since_ns >= until_ns:
        err.write(f"{PROG}: --since must be before --until\n")
        return EXIT_USAGE
    if s.print_only:
        for statement in backfill_statements(s.influx_db, since_ns, until_ns, s.utc_offset_hours):
            sys.stdout.write(statement + ";\n")
        return 0
    http = make_client(config) if client is None else client
    try:
        done = reroll(http, config, since_ns, until_ns, s.utc_offset_hours)
    except (CollectorError, InfluxError) as exc:
        err.write(f"{PROG}: {exc}\n")
        return EXIT_FAILED
    finally:
        if client is None:
            http.close()
    err.write(f"{PROG}: {len(done)} rollup statements run\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
