"""Running the dashboards' queries against InfluxDB as Grafana would: variables, then panels."""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dashboards import macros
from dashboards.build import DASHBOARDS, ROOT
from dashboards.grafana import TIMEZONE
from influx.config import InfluxConfig, make_client
from influx.query import query


def load(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / path).read_text(encoding="utf-8"))
    return data


def dashboard_files() -> list[str]:
    return list(DASHBOARDS)


def run(url: str, db: str, statement: str) -> dict[str, Any]:
    """The first statement's result; raises :class:`~influx.errors.InfluxError` when InfluxDB
    reports an error."""
    config = InfluxConfig(url=url, timeout=120)
    with make_client(config) as client:
        return query(client, config, statement, database=db)[0]


def values(result: Mapping[str, Any]) -> list[Any]:
    """What Grafana's InfluxDB datasource makes of a variable query: each row's value[1]."""
    out: list[Any] = []
    for series in result.get("series", ()):
        for row in series.get("values") or ():
            value = row[1] if len(row) > 1 else row[0]
            if value is not None and value not in out:
                out.append(value)
    return out


def number_text(value: Any) -> str:
    """A number as JavaScript prints it (how Grafana interpolates a numeric variable)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Grafana:
    """Variables and queries of one dashboard, at one moment (``now_ms``)."""

    def __init__(
        self,
        url: str,
        db: str,
        dashboard: Mapping[str, Any],
        now_ms: int,
        selections: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        self.url = url
        self.db = db
        self.dashboard = dashboard
        self.now_ms = now_ms
        self.tz = str(dashboard.get("timezone") or TIMEZONE)
        time = dashboard["time"]
        self.from_ms = macros.resolve(time["from"], now_ms, self.tz)
        self.to_ms = macros.resolve(time["to"], now_ms, self.tz)
        self.variables: dict[str, str | Sequence[str]] = {}
        self.options: dict[str, list[Any]] = {}
        for variable in macros.variables(dashboard):
            name = variable["name"]
            statement = self.expand(variable["query"], None, None)
            options = values(run(url, db, statement))
            self.options[name] = options
            if selections and name in selections:
                self.variables[name] = selections[name]
            elif options:
                first = options[0]
                is_number = isinstance(first, int | float)
                self.variables[name] = number_text(first) if is_number else str(first)
            else:
                self.variables[name] = "0"

    def window(self, time_from: str | None) -> tuple[int, int]:
        if time_from is None:
            return self.from_ms, self.to_ms
        return macros.resolve(time_from, self.now_ms, self.tz), self.now_ms

    def expand(self, query: str, time_from: str | None, interval: str | None) -> str:
        lo, hi = self.window(time_from)
        return macros.expand(
            query,
            from_ms=lo,
            to_ms=hi,
            interval_ms=macros.pick_interval(lo, hi, interval),
            variables=self.variables,
        )

    def run(self, item: macros.PanelQuery) -> dict[str, Any]:
        return run(self.url, self.db, self.expand(item.query, item.time_from, item.interval))

    def queries(self, name: str) -> list[macros.PanelQuery]:
        return list(macros.panel_queries(name, self.dashboard))


def first_value(result: Mapping[str, Any], column: str | None = None) -> Any:
    """The first row's value (of ``column``, else the first after time) of the first series."""
    series = result.get("series") or []
    if not series:
        return None
    columns = series[0]["columns"]
    index = columns.index(column) if column else 1
    return series[0]["values"][0][index]


def has_data(result: Mapping[str, Any]) -> bool:
    return any(
        value is not None
        for series in result.get("series", ())
        for row in series.get("values") or ()
        for value in row[1:]
    )


def panel(dashboard: Mapping[str, Any], title: str) -> dict[str, Any]:
    """The dashboard's panel of this title."""
    [found] = [p for p in dashboard["panels"] if p.get("title") == title]
    return dict(found)


def pareto_rows(panel: Mapping[str, Any], result: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The bars of a Pareto panel, as Grafana makes them of its one-row table result: the
    ``reduce`` (series to rows, ``sum``) and ``sortBy`` (``Total``, descending) transformations,
    which must be the panel's; null columns become 0, as Grafana's sum of nothing."""
    reduce, sort = panel["transformations"]
    assert reduce == {
        "id": "reduce",
        "options": {"mode": "seriesToRows", "reducers": ["sum"], "includeTimeField": False},
    }
    assert sort == {"id": "sortBy", "options": {"sort": [{"field": "Total", "desc": True}]}}
    assert panel["options"]["xField"] == "Field"
    rows: dict[str, float] = {}
    for series in result.get("series", ()):
        columns = series["columns"]
        for values in series["values"]:
            for column, value in zip(columns, values, strict=True):
                if column != "time":
                    rows[column] = rows.get(column, 0.0) + float(value or 0.0)
    return sorted(rows.items(), key=lambda item: item[1], reverse=True)


def path_of(name: str) -> Path:
    return ROOT / name
