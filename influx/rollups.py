"""Rollups: the downsampled series that dashboards read instead of raw readings.

A year of raw readings of the full park is about 126 billion points; the rollups below hold the
same pairs in a few million. Every rollup is a sum (``pairs``, ``rejects`` and the measured
``stopped_ms_<reason>`` are per-interval deltas, so sums of sums are exact) or a count of
readings per state (for utilisation) and per stop reason (for downtime by reason where machines
measure none), computed by a continuous query from the level below it:

==================  =====================  ==================  ===============================
series              retention policy       from                tags
==================  =====================  ==================  ===============================
``machine_5m``      ``rollup_5m`` (35 d)   raw ``production``  ``enterprise``, ``machine``,
                                                               ``style``
``park_5m``         ``rollup_5m`` (35 d)   ``machine_5m``      none
``machine_1h``      ``rollup_1h`` (400 d)  ``machine_5m``      ``enterprise``, ``machine``,
                                                               ``style``
``enterprise_1h``   ``rollup_long`` (5 y)  ``machine_1h``      ``enterprise``, ``style``
``enterprise_1d``   ``rollup_long`` (5 y)  ``enterprise_1h``   ``enterprise``, ``style`` (local)
``park_1h``         ``rollup_long`` (5 y)  ``enterprise_1h``   ``style``
==================  =====================  ==================  ===============================

Each :class:`Rollup` renders its ``SELECT ... INTO`` once: the continuous query and the manual
re-run for a time window (:meth:`Rollup.select`, :func:`backfill_statements`, and
``python -m collector.reroll``) are the same text, the latter with a time range added.

Late data: a continuous query recomputes only the last ``RESAMPLE FOR`` of its interval. Readings
that reach InfluxDB later than that (a gateway that was offline for hours, a collector catching
up after an outage) are in ``raw`` but not in the rollups until the window is rolled up again:
the collector does it for the hours it wrote late readings into (:mod:`collector.late`,
:func:`hour_statements`); ``python -m collector.reroll --since ... --until ...`` does it for any
window (docs/dashboards.md).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from contract import StopReason

STATES = ("running", "idle", "fault", "maintenance", "off")
"""Machine states whose readings are counted per interval (fields of the same names)."""

RAW_POLICY = "raw"
PRODUCTION = "production"
FIVE_MIN_POLICY = "rollup_5m"
HOURLY_POLICY = "rollup_1h"
LONG_POLICY = "rollup_long"

MACHINE_5M = "machine_5m"
PARK_5M = "park_5m"
MACHINE_1H = "machine_1h"
ENTERPRISE_1H = "enterprise_1h"
ENTERPRISE_1D = "enterprise_1d"
PARK_1H = "park_1h"
CAPACITY = "capacity"
"""Configuration written by the collector and the backfill (in :data:`LONG_POLICY`)."""

FIVE_MIN_S = 300
"""Seconds of one ``machine_5m`` interval: ``reported_s`` counts them."""

REASONS = tuple(reason.value for reason in StopReason)
REASON_COUNTS = tuple(f"stopped_{reason}" for reason in REASONS)
"""Readings per stop reason, per interval (``stopped_yarn_break``, ...)."""
REASON_SECONDS = tuple(f"stopped_s_{reason}" for reason in REASONS)
"""Seconds stopped per reason, from ``machine_1h`` up (``stopped_s_yarn_break``, ...)."""

REASON_MS = tuple(f"stopped_ms_{reason}" for reason in REASONS)
"""Milliseconds stopped per reason as the machines' ``stopped_ms_total`` counters measured
them (``stopped_ms_yarn_break``, ...): sums at every level, absent where no machine sends them."""

ROLLUP_FIELDS = ("pairs", "rejects", "readings", *STATES, *REASON_COUNTS, *REASON_MS)
"""Fields every level carries (sums)."""

RUNNING_S = (
    f'SUM("running") * 1.0 / SUM("readings") * COUNT("readings") * {FIVE_MIN_S} AS "running_s"'
)
"""A machine-hour's running time, estimated: its running share of readings x the seconds its
readings cover (a float; absent for an hour without a running reading). Summed at the
enterprise and park levels, it makes utilisation one ratio of two sums."""


NOMINAL_PAIRS = (
    f'SUM("running_nominal_pph") / SUM("readings") * COUNT("readings") * {FIVE_MIN_S} / 3600 '
    'AS "nominal_pairs"'
)
"""The pairs a machine-hour's running time would have given at nominal rate: estimated as
:data:`RUNNING_S`, with each running reading weighted by its style's nominal pairs per hour
(``running_nominal_pph`` of ``machine_5m`` sums them), so ``nominal_pairs`` = ``running_s`` x
the mean nominal rate of the running readings / 3600. Performance is ``pairs / nominal_pairs``."""

HOURLY_SUMS = ("reported_s", "running_s", "nominal_pairs", *REASON_SECONDS)
"""Fields from ``machine_1h`` up that the levels above sum unchanged (``planned_s`` too, which
the collector writes from the shift calendar)."""


def _reason_seconds(reason: str) -> str:
    """A machine-hour's seconds stopped for ``reason``, estimated as :data:`RUNNING_S`."""
    return (
        f'SUM("stopped_{reason}") * 1.0 / SUM("readings") * COUNT("readings") * {FIVE_MIN_S} '
        f'AS "stopped_s_{reason}"'
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """A retention policy of the rollups."""

    name: str
    duration: str
    shard_duration: str


POLICIES = (
    Policy(FIVE_MIN_POLICY, "35d", "1d"),
    Policy(HOURLY_POLICY, "400d", "7d"),
    Policy(LONG_POLICY, "1830d", "30d"),
)
"""Where the rollups live: 5-minute series 35 days, hourly per machine 400 days, enterprise
and park series 5 years."""


def _q(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class Rollup:
    """One ``SELECT ... INTO ... GROUP BY time(...)``: a continuous query and its manual re-run."""

    name: str
    """The continuous query's name."""
    target_policy: str
    target: str
    source_policy: str
    source: str
    interval: str
    """``GROUP BY time(interval[, offset])``."""
    tags: tuple[str, ...]
    fields: tuple[str, ...]
    """Aliased select expressions: ``SUM("pairs") AS "pairs"``."""
    where: str | None = None
    offset: str | None = None
    every: str = "5m"
    """``RESAMPLE EVERY``: how often the continuous query runs (the current interval included)."""
    for_: str = "2h"
    """``RESAMPLE FOR``: how far back each run recomputes (late data within it is covered)."""

    def select(
        self, database: str, since_ns: int | None = None, until_ns: int | None = None
    ) -> str:
        """The statement; with ``since_ns``/``until_ns`` it rolls up ``[since, until)`` only."""
        conditions = [] if self.where is None else [self.where]
        if since_ns is not None:
            conditions.append(f"time >= {since_ns}")
        if until_ns is not None:
            conditions.append(f"time < {until_ns}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        group = f"time({self.interval}" + (f", {self.offset})" if self.offset else ")")
        group_by = ", ".join([group, *(_q(tag) for tag in self.tags)])
        # names and expressions are this module's constants: nothing comes from outside
        return (
            f"SELECT {', '.join(self.fields)} "  # noqa: S608
            f"INTO {_q(database)}.{_q(self.target_policy)}.{_q(self.target)} "
            f"FROM {_q(database)}.{_q(self.source_policy)}.{_q(self.source)}"
            f"{where} GROUP BY {group_by}"
        )


def _sums(*names: str) -> tuple[str, ...]:
    return tuple(f'SUM("{name}") AS "{name}"' for name in names)


MACHINE = ("enterprise", "machine", "style")
ENTERPRISE = ("enterprise", "style")
STYLE = ("style",)
"""Every level but ``park_5m`` keeps the ``style`` tag of the readings (empty for readings
without a style): output per style of any scope is one ``GROUP BY "style"``."""


def day_offset(utc_offset_hours: float) -> str:
    """``GROUP BY time(1d, offset)`` offset that starts days at local midnight."""
    minutes = round(-utc_offset_hours * 60) % 1440
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _machine_5m(
    name: str, fields: tuple[str, ...], state: str | None = None, field: str = "state"
) -> Rollup:
    """A rollup of raw readings into ``machine_5m`` (of the readings whose ``field``, the state
    unless told otherwise, is ``state`` when given)."""
    return Rollup(
        name=name,
        target_policy=FIVE_MIN_POLICY,
        target=MACHINE_5M,
        source_policy=RAW_POLICY,
        source=PRODUCTION,
        interval="5m",
        tags=MACHINE,
        fields=fields,
        where=None if state is None else f"\"{field}\" = '{state}'",
        for_="15m",
    )


def rollups(utc_offset_hours: float = 8.0) -> tuple[Rollup, ...]:
    """Every rollup, in the order they depend on each other (and are created and re-run).

    ``utc_offset_hours`` is the park's local time (UTC+8 by default): ``enterprise_1d`` days run
    from local midnight to midnight.
    """
    # From raw: per machine and 5 minutes, the pairs and readings, then one query per state
    # counting its readings (running also averages the cylinder speed).
    raw_level = [
        _machine_5m(
            "rollup_machine_5m",
            (
                'SUM("pairs") AS "pairs"',
                'SUM("rejects") AS "rejects"',
                'COUNT("pairs") AS "readings"',
                *_sums(*REASON_MS),
            ),
        ),
        _machine_5m(
            "rollup_machine_5m_running",
            (
                'COUNT("pairs") AS "running"',
                'MEAN("rpm") AS "rpm"',
                'SUM("nominal_pairs_per_hour") AS "running_nominal_pph"',
            ),
            state="running",
        ),
        *(
            _machine_5m(f"rollup_machine_5m_{state}", (f'COUNT("pairs") AS "{state}"',), state)
            for state in STATES[1:]
        ),
        # one query per stop reason, counting the readings that carry it
        *(
            _machine_5m(
                f"rollup_machine_5m_reason_{reason}",
                (f'COUNT("pairs") AS "stopped_{reason}"',),
                reason,
                field="reason",
            )
            for reason in REASONS
        ),
    ]
    return (
        *raw_level,
        Rollup(
            name="rollup_park_5m",
            target_policy=FIVE_MIN_POLICY,
            target=PARK_5M,
            source_policy=FIVE_MIN_POLICY,
            source=MACHINE_5M,
            interval="5m",
            tags=(),
            fields=(*_sums(*ROLLUP_FIELDS), 'COUNT("readings") AS "machines"'),
            for_="15m",
        ),
        Rollup(
            name="rollup_machine_1h",
            target_policy=HOURLY_POLICY,
            target=MACHINE_1H,
            source_policy=FIVE_MIN_POLICY,
            source=MACHINE_5M,
            interval="1h",
            tags=MACHINE,
            fields=(
                *_sums(*ROLLUP_FIELDS),
                f'COUNT("readings") * {FIVE_MIN_S} AS "reported_s"',
                RUNNING_S,
                NOMINAL_PAIRS,
                *(_reason_seconds(reason) for reason in REASONS),
                'MEAN("rpm") AS "rpm"',
            ),
        ),
        Rollup(
            name="rollup_enterprise_1h",
            target_policy=LONG_POLICY,
            target=ENTERPRISE_1H,
            source_policy=HOURLY_POLICY,
            source=MACHINE_1H,
            interval="1h",
            tags=ENTERPRISE,
            fields=(
                *_sums(*ROLLUP_FIELDS, *HOURLY_SUMS),
                'COUNT("readings") AS "machines"',
            ),
        ),
        Rollup(
            name="rollup_park_1h",
            target_policy=LONG_POLICY,
            target=PARK_1H,
            source_policy=LONG_POLICY,
            source=ENTERPRISE_1H,
            interval="1h",
            tags=STYLE,
            fields=_sums(*ROLLUP_FIELDS, *HOURLY_SUMS, "planned_s", "machines"),
        ),
        Rollup(
            name="rollup_enterprise_1d",
            target_policy=LONG_POLICY,
            target=ENTERPRISE_1D,
            source_policy=LONG_POLICY,
            source=ENTERPRISE_1H,
            interval="1d",
            offset=day_offset(utc_offset_hours),
            tags=ENTERPRISE,
            fields=_sums(*ROLLUP_FIELDS, *HOURLY_SUMS, "planned_s"),
            every="1h",
            for_="2d",
        ),
    )


def backfill_statements(
    database: str, since_ns: int, until_ns: int, utc_offset_hours: float = 8.0
) -> list[str]:
    """The rollups of ``[since, until)`` as ``SELECT ... INTO`` statements, in dependency order.

    The window is widened to whole days (park-local), so every interval it touches is
    recomputed from complete data.
    """
    day_ns = 86_400 * 10**9
    shift = round(utc_offset_hours * 3600) * 10**9
    start = (since_ns + shift) // day_ns * day_ns - shift
    end = -((-(until_ns + shift)) // day_ns) * day_ns - shift
    return [rollup.select(database, start, end) for rollup in rollups(utc_offset_hours)]


HOUR_NS = 3600 * 10**9
DAY_NS = 86_400 * 10**9


def _ranges(starts: list[int], size: int) -> list[tuple[int, int]]:
    """Sorted interval starts of length ``size`` merged into ``[start, end)`` ranges."""
    out: list[tuple[int, int]] = []
    for start in starts:
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], start + size)
        else:
            out.append((start, start + size))
    return out


def hour_statements(
    database: str, hours_ns: Iterable[int], utc_offset_hours: float = 8.0
) -> list[list[str]]:
    """The rollups of whole hours (their starts, ns), level by level: one list of statements
    per rollup, in dependency order. Neighbouring hours share a statement; the daily level
    covers the park-local days the hours fall in. The statements are the continuous queries'
    own, with a time range (as :func:`backfill_statements`)."""
    hours = sorted({h // HOUR_NS * HOUR_NS for h in hours_ns})
    shift = round(utc_offset_hours * 3600) * 10**9
    days = sorted({(h + shift) // DAY_NS * DAY_NS - shift for h in hours})
    levels = []
    for rollup in rollups(utc_offset_hours):
        ranges = _ranges(days, DAY_NS) if rollup.interval == "1d" else _ranges(hours, HOUR_NS)
        levels.append([rollup.select(database, start, end) for start, end in ranges])
    return levels
