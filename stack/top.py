"""``hosiery-top``: the park at a glance in a terminal, refreshed from InfluxDB every few seconds.

    hosiery-top [--influx-url URL] [--influx-db DB] [--registry PATH] [--refresh S]
        [--window DURATION] [--top N] [--collector-url URL] [--timezone TZ] [--once]

Shows the park's output now (the window's rate) and today (since park-local midnight, from the
5-minute rollups, as the dashboards' "today") against its capacity, the machines by state, the
machines that should be knitting and are not (longest first), the alerts firing and, with
``--collector-url``, the collector's write rate and lag (from its ``/metrics``). On a terminal
the view is drawn with ``rich`` (stack.screen) and redrawn in place until Ctrl-C; ``--once``
prints one plain-text frame and exits (scripts, tests), and so does every refresh when the
output is not a terminal.

Capacity comes from the ``capacity`` measurement (the collector writes it when it has the park
registry; its ``pairs_per_year`` over 8,760 hours), else from the park
registry (``--registry``: its ``target_pairs_per_year``), else from the machines reporting
times the park's average (3.5 billion pairs a year over 40,000 machines).

Every option is also an environment variable ``HOSIERY_TOP_`` + its name
(``HOSIERY_TOP_INFLUX_PASSWORD``). Errors are one line on stderr; exit 2 for bad options, 1 when
InfluxDB cannot be read with ``--once``.
"""

import argparse
import datetime as dt
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TextIO

import httpx
from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from contract.calendar import time_zone
from contract.durations import Duration
from contract.registry import HOURS_PER_YEAR, parse_registry
from contract.secret_files import SecretFileError
from contract.settings import HosierySettings
from contract.version import version_line
from influx.config import InfluxConfig, check_url, make_client
from influx.errors import InfluxError
from influx.query import query
from stack.probe import CollectorProbe, CollectorStatus

PROG = "hosiery-top"
PARK_PAIRS_PER_MACHINE_HOUR = 3.5e9 / 40_000 / HOURS_PER_YEAR
"""The park's stated capacity (3.5 billion pairs a year) over its 40,000 machines."""
STATES = ("running", "idle", "fault", "maintenance", "off")
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
BAR = 40
MIN_SPAN_S = 60.0


class TopError(Exception):
    """InfluxDB or the registry cannot be read (one line for the operator)."""


class TopSettings(HosierySettings):
    model_config = SettingsConfigDict(env_prefix="HOSIERY_TOP_", frozen=True, extra="forbid")

    influx_url: Annotated[str, AfterValidator(check_url)] = "http://127.0.0.1:8086"
    influx_db: str = "hosiery"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    registry: Path | None = None
    refresh: Duration = Field(5.0, ge=0.2, le=3600)
    window: Duration = Field(300.0, ge=10, le=86400)
    top: int = Field(10, ge=0, le=1000)
    collector_url: str | None = None
    timezone: str = "UTC+08:00"
    """Where "today" begins: park time, as the dashboards."""
    once: bool = False

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        time_zone(value)
        return value


# -- what a frame shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    pairs_per_hour: float
    source: str


@dataclass(frozen=True)
class IdleMachine:
    enterprise: str
    machine: str
    state: str
    last_pairs_ms: int | None
    """When the machine last reported pairs within the window (None: not within it)."""


@dataclass(frozen=True)
class FiringAlert:
    enterprise: str
    machine: str | None
    kind: str
    since_ms: int
    reason: str
    machine_count: int = 1


@dataclass(frozen=True)
class Snapshot:
    at_ms: int
    window_s: float
    pairs: int
    """Pairs knitted in the window (or since the first reading, when that is later)."""
    covered_s: float
    """Seconds the rate is taken over: the window, or the time since the first reading when that
    is shorter (just after the start), but never less than a minute."""
    states: dict[str, int]
    reporting: int
    expected: int | None
    last_reading_ms: int | None
    capacity: Capacity
    idle: list[IdleMachine] = field(default_factory=list)
    alerts: list[FiringAlert] = field(default_factory=list)
    today_pairs: int = 0
    today_s: float = 0.0
    """Seconds since park-local midnight."""
    collector: CollectorStatus | None = None

    @property
    def rate(self) -> float:
        """Pairs per hour."""
        return self.pairs * 3600.0 / self.covered_s if self.covered_s > 0 else 0.0

    @property
    def share(self) -> float:
        """The rate's share of capacity."""
        per_hour = self.capacity.pairs_per_hour
        return self.rate / per_hour if per_hour else 0.0

    @property
    def today_capacity(self) -> float:
        """Pairs the capacity allows from midnight until now."""
        return self.capacity.pairs_per_hour * self.today_s / 3600.0

    @property
    def today_share(self) -> float:
        capacity = self.today_capacity
        return self.today_pairs / capacity if capacity else 0.0


