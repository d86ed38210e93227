"""The declared schema and the statements that bring a server in line with it."""

import pytest
from pydantic import ValidationError

from influx.schema import (
    ContinuousQuery,
    ExistingPolicy,
    RetentionPolicy,
    Schema,
    ServerState,
    default_schema,
    parse_duration_ns,
    plan,
)

HOUR = 3_600_000_000_000
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("7d", 7 * DAY),
        ("1h30m", HOUR + 30 * 60 * 10**9),
        ("168h0m0s", 7 * DAY),
        ("2w", 14 * DAY),
        ("500ms", 500 * 10**6),
        ("INF", 0),
        ("inf", 0),
        ("0s", 0),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "7", "d7", "7x", "1.5h", "7d ", "-1h", "7dd"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not an InfluxQL duration"):
        parse_duration_ns(text)


def test_retention_policy_statements() -> None:
    raw = RetentionPolicy(name="raw", duration="7d", default=True)
    assert raw.statement("hosiery") == (
        'CREATE RETENTION POLICY "raw" ON "hosiery" DURATION 7d REPLICATION 1 DEFAULT'
    )
    hourly = RetentionPolicy(name="hourly", duration="INF", shard_duration="30d")
    assert hourly.statement("h", "ALTER") == (
        'ALTER RETENTION POLICY "hourly" ON "h" DURATION INF SHARD DURATION 30d'
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "raw", "duration": "30m"}, "at least 1h or INF"),
        ({"name": "raw", "duration": "7d", "shard_duration": "10m"}, "shard duration"),
        ({"name": "raw", "duration": "a week"}, "not an InfluxQL duration"),
        ({"name": 'ra"w', "duration": "7d"}, "pattern"),
    ],
)
def test_retention_policies_are_validated(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RetentionPolicy(**fields)  # type: ignore[arg-type]


def test_schemas_are_validated() -> None:
    raw = RetentionPolicy(name="raw", duration="7d", default=True)
    with pytest.raises(ValidationError, match="twice"):
        Schema(retention_policies=(raw, raw))
    other = RetentionPolicy(name="other", duration="7d", default=True)
    with pytest.raises(ValidationError, match="more than one retention policy as default"):
        Schema(retention_policies=(raw, other))
    with pytest.raises(ValidationError, match="must be a SELECT"):
        ContinuousQuery(name="cq", query="DROP DATABASE hosiery")


CQ = ContinuousQuery(
    name="pairs_1h",
    query='SELECT sum("pairs") AS "pairs" INTO "hosiery"."hourly"."production_1h" '
    'FROM "hosiery"."raw"."production" GROUP BY time(1h), *',
    resample_every="5m",
    resample_for="2h",
)
SHOWN_CQ = (
    "CREATE CONTINUOUS QUERY pairs_1h ON hosiery RESAMPLE EVERY 5m FOR 2h BEGIN SELECT "
    "sum(pairs) AS pairs INTO hosiery.hourly.production_1h FROM hosiery.raw.production "
    "GROUP BY time(1h), * END"
)
ROLLUP = Schema(
    retention_policies=(
        RetentionPolicy(name="raw", duration="7d", default=True),
        RetentionPolicy(name="hourly", duration="INF", shard_duration="30d"),
    ),
    continuous_queries=(CQ,),
)
CURRENT = ServerState(
    database_exists=True,
    retention_policies={
        "autogen": ExistingPolicy(0, 7 * DAY, default=False),
        "raw": ExistingPolicy(7 * DAY, DAY, default=True),
        "hourly": ExistingPolicy(0, 30 * DAY, default=False),
    },
    continuous_queries={"pairs_1h": SHOWN_CQ},
)


def test_a_missing_database_gets_everything_in_order() -> None:
    assert plan(ROLLUP, ServerState(False, {}, {})) == [
        'CREATE DATABASE "hosiery"',
        'CREATE RETENTION POLICY "raw" ON "hosiery" DURATION 7d REPLICATION 1 DEFAULT',
        (
            'CREATE RETENTION POLICY "hourly" ON "hosiery" DURATION INF REPLICATION 1 '
            "SHARD DURATION 30d"
        ),
        CQ.statement("hosiery"),
    ]
    assert CQ.statement("hosiery").startswith(
        'CREATE CONTINUOUS QUERY "pairs_1h" ON "hosiery" RESAMPLE EVERY 5m FOR 2h BEGIN SELECT'
    )


def test_a_server_that_matches_needs_nothing() -> None:
    assert plan(ROLLUP, CURRENT) == []


def test_a_changed_duration_default_or_shard_duration_is_altered() -> None:
    longer = ROLLUP.model_copy(
        update={
            "retention_policies": (
                RetentionPolicy(name="raw", duration="14d", default=True),
                RetentionPolicy(name="hourly", duration="INF", shard_duration="7d"),
            )
        }
    )
    assert plan(longer, CURRENT) == [
        'ALTER RETENTION POLICY "raw" ON "hosiery" DURATION 14d DEFAULT',
        'ALTER RETENTION POLICY "hourly" ON "hosiery" DURATION INF SHARD DURATION 7d',
    ]
    not_default = CURRENT._replace(
        retention_policies={
            **CURRENT.retention_policies,
            "raw": ExistingPolicy(7 * DAY, DAY, False),
        }
    )
    assert plan(ROLLUP, not_default) == [
        'ALTER RETENTION POLICY "raw" ON "hosiery" DURATION 7d DEFAULT'
    ]


def test_a_changed_continuous_query_is_replaced() -> None:
    changed = CURRENT._replace(continuous_queries={"pairs_1h": SHOWN_CQ.replace("5m", "1m")})
    assert plan(ROLLUP, changed) == [
        'DROP CONTINUOUS QUERY "pairs_1h" ON "hosiery"',
        CQ.statement("hosiery"),
    ]
    missing = CURRENT._replace(continuous_queries={})
    assert plan(ROLLUP, missing) == [CQ.statement("hosiery")]


def test_a_decimal_shown_with_more_digits_is_the_same_query() -> None:
    """The server shows ``* 1.0`` as ``* 1.000``: not a change (else every start recreates it)."""
    with_decimal = CQ.model_copy(
        update={"query": CQ.query.replace('sum("pairs")', 'sum("pairs") * 1.0')}
    )
    schema = ROLLUP.model_copy(update={"continuous_queries": (with_decimal,)})
    shown = SHOWN_CQ.replace("sum(pairs)", "sum(pairs) * 1.000")
    assert plan(schema, CURRENT._replace(continuous_queries={"pairs_1h": shown})) == []
    other = SHOWN_CQ.replace("sum(pairs)", "sum(pairs) * 1.001")
    assert plan(schema, CURRENT._replace(continuous_queries={"pairs_1h": other}))


def test_default_schema() -> None:
    schema = default_schema(rollups=False)
    assert schema.database == "hosiery"
    assert schema.retention_policies == (RetentionPolicy(name="raw", duration="7d", default=True),)


def test_default_schema_has_the_rollups() -> None:
    schema = default_schema()
    assert [rp.name for rp in schema.retention_policies] == [
        "raw", "rollup_5m", "rollup_1h", "rollup_long",
    ]  # fmt: skip
    assert sum(rp.default for rp in schema.retention_policies) == 1
    names = [cq.name for cq in schema.continuous_queries]
    assert names[0] == "rollup_machine_5m"
    assert names.index("rollup_machine_1h") < names.index("rollup_enterprise_1h")
    assert names.index("rollup_enterprise_1h") < names.index("rollup_park_1h")
    assert all(
        " INTO " in cq.query and "GROUP BY time(" in cq.query for cq in schema.continuous_queries
    )
    assert default_schema("d", "30d").retention_policies[0].duration_ns == 30 * DAY
