"""Enterprise: the park's questions for one or more enterprises, against their own capacity."""

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

UID = "hosiery-enterprise"
E = q.ENTERPRISES


def build() -> dm.Dashboard:
    grid = Grid()
    d = (
        dashboard(
            UID,
            "Enterprise",
            "Output of the selected enterprises against their capacity (their share of the "
            "park's stated capacity, by their machines' nominal rate); machines now; idle "
            "machines.",
            ["enterprise"],
        )
        .time("now/y", "now")
        .with_variable(
            query_variable("enterprise", q.enterprises_variable(), label="Enterprise", multi=True)
        )
        .with_variable(
            query_variable(
                "capacity", q.enterprise_capacity_variable("pairs_per_year"), hidden=True
            )
        )
        .with_variable(
            query_variable("machines", q.enterprise_capacity_variable("machines"), hidden=True)
        )
    )
    for name, field in q.PLANNED_VARIABLES.items():
        d = d.with_variable(
            query_variable(name, q.enterprise_capacity_variable(field), hidden=True)
        )
    d = d.with_variable(
        query_variable("style", q.styles_variable(q.E1H, E), label="Style", multi=True)
    )
    panels = [
        (stat_panel("Pairs today", [q.pairs_in_range(q.E1H, E)], time_from="now/d"), 4, 4),
        (stat_panel("Pairs this month", [q.pairs_in_range(q.E1H, E)], time_from="now/M"), 4, 4),
        (stat_panel("Pairs year to date", [q.pairs_in_range(q.E1H, E)], time_from="now/y"), 4, 4),
        (
            stat_panel(
                "Pairs in the last complete clock hour",
                [q.rate_last_hour(q.E1H, E, q.LAST_CLOCK_HOUR)],
            ),
            4,
            4,
        ),
        (
            gauge_panel(
                "Run-rate, % of capacity",
                q.run_rate_share(q.E1H, E, q.LAST_CLOCK_HOUR),
                description="The last complete clock hour's output per planned machine-hour, "
                "over the capacity per planned machine-hour of the year: what a year at this "
                "pace would make of the selected enterprises' capacity (their share of the "
                "park's, by nominal rate). Empty when nothing was planned in that hour.",
            ),
            8,
            8,
        ),
        (
            stat_panel(
                "Year to date against capacity",
                [q.year_to_date(q.E1H, E), q.target_to_date()],
                time_from="now/y",
            ),
            16,
            4,
        ),
        (
            stat_panel(
                "Machines now",
                [
                    *q.machines_by_state(E),
                    q.machines_reporting("silent", "offline", E),
                    q.machines_reporting("never_reported", "not reporting", E),
                    q.machines_expected(),
                ],
            ),
            24,
            4,
        ),
        (
            timeseries_panel(
                "Output, pairs per hour",
                [q.output_over_time(q.E1H, E, by="enterprise")],
                interval="1h",
            ),
            24,
            8,
        ),
        (table_panel("Each machine now", [q.machine_table(E)]), 12, 10),
        (table_panel("Idle machines now", [q.idle_now(E)]), 12, 10),
        (
            table_panel(
                "Machines: output and availability",
                [q.machine_availability(E)],
                description="Availability: running / staffed readings (not off).",
            ),
            12,
            10,
        ),
        (
            timeseries_panel(
                "Utilisation and availability",
                [q.utilisation_over_time(q.E1H, E)],
                unit="percentunit",
                interval="1h",
            ),
            12,
            10,
        ),
        (
            pareto_panel(
                "Downtime by stop reason, machine-hours (measured)",
                q.measured_downtime_by_reason(q.E1H, E),
                description=q.MEASURED_DOWNTIME_DESCRIPTION,
            ),
            12,
            8,
        ),
        (
            pareto_panel(
                "Downtime by stop reason, machine-hours (estimated from readings)",
                q.downtime_by_reason(q.E1H, E),
                description=q.DOWNTIME_DESCRIPTION,
            ),
            12,
            8,
        ),
    ]
    panels += style_panels(q.E1H, E)
    panels += oee_panels("Enterprise", q.E1H, E)
    for panel, width, height in panels:
        d = d.with_panel(grid.place(panel, width, height))
    return d.annotation(alert_annotation(q.alert_annotations(E))).build()
