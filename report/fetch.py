"""The report's data: exact hourly sums per enterprise, from the rollups and raw readings.

Whole hours come from ``enterprise_1h`` (kept 5 years). The recent hours, which the continuous
queries may not have finished yet, come from raw readings, summed per machine and 5 minutes and
estimated per machine-hour exactly as the rollups do (:data:`influx.rollups.RUNNING_S`), so a
report of the current shift is exact up to now. Fields the raw readings do not give
(``planned_s``, written by the collector) keep the rollup's value for those hours too.
"""

from collections import defaultdict
from collections.abc import Callable

import httpx

from influx.config import InfluxConfig
from influx.query import query
from influx.rollups import (
    ENTERPRISE_1H,
    FIVE_MIN_S,
    LONG_POLICY,
    PRODUCTION,
    RAW_POLICY,
    REASON_MS,
    REASONS,
)
from report.periods import HOUR_MS

Hours = dict[str, dict[int, dict[str, float]]]
"""enterprise -> hour start (epoch ms) -> field -> sum."""

CHUNK_MS = 7 * 24 * HOUR_MS
"""Hourly rollups are read a week at a time (a progress step each)."""
RAW_FIELDS = ("pairs", "readings", "reported_s", "running_s", *(f"stopped_s_{r}" for r in REASONS))
"""The fields of an hour that the raw readings give (the rest stay the rollup's)."""
NOT_SUMS = frozenset({"machines", "rpm"})
"""Rollup fields that do not add up over hours."""

Progress = Callable[[int, int], None]
"""Told how many steps are done, and of how many (:func:`steps`)."""


def _where(lo: int, hi: int, enterprise: str | None) -> str:
    # epoch integers and an enterprise id validated by the settings: nothing else is inserted
    text = f"time >= {lo}ms AND time < {hi}ms"
    if enterprise is not None:
        text += f" AND \"enterprise\" = '{enterprise}'"
    return text


