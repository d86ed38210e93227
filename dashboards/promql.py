"""What Grafana does to a panel's PromQL before Prometheus sees it, for tests.

Grafana picks the panel's interval from the time range as for InfluxQL
(:func:`dashboards.macros.pick_interval`), never below the datasource's scrape interval (its
``timeInterval``), then replaces ``$__rate_interval`` with max(interval + scrape interval,
4 scrape intervals), ``$__interval`` with the interval and ``$__range`` with the range, each
also in its ``_ms`` and ``_s`` forms and in ``${...}`` braces.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from dashboards import macros

_MACRO = re.compile(r"\$(?:\{(__\w+)\}|(__\w+))")


def rate_interval_ms(interval_ms: int, scrape_ms: int) -> int:
    return max(interval_ms + scrape_ms, 4 * scrape_ms)


def _duration(ms: int, form: str) -> str:
    if form == "_ms":
        return str(ms)
    if form == "_s":
        return str(ms // 1000)
    return macros.interval_text(ms)


def expand(expr: str, *, from_ms: int, to_ms: int, scrape_interval: str) -> str:
    """``expr`` with Grafana's interval and range macros replaced; ValueError if any is left."""
    scrape_ms = macros.parse_interval(scrape_interval)
    interval_ms = macros.pick_interval(from_ms, to_ms, scrape_interval)
    base = {
        "__rate_interval": rate_interval_ms(interval_ms, scrape_ms),
        "__interval": interval_ms,
        "__range": to_ms - from_ms,
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        for macro, ms in base.items():
            for form in ("", "_ms", "_s"):
                if name == macro + form:
                    return _duration(ms, form)
        raise ValueError(f"unknown macro ${name} in {expr!r}")

    text = _MACRO.sub(replace, expr)
    if "$" in text:
        raise ValueError(f"unexpanded variable left in {text!r}")
    return text


def panel_queries(name: str, dashboard: Mapping[str, Any]) -> Iterator[macros.PanelQuery]:
    """Every panel target's expression of a dashboard's JSON."""
    for panel in dashboard.get("panels", ()):
        for target in panel.get("targets", ()):
            yield macros.PanelQuery(
                name,
                panel.get("title", ""),
                target["refId"],
                target["expr"],
                panel.get("timeFrom"),
                panel.get("interval"),
            )
