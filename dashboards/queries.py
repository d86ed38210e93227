# ruff: noqa: S608 - every query is built from this package's constants and Grafana macros, never from input
"""The InfluxQL of every panel, variable and alert rule.

Every query reads the coarsest series that answers it (``influx.rollups``): park totals from
``park_1h``, the last hour's rate from ``park_5m``/``machine_5m``, enterprise tables from
``enterprise_1d``, machines now by state from the per-enterprise counts in ``reporting`` (written
by the collector's alerting), one machine's "now" from its last reading in ``raw`` (5 minutes),
alerts from ``alerts``. Capacity is never a literal: it comes from the ``capacity`` measurement
through hidden dashboard variables.

Grafana replaces ``$timeFilter``, ``$__interval``, ``$__interval_ms``, ``$__range_ms`` and the
template variables (``$enterprise``, ``$capacity``...) before InfluxDB sees the text.
"""

from influx.rollups import (
    CAPACITY,
    ENTERPRISE_1D,
    ENTERPRISE_1H,
    FIVE_MIN_POLICY,
    HOURLY_POLICY,
    LONG_POLICY,
    MACHINE_1H,
    MACHINE_5M,
    PARK_1H,
    PARK_5M,
    PRODUCTION,
    RAW_POLICY,
    REASONS,
)

NOW_WINDOW = "5m"
"""A machine's last reading counts as "now" for this long."""
LAST_HOUR = "time >= now() - 70m AND time < now() - 10m"
"""Twelve 5-minute intervals ending ten minutes ago: complete in the rollups."""
LAST_CLOCK_HOUR = "time >= now() - 2h AND time < now() - 1h"
"""The one hourly interval that started between two hours and one hour ago: the last complete
clock hour."""
ALERTS = '"raw"."alerts"'
REPORTING = '"raw"."reporting"'

ENTERPRISES = '"enterprise" =~ /^$enterprise$/'
PLANNED = '"planned_s" > 0'
ONE_MACHINE = "\"enterprise\" = '$enterprise' AND \"machine\" = '$machine'"
IDLE_KIND = "\"kind\" = 'idle'"
FIRING = '"firing" = 1'


def src(policy: str, measurement: str) -> str:
    return f'"{policy}"."{measurement}"'


RAW = src(RAW_POLICY, PRODUCTION)
M5 = src(FIVE_MIN_POLICY, MACHINE_5M)
P5 = src(FIVE_MIN_POLICY, PARK_5M)
M1H = src(HOURLY_POLICY, MACHINE_1H)
E1H = src(LONG_POLICY, ENTERPRISE_1H)
E1D = src(LONG_POLICY, ENTERPRISE_1D)
P1H = src(LONG_POLICY, PARK_1H)
CAP = src(LONG_POLICY, CAPACITY)


def _and(*conditions: str | None) -> str:
    return " AND ".join(c for c in conditions if c)


# --- totals and rates -----------------------------------------------------------------------


def pairs_in_range(source: str, where: str | None = None) -> str:
    return f'SELECT SUM("pairs") AS "pairs" FROM {source} WHERE {_and(where, "$timeFilter")}'


def rate_last_hour(source: str, where: str | None = None, window: str = LAST_HOUR) -> str:
    return f'SELECT SUM("pairs") AS "pairs per hour" FROM {source} WHERE {_and(where, window)}'


def run_rate_share(source: str, where: str | None = None, window: str = LAST_CLOCK_HOUR) -> str:
    """The last complete clock hour's output per planned machine-second, over the capacity's
    (``$capacity`` / ``$planned_year``), in %: what a year at this pace would make of the
    capacity. Hours (and enterprises) with nothing planned are left out: InfluxQL would divide by
    zero as 0, and an hour with nothing planned has no run-rate."""
    return (
        f'SELECT SUM("pairs") / SUM("planned_s") * $planned_year / $capacity * 100 '
        f'AS "run-rate % of capacity" FROM {source} WHERE {_and(where, PLANNED, window)}'
    )


def year_to_date(source: str, where: str | None = None) -> str:
    """Output so far, and its projection to the year: the output per planned machine-second so
    far, times the year's planned machine-seconds (``$planned_year`` / ``$planned_to_date``)."""
    return (
        f'SELECT SUM("pairs") AS "output", '
        f'SUM("pairs") * $planned_year / $planned_to_date AS "projected year" '
        f"FROM {source} WHERE {_and(where, '$timeFilter')}"
    )


