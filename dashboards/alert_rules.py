"""Grafana alert rules on the same InfluxDB data, for file provisioning (``apiVersion: 1``).

* **Idle machines** (one alert instance per enterprise): machines whose idle alert the collector
  has firing, from the ``alerts`` measurement. A machine that goes silent is the collector's
  offline alert, not this rule: its series would disappear and Grafana would resolve it.
* **Machines never reported** (one alert instance per enterprise): registry machines the
  collector has not heard from since its start, once its grace period has passed, from the
  ``reporting`` counts (the collector raises the same as one ``never_reported`` alert).
* **Park output drop**: the park's output in the last complete hour is below half of the same
  hour a day earlier (``park_1h``). Planned closures (the first day of a holiday) fire it too.

Rules are built with grafana-foundation-sdk's alerting models, then written in the file
provisioning layout (``groups[].rules[]``).
"""

import json

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as am
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import queries as q
from dashboards.grafana import DATASOURCE_UID, InfluxQL
from dashboards.yamltext import Value

FOLDER = "Hosiery"
GROUP = "hosiery-production"
EXPR_UID = "__expr__"


def _expr_ds() -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val="__expr__", uid=EXPR_UID)


def _influx(ref: str, query: str, seconds: int) -> alerting.Query:
    return (
        alerting.Query(ref)
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(am.RelativeTimeRange(from_val=seconds, to=0))
        .model(InfluxQL(ref, query))
    )


def _expression(ref: str, model: cogbuilder.Builder[cogvariants.Dataquery]) -> alerting.Query:
    return (
        alerting.Query(ref)
        .datasource_uid(EXPR_UID)
        .relative_time_range(am.RelativeTimeRange(from_val=0, to=0))
        .model(model)
    )


def _reduce(ref: str, source: str) -> expr.TypeReduce:
    return expr.TypeReduce().ref_id(ref).expression(source).reducer("last").datasource(_expr_ds())


def _threshold(ref: str, source: str, kind: str, value: float) -> expr.TypeThreshold:
    evaluator = expr.ExprTypeThresholdConditionsEvaluator().type(kind).params([value])  # type: ignore[arg-type]
    return (
        expr.TypeThreshold()
        .ref_id(ref)
        .expression(source)
        .datasource(_expr_ds())
        .conditions([expr.ExprTypeThresholdConditions().evaluator(evaluator)])
    )


def _machines_by_enterprise_rule(
    title: str, uid: str, query: str, summary: str, description: str
) -> am.Rule:
    """A rule that fires per enterprise while ``query`` counts machines in some alert."""
    return (
        alerting.Rule(title)
        .uid(uid)
        .condition("C")
        .queries(
            [
                _influx("A", query, 600),
                _expression("B", _reduce("B", "A")),
                _expression("C", _threshold("C", "B", "gt", 0)),
            ]
        )
        .for_val("5m")
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": "warning"})
        .annotations({"summary": summary, "description": description})
        .build()
    )


def idle_rule() -> am.Rule:
    return _machines_by_enterprise_rule(
        "Idle machines",
        "hosiery-idle-machines",
        q.idle_by_enterprise(),
        "{{ $labels.enterprise }}: {{ $values.B }} machine(s) idle",
        "Machines running or idle without knitting (collector alert).",
    )


def never_reported_rule() -> am.Rule:
    return _machines_by_enterprise_rule(
        "Machines never reported",
        "hosiery-never-reported",
        q.never_reported_by_enterprise(),
        "{{ $labels.enterprise }}: {{ $values.B }} machine(s) of the registry never reported",
        "Machines in the park registry the collector has not heard "
        "from since it started (collector alert never_reported).",
    )


def output_drop_rule() -> am.Rule:
    return (
        alerting.Rule("Park output drop")
        .uid("hosiery-park-output-drop")
        .condition("E")
        .queries(
            [
                _influx("A", q.park_hour(1), 7200),
                _influx("B", q.park_hour(24), 90000),
                _expression("C", _reduce("C", "A")),
                _expression("D", _reduce("D", "B")),
                _expression(
                    "E",
                    expr.TypeMath().ref_id("E").expression("$C < 0.5 * $D").datasource(_expr_ds()),
                ),
            ]
        )
        .for_val("1h")
        .no_data_state("NoData")
        .exec_err_state("Error")
        .labels({"severity": "critical"})
        .annotations(
            {
                "summary": "Park output {{ $values.C }} pairs in the last hour, "
                "under half of {{ $values.D }} a day earlier",
            }
        )
        .build()
    )


RULES = (idle_rule, never_reported_rule, output_drop_rule)


def provisioning() -> Value:
    """The alert rules file: ``apiVersion: 1`` and one group in folder ``Hosiery``."""
    rules: list[Value] = []
    for make in RULES:
        rule: dict[str, Value] = json.loads(json.dumps(make(), cls=JSONEncoder))
        for key in ("folderUID", "orgID", "ruleGroup"):
            rule.pop(key, None)
        rules.append(rule)
    return {
        "apiVersion": 1,
        "groups": [{"orgId": 1, "name": GROUP, "folder": FOLDER, "interval": "1m", "rules": rules}],
    }


def influx_queries() -> list[str]:
    """Every InfluxQL text of the rules (what the tests run against InfluxDB)."""
    out = []
    for make in RULES:
        for query in make().data:
            if query.datasource_uid != EXPR_UID and query.model is not None:
                model = query.model.to_json()  # type: ignore[attr-defined]
                out.append(str(model["query"]))
    return out
