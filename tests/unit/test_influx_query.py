"""InfluxQL through :mod:`influx.query` without a network, and the API's URLs."""

from urllib.parse import parse_qs

import httpx
import pytest

from influx.config import QUERY_PATH, WRITE_PATH, InfluxConfig, query_url, write_url
from influx.errors import InfluxQueryError
from influx.query import query, series

URL = "http://influx:8086"
MISSING = {"statement_id": 1, "error": "retention policy not found: rollup_5m"}
FOUND = {"statement_id": 0, "series": [{"name": "m", "columns": ["time", "v"], "values": [[1, 2]]}]}


def _client(*results: dict[str, object], seen: list[httpx.Request] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, json={"results": list(results)})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_urls_name_the_v1_endpoints() -> None:
    assert query_url(URL + "/") == URL + QUERY_PATH
    assert write_url(URL) == URL + WRITE_PATH
    assert httpx.URL(query_url(URL)).path == QUERY_PATH
    config = InfluxConfig(url=URL + "/")
    assert (config.query_url, config.write_url) == (query_url(URL), write_url(URL))


def test_a_statement_on_something_not_created_yet_fails_unless_missing_is_ok() -> None:
    statements = "SELECT v FROM m; SELECT v FROM rollup_5m.m"
    with pytest.raises(InfluxQueryError, match="retention policy not found"):
        query(_client(FOUND, MISSING), InfluxConfig(url=URL), statements)
    results = query(_client(FOUND, MISSING), InfluxConfig(url=URL), statements, missing_ok=True)
    assert results == [FOUND, {"statement_id": 1}]


def test_missing_ok_does_not_hide_other_errors() -> None:
    broken = {"statement_id": 0, "error": "error parsing query: found EOF"}
    with pytest.raises(InfluxQueryError, match="error parsing query"):
        query(_client(broken), InfluxConfig(url=URL), "SELECT", missing_ok=True)


def test_series_is_the_first_results_series() -> None:
    seen: list[httpx.Request] = []
    config = InfluxConfig(url=URL, username="reader", password="pw")  # noqa: S106 - test credentials
    found = series(_client(FOUND, seen=seen), config, "SELECT v FROM m", database="d")
    assert found == FOUND["series"]
    assert series(_client({"statement_id": 0}), config, "SELECT v FROM none") == []
    (request,) = seen
    assert request.url == config.query_url
    assert request.headers["Authorization"] == config.headers()["Authorization"]
    assert parse_qs(request.content.decode()) == {
        "q": ["SELECT v FROM m"],
        "epoch": ["ms"],
        "db": ["d"],
    }
