"""Machine: one machine's counter, rate, states, speed and alerts."""

from grafana_foundation_sdk.models import dashboard as dm

from dashboards import queries as q
from dashboards.grafana import (
    Grid,
    alert_annotation,
    dashboard,
    query_variable,
    stat_panel,
    state_timeline_panel,
    table_panel,
    timeseries_panel,
)
from dashboards.oee import oee_panels

UID = "hosiery-machine"


def build() -> dm.Dashboard:
    grid = Grid()
    d = (
        dashboard(UID, "Machine", "One machine: counter, rate, states, speed, alerts.", ["machine"])
        .time("now-24h", "now")
        .with_variable(query_variable("enterprise", q.enterprises_variable(), label="Enterprise"))
        .with_variable(query_variable("machine", q.machines_variable(), label="Machine"))
    )
    panels = [
        (stat_panel("Pairs in range", [q.pairs_in_range(q.M1H, q.ONE_MACHINE)]), 6, 4),
        (
            stat_panel(
                "Availability",
                [q.machine_availability(q.ONE_MACHINE)],
                decimals=None,
            ),
            18,
            4,
        ),
        (timeseries_panel("Counter (pairs since boot)", [q.machine_counter()]), 12, 8),
        (
            timeseries_panel("Rate, pairs per hour", [q.machine_rate()], interval="5m"),
            12,
            8,
        ),
        (state_timeline_panel("State", q.machine_states()), 24, 5),
        (timeseries_panel("Cylinder speed", [q.machine_rpm()], unit="rotrpm"), 12, 8),
        (table_panel("Alerts", [q.machine_alerts()]), 12, 8),
    ]
    panels += oee_panels("Machine", q.M1H, q.ONE_MACHINE)
    for panel, width, height in panels:
        d = d.with_panel(grid.place(panel, width, height))
    return d.annotation(alert_annotation(q.alert_annotations(q.ONE_MACHINE))).build()