def target_to_date() -> str:
    """``$capacity`` pro-rated to the planned time of the year so far."""
    return (
        'SELECT LAST("machines") * 0 + $capacity * $planned_to_date / $planned_year AS "target", '
        f'LAST("machines") * 0 + $capacity AS "capacity" '
        f"FROM {CAP} WHERE \"scope\" = 'park'"
    )


def output_over_time(source: str, where: str | None = None, by: str | None = None) -> str:
    group = "time($__interval)" + (f', "{by}"' if by else "")
    return (
        f'SELECT SUM("pairs") * 3600000 / $__interval_ms AS "pairs per hour" FROM {source} '
        f"WHERE {_and(where, '$timeFilter')} GROUP BY {group} fill(0)"
    )


STYLES = '"style" =~ /^$style$/'
"""The styles chosen in the ``$style`` variable (a tag of every rollup level but ``park_5m``)."""


def output_by_style(source: str, where: str | None = None) -> str:
    """Pairs per hour of each chosen style over time."""
    return output_over_time(source, _and(where, STYLES), by="style")


def style_table(source: str, where: str | None = None) -> str:
    """Pairs, rejects and quality of each chosen style over the range."""
    return (
        f'SELECT SUM("pairs") AS "pairs", SUM("rejects") AS "rejects", '
        f'(SUM("pairs") - SUM("rejects")) / SUM("pairs") AS "quality" FROM {source} '
        f'WHERE {_and(where, STYLES, "$timeFilter")} GROUP BY "style"'
    )


# --- machines now ---------------------------------------------------------------------------

STATE_FIELDS = {"running": "running", "idle": "idle", "stopped": "stopped", "off shift": "off"}
"""Panel label -> the ``reporting`` field that counts, per enterprise, the machines whose last
reading is in that state (``stopped``: fault or maintenance). The collector's alerting keeps
every machine's last state and writes these counts with each summary, so that "machines now"
reads 1,220 enterprise series instead of the last reading of 40,000 machines."""


def machines_by_state(where: str | None = None) -> list[str]:
    """Machines now running, idle, stopped and off shift: one query per state, in that order."""
    return [machines_reporting(field, label, where) for label, field in STATE_FIELDS.items()]


def machines_reporting(field: str, label: str, where: str | None = None) -> str:
    """A field of the alerting's latest ``reporting`` summary, added up over enterprises."""
    return (
        f'SELECT SUM("{field}") AS "{label}" FROM (SELECT LAST("{field}") AS "{field}" '
        f"FROM {REPORTING} WHERE {_and(where, f'time > now() - {NOW_WINDOW}')} "
        f'GROUP BY "enterprise")'
    )


MISSING_READINGS = "missing_readings"
"""The ``reporting`` field counting an enterprise's readings lost upstream (gaps in ``seq``)."""


def readings_missing(where: str | None = None) -> str:
    """Readings lost upstream now (gaps in ``seq`` no later reading filled), from the latest
    summary of each enterprise."""
    return machines_reporting(MISSING_READINGS, "readings lost upstream", where)


def machines_expected() -> str:
    return f'SELECT LAST("machines") * 0 + $machines AS "expected" FROM {CAP}'


def machine_table(where: str) -> str:
    return (
        f'SELECT LAST("state") AS "state", LAST("pairs_total") AS "counter", '
        f'LAST("rpm") AS "rpm" FROM {RAW} WHERE {_and(where, f"time > now() - {NOW_WINDOW}")} '
        f'GROUP BY "machine"'
    )


def idle_now(where: str | None = None) -> str:
    """Machines whose ``idle`` alert is firing: the alerting's last notification per machine.

    The outer query keeps no ``GROUP BY``: one series of rows with the tags as columns, not a
    series per machine, which costs InfluxDB and Grafana far less at thousands of idle machines.
    """
    return (
        f'SELECT "enterprise", "machine", "since_ms", "reason" FROM (SELECT LAST("firing") AS '
        f'"firing", LAST("since_ms") AS "since_ms", LAST("reason") AS "reason" FROM {ALERTS} '
        f"WHERE {_and(where, IDLE_KIND, 'time > now() - 7d')} "
        f'GROUP BY "enterprise", "machine") WHERE "firing" = 1'
    )


GATEWAY_ALERTS = "\"machine\" = ''"
"""Alerts of a whole enterprise (no ``machine`` tag: a gateway offline, registry machines never
reported): the park overview annotates only these; at the full park, every machine's alerts over
a year would be far too many annotations."""


def alert_annotations(where: str | None = None) -> str:
    return (
        f'SELECT "reason", "kind", "enterprise", "machine" FROM {ALERTS} '
        f"WHERE {_and(where, FIRING, '$timeFilter')}"
    )


