"""Park overview: how much the park produces, against its 3.5-billion-pair capacity."""

from grafana_foundation_sdk.models import dashboard as dm

from dashboards import queries as q
from dashboards.grafana import (
    Grid,
    alert_annotation,
    dashboard,
    gauge_panel,
    pareto_panel,
    query_variable,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from dashboards.oee import oee_panels, style_panels

UID = "hosiery-park"


def build() -> dm.Dashboard:
    grid = Grid()
    d = dashboard(
        UID,
        "Park overview",
        "Output of the whole park against its stated capacity; machines now; alerts.",
        ["park"],
    ).time("now/y", "now")
    d = d.with_variable(
        query_variable("capacity", q.park_capacity_variable("pairs_per_year"), hidden=True)
    ).with_variable(query_variable("machines", q.park_capacity_variable("machines"), hidden=True))
    for name, field in q.PLANNED_VARIABLES.items():
        d = d.with_variable(query_variable(name, q.park_capacity_variable(field), hidden=True))
    d = d.with_variable(query_variable("style", q.styles_variable(), label="Style", multi=True))
    panels = [
        (stat_panel("Pairs today", [q.pairs_in_range(q.P1H)], time_from="now/d"), 4, 4),
        (stat_panel("Pairs this month", [q.pairs_in_range(q.P1H)], time_from="now/M"), 4, 4),
        (stat_panel("Pairs year to date", [q.pairs_in_range(q.P1H)], time_from="now/y"), 4, 4),
        (
            stat_panel(
                "Pairs per hour (last complete hour)",
                [q.rate_last_hour(q.P5)],
                description="Twelve 5-minute intervals ending ten minutes ago.",
            ),
            4,
            4,
        ),
        (
            gauge_panel(
                "Run-rate, % of annual capacity",
                q.run_rate_share(q.P1H),
                description="The last complete clock hour's output per planned machine-hour, "
                "over the capacity per planned machine-hour of the year (the shift calendar's "
                "planned time, holidays off): what a year at this pace would make of the park's "
                "stated capacity. Empty when nothing was planned in that hour.",
            ),
            8,
            8,
        ),
        (
            stat_panel(
                "Year to date against capacity",
                [q.year_to_date(q.P1H), q.target_to_date()],
                time_from="now/y",
                description="Output so far; projected to the year at its pace per planned "
                "machine-hour; and the capacity pro-rated to the planned time so far (the shift "
                "calendar's, holidays off).",
            ),
            16,
            4,
        ),
        (
            stat_panel(
                "Machines now",
                [
                    *q.machines_by_state(),
                    q.machines_reporting("silent", "offline"),
                    q.machines_reporting("never_reported", "not reporting"),
                    q.machines_expected(),
                ],
                description="The collector's alerting counts, every summary interval, the "
                "machines of each enterprise by the state of their last reading; a machine "
                "that has gone silent, or whose gateway is offline, counts as offline instead. "
                "Not reporting: in the registry and never seen. Expected: the registry.",
            ),
            20,
            4,
        ),
        (
            stat_panel(
                "Readings lost upstream",
                [q.readings_missing()],
                description="Readings missing now: gaps in the machines' sequence numbers "
                "(a gateway that dropped messages). Their pairs are carried by the next "
                "reading; a reading that arrives late fills its gap and the count goes down.",
            ),
            4,
            4,
        ),
        (
            timeseries_panel(
                "Output, pairs per hour",
                [q.output_over_time(q.P1H)],
                interval="1h",
            ),
            12,
            8,
        ),
        (
            timeseries_panel(
                "Output today, pairs per hour (5-minute resolution)",
                [q.output_over_time(q.P5)],
                interval="5m",
                time_from="now/d",
            ),
            12,
            8,
        ),
        (
            table_panel(
                "Top 10 enterprises by output, this month",
                [q.ranking("TOP", "pairs", 'SUM("pairs")')],
                time_from="now/M",
            ),
            6,
            9,
        ),
        (
            table_panel(
                "Bottom 10 enterprises by output, this month",
                [q.ranking("BOTTOM", "pairs", 'SUM("pairs")')],
                time_from="now/M",
            ),
            6,
            9,
        ),
        (
            table_panel(
                "Top 10 enterprises by utilisation, this month",
                [q.ranking("TOP", "utilisation", q.UTILISATION)],
                time_from="now/M",
                unit="percentunit",
            ),
            6,
            9,
        ),
        (
            table_panel(
                "Bottom 10 enterprises by utilisation, this month",
                [q.ranking("BOTTOM", "utilisation", q.UTILISATION)],
                time_from="now/M",
                unit="percentunit",
            ),
            6,
            9,
        ),
        (
            pareto_panel(
                "Downtime by stop reason, machine-hours (measured)",
                q.measured_downtime_by_reason(q.P1H),
                description=q.MEASURED_DOWNTIME_DESCRIPTION,
            ),
            12,
            8,
        ),
        (
            pareto_panel(
                "Downtime by stop reason, machine-hours (estimated from readings)",
                q.downtime_by_reason(q.P1H),
                description=q.DOWNTIME_DESCRIPTION,
            ),
            12,
            8,
        ),
        (
            table_panel(
                "Idle machines now",
                [q.idle_now()],
                description="Machines whose idle alert is firing (no pairs while running or "
                "idle for the collector's --idle-after).",
            ),
            24,
            8,
        ),
    ]
    panels += style_panels(q.P1H)
    panels += oee_panels("Park", q.P1H)
    for panel, width, height in panels:
        d = d.with_panel(grid.place(panel, width, height))
    return d.annotation(
        alert_annotation(
            q.alert_annotations(q.GATEWAY_ALERTS),
            "Enterprise alerts (gateway offline, machines never reported)",
        )
    ).build()
