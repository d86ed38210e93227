"""``hosiery-top``: the park at a glance in a terminal, refreshed from InfluxDB every few seconds.

    hosiery-top [--influx-url URL] [--influx-db DB] [--registry PATH] [--refresh S]
        [--window DURATION] [--top N] [--once]

Shows the park's production rate against its capacity, the machines by state, the machines
that should be knitting and are not (longest first) and the alerts firing. ``--once`` prints one
frame and exits (scripts, tests); otherwise the screen is cleared and redrawn until Ctrl-C.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx
import orjson
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PROG = "hosiery-top"
HOURS_PER_YEAR = 8760.0
PARK_PAIRS_PER_MACHINE_HOUR = 3.5e9 / 40_000 / HOURS_PER_YEAR
"""The park's stated capacity (3.5 billion pairs a year) over its 40,000 machines."""
STATES = ("running", "idle", "fault", "maintenance", "off")
PRODUCTIVE = frozenset(("running", "idle"))
"""States in which a machine is expected to knit (the alerting's idle rule)."""
CLEAR = "\x1b[H\x1b[2J"
CAPACITY_QUERY = (
    'SELECT last("pairs_per_year") AS pairs_per_year, last("machines") AS machines '
    """FROM "rollup_long"."capacity" WHERE "scope" = 'park'"""
)
"""The park's capacity, written by the collector from the park registry (collector/capacity.py)."""
BAR = 40
MIN_SPAN_S = 60.0


class TopError(Exception):
    """InfluxDB or the registry cannot be read (one line for the operator)."""


class TopSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOSIERY_TOP_", frozen=True, extra="forbid")

    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "hosiery"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    registry: Path | None = None
    refresh: float = Field(5.0, ge=0.2, le=3600)
    window: float = Field(300.0, ge=10, le=86400)
    top: int = Field(10, ge=0, le=1000)
    once: bool = False


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

    @property
    def rate(self) -> float:
        """Pairs per hour."""
        return self.pairs * 3600.0 / self.covered_s if self.covered_s > 0 else 0.0


# -- reading InfluxDB ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    machines: int
    pairs_per_hour: float


def read_registry(path: Path) -> Registry:
    """The machine count and capacity of a park registry (``hosiery-sim park --registry``)."""
    try:
        document = orjson.loads(path.read_bytes())
        machines = sum(len(e["machines"]) for e in document["enterprises"])
        target = document.get("target_pairs_per_year")
        per_hour = (
            float(target) / HOURS_PER_YEAR if target else machines * PARK_PAIRS_PER_MACHINE_HOUR
        )
    except OSError as exc:
        raise TopError(f"cannot read the registry {path}: {exc.strerror}") from exc
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise TopError(f"{path} is not a park registry ({exc})") from exc
    return Registry(machines, per_hour)


