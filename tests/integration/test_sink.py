"""The sink and the storage schema against a real InfluxDB 1.x.

Besides the sink itself, these tests pin down InfluxDB behaviour the product relies on: the later
of two lines for the same point in one request wins, and a line with only ``pairs`` merges with
the stored point (its other fields stay).
"""

import base64
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from influx.config import InfluxConfig
from influx.errors import InfluxSchemaError, InfluxUnreachableError
from influx.lines import (
    gateway_line,
    pairs_correction_line,
    printable,
    production_line,
    production_time_ns,
    rejected_line,
    tag_value,
)
from influx.provision import ensure_schema
from influx.query import query
from influx.schema import ContinuousQuery, RetentionPolicy, Schema, default_schema
from influx.write import InfluxSink
from stack import InfluxServer
from stack.process import free_port

pytestmark = pytest.mark.integration

_databases = itertools.count()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def config(influx: InfluxServer, request: pytest.FixtureRequest) -> InfluxConfig:
    """A config for a database of the test's own (not created yet)."""
    name = f"t{next(_databases)}_{request.node.name[:40]}".replace("[", "_").replace("]", "")
    return InfluxConfig(
        url=influx.url, database="".join(c for c in name if c.isalnum() or c == "_")
    )


def select(client: httpx.Client, config: InfluxConfig, statement: str) -> list[dict[str, Any]]:
    """Rows of a query as dicts (times in ns), over every series of the first statement."""
    result = query(client, config, statement, database=config.database, epoch="ns")[0]
    rows = []
    for series in result.get("series", ()):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags") or {})
            rows.append(row)
    return rows


def test_a_batch_is_written_and_read_back_with_its_types(
    client: httpx.Client, config: InfluxConfig
) -> None:
    ts = now_ms()
    lines = [
        production_line("ent-1", "m-1", ts, 7, "boot-a", 3, 103, "running", "terry", 812.5),
        production_line("ent-1", "m-1", ts, 8, "boot-a", 2, 105, "idle", None, None),
        production_line("ent-1", "m-2", ts, 1_000_001, "b", 0, 0, "off", None, 0.0),
        gateway_line("ent-1", True, ts * 1_000_000),
    ]
    with InfluxSink(config, client) as sink:
        result = sink.write(lines)
    assert (result.lines, result.written, result.dropped_lines, result.error) == (4, 4, 0, None)
    rows = select(client, config, 'SELECT * FROM "raw"."production" GROUP BY *')
    # style is a tag: one series per machine and style, the series without it first
    assert rows == [
        {
            "time": production_time_ns(ts, 8),
            "boot": "boot-a",
            "pairs": 2,
            "pairs_total": 105,
            "rpm": None,
            "seq": 8,
            "state": "idle",
            "enterprise": "ent-1",
            "machine": "m-1",
            "style": "",
        },
        {
            "time": production_time_ns(ts, 7),
            "boot": "boot-a",
            "pairs": 3,
            "pairs_total": 103,
            "rpm": 812.5,
            "seq": 7,
            "state": "running",
            "enterprise": "ent-1",
            "machine": "m-1",
            "style": "terry",
        },
        {
            "time": ts * 1_000_000 + 1,
            "boot": "b",
            "pairs": 0,
            "pairs_total": 0,
            "rpm": 0.0,
            "seq": 1_000_001,
            "state": "off",
            "enterprise": "ent-1",
            "machine": "m-2",
            "style": "",
        },
    ]
    types = select(client, config, 'SHOW FIELD KEYS FROM "raw"."production"')
    assert {r["fieldKey"]: r["fieldType"] for r in types} == {
        "boot": "string",
        "pairs": "integer",
        "pairs_total": "integer",
        "rpm": "float",
        "seq": "integer",
        "state": "string",
    }
    tags = select(client, config, 'SHOW TAG KEYS FROM "raw"."production"')
    assert {r["tagKey"] for r in tags} == {"enterprise", "machine", "style"}
    gateway = select(client, config, 'SELECT "online" FROM "raw"."gateway" GROUP BY *')
    assert gateway == [{"time": ts * 1_000_000, "online": True, "enterprise": "ent-1"}]