# --- rankings and utilisation ---------------------------------------------------------------

UTILISATION = 'SUM("running_s") / SUM("planned_s")'
"""Running time / planned time: the machine-hours' estimated running seconds (``running_s``,
a float, so the ratio is not truncated to an integer) over the machine-seconds the shift
calendar plans. Two fields: a ranking over 1,220 enterprises costs about half of what the
running share x reported time (four fields) did."""
AVAILABILITY = 'SUM("running") / (SUM("readings") - SUM("off"))'
"""Running time / staffed time as reported (readings not ``off``)."""


def ranking(selector: str, value: str, expression: str, source: str = E1D) -> str:
    """TOP or BOTTOM 10 enterprises by ``expression`` over the range."""
    return (
        f'SELECT {selector}("{value}", "enterprise", 10) AS "{value}" FROM '
        f'(SELECT {expression} AS "{value}" FROM {source} WHERE $timeFilter GROUP BY "enterprise")'
    )


def utilisation_table(source: str = E1D, where: str | None = None) -> str:
    return (
        f'SELECT SUM("pairs") AS "pairs", {AVAILABILITY} AS "availability", '
        f'{UTILISATION} AS "utilisation", SUM("planned_s") / 3600 AS "planned machine-hours", '
        f'SUM("running_s") / 3600 AS "running machine-hours" '
        f'FROM {source} WHERE {_and(where, "$timeFilter")} GROUP BY "enterprise"'
    )


def utilisation_over_time(source: str = P1H, where: str | None = None) -> str:
    return (
        f'SELECT {UTILISATION} AS "utilisation", {AVAILABILITY} AS "availability" '
        f"FROM {source} WHERE {_and(where, '$timeFilter')} GROUP BY time($__interval)"
    )


def machine_availability(where: str) -> str:
    return (
        f'SELECT SUM("pairs") AS "pairs", {AVAILABILITY} AS "availability", '
        f'SUM("running") / SUM("readings") AS "running share" FROM {M1H} '
        f'WHERE {_and(where, "$timeFilter")} GROUP BY "machine"'
    )


# --- OEE -------------------------------------------------------------------------------------

OEE_PARTS = {
    "availability": 'SUM("running_s") / SUM("planned_s")',
    "performance": 'SUM("pairs") / SUM("nominal_pairs")',
    "quality": '(SUM("pairs") - SUM("rejects")) / SUM("pairs")',
    "OEE": (
        'SUM("running_s") / SUM("planned_s") * SUM("pairs") / SUM("nominal_pairs") '
        '* (SUM("pairs") - SUM("rejects")) / SUM("pairs")'
    ),
}
"""Column -> expression: ``contract.oee`` in InfluxQL, on the sums of one series (``running_s``,
``planned_s``, ``pairs``, ``nominal_pairs`` and ``rejects`` of ``machine_1h``, ``enterprise_1h``
or ``park_1h``)."""
OEE_DESCRIPTION = (
    "Availability: running time / planned time (shift calendar). Performance: pairs / the pairs "
    "the running time would give at the styles' nominal rates. Quality: (pairs - rejects) / "
    "pairs. OEE: their product. Ratios of sums over the range."
)


def _oee_columns() -> str:
    return ", ".join(f'{expression} AS "{name}"' for name, expression in OEE_PARTS.items())


def oee_in_range(source: str, where: str | None = None) -> str:
    """OEE and its parts over the panel's range, one row."""
    return f"SELECT {_oee_columns()} FROM {source} WHERE {_and(where, '$timeFilter')}"


def oee_over_time(source: str, where: str | None = None) -> str:
    """OEE and its parts per ``$__interval``."""
    return (
        f"SELECT {_oee_columns()} FROM {source} WHERE {_and(where, '$timeFilter')} "
        "GROUP BY time($__interval) fill(none)"
    )


# --- downtime by stop reason ----------------------------------------------------------------


DOWNTIME_DESCRIPTION = (
    "Machine-hours stopped per stop reason over the dashboard's range, largest first (a Pareto "
    "chart), estimated from the readings: each machine-hour's share of readings with the reason "
    "x its reported time. For machines that do not measure their stops (no stopped_ms_total); "
    "stops without a reason are not shown."
)
MEASURED_DOWNTIME_DESCRIPTION = (
    "Machine-hours stopped per stop reason over the dashboard's range, largest first (a Pareto "
    "chart), as the machines measured them: their stopped_ms_total counters, accounted as pairs "
    "are (resets, duplicates, late and lost readings), so exact. Empty when no machine sends "
    "the counters: the estimate beside it covers those."
)