# -- reading InfluxDB ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    machines: int
    pairs_per_hour: float


def read_registry(path: Path) -> Registry:
    """The machine count and capacity of a park registry (``hosiery-sim park --registry``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TopError(f"cannot read the registry {path}: {exc.strerror}") from exc
    try:
        park = parse_registry(raw)
    except ValueError as exc:
        raise TopError(f"{path} is not a park registry ({exc})") from exc
    machines = park.machine_count
    target = park.target_pairs_per_year
    per_hour = target / HOURS_PER_YEAR if target else machines * PARK_PAIRS_PER_MACHINE_HOUR
    return Registry(machines, per_hour)


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
    registry: Registry | None,
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


def _capacity(series: list[dict[str, Any]], registry: Registry | None, reporting: int) -> Capacity:
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


# -- rendering -------------------------------------------------------------------------------------


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _bar(share: float) -> str:
    filled = max(0, min(BAR, round(share * BAR)))
    return "[" + "#" * filled + "." * (BAR - filled) + "]"


def collector_line(status: CollectorStatus) -> str:
    """The collector's rate, lag and buffer on one line."""
    if status.error is not None:
        return status.error
    parts = [
        "rate measuring"
        if status.readings_per_s is None
        else f"{status.readings_per_s:,.0f} readings/s written",
        f"lag {status.lag_s:.1f} s" if status.lag_s is not None else "lag unknown",
        f"buffer {status.buffer:,.0f}" if status.buffer is not None else "",
        {True: "MQTT connected", False: "MQTT NOT connected", None: ""}[status.connected],
    ]
    return "   ".join(part for part in parts if part)


def status_line(snap: Snapshot) -> str:
    """A frame's essentials on one plain line (logs, pipes)."""
    states = " ".join(f"{state} {snap.states.get(state, 0):,}" for state in STATES)
    expected = f"/{snap.expected:,}" if snap.expected is not None else ""
    line = (
        f"now {snap.rate:,.0f} pairs/h ({snap.share:.1%} of capacity); "
        f"today {snap.today_pairs:,} pairs ({snap.today_share:.1%}); "
        f"machines {snap.reporting:,}{expected} reporting: {states}; "
        f"alerts firing {len(snap.alerts):,}"
    )
    if snap.collector is not None:
        line += f"; collector {collector_line(snap.collector)}"
    return line


def render(snap: Snapshot, *, source: str, top: int) -> str:
    """One frame, plain text."""
    now = dt.datetime.fromtimestamp(snap.at_ms / 1000, dt.UTC)
    window = ago(snap.window_s)
    share = snap.share
    lines = [
        f"{PROG}  {now:%Y-%m-%d %H:%M:%S} UTC  {source}",
        "",
        f"Rate       {snap.rate:,.0f} pairs/h  (last {ago(snap.covered_s)}: {snap.pairs:,} pairs)",
        f"Capacity   {snap.capacity.pairs_per_hour:,.0f} pairs/h  ({snap.capacity.source})",
        f"           {_bar(share)} {share:.1%} of capacity",
        (
            f"Today      {snap.today_pairs:,} pairs in {ago(snap.today_s)} "
            f"(capacity {snap.today_capacity:,.0f})"
        ),
        f"           {_bar(snap.today_share)} {snap.today_share:.1%} of capacity",
    ]
    if snap.collector is not None:
        lines.append(f"Collector  {collector_line(snap.collector)}")
    lines.append("")
    expected = f" of {snap.expected:,} expected" if snap.expected is not None else ""
    fresh = (
        f"; last reading {ago((snap.at_ms - snap.last_reading_ms) / 1000)} ago"
        if snap.last_reading_ms is not None
        else "; no readings"
    )
    lines.append(f"Machines   {snap.reporting:,} reporting in the last {window}{expected}{fresh}")
    counts = [f"{state} {snap.states.get(state, 0):,}" for state in STATES]
    others = sorted(set(snap.states) - set(STATES))
    counts += [f"{state} {snap.states[state]:,}" for state in others]
    if snap.expected is not None:
        counts.append(f"silent {max(0, snap.expected - snap.reporting):,}")
    lines += ["           " + "   ".join(counts), ""]

    lines.append("Not knitting (running or idle, no pairs for over a minute), longest first:")
    if not snap.idle:
        lines.append("  none")
    for m in snap.idle[:top]:
        since = (
            f"no pairs for {ago((snap.at_ms - m.last_pairs_ms) / 1000)}"
            if m.last_pairs_ms is not None
            else f"no pairs in the last {window}"
        )
        lines.append(f"  {m.enterprise + '/' + m.machine:<24} {m.state:<12} {since}")
    lines.append("")

    by_kind = Counter(a.kind for a in snap.alerts)
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(by_kind.items()))
    lines.append(f"Alerts firing: {len(snap.alerts):,}" + (f" ({kinds})" if kinds else ""))
    for a in snap.alerts[:top]:
        who = (
            f"{a.enterprise}/{a.machine}"
            if a.machine
            else f"{a.enterprise} gateway ({a.machine_count:,} machines)"
        )
        since = ago((snap.at_ms - a.since_ms) / 1000)
        lines.append(f"  {a.kind:<8} {who:<24} for {since:<8} {a.reason[:60]}")
    return "\n".join(lines) + "\n"


