"""OEE panels (availability, performance, quality and their product) for one scope: the park,
the selected enterprises or one machine; and output per style."""

from dashboards import queries as q
from dashboards.grafana import Panel, stat_panel, table_panel, timeseries_panel

PERIODS = (("today", "now/d"), ("this month", "now/M"), ("in range", None))
"""Stat panels: park-local today and this month, and the dashboard's range (set it to a shift
to see the shift's)."""


def oee_panels(scope: str, source: str, where: str | None = None) -> list[tuple[Panel, int, int]]:
    """``(panel, width, height)``: OEE of ``scope`` for each of :data:`PERIODS`, and over time."""
    stats: list[tuple[Panel, int, int]] = [
        (
            stat_panel(
                f"{scope} OEE {label}",
                [q.oee_in_range(source, where)],
                unit="percentunit",
                time_from=time_from,
                decimals=1,
                description=q.OEE_DESCRIPTION,
            ),
            8,
            4,
        )
        for label, time_from in PERIODS
    ]
    over_time = timeseries_panel(
        f"{scope} OEE over time",
        [q.oee_over_time(source, where)],
        unit="percentunit",
        interval="1h",
        description=q.OEE_DESCRIPTION,
    )
    return [*stats, (over_time, 24, 8)]


def style_panels(source: str, where: str | None = None) -> list[tuple[Panel, int, int]]:
    """Output of the styles chosen in ``$style``: over time, and a table over the range."""
    return [
        (
            timeseries_panel(
                "Output per style, pairs per hour",
                [q.output_by_style(source, where)],
                interval="1h",
            ),
            16,
            8,
        ),
        (
            table_panel(
                "Styles: pairs, rejects and quality in range",
                [q.style_table(source, where)],
                description="Readings without a style count under an empty style.",
            ),
            8,
            8,
        ),
    ]
