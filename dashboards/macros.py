"""What Grafana does to a panel's InfluxQL before InfluxDB sees it, for tests and benchmarks.

Grafana resolves the panel's time range (the dashboard's, or the panel's relative-time override
such as ``now/d``) in the dashboard's time zone, picks an interval for ``GROUP BY time(...)``
(the range over the data points, never below the panel's minimum interval), replaces
``$timeFilter``, ``$interval``, ``$__interval_ms``, ``$__interval``, ``$__range_ms`` in that
order, and formats template variables: a single value as is (regex-escaped inside ``/.../``), a
multi-value selection as ``(a|b)``, ``All`` as its ``allValue``.
"""

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

MAX_DATA_POINTS = 1000
_LADDER_MS = (
    1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000,
    10_800_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000, 2_592_000_000,
)  # fmt: skip
_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_RELATIVE = re.compile(r"^(?:now)?(?:-(\d+)([smhdwMy]))?(?:/([dwMy]))?$")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One query of a dashboard: where it is and how Grafana runs it."""

    dashboard: str
    title: str
    ref_id: str
    query: str
    time_from: str | None = None
    interval: str | None = None


def _floor(moment: dt.datetime, unit: str) -> dt.datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - dt.timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _minus(moment: dt.datetime, n: int, unit: str) -> dt.datetime:
    if unit == "M":
        month = moment.month - 1 - n
        return moment.replace(year=moment.year + month // 12, month=month % 12 + 1)
    if unit == "y":
        return moment.replace(year=moment.year - n)
    return moment - dt.timedelta(milliseconds=n * _UNITS_MS[unit])


def resolve(expression: str, now_ms: int, tz: str) -> int:
    """Epoch ms of a relative time (``now``, ``now-6h``, ``now/d``, ``now-30d/d``, ``24h``)."""
    text = expression if expression.startswith("now") else f"now-{expression}"
    match = _RELATIVE.match(text)
    if match is None:
        raise ValueError(f"unsupported relative time {expression!r}")
    moment = dt.datetime.fromtimestamp(now_ms / 1000, ZoneInfo(tz))
    if match.group(1):
        moment = _minus(moment, int(match.group(1)), match.group(2))
    if match.group(3):
        moment = _floor(moment, match.group(3))
    return int(moment.timestamp() * 1000)


def interval_text(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_interval(text: str) -> int:
    match = re.fullmatch(r"(\d+)([smhdw])", text)
    if match is None:
        raise ValueError(f"unsupported interval {text!r}")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def pick_interval(from_ms: int, to_ms: int, minimum: str | None) -> int:
    raw = max(1, (to_ms - from_ms) // MAX_DATA_POINTS)
    interval = next((step for step in _LADDER_MS if step >= raw), _LADDER_MS[-1])
    return max(interval, parse_interval(minimum)) if minimum else interval


def _regex_escape(value: str) -> str:
    return re.sub(r"([\\/^$.|?*+()\[\]{}-])", r"\\\1", value)


def format_variable(name: str, value: str | Sequence[str], query: str, all_value: str) -> str:
    """A variable's text in ``query``, as Grafana's InfluxDB datasource formats it."""
    in_regex = re.search(rf"=~\s*/[^/]*\${name}\b[^/]*/", query) is not None
    if isinstance(value, str):
        if value == "$__all":
            return all_value
        return _regex_escape(value) if in_regex else value
    if len(value) == 1:
        return format_variable(name, value[0], query, all_value)
    return "(" + "|".join(_regex_escape(v) for v in value) + ")"


def expand(
    query: str,
    *,
    from_ms: int,
    to_ms: int,
    interval_ms: int,
    variables: Mapping[str, str | Sequence[str]] | None = None,
    all_value: str = ".*",
) -> str:
    """``query`` with Grafana's macros and the template ``variables`` replaced."""
    text = query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
    text = text.replace("$interval", interval_text(interval_ms))
    text = text.replace("$__interval_ms", str(interval_ms))
    text = text.replace("$__interval", interval_text(interval_ms))
    text = text.replace("$__range_ms", str(to_ms - from_ms))
    for name in sorted(variables or {}, key=len, reverse=True):
        value = (variables or {})[name]
        formatted = format_variable(name, value, query, all_value)
        text = text.replace(f"${{{name}}}", formatted).replace(f"[[{name}]]", formatted)
        text = re.sub(rf"\${name}\b", formatted.replace("\\", "\\\\"), text)
    if "$" in re.sub(r"/\^.*?\$/", "", text).replace("$/", ""):
        raise ValueError(f"unexpanded macro or variable left in {text!r}")
    return text


def panel_queries(name: str, dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every panel target and annotation query of a dashboard's JSON."""
    for panel in dashboard.get("panels", ()):
        for target in panel.get("targets", ()):
            yield PanelQuery(
                name,
                panel.get("title", ""),
                target["refId"],
                target["query"],
                panel.get("timeFrom"),
                panel.get("interval"),
            )
    for annotation in dashboard.get("annotations", {}).get("list", ()):
        target = annotation.get("target") or {}
        if "query" in target:
            yield PanelQuery(name, f"annotation {annotation['name']}", "Anno", target["query"])


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's template variables, in order (later ones may use earlier ones)."""
    return list(dashboard.get("templating", {}).get("list", ()))