class Influx:
    """InfluxQL queries over HTTP (``transport`` replaces the network in tests)."""

    def __init__(self, settings: TopSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        auth = None
        if settings.influx_username is not None:
            password = settings.influx_password
            auth = (
                settings.influx_username,
                "" if password is None else password.get_secret_value(),
            )
        self.client = httpx.Client(
            base_url=settings.influx_url, auth=auth, timeout=30, transport=transport
        )

    def close(self) -> None:
        self.client.close()

    def query(self, statements: Sequence[str]) -> list[list[dict[str, Any]]]:
        """The series of each statement."""
        try:
            response = self.client.post(
                "/query",
                data={"db": self.settings.influx_db, "q": ";".join(statements), "epoch": "ms"},
            )
        except httpx.HTTPError as exc:
            raise TopError(f"cannot reach InfluxDB at {self.settings.influx_url}: {exc}") from exc
        if response.status_code in (401, 403):
            raise TopError(f"InfluxDB at {self.settings.influx_url} refused the credentials")
        if response.status_code != 200:
            raise TopError(f"InfluxDB answered HTTP {response.status_code}: {response.text[:200]}")
        out: list[list[dict[str, Any]]] = []
        for result in response.json().get("results", []):
            # A database or retention policy not set up yet holds nothing to show.
            if "error" in result and "not found" not in result["error"]:
                raise TopError(f"InfluxDB: {result['error']}")
            out.append(result.get("series", []))
        return out


def _rows(series: list[dict[str, Any]]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(tags, {column: value}) of every row."""
    return [
        (s.get("tags") or {}, dict(zip(s["columns"], row, strict=True)))
        for s in series
        for row in s.get("values") or ()
    ]


def collect(
    influx: Influx, settings: TopSettings, registry: Registry | None, now_ms: int
) -> Snapshot:
    window = int(settings.window)
    since = f"time > now() - {window}s"
    by_machine = 'GROUP BY "enterprise", "machine"'
    production, first, states, productive, capacity, alerts = influx.query(
        [
            f'SELECT sum("pairs") AS pairs FROM "production" WHERE {since}',  # noqa: S608 - integers only
            f'SELECT first("pairs") FROM "production" WHERE {since}',  # noqa: S608 - integers only
            f'SELECT last("state") AS state FROM "production" WHERE {since} {by_machine}',  # noqa: S608 - integers only
            f'SELECT last("pairs") FROM "production" WHERE {since} AND "pairs" > 0 {by_machine}',  # noqa: S608 - integers only
            CAPACITY_QUERY,
            'SELECT * FROM "alerts" WHERE time > now() - 30d GROUP BY * ORDER BY time DESC LIMIT 1',
        ]
    )
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


def _ago(seconds: float) -> str:
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


def render(snap: Snapshot, *, source: str, top: int) -> str:
    """One frame, plain text."""
    now = dt.datetime.fromtimestamp(snap.at_ms / 1000, dt.UTC)
    window = _ago(snap.window_s)
    share = snap.rate / snap.capacity.pairs_per_hour if snap.capacity.pairs_per_hour else 0.0
    lines = [
        f"{PROG}  {now:%Y-%m-%d %H:%M:%S} UTC  {source}",
        "",
        f"Rate       {snap.rate:,.0f} pairs/h  (last {_ago(snap.covered_s)}: {snap.pairs:,} pairs)",
        f"Capacity   {snap.capacity.pairs_per_hour:,.0f} pairs/h  ({snap.capacity.source})",
        f"           {_bar(share)} {share:.1%} of capacity",
        "",
    ]
    expected = f" of {snap.expected:,} expected" if snap.expected is not None else ""
    fresh = (
        f"; last reading {_ago((snap.at_ms - snap.last_reading_ms) / 1000)} ago"
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
            f"no pairs for {_ago((snap.at_ms - m.last_pairs_ms) / 1000)}"
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
        since = _ago((snap.at_ms - a.since_ms) / 1000)
        lines.append(f"  {a.kind:<8} {who:<24} for {since:<8} {a.reason[:60]}")
    return "\n".join(lines) + "\n"


# -- the command -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="The park at a glance, live.")
    parser.add_argument("--influx-url", help="InfluxDB, http://HOST:PORT (default local)")
    parser.add_argument("--influx-db", help="database (default hosiery)")
    parser.add_argument("--influx-username", help="a user that may read the database")
    parser.add_argument("--influx-password", help="better: HOSIERY_TOP_INFLUX_PASSWORD")
    parser.add_argument("--registry", type=Path, help="park registry: machines and capacity")
    parser.add_argument("--refresh", type=float, help="seconds between frames (default 5)")
    parser.add_argument("--window", type=float, help="seconds of readings a frame uses (300)")
    parser.add_argument("--top", type=int, help="machines and alerts listed (default 10)")
    parser.add_argument("--once", action="store_true", default=None, help="print one frame")
    return parser


def _frame(influx: Influx, settings: TopSettings, registry: Registry | None, now_ms: int) -> str:
    source = f"InfluxDB {settings.influx_url} ({settings.influx_db})"
    snap = collect(influx, settings, registry, now_ms)
    return render(snap, source=source, top=settings.top)


def run(settings: TopSettings, out: TextIO, stop: threading.Event) -> int:
    registry = None if settings.registry is None else read_registry(settings.registry)
    influx = Influx(settings)
    try:
        if settings.once:
            out.write(_frame(influx, settings, registry, _now_ms()))
            return 0
        while not stop.is_set():
            try:
                text = _frame(influx, settings, registry, _now_ms())
            except TopError as exc:
                text = f"{PROG}: {exc}; trying again every {settings.refresh:g} s\n"
            out.write(CLEAR + text + f"\n(refresh {settings.refresh:g} s; Ctrl-C quits)\n")
            out.flush()
            stop.wait(settings.refresh)
        return 0
    finally:
        influx.close()


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
