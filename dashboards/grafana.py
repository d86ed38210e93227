"""Building blocks over grafana-foundation-sdk: the datasource, raw InfluxQL targets, panels.

The SDK has no InfluxDB query type, so :class:`InfluxQL` builds a raw target dict (wrapped in
the SDK's ``UnknownDataquery``). :class:`Grid` places panels left to right in rows of 24.
"""

from collections.abc import Sequence

from grafana_foundation_sdk.builders import barchart, gauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

DATASOURCE_UID = "hosiery-influxdb"
"""The provisioned InfluxDB datasource (``provisioning/datasources/hosiery.yaml``)."""
PROMETHEUS_UID = "hosiery-prometheus"
"""The provisioned Prometheus datasource: the collector's own metrics (compose profile
``prometheus``)."""
TIMEZONE = "Asia/Shanghai"
"""Park time (UTC+8): "today", "this month" and daily rollups start at local midnight."""

Panel = cogbuilder.Builder[dm.Panel]


def datasource() -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)


def prometheus_datasource() -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw InfluxQL target: ``{"refId", "query", "rawQuery": true, "resultFormat", ...}``."""

    def __init__(self, ref_id: str, query: str, result_format: str = "time_series") -> None:
        self.data: dict[str, object] = {
            "refId": ref_id,
            "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
            "query": query,
            "rawQuery": True,
            "resultFormat": result_format,
        }

    def build(self) -> cogvariants.Dataquery:
        return UnknownDataquery(dict(self.data))


class InfluxAnnotationTarget(dm.AnnotationTarget):
    """An InfluxQL annotation query (the SDK's target knows only Grafana's own annotations)."""

    def __init__(self, query: str, text: str, tags: str) -> None:
        super().__init__()
        self.query = query
        self.text_column = text
        self.tags_column = tags

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "rawQuery": True,
            "textColumn": self.text_column,
            "tagsColumn": self.tags_column,
            "fromAnnotations": True,
            "refId": "Anno",
        }


class _Target(cogbuilder.Builder[dm.AnnotationTarget]):
    def __init__(self, target: dm.AnnotationTarget) -> None:
        self.target = target

    def build(self) -> dm.AnnotationTarget:
        return self.target


def alert_annotation(query: str, name: str = "Machine alerts") -> db.AnnotationQuery:
    return (
        db.AnnotationQuery()
        .name(name)
        .datasource(datasource())
        .enable(True)
        .icon_color("red")
        .target(_Target(InfluxAnnotationTarget(query, "reason", "kind,enterprise,machine")))
    )


def _targets(
    queries: Sequence[str], result_format: str
) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    return [InfluxQL(chr(ord("A") + i), q, result_format) for i, q in enumerate(queries)]


def stat_panel(
    title: str,
    queries: Sequence[str],
    *,
    unit: str = "short",
    time_from: str | None = None,
    description: str = "",
    decimals: int | None = 0,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(_targets(queries, "time_series"))
        .unit(unit)
        .no_value("0")
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if time_from is not None:
        panel = panel.time_from(time_from)
    return panel


def gauge_panel(title: str, query: str, *, description: str = "") -> gauge.Panel:
    steps = [
        dm.Threshold(value=None, color="red"),
        dm.Threshold(value=50.0, color="orange"),
        dm.Threshold(value=80.0, color="green"),
    ]
    return (
        gauge.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(_targets([query], "time_series"))
        .unit("percent")
        .min(0)
        .max(150)
        .decimals(1)
        .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps))
    )


def table_panel(
    title: str,
    queries: Sequence[str],
    *,
    time_from: str | None = None,
    description: str = "",
    unit: str = "short",
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(_targets(queries, "table"))
        .unit(unit)
    )
    if time_from is not None:
        panel = panel.time_from(time_from)
    return panel


def timeseries_panel(
    title: str,
    queries: Sequence[str],
    *,
    unit: str = "short",
    interval: str | None = None,
    time_from: str | None = None,
    description: str = "",
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(_targets(queries, "time_series"))
        .unit(unit)
    )
    if interval is not None:
        panel = panel.interval(interval)
    if time_from is not None:
        panel = panel.time_from(time_from)
    return panel


def pareto_panel(
    title: str, query: str, *, unit: str = "h", description: str = ""
) -> barchart.Panel:
    """Bars of a one-row query's columns, largest first: Grafana turns the columns into rows
    (``reduce``, series to rows), sorts them by value (``sortBy``) and draws one bar each."""
    return (
        barchart.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(_targets([query], "table"))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="reduce",
                options={"mode": "seriesToRows", "reducers": ["sum"], "includeTimeField": False},
            )
        )
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="sortBy", options={"sort": [{"field": "Total", "desc": True}]}
            )
        )
        .x_field("Field")
        .unit(unit)
        .decimals(1)
        .show_value(common.VisibilityMode.AUTO)
    )


def state_timeline_panel(title: str, query: str, *, description: str = "") -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(_targets([query], "time_series"))
    )


class Grid:
    """Places panels left to right, starting a new row when 24 columns are full."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.next_id = 1

    def place(self, panel: Panel, width: int, height: int) -> Panel:
        if self.x + width > 24:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0
        built = panel.build()
        built.grid_pos = dm.GridPos(h=height, w=width, x=self.x, y=self.y)
        built.id_val = self.next_id
        self.next_id += 1
        self.x += width
        self.row_height = max(self.row_height, height)
        return panel


def query_variable(
    name: str,
    query: str,
    *,
    label: str | None = None,
    hidden: bool = False,
    multi: bool = False,
) -> db.QueryVariable:
    variable = (
        db.QueryVariable(name)
        .query(query)
        .datasource(datasource())
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
    )
    if label is not None:
        variable = variable.label(label)
    if hidden:
        variable = variable.hide(dm.VariableHide.HIDE_VARIABLE)
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def dashboard(uid: str, title: str, description: str, tags: list[str]) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["hosiery", *tags])
        .timezone(TIMEZONE)
        .refresh("1m")
        .editable()
    )
