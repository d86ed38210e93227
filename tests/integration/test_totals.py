"""Totals against a real InfluxDB holding known readings."""

import io
import json
import time

import httpx
import pytest

from collector.totals import format_time, main, run_totals
from influx.config import InfluxConfig
from influx.lines import pairs_correction_line, production_line, production_time_ns
from influx.provision import ensure_schema
from influx.schema import default_schema
from influx.write import InfluxSink
from stack import InfluxServer

pytestmark = pytest.mark.integration

HOUR = 3_600_000
# the window starts a whole hour back, so the test does not depend on the time of day
START = (time.time_ns() // 1_000_000 // HOUR - 2) * HOUR
END = START + HOUR
# (enterprise, machine, ms after START, pairs) of readings inside [START, END)
INSIDE = [
    ("ent-a", "m1", 0, 10),  # exactly at since: included
    ("ent-a", "m1", 60_000, 5),
    ("ent-a", "m2", 30_000, 7),
    ("ent-b", "m1", 120_000, 11),
    ("ent-b", "m9", HOUR - 1, 3),  # the last millisecond: included
]
OUTSIDE = [
    ("ent-a", "m1", -1, 1000),  # just before since
    ("ent-b", "m1", HOUR, 1000),  # exactly at until: excluded
]


@pytest.fixture(scope="module")
def config(influx: InfluxServer) -> InfluxConfig:
    config = InfluxConfig(url=influx.url, database="totals")
    lines = [
        production_line(e, m, START + offset, seq, "b", pairs, pairs, "running", None, None)
        for seq, (e, m, offset, pairs) in enumerate(INSIDE + OUTSIDE)
    ]
    # a correction (pairs of ent-a/m2 rewritten from 7 to 8) counts, not the first value
    lines.append(pairs_correction_line("ent-a", "m2", production_time_ns(START + 30_000, 2), 8))
    with httpx.Client() as client:
        ensure_schema(client, config, default_schema(config.database))
        with InfluxSink(config, client) as sink:
            result = sink.write(lines)
    assert (result.written, result.error) == (len(lines), None)
    return config


def report(config: InfluxConfig, by: str, fmt: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = run_totals(config, str(START), str(END), by, fmt, out, err=err)
    assert (code, err.getvalue()) == (0, "")
    return out.getvalue()


def test_by_machine_json(config: InfluxConfig) -> None:
    assert json.loads(report(config, "machine", "json")) == {
        "since": format_time(START),
        "until": format_time(END),
        "by": "machine",
        "rows": [
            {"enterprise": "ent-a", "machine": "m1", "pairs": 15},
            {"enterprise": "ent-a", "machine": "m2", "pairs": 8},
            {"enterprise": "ent-b", "machine": "m1", "pairs": 11},
            {"enterprise": "ent-b", "machine": "m9", "pairs": 3},
        ],
        "total": 37,
    }


def test_by_enterprise_and_park(config: InfluxConfig) -> None:
    by_enterprise = json.loads(report(config, "enterprise", "json"))
    assert by_enterprise["rows"] == [
        {"enterprise": "ent-a", "pairs": 23},
        {"enterprise": "ent-b", "pairs": 14},
    ]
    assert by_enterprise["total"] == 37
    park = json.loads(report(config, "park", "json"))
    assert (park["rows"], park["total"]) == ([{"pairs": 37}], 37)


def test_csv(config: InfluxConfig) -> None:
    assert report(config, "machine", "csv") == (
        "enterprise,machine,pairs\nent-a,m1,15\nent-a,m2,8\nent-b,m1,11\nent-b,m9,3\n"
    )
    assert report(config, "enterprise", "csv") == "enterprise,pairs\nent-a,23\nent-b,14\n"
    assert report(config, "park", "csv") == "pairs\n37\n"


def test_the_command_with_rfc3339_times(config: InfluxConfig) -> None:
    out = io.StringIO()
    argv = [
        "--influx-url",
        config.url,
        "--influx-db",
        config.database,
        "--since",
        format_time(START),
        "--until",
        format_time(START + 60_001),
        "--by",
        "park",
        "--format",
        "csv",
    ]
    assert main(argv, out, io.StringIO()) == 0
    assert out.getvalue() == "pairs\n23\n"  # 10 + 8 (corrected) + 5


def test_a_window_with_nothing_in_it(config: InfluxConfig) -> None:
    out = io.StringIO()
    assert run_totals(config, str(END + HOUR), str(END + 2 * HOUR), "machine", "json", out) == 0
    assert json.loads(out.getvalue())["rows"] == []
    assert json.loads(out.getvalue())["total"] == 0


def test_an_unknown_database_is_one_error_line(config: InfluxConfig) -> None:
    err = io.StringIO()
    missing = config.model_copy(update={"database": "nope"})
    assert run_totals(missing, "-1h", "now", "park", "json", io.StringIO(), err=err) == 1
    message = err.getvalue()
    assert message.startswith("hosiery-collector totals: InfluxDB: 'SELECT SUM(")
    assert message.endswith("': database not found: nope\n")
    assert message.count("\n") == 1