def downtime_by_reason(source: str = P1H, where: str | None = None) -> str:
    """Hours stopped per stop reason over the range, estimated from readings, one column per
    reason (one row); the Pareto panel turns the columns into rows and sorts them."""
    columns = ", ".join(f'SUM("stopped_s_{r}") / 3600 AS "{r}"' for r in REASONS)
    return f"SELECT {columns} FROM {source} WHERE {_and(where, '$timeFilter')}"


def measured_downtime_by_reason(source: str = P1H, where: str | None = None) -> str:
    """Hours stopped per stop reason over the range as the machines' counters measured them,
    one column per reason (one row), for the Pareto panel."""
    columns = ", ".join(f'SUM("stopped_ms_{r}") / 3600000 AS "{r}"' for r in REASONS)
    return f"SELECT {columns} FROM {source} WHERE {_and(where, '$timeFilter')}"


# --- one machine ----------------------------------------------------------------------------


def machine_counter() -> str:
    return f'SELECT "pairs_total" AS "counter" FROM {RAW} WHERE {ONE_MACHINE} AND $timeFilter'


def machine_rate() -> str:
    return output_over_time(M5, ONE_MACHINE)


def machine_states() -> str:
    return (
        f'SELECT LAST("state") AS "state" FROM {RAW} WHERE {ONE_MACHINE} AND $timeFilter '
        f"GROUP BY time($__interval) fill(none)"
    )


def machine_rpm() -> str:
    return (
        f'SELECT MEAN("rpm") AS "rpm" FROM {RAW} WHERE {ONE_MACHINE} AND $timeFilter '
        f"GROUP BY time($__interval) fill(none)"
    )


def machine_alerts() -> str:
    return (
        f'SELECT "kind", "status", "reason", "since_ms" FROM {ALERTS} '
        f"WHERE {ONE_MACHINE} AND $timeFilter"
    )


# --- variables ------------------------------------------------------------------------------


def enterprises_variable() -> str:
    return f'SHOW TAG VALUES FROM {E1H} WITH KEY = "enterprise"'


def styles_variable(source: str = P1H, where: str | None = None) -> str:
    condition = f" WHERE {where}" if where else ""
    return f'SHOW TAG VALUES FROM {source} WITH KEY = "style"{condition}'


def machines_variable() -> str:
    return f'SHOW TAG VALUES FROM {M1H} WITH KEY = "machine" WHERE "enterprise" = \'$enterprise\''


PLANNED_VARIABLES = {"planned_year": "planned_s_per_year", "planned_to_date": "planned_s_to_date"}
"""Hidden dashboard variables -> ``capacity`` fields: the planned machine-seconds of the year,
and of it so far (the shift calendar's, in the park's time zone)."""


def park_capacity_variable(field: str) -> str:
    return f'SELECT LAST("{field}") FROM {CAP} WHERE "scope" = \'park\''


def enterprise_capacity_variable(field: str) -> str:
    return (
        f'SELECT SUM("{field}") FROM (SELECT LAST("{field}") AS "{field}" FROM {CAP} '
        f'WHERE "scope" = \'enterprise\' AND {ENTERPRISES} GROUP BY "enterprise")'
    )


# --- alert rules ----------------------------------------------------------------------------


def idle_by_enterprise() -> str:
    """Machines with a firing idle alert, per enterprise (one alert instance each), from the
    alerting's latest summary: an alert that has fired days ago still counts while it fires."""
    return (
        f'SELECT LAST("idle_alerts") AS "idle machines" FROM {REPORTING} '
        f'WHERE time > now() - {NOW_WINDOW} GROUP BY "enterprise"'
    )


def never_reported_by_enterprise() -> str:
    """Registry machines never heard from, per enterprise (one alert instance each), from the
    alerting's latest summary (0 until its grace period after a start has passed)."""
    return (
        f'SELECT LAST("never_reported") AS "never reported" FROM {REPORTING} '
        f'WHERE time > now() - {NOW_WINDOW} GROUP BY "enterprise"'
    )


def park_hour(hours_ago: int) -> str:
    """The park's output in the complete hour that started between ``hours_ago`` + 1 and
    ``hours_ago`` hours ago."""
    return (
        f'SELECT SUM("pairs") AS "pairs" FROM {P1H} '
        f"WHERE time >= now() - {hours_ago + 1}h AND time < now() - {hours_ago}h"
    )