def test_the_later_line_for_the_same_point_in_one_request_wins(
    client: httpx.Client, config: InfluxConfig
) -> None:
    ts = now_ms()
    # a point is its tags (style included) and time: a redelivery has the reading's own style
    first = production_line("e", "m", ts, 5, "b", 4, 10, "running", "a", 100.0)
    second = production_line("e", "m", ts, 5, "b", 6, 12, "idle", "a", 200.0)
    with InfluxSink(config, client) as sink:
        assert sink.write([first, second]).written == 2
    rows = select(client, config, 'SELECT * FROM "raw"."production"')
    assert len(rows) == 1
    assert (rows[0]["pairs"], rows[0]["pairs_total"], rows[0]["state"]) == (6, 12, "idle")
    assert (rows[0]["style"], rows[0]["rpm"]) == ("a", 200.0)


def test_a_pairs_only_line_rewrites_pairs_and_keeps_the_other_fields(
    client: httpx.Client, config: InfluxConfig
) -> None:
    ts = now_ms()
    time_ns = production_time_ns(ts, 9)
    reading = production_line("e", "m", ts, 9, "b", 5, 50, "running", "terry", 700.0)
    other = production_line("e", "m", ts, 10, "b", 1, 51, "running", "terry", 700.0)
    with InfluxSink(config, client) as sink:
        sink.write([reading, other])
        # a later request: the correction merges into the stored point
        # (naming the point's style tag, as the collector's corrections do)
        assert sink.write([pairs_correction_line("e", "m", time_ns, 2, None, "terry")]).written == 1
        # the same in one request: a reading and, after it, its correction
        later = production_line("e", "m", ts, 11, "b", 9, 60, "fault", None, None)
        time_later = production_time_ns(ts, 11)
        sink.write([later, pairs_correction_line("e", "m", time_later, 3)])
    rows = select(client, config, 'SELECT * FROM "raw"."production"')
    assert [(r["time"], r["pairs"], r["pairs_total"], r["seq"], r["style"]) for r in rows] == [
        (time_ns, 2, 50, 9, "terry"),
        (time_ns + 1, 1, 51, 10, "terry"),
        (time_later, 3, 60, 11, None),
    ]
    assert rows[0]["rpm"] == 700.0
    assert rows[2]["state"] == "fault"
    total = select(client, config, 'SELECT sum("pairs") FROM "raw"."production"')
    assert total[0]["sum"] == 6


def test_a_redelivered_reading_overwrites_itself(
    client: httpx.Client, config: InfluxConfig
) -> None:
    ts = now_ms()
    lines = [production_line("e", "m", ts, s, "b", 1, s, "running", None, None) for s in range(5)]
    with InfluxSink(config, client) as sink:
        sink.write(lines)
        sink.write(lines[1:3])
        sink.write(lines)
    rows = select(client, config, 'SELECT count("pairs"), sum("pairs") FROM "raw"."production"')
    assert (rows[0]["count"], rows[0]["sum"]) == (5, 5)


@pytest.mark.parametrize("rpm", [0.0, 1e-05, 5e-324, 0.1, 123.456789, 1999.9999999999998, 2000.0])
def test_rpm_floats_round_trip_exactly(
    client: httpx.Client, config: InfluxConfig, rpm: float
) -> None:
    ts = now_ms()
    with InfluxSink(config, client) as sink:
        line = production_line("e", "m", ts, 1, "b", 0, 0, "running", None, rpm)
        assert sink.write([line]).written == 1
    assert select(client, config, 'SELECT "rpm" FROM "raw"."production"')[0]["rpm"] == rpm