# -- the command -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="The park at a glance, live.")
    parser.add_argument("--version", action="version", version=version_line(PROG))
    parser.add_argument("--influx-url", help="InfluxDB, http://HOST:PORT (default local)")
    parser.add_argument("--influx-db", help="database (default hosiery)")
    parser.add_argument("--influx-username", help="a user that may read the database")
    parser.add_argument("--influx-password", help="better: HOSIERY_TOP_INFLUX_PASSWORD")
    parser.add_argument("--registry", type=Path, help="park registry: machines and capacity")
    parser.add_argument("--refresh", help="between frames: 5, 5s, 1m (default 5s)")
    parser.add_argument("--window", help="readings a frame uses: 300, 5m, 1h (default 5m)")
    parser.add_argument("--top", type=int, help="machines and alerts listed (default 10)")
    parser.add_argument(
        "--collector-url", help="the collector's http://HOST:PORT: its rate and lag (/metrics)"
    )
    parser.add_argument(
        "--timezone", help="where today begins: UTC, Asia/Shanghai, UTC+08:00 (default)"
    )
    parser.add_argument("--once", action="store_true", default=None, help="print one frame")
    return parser


class Watch:
    """What every frame reads: InfluxDB, the registry and (optionally) the collector."""

    def __init__(
        self,
        settings: TopSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = None if settings.registry is None else read_registry(settings.registry)
        self.influx = Influx(settings, transport)
        self.probe = (
            None
            if settings.collector_url is None
            else CollectorProbe(settings.collector_url, transport=transport)
        )
        self.source = f"InfluxDB {settings.influx_url} ({settings.influx_db})"
        self._clock = clock or _now_ms

    def close(self) -> None:
        self.influx.close()
        if self.probe is not None:
            self.probe.close()

    def snapshot(self) -> Snapshot:
        status = None if self.probe is None else self.probe.sample()
        return collect(self.influx, self.settings, self.registry, self._clock(), status)

    def text(self) -> str:
        """One plain-text frame."""
        return render(self.snapshot(), source=self.source, top=self.settings.top)


def run(settings: TopSettings, out: TextIO, stop: threading.Event) -> int:
    """``--once``: one frame; on a terminal, the live view; else a plain frame every refresh."""
    watch = Watch(settings)
    try:
        if settings.once:
            out.write(watch.text())
            return 0
        if out.isatty():
            from stack.screen import live  # noqa: PLC0415 - rich only where it draws

            live(watch, out, stop)
            return 0
        while not stop.is_set():
            try:
                text = watch.text()
            except TopError as exc:
                text = f"{PROG}: {exc}; trying again every {settings.refresh:g} s\n"
            out.write(text + "\n")
            out.flush()
            stop.wait(settings.refresh)
        return 0
    finally:
        watch.close()


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = TopSettings(**{k: v for k, v in vars(args).items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "-".join(str(p) for p in error["loc"]).replace("_", "-")
        sys.stderr.write(f"{PROG}: --{where}: {error['msg']}\n")
        return 2
    except SecretFileError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(settings, sys.stdout, stop)
    except TopError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
