"""Utilisation and availability per enterprise: the beginning of OEE.

Utilisation is running time over the time the shift calendar plans; availability is running
time over the staffed time the machines report (readings not ``off``).
"""

from grafana_foundation_sdk.models import dashboard as dm

from dashboards import queries as q
from dashboards.grafana import Grid, dashboard, table_panel, timeseries_panel

UID = "hosiery-utilisation"


def build() -> dm.Dashboard:
    grid = Grid()
    d = dashboard(
        UID,
        "Utilisation and availability",
        "Running time against planned time (shift calendar) and against staffed time.",
        ["utilisation"],
    ).time("now-30d/d", "now")
    panels = [
        (
            timeseries_panel(
                "Park utilisation and availability",
                [q.utilisation_over_time()],
                unit="percentunit",
                interval="1h",
            ),
            24,
            8,
        ),
        (
            table_panel(
                "Enterprises (whole park-local days)",
                [q.utilisation_table()],
                description="Utilisation: running machine-hours / planned machine-hours. "
                "Availability: running / staffed readings.",
            ),
            24,
            14,
        ),
    ]
    for panel, width, height in panels:
        d = d.with_panel(grid.place(panel, width, height))
    return d.build()
