"""What ``hosiery-top`` reads: one frame's InfluxQL queries and their answers as a snapshot,
and the capacity of a park registry."""

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from contract.calendar import time_zone
from contract.registry import HOURS_PER_YEAR, RegistryFileError, load_registry
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from influx.query import query
from stack.errors import TopError
from stack.probe import CollectorStatus
from stack.snapshot import Capacity, FiringAlert, IdleMachine, Snapshot
from stack.top_settings import TopSettings

PARK_PAIRS_PER_MACHINE_HOUR = 3.5e9 / 40_000 / HOURS_PER_YEAR
"""The park's stated capacity (3.5 billion pairs a year) over its 40,000 machines."""
PRODUCTIVE = frozenset(("running", "idle"))
"""States in which a machine is expected to knit (the alerting's idle rule)."""
NEWEST_5M = 'SELECT last("pairs") FROM "rollup_5m"."park_5m" WHERE time >= {since}ms'
TODAY_QUERIES = (
    (
        'SELECT sum("pairs") AS pairs FROM "rollup_5m"."park_5m" '
        "WHERE time >= {since}ms AND time < {until}ms"
    ),
    'SELECT sum("pairs") AS pairs FROM "production" WHERE time >= {until}ms',
)
"""Today's pairs: the park's 5-minute rollups up to their newest interval (which a continuous
query may not have finished), the raw readings from there (at most the 10 to 15 minutes the
continuous queries lag behind; since midnight when nothing is rolled up yet)."""
CAPACITY_QUERY = (
    'SELECT last("pairs_per_year") AS pairs_per_year, last("machines") AS machines '
    """FROM "rollup_long"."capacity" WHERE "scope" = 'park'"""
)
"""The park's capacity, written by the collector from the park registry (collector/capacity.py)."""
MIN_SPAN_S = 60.0


@dataclass(frozen=True)
class RegistryCapacity:
    machines: int
    pairs_per_hour: float


def read_registry(path: Path) -> RegistryCapacity:
    """The machine count and capacity of a park registry (``hosiery-sim park --registry``)."""
    try:
        park = load_registry(path)
    except RegistryFileError as exc:
        raise TopError(str(exc)) from None
    machines = park.machine_count
    target = park.target_pairs_per_year
    per_hour = target / HOURS_PER_YEAR if target else machines * PARK_PAIRS_PER_MACHINE_HOUR
    return RegistryCapacity(machines, per_hour)