def test_a_partial_write_counts_exactly_what_was_dropped(
    client: httpx.Client, config: InfluxConfig
) -> None:
    ts = now_ms()
    with InfluxSink(config, client) as sink:
        sink.write([production_line("e", "m", ts, 1, "b", 1, 1, "running", None, None)])
        conflicts = [
            production_line("e", "m", ts, 2, "b", 1, 2, "running", None, None),
            f"production,enterprise=e,machine=m pairs=1.5 {production_time_ns(ts, 3)}",
            production_line("e", "m", ts, 4, "b", 1, 3, "running", None, None),
            f"production,enterprise=e,machine=m pairs=true {production_time_ns(ts, 5)}",
        ]
        result = sink.write(conflicts)
        assert (result.lines, result.dropped_lines, result.written) == (4, 2, 2)
        assert result.error is not None
        assert "field type conflict" in result.error
        too_old = ts - 8 * 86_400_000
        old = [
            production_line("e", "m", too_old, 6, "b", 1, 1, "running", None, None),
            production_line("e", "m", ts, 7, "b", 1, 4, "running", None, None),
        ]
        result = sink.write(old)
        assert (result.dropped_lines, result.written) == (1, 1)
        assert result.error is not None
        assert "points beyond retention policy" in result.error
        unparsable = [
            production_line("e", "m", ts, 8, "b", 1, 5, "running", None, None),
            "production,enterprise=e pairs=",
            "garbage",
        ]
        result = sink.write(unparsable)
        assert (result.dropped_lines, result.written) == (2, 1)
        result = sink.write(["garbage", "more garbage"])
        assert (result.dropped_lines, result.written, result.attempts) == (2, 0, 1)
    rows = select(client, config, 'SELECT "seq" FROM "raw"."production"')
    assert [r["seq"] for r in rows] == [1, 2, 4, 7, 8]


def test_the_sink_creates_a_missing_database_with_its_retention_policy(
    client: httpx.Client, config: InfluxConfig
) -> None:
    ts = now_ms()
    with InfluxSink(config, client, schema=default_schema(config.database, "3d")) as sink:
        result = sink.write([production_line("e", "m", ts, 1, "b", 1, 1, "running", None, None)])
    assert (result.written, result.attempts) == (1, 2)
    policies = select(client, config, f'SHOW RETENTION POLICIES ON "{config.database}"')
    raw = next(p for p in policies if p["name"] == "raw")
    assert (raw["duration"], raw["default"]) == ("72h0m0s", True)
    assert len(select(client, config, 'SELECT * FROM "raw"."production"')) == 1


def test_a_missing_retention_policy_is_created_too(
    client: httpx.Client, config: InfluxConfig
) -> None:
    query(client, config, f'CREATE DATABASE "{config.database}"')
    ts = now_ms()
    with InfluxSink(config, client) as sink:
        result = sink.write([production_line("e", "m", ts, 1, "b", 1, 1, "running", None, None)])
    assert (result.written, result.attempts) == (1, 2)
    assert len(select(client, config, 'SELECT * FROM "raw"."production"')) == 1


def test_without_schema_creation_a_missing_database_is_an_error(
    client: httpx.Client, config: InfluxConfig
) -> None:
    with (
        InfluxSink(config, client, create_schema=False) as sink,
        pytest.raises(InfluxSchemaError, match="database not found"),
    ):
        sink.write(["m v=1i"])


def test_a_body_over_the_servers_limit_is_split(client: httpx.Client, config: InfluxConfig) -> None:
    # max-body-size (25,000,000 bytes) applies to the body as sent: uncompressed here
    config = config.model_copy(update={"gzip": False})
    ensure_schema(client, config, default_schema(config.database))
    ts = now_ms()
    filler = "x" * 2000
    lines = [f'blob,n=a v="{filler}",i={i}i {(ts + i) * 1_000_000}' for i in range(13_000)]
    with InfluxSink(config, client) as sink:
        result = sink.write(lines)
    assert result.bytes > 25_000_000
    assert (result.written, result.dropped_lines, result.error) == (13_000, 0, None)
    assert result.attempts == 3
    rows = select(client, config, 'SELECT count("i"), sum("i") FROM "raw"."blob"')
    assert (rows[0]["count"], rows[0]["sum"]) == (13_000, sum(range(13_000)))


