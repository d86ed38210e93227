"""The committed dashboards and provisioning files are what the code generates, and load."""

import json
import re

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import build, macros
from dashboards.grafana import DATASOURCE_UID


def test_committed_files_are_up_to_date() -> None:
    assert build.stale() == [], "run python -m dashboards.build and commit the result"


@pytest.mark.parametrize("path", list(build.DASHBOARDS))
def test_dashboards_round_trip_through_the_sdk_model(path: str) -> None:
    register_default_plugins()
    data = json.loads((build.ROOT / path).read_text(encoding="utf-8"))
    model = Dashboard.from_json(data)
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    # the model fills in defaults of the panels' plugins; what we wrote must survive it
    keys = ("type", "id", "title", "targets", "gridPos", "timeFrom", "interval", "datasource")
    assert [{k: p.get(k) for k in keys} for p in again["panels"]] == [
        {k: p.get(k) for k in keys} for p in data["panels"]
    ]
    assert again["templating"] == data["templating"]
    assert Dashboard.from_json(again).to_json().keys() == model.to_json().keys()
    assert data["schemaVersion"] >= 39
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["rawQuery"] is True
            if re.search(r"\b(SUM|COUNT|LAST|MEAN|TOP|BOTTOM)\(", target["query"]):
                assert " AS " in target["query"], target["query"]  # aggregates are aliased
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24


def test_macros_expand_like_grafana() -> None:
    query = 'SELECT SUM("pairs") FROM m WHERE "enterprise" =~ /^$enterprise$/ AND $timeFilter'
    text = macros.expand(
        query + " GROUP BY time($__interval)",
        from_ms=1000,
        to_ms=7_201_000,
        interval_ms=3_600_000,
        variables={"enterprise": ["E0001", "E0002"]},
    )
    assert "/^(E0001|E0002)$/" in text
    assert "time >= 1000ms and time <= 7201000ms" in text
    assert text.endswith("GROUP BY time(1h)")
    single = macros.expand(
        query, from_ms=0, to_ms=1, interval_ms=1000, variables={"enterprise": "E-1"}
    )
    assert "/^E\\-1$/" in single
    every = macros.expand(
        query, from_ms=0, to_ms=1, interval_ms=1000, variables={"enterprise": "$__all"}
    )
    assert "/^.*$/" in every
    with pytest.raises(ValueError, match="unexpanded"):
        macros.expand("SELECT $nothing", from_ms=0, to_ms=1, interval_ms=1000)


def test_relative_times_in_park_time() -> None:
    now = 1_767_225_600_000 + 3_600_000  # 2026-01-01T09:00+08:00
    assert macros.resolve("now/d", now, "Asia/Shanghai") == 1_767_196_800_000
    assert macros.resolve("now/y", now, "Asia/Shanghai") == 1_767_196_800_000
    assert macros.resolve("24h", now, "Asia/Shanghai") == now - 86_400_000