class Influx:
    """InfluxQL queries of ``settings``' database (``transport`` replaces the network in tests)."""

    def __init__(self, settings: TopSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.config = InfluxConfig(
            url=settings.influx_url,
            username=settings.influx_username,
            password=None if settings.influx_username is None else settings.influx_password,
            timeout=30,
        )
        self.client = make_client(self.config, transport)

    def close(self) -> None:
        self.client.close()

    def query(self, statements: Sequence[str]) -> list[list[dict[str, Any]]]:
        """The series of each statement.

        A database or retention policy not set up yet holds nothing to show: no series.
        """
        try:
            results = query(
                self.client,
                self.config,
                ";".join(statements),
                database=self.settings.influx_db,
                missing_ok=True,
            )
        except InfluxError as exc:
            raise TopError(str(exc)) from exc
        return [result.get("series", []) for result in results]


def _rows(series: list[dict[str, Any]]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(tags, {column: value}) of every row."""
    return [
        (s.get("tags") or {}, dict(zip(s["columns"], row, strict=True)))
        for s in series
        for row in s.get("values") or ()
    ]


def midnight_ms(now_ms: int, zone: str) -> int:
    """The start of ``now_ms``'s day in the time zone ``zone``."""
    now = dt.datetime.fromtimestamp(now_ms / 1000, time_zone(zone))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1000)


def collect(
    influx: Influx,
    settings: TopSettings,
    registry: RegistryCapacity | None,
    now_ms: int,
    collector: CollectorStatus | None = None,
) -> Snapshot:
    window = int(settings.window)
    since = f"time > now() - {window}s"
    by_machine = 'GROUP BY "enterprise", "machine"'
    midnight = midnight_ms(now_ms, settings.timezone)
    production, first, states, productive, capacity, alerts, today = influx.query(
        [
            f'SELECT sum("pairs") AS pairs FROM "production" WHERE {since}',  # noqa: S608 - integers only
            f'SELECT first("pairs") FROM "production" WHERE {since}',  # noqa: S608 - integers only
            f'SELECT last("state") AS state FROM "production" WHERE {since} {by_machine}',  # noqa: S608 - integers only
            f'SELECT last("pairs") FROM "production" WHERE {since} AND "pairs" > 0 {by_machine}',  # noqa: S608 - integers only
            CAPACITY_QUERY,
            'SELECT * FROM "alerts" WHERE time > now() - 30d GROUP BY * ORDER BY time DESC LIMIT 1',
            NEWEST_5M.format(since=midnight),
        ]
    )
    newest = _rows(today)
    until = int(newest[0][1]["time"]) if newest else midnight
    rolled, recent = influx.query([q.format(since=midnight, until=until) for q in TODAY_QUERIES])
    today_pairs = sum(int(row["pairs"] or 0) for _tags, row in _rows(rolled) + _rows(recent))
    pairs = int(_rows(production)[0][1]["pairs"] or 0) if production else 0
    start_ms = now_ms - window * 1000
    first_ms = int(_rows(first)[0][1]["time"]) if first else now_ms
    # A minute at least: a rate over the first reading or two would be mostly noise.
    covered = max((now_ms - max(start_ms, first_ms)) / 1000.0, min(MIN_SPAN_S, float(window)))

    latest: dict[tuple[str, str], tuple[str, int]] = {}
    for tags, row in _rows(states):
        latest[(tags["enterprise"], tags["machine"])] = (str(row["state"]), int(row["time"]))
    last_pairs = {
        (tags["enterprise"], tags["machine"]): int(row["time"]) for tags, row in _rows(productive)
    }
    counts = Counter(state for state, _t in latest.values())
    idle = sorted(
        (
            IdleMachine(e, m, state, last_pairs.get((e, m)))
            for (e, m), (state, _t) in latest.items()
            if state in PRODUCTIVE and now_ms - last_pairs.get((e, m), 0) > 60_000
        ),
        key=lambda i: (i.last_pairs_ms or 0, i.enterprise, i.machine),
    )
    return Snapshot(
        at_ms=now_ms,
        window_s=float(window),
        pairs=pairs,
        covered_s=covered,
        states=dict(counts),
        reporting=len(latest),
        expected=None if registry is None else registry.machines,
        last_reading_ms=max((t for _s, t in latest.values()), default=None),
        capacity=_capacity(capacity, registry, len(latest)),
        idle=idle[: settings.top],
        alerts=_firing(alerts),
        today_pairs=today_pairs,
        today_s=(now_ms - midnight) / 1000.0,
        collector=collector,
    )


def _capacity(
    series: list[dict[str, Any]], registry: RegistryCapacity | None, reporting: int
) -> Capacity:
    rows = _rows(series)
    if rows and rows[0][1].get("pairs_per_year"):
        row = rows[0][1]
        machines = f", {int(row['machines']):,} machines" if row.get("machines") else ""
        return Capacity(
            float(row["pairs_per_year"]) / HOURS_PER_YEAR, f"capacity measurement{machines}"
        )
    if registry is not None:
        return Capacity(registry.pairs_per_hour, f"registry, {registry.machines:,} machines")
    return Capacity(
        reporting * PARK_PAIRS_PER_MACHINE_HOUR, f"{reporting:,} machines reporting x park average"
    )


def _firing(series: list[dict[str, Any]]) -> list[FiringAlert]:
    found = []
    for tags, row in _rows(series):
        if row.get("status") != "firing":
            continue
        found.append(
            FiringAlert(
                enterprise=tags.get("enterprise", "?"),
                machine=tags.get("machine") or None,
                kind=tags.get("kind", "?"),
                since_ms=int(row.get("since_ms") or row["time"]),
                reason=str(row.get("reason") or ""),
                machine_count=int(row.get("machine_count") or 1),
            )
        )
    return sorted(found, key=lambda a: (a.since_ms, a.enterprise, a.machine or ""))