def steps(lo: int, hi: int) -> int:
    """Progress steps of :func:`read_hours` over ``[lo, hi)``: the weeks, then the raw tail."""
    return max(0, -(-(hi - lo) // CHUNK_MS)) + 1


def rollup_hours(
    client: httpx.Client,
    config: InfluxConfig,
    lo: int,
    hi: int,
    enterprise: str | None = None,
    progress: Progress | None = None,
) -> Hours:
    """``enterprise_1h`` points of ``[lo, hi)``: every summable field, by enterprise and hour."""
    out: Hours = defaultdict(dict)
    db = config.database
    for done, start in enumerate(range(lo, hi, CHUNK_MS), start=1):
        end = min(start + CHUNK_MS, hi)
        statement = (
            f'SELECT * FROM "{db}"."{LONG_POLICY}"."{ENTERPRISE_1H}" '  # noqa: S608 - see _where
            f'WHERE {_where(start, end, enterprise)} GROUP BY "enterprise"'
        )
        result = query(client, config, statement, database=db, missing_ok=True)[0]
        for series in result.get("series", ()):
            name = (series.get("tags") or {}).get("enterprise", "")
            columns = series["columns"]
            hours = out[name]
            for values in series.get("values") or ():
                hour = int(values[0])
                fields = hours.setdefault(hour, {})
                for column, value in zip(columns[1:], values[1:], strict=True):
                    number = isinstance(value, int | float) and not isinstance(value, bool)
                    if number and column not in NOT_SUMS:
                        fields[column] = fields.get(column, 0) + value
        if progress is not None:
            progress(done, steps(lo, hi))
    return dict(out)


def _raw_statements(db: str, lo: int, hi: int, enterprise: str | None) -> str:
    source = f'"{db}"."{RAW_POLICY}"."{PRODUCTION}"'
    where = _where(lo, hi, enterprise)
    group = 'GROUP BY time(5m), "enterprise", "machine" fill(none)'
    conditions = ["\"state\" = 'running'", *(f"\"reason\" = '{r}'" for r in REASONS)]
    # names are this package's constants, the condition as in _where: nothing from outside
    totals = ", ".join(
        ['SUM("pairs") AS "pairs"', 'COUNT("pairs") AS "readings"']
        + [f'SUM("{name}") AS "{name}"' for name in REASON_MS]
    )
    statements = [f"SELECT {totals} FROM {source} WHERE {where} {group}"]  # noqa: S608
    statements += [
        f'SELECT COUNT("pairs") AS "n" FROM {source} WHERE {c} AND {where} {group}'  # noqa: S608
        for c in conditions
    ]
    return "; ".join(statements)


def raw_hours(
    client: httpx.Client,
    config: InfluxConfig,
    lo: int,
    hi: int,
    enterprise: str | None = None,
) -> Hours:
    """Raw readings of ``[lo, hi)`` summed per enterprise and hour as the rollups sum them:
    ``pairs``, ``readings``, ``reported_s`` (5-minute intervals with readings x 300 s) and per
    machine-hour ``running_s`` and ``stopped_s_<reason>`` (their share of the readings x its
    ``reported_s``), added up over the enterprise's machines."""
    db = config.database
    results = query(
        client, config, _raw_statements(db, lo, hi, enterprise), database=db, missing_ok=True
    )
    # (enterprise, machine, hour) -> [pairs, readings, intervals, running, reason...]
    counts: dict[tuple[str, str, int], list[float]] = defaultdict(
        lambda: [0.0] * (4 + len(REASONS))
    )
    # (enterprise, hour) -> measured milliseconds per reason, where any machine sent them
    measured: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for index, result in enumerate(results):
        for series in result.get("series", ()):
            tags = series.get("tags") or {}
            machine = (tags.get("enterprise", ""), tags.get("machine", ""))
            for values in series.get("values") or ():
                key = (*machine, int(values[0]) // HOUR_MS * HOUR_MS)
                row = counts[key]
                if index == 0:
                    row[0] += values[1] or 0
                    row[1] += values[2] or 0
                    row[2] += 1 if values[2] else 0
                    for name, ms in zip(REASON_MS, values[3:], strict=True):
                        if ms is not None:
                            got = measured[(machine[0], key[2])]
                            got[name] = got.get(name, 0.0) + ms
                else:
                    row[2 + index] += values[1] or 0
    out: Hours = defaultdict(dict)
    for (name, _machine, hour), row in counts.items():
        pairs, readings, intervals = row[0], row[1], row[2]
        fields = out[name].setdefault(hour, dict.fromkeys(RAW_FIELDS, 0.0))
        fields["pairs"] += pairs
        fields["readings"] += readings
        reported = intervals * FIVE_MIN_S
        fields["reported_s"] += reported
        if readings:
            fields["running_s"] += row[3] / readings * reported
            for i, reason in enumerate(REASONS):
                fields[f"stopped_s_{reason}"] += row[4 + i] / readings * reported
    for (name, hour), sums in measured.items():
        out[name][hour].update(sums)
    return dict(out)


def read_hours(
    client: httpx.Client,
    config: InfluxConfig,
    lo: int,
    hi: int,
    raw_from: int,
    enterprise: str | None = None,
    progress: Progress | None = None,
) -> Hours:
    """Hourly sums of ``[lo, hi)``: the rollups', with hours from ``raw_from`` (a whole hour)
    on taken from raw readings (all but the fields raw readings do not give)."""
    hours = rollup_hours(client, config, lo, hi, enterprise, progress)
    if raw_from < hi:
        recent = raw_hours(client, config, max(lo, raw_from), hi, enterprise)
        for by_hour in hours.values():
            for hour, fields in by_hour.items():
                if hour >= raw_from:
                    for field in (*RAW_FIELDS, *REASON_MS):
                        fields.pop(field, None)
        for name, by_hour in recent.items():
            target = hours.setdefault(name, {})
            for hour, fields in by_hour.items():
                target.setdefault(hour, {}).update(fields)
    if progress is not None:
        progress(steps(lo, hi), steps(lo, hi))
    return prefer_measured(hours)


def prefer_measured(hours: Hours) -> Hours:
    """Downtime per reason (``stopped_s_<reason>``) of every enterprise-hour in which machines
    sent ``stopped_ms_total`` counters: their measured milliseconds / 1000, in place of the
    estimate from readings' reasons. Hours without them keep the estimate."""
    for by_hour in hours.values():
        for fields in by_hour.values():
            if any(name in fields for name in REASON_MS):
                for reason, name in zip(REASONS, REASON_MS, strict=True):
                    fields[f"stopped_s_{reason}"] = fields.get(name, 0.0) / 1000.0
    return hours
