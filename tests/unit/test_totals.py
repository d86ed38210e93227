"""Totals: time arguments, the query, the report formats and exit statuses (no network)."""

import io
import json
from urllib.parse import parse_qs

import httpx
import pytest

from collector.errors import TimeSpecError
from collector.totals import format_time, main, parse_time, run_totals, totals_query
from influx.config import InfluxConfig

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
URL = "http://influx.test:8086"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("now", NOW),
        (" now ", NOW),
        ("now-1h", NOW - 3_600_000),
        ("now+30m", NOW + 1_800_000),
        ("-24h", NOW - 86_400_000),
        ("-1h30m", NOW - 5_400_000),
        ("now-1w2d", NOW - 9 * 86_400_000),
        ("-500ms", NOW - 500),
        ("1767225600000", NOW),
        ("0", 0),
        ("2026-01-01T00:00:00Z", NOW),
        ("2026-01-01T08:00:00+08:00", NOW),
        ("2026-01-01T00:00:00.123Z", NOW + 123),
        ("2026-01-01 00:00:00Z", NOW),
        ("1969-12-31T23:59:59Z", -1000),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_time(text, NOW) == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "is not a time"),
        ("now-1", "is not a time"),
        ("-5", "is not a time"),
        ("now-1y", "is not a time"),
        ("", "is not a time"),
        ("2026-01-01T00:00:00", "has no time zone"),
        ("2026-01-01", "has no time zone"),
    ],
)
def test_not_times(text: str, message: str) -> None:
    with pytest.raises(TimeSpecError, match=message):
        parse_time(text, NOW)


def test_format_time() -> None:
    assert format_time(NOW) == "2026-01-01T00:00:00.000Z"
    assert format_time(NOW + 1) == "2026-01-01T00:00:00.001Z"


def test_queries() -> None:
    assert totals_query(1, 2, "machine", "raw") == (
        'SELECT SUM("pairs") AS "pairs" FROM "raw"."production" '
        'WHERE time >= 1ms AND time < 2ms GROUP BY "enterprise", "machine"'
    )
    assert totals_query(1, 2, "enterprise", None).endswith(
        'FROM "production" WHERE time >= 1ms AND time < 2ms GROUP BY "enterprise"'
    )
    assert totals_query(1, 2, "park", "raw").endswith("time < 2ms")


def series(tags: dict[str, str] | None, pairs: int) -> dict[str, object]:
    item: dict[str, object] = {"name": "production", "columns": ["time", "pairs"]}
    item["values"] = [[0, pairs]]
    if tags is not None:
        item["tags"] = tags
    return item


class Server:
    def __init__(self, *answer: dict[str, object], status: int = 200) -> None:
        self.answer = list(answer)
        self.status = status
        self.requests: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(parse_qs(request.content.decode()))
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "authorization failed"})
        result: dict[str, object] = {"statement_id": 0}
        if self.answer:
            result["series"] = self.answer
        return httpx.Response(200, json={"results": [result]})


def run(
    server: Server, since: str, until: str, by: str = "machine", fmt: str = "json"
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    client = httpx.Client(transport=httpx.MockTransport(server))
    config = InfluxConfig(url=URL)
    code = run_totals(config, since, until, by, fmt, out, err=err, client=client, now_ms=NOW)
    return code, out.getvalue(), err.getvalue()


def test_json_by_machine_sorted_with_a_total() -> None:
    server = Server(
        series({"enterprise": "e2", "machine": "m1"}, 5),
        series({"enterprise": "e1", "machine": "m2"}, 7),
        series({"enterprise": "e1", "machine": "m1"}, 1),
    )
    code, out, err = run(server, "-1h", "now")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "since": "2025-12-31T23:00:00.000Z",
        "until": "2026-01-01T00:00:00.000Z",
        "by": "machine",
        "rows": [
            {"enterprise": "e1", "machine": "m1", "pairs": 1},
            {"enterprise": "e1", "machine": "m2", "pairs": 7},
            {"enterprise": "e2", "machine": "m1", "pairs": 5},
        ],
        "total": 13,
    }
    assert out.count("\n") == 1
    [sent] = server.requests
    assert sent["db"] == ["hosiery"]
    assert sent["q"] == [totals_query(NOW - 3_600_000, NOW, "machine", "raw")]


def test_csv_by_enterprise_and_park() -> None:
    server = Server(series({"enterprise": "b"}, 2), series({"enterprise": "a"}, 40))
    code, out, _ = run(server, "-1h", "now", "enterprise", "csv")
    assert (code, out) == (0, "enterprise,pairs\na,40\nb,2\n")
    code, out, _ = run(Server(series(None, 42)), "-1h", "now", "park", "csv")
    assert (code, out) == (0, "pairs\n42\n")


def test_an_empty_window() -> None:
    code, out, _ = run(Server(), "-1h", "now", "park", "json")
    assert code == 0
    assert json.loads(out)["rows"] == [{"pairs": 0}]
    assert json.loads(out)["total"] == 0
    code, out, _ = run(Server(), "-1h", "now", "machine", "csv")
    assert (code, out) == (0, "enterprise,machine,pairs\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("now", "-1h"), "--since (2026-01-01T00:00:00.000Z) must be before --until"),
        (("now", "now"), "must be before"),
        (("soon", "now"), "'soon' is not a time"),
        (("-1h", "now", "shift", "json"), "--by must be one of machine, enterprise, park"),
        (("-1h", "now", "park", "xml"), "--format must be one of json, csv"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    server = Server()
    code, out, err = run(server, *args)
    assert (code, out) == (2, "")
    assert err.startswith("hosiery-collector totals: ")
    assert message in err
    assert err.count("\n") == 1
    assert server.requests == []


def test_influxdb_errors_exit_1_with_one_line() -> None:
    code, out, err = run(Server(status=401), "-1h", "now")
    assert (code, out) == (1, "")
    assert err == (
        f"hosiery-collector totals: InfluxDB at {URL} refused anonymous access (HTTP 401): "
        "authorization failed\n"
    )


def test_main_reads_options_and_reports_bad_ones() -> None:
    err = io.StringIO()
    assert main(["--until", "now"], io.StringIO(), err) == 2
    assert err.getvalue() == "hosiery-collector totals: --since: Field required\n"
    err = io.StringIO()
    assert main(["--since", "-1h", "--influx-url", "ftp://x"], io.StringIO(), err) == 2
    assert "not an http:// or https:// URL" in err.getvalue()
    err = io.StringIO()
    code = main(["--since", "-1h", "--influx-url", "http://127.0.0.1:9"], io.StringIO(), err)
    assert code == 1
    assert err.getvalue().startswith("hosiery-collector totals: cannot reach InfluxDB at ")