def test_schema_setup_is_idempotent_and_follows_changes(
    client: httpx.Client, config: InfluxConfig
) -> None:
    db = config.database
    rollup = Schema(
        database=db,
        retention_policies=(
            RetentionPolicy(name="raw", duration="7d", default=True),
            RetentionPolicy(name="hourly", duration="INF", shard_duration="30d"),
        ),
        continuous_queries=(
            ContinuousQuery(
                name="pairs_1h",
                query=f'SELECT sum("pairs") AS "pairs" INTO "{db}"."hourly"."production_1h" '
                f'FROM "{db}"."raw"."production" GROUP BY time(1h), *',
                resample_every="5m",
                resample_for="2h",
            ),
        ),
    )
    first = ensure_schema(client, config, rollup)
    assert len(first) == 4
    assert ensure_schema(client, config, rollup) == []
    policies = {p["name"]: p for p in select(client, config, f'SHOW RETENTION POLICIES ON "{db}"')}
    assert (policies["raw"]["duration"], policies["raw"]["default"]) == ("168h0m0s", True)
    assert policies["hourly"]["shardGroupDuration"] == "720h0m0s"
    longer = rollup.model_copy(
        update={
            "retention_policies": (
                RetentionPolicy(name="raw", duration="14d", default=True),
                rollup.retention_policies[1],
            )
        }
    )
    assert ensure_schema(client, config, longer) == [
        f'ALTER RETENTION POLICY "raw" ON "{db}" DURATION 14d DEFAULT'
    ]
    assert ensure_schema(client, config, longer) == []
    policies = {p["name"]: p for p in select(client, config, f'SHOW RETENTION POLICIES ON "{db}"')}
    assert policies["raw"]["duration"] == "336h0m0s"
    faster = longer.model_copy(
        update={
            "continuous_queries": (
                rollup.continuous_queries[0].model_copy(update={"resample_every": "1m"}),
            )
        }
    )
    assert ensure_schema(client, config, faster)[0] == f'DROP CONTINUOUS QUERY "pairs_1h" ON "{db}"'
    assert ensure_schema(client, config, faster) == []


def test_an_unreachable_server_is_one_clear_error(client: httpx.Client) -> None:
    config = InfluxConfig(url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(InfluxUnreachableError) as caught:
        ensure_schema(client, config, default_schema())
    message = str(caught.value)
    assert message.startswith(f"cannot reach InfluxDB at {config.url}: ")
    assert "\n" not in message


HOSTILE = [
    "",
    "\\",
    '"',
    '\\"',
    'a" b=1i,c="d',
    "line\nbreak",
    "cr\rlf\r\n",
    "tab\there",
    "nul\x00byte",
    "\u2028\u2029\x85",
    "emoji 🧦 ünïcödé",
    "trailing backslash \\",
    "x" * 3000,
    "=,= ,",
]


@pytest.fixture(scope="module")
def rejected_db(influx: InfluxServer) -> Iterator[tuple[httpx.Client, InfluxConfig]]:
    config = InfluxConfig(url=influx.url, database="rejected_roundtrip")
    with httpx.Client(timeout=10) as client:
        ensure_schema(client, config, default_schema(config.database))
        yield client, config


_times = itertools.count(1)


def _round_trip(
    client: httpx.Client,
    config: InfluxConfig,
    reason: str,
    topic: str,
    detail: str,
    payload: bytes | str,
) -> None:
    time_ns = now_ms() * 1_000_000 + next(_times) % 1_000_000
    line = rejected_line(reason, topic, detail, payload, time_ns)
    with InfluxSink(config, client) as sink:
        result = sink.write([line])
    assert (result.written, result.error) == (1, None)
    rows = select(client, config, f'SELECT * FROM "raw"."rejected" WHERE time = {time_ns}')
    assert len(rows) == 1
    row = rows[0]
    assert row["reason"] == tag_value(reason)
    assert row["topic"] == printable(topic)
    assert row["detail"] == printable(detail)
    raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    assert row["payload_size"] == len(raw)
    stored = row["payload"]
    if row["payload_encoding"] == "base64":
        assert base64.b64decode(stored) == raw[:1024]
    else:
        assert row["payload_encoding"] == "utf-8"
        assert raw.startswith(stored.encode())


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_a_rejection_round_trips(
    rejected_db: tuple[httpx.Client, InfluxConfig], text: str
) -> None:
    client, config = rejected_db
    _round_trip(client, config, text, text, text, text)
    _round_trip(client, config, text, text, text, text.encode("utf-8") + b"\xff")


@settings(max_examples=40, deadline=None)
@given(
    reason=st.text(max_size=80),
    topic=st.text(),
    detail=st.text(),
    payload=st.one_of(st.binary(max_size=2000), st.text(max_size=1200)),
)
def test_any_rejection_round_trips_through_influxdb(
    rejected_db: tuple[httpx.Client, InfluxConfig],
    reason: str,
    topic: str,
    detail: str,
    payload: bytes | str,
) -> None:
    client, config = rejected_db
    _round_trip(client, config, reason, topic, detail, payload)
