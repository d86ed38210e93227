"""The InfluxDB writer without a network: answers scripted with httpx.MockTransport.

Error texts are the ones InfluxDB 1.6 sends (see tests/integration for the real server).
"""

import base64
import gzip
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import ValidationError

from collector.errors import WriteAbortedError
from collector.retry import Backoff, Failure, Retrier
from influx.config import QUERY_PATH, WRITE_PATH, InfluxConfig, write_url
from influx.errors import (
    InfluxAuthError,
    InfluxBusyError,
    InfluxError,
    InfluxQueryError,
    InfluxSchemaError,
    InfluxUnreachableError,
)
from influx.provision import ensure_schema
from influx.query import query
from influx.schema import RetentionPolicy, Schema, default_schema, parse_duration_ns
from influx.write import InfluxSink, WriteResult, dropped_lines

URL = "http://influx.test:8086"
NO_CONTENT = httpx.Response(204)
Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def ok_query(*series: dict[str, object]) -> httpx.Response:
    result: dict[str, object] = {"statement_id": 0}
    if series:
        result["series"] = list(series)
    return httpx.Response(200, json={"results": [result]})


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": message}, headers=headers)


class FakeInflux:
    """Answers ``/write`` from a script (then 204) and keeps a tiny catalogue for ``/query``."""

    def __init__(self, *writes: Answer, databases: tuple[str, ...] = ()) -> None:
        self.script: list[Answer] = list(writes)
        self.bodies: list[bytes] = []
        self.write_requests: list[httpx.Request] = []
        self.statements: list[str] = []
        self.databases = set(databases)
        self.policies: dict[str, list[object]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == WRITE_PATH:
            self.write_requests.append(request)
            body = request.content
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            self.bodies.append(body)
            answer = self.script.pop(0) if self.script else NO_CONTENT
            if isinstance(answer, Exception):
                raise answer
            return answer(request) if callable(answer) else answer
        assert request.url.path == QUERY_PATH
        statement = parse_qs(request.content.decode())["q"][0]
        self.statements.append(statement)
        return self.query(statement)

    def query(self, statement: str) -> httpx.Response:
        if statement == "SHOW DATABASES":
            values = [[name] for name in sorted(self.databases)]
            return ok_query({"name": "databases", "columns": ["name"], "values": values})
        if statement.startswith("SHOW RETENTION POLICIES"):
            columns = ["name", "duration", "shardGroupDuration", "replicaN", "default"]
            rows = [[name, *rest] for name, rest in self.policies.items()]
            return ok_query({"columns": columns, "values": rows})
        if statement == "SHOW CONTINUOUS QUERIES":
            return ok_query()
        if statement.startswith("CREATE DATABASE"):
            self.databases.add(statement.split('"')[1])
            self.policies["autogen"] = ["0s", "168h0m0s", 1, True]
            return ok_query()
        if statement.startswith("CREATE RETENTION POLICY"):
            self.policies["autogen"][-1] = False
            self.policies[statement.split('"')[1]] = ["168h0m0s", "24h0m0s", 1, True]
            return ok_query()
        raise AssertionError(f"unexpected statement {statement}")

    def lines(self) -> list[bytes]:
        return [line for body in self.bodies for line in body.split(b"\n") if line]


class Sleeps:
    def __init__(self, stop: threading.Event | None = None, stop_after: int = 0) -> None:
        self.delays: list[float] = []
        self.stop = stop
        self.stop_after = stop_after

    def __call__(self, delay: float) -> bool:
        self.delays.append(delay)
        if self.stop is not None and len(self.delays) >= self.stop_after:
            self.stop.set()
        return self.stop is not None and self.stop.is_set()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_sink(
    fake: FakeInflux,
    sleeps: Callable[[float], object],
    config: InfluxConfig | None = None,
    **kwargs: object,
) -> InfluxSink:
    client = httpx.Client(transport=httpx.MockTransport(fake))
    config = config or InfluxConfig(url=URL)
    # the fake server knows retention policies, not continuous queries: no rollups here
    kwargs.setdefault("schema", default_schema(config.database, rollups=False))
    return InfluxSink(config, client, **kwargs)  # type: ignore[arg-type]


def retrier(sleeps: Sleeps, stop: threading.Event | None = None, **kwargs: object) -> Retrier:
    """The pipeline's retry policy over the sink's transient errors, waiting through ``sleeps``."""
    return Retrier(
        retry_on=(InfluxUnreachableError, InfluxBusyError),
        abandon=stop,
        sleep=sleeps,
        rand=lambda: 0.0,
        **kwargs,  # type: ignore[arg-type]
    )


LINES = ["m v=1i 1", "m v=2i 2", "m v=3i 3"]


def test_a_batch_is_sent_once_gzipped_with_nanosecond_precision(sleeps: Sleeps) -> None:
    fake = FakeInflux(databases=("hosiery",))
    result = make_sink(fake, sleeps).write(LINES)
    assert result.lines == 3
    assert result.bytes == len("\n".join(LINES))
    assert (result.attempts, result.dropped_lines, result.error, result.written) == (1, 0, None, 3)
    [request] = fake.write_requests
    assert request.headers["content-encoding"] == "gzip"
    assert dict(request.url.params) == {"db": "hosiery", "rp": "raw", "precision": "ns"}
    assert fake.bodies == [b"m v=1i 1\nm v=2i 2\nm v=3i 3"]
    assert "authorization" not in request.headers
    assert sleeps.delays == []


def test_uncompressed_body_and_default_retention_policy(sleeps: Sleeps) -> None:
    fake = FakeInflux()
    config = InfluxConfig(url=URL + "/", database="other", retention_policy=None, gzip=False)
    make_sink(fake, sleeps, config, schema=default_schema("other")).write(b"a v=1i 1\n")
    [request] = fake.write_requests
    assert "content-encoding" not in request.headers
    assert str(request.url).startswith(write_url(URL) + "?")
    assert dict(request.url.params) == {"db": "other", "precision": "ns"}
    assert request.content == b"a v=1i 1\n"


def test_a_body_of_bytes_counts_its_lines(sleeps: Sleeps) -> None:
    sink = make_sink(FakeInflux(), sleeps)
    assert sink.write(b"a v=1i 1\na v=2i 2\n").lines == 2
    assert sink.write(b"a v=1i 1\na v=2i 2").lines == 2


def test_nothing_to_write_sends_nothing(sleeps: Sleeps) -> None:
    fake = FakeInflux()
    assert make_sink(fake, sleeps).write([]) == WriteResult(0, 0, 0, 0.0, 0, None)
    assert make_sink(fake, sleeps).write(b"") == WriteResult(0, 0, 0, 0.0, 0, None)
    assert fake.write_requests == []


def test_basic_auth_for_a_user_and_token_auth_for_a_token(sleeps: Sleeps) -> None:
    fake = FakeInflux()
    user = InfluxConfig(url=URL, username="w", password="p:ss")  # noqa: S106 - test credentials
    make_sink(fake, sleeps, user).write(LINES)
    expected = "Basic " + base64.b64encode(b"w:p:ss").decode()
    assert fake.write_requests[-1].headers["authorization"] == expected
    token = InfluxConfig(url=URL, token="tok")  # noqa: S106 - test credentials
    make_sink(fake, sleeps, token).write(LINES)
    assert fake.write_requests[-1].headers["authorization"] == "Token tok"


def test_one_write_is_one_attempt_and_transient_failures_raise_retryable_errors(
    sleeps: Sleeps,
) -> None:
    fake = FakeInflux(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        error(500, "engine: cache-max-memory-size exceeded"),
        error(429, "too many requests", {"Retry-After": "7"}),
    )
    sink = make_sink(fake, sleeps)
    with pytest.raises(InfluxUnreachableError, match="cannot reach InfluxDB at http://influx"):
        sink.write(LINES)
    with pytest.raises(InfluxUnreachableError, match="no answer in time"):
        sink.write(LINES)
    with pytest.raises(InfluxBusyError, match="HTTP 500: engine: cache-max") as busy:
        sink.write(LINES)
    assert busy.value.retry_after is None
    with pytest.raises(InfluxBusyError, match="HTTP 429: too many requests") as busy:
        sink.write(LINES)
    assert busy.value.retry_after == 7.0
    assert len(fake.write_requests) == 4
    assert sleeps.delays == []


def test_the_retrier_retries_transient_failures_with_growing_delays(sleeps: Sleeps) -> None:
    fake = FakeInflux(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        error(500, "engine: cache-max-memory-size exceeded"),
        error(503, "unavailable"),
        error(429, "too many requests"),
        httpx.RemoteProtocolError("server disconnected"),
    )
    failures: list[Failure] = []
    sink = make_sink(fake, sleeps)
    result = retrier(sleeps, on_failure=failures.append).run(lambda: sink.write(LINES))
    assert (result.attempts, result.dropped_lines, result.error) == (1, 0, None)
    assert sleeps.delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
    assert [f.attempt for f in failures] == [1, 2, 3, 4, 5, 6]
    assert [f.delay for f in failures] == sleeps.delays
    assert len({f.since for f in failures}) == 1
    assert "cannot reach InfluxDB at http://influx.test:8086" in str(failures[0].error)
    assert "no answer in time" in str(failures[1].error)
    assert "HTTP 500: engine: cache-max-memory-size exceeded" in str(failures[2].error)
    assert "HTTP 429: too many requests" in str(failures[4].error)
    assert len(fake.bodies) == 7
    assert set(fake.bodies) == {b"m v=1i 1\nm v=2i 2\nm v=3i 3"}


def test_backoff_is_capped_and_jittered_down() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, multiplier=2.0, jitter=0.5)
    assert [backoff.delay(n, 0.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(3, 0.5) == 1.5
    assert backoff.delay(10_000, 0.999) == pytest.approx(2.002)


def test_retry_after_is_honoured_up_to_a_limit(sleeps: Sleeps) -> None:
    fake = FakeInflux(
        error(429, "slow down", {"Retry-After": "7"}),
        error(503, "busy", {"Retry-After": "3600"}),
    )
    sink = make_sink(fake, sleeps)
    retrier(sleeps).run(lambda: sink.write(LINES))
    assert sleeps.delays == [7.0, 60.0]


def test_errors_that_retrying_cannot_fix_are_not_retried(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(401, "authorization failed"))
    sink = make_sink(fake, sleeps)
    with pytest.raises(InfluxAuthError):
        retrier(sleeps).run(lambda: sink.write(LINES))
    assert sleeps.delays == []


def test_stop_during_retries_raises_and_reports_why() -> None:
    stop = threading.Event()
    sleeps = Sleeps(stop, stop_after=3)
    fake = FakeInflux(*[httpx.ConnectError("refused")] * 100)
    sink = make_sink(fake, sleeps)
    with pytest.raises(WriteAbortedError, match=r"stopped while retrying.*cannot reach"):
        retrier(sleeps, stop).run(lambda: sink.write(LINES))
    assert len(fake.write_requests) == 3


def test_a_set_stop_makes_no_attempt(sleeps: Sleeps) -> None:
    stop = threading.Event()
    stop.set()
    fake = FakeInflux()
    sink = make_sink(fake, sleeps)
    with pytest.raises(WriteAbortedError):
        retrier(sleeps, stop).run(lambda: sink.write(LINES))
    assert fake.write_requests == []
    assert sleeps.delays == []


def test_the_default_sleep_wakes_up_when_stop_is_set() -> None:
    stop = threading.Event()
    fake = FakeInflux(*[httpx.ConnectError("refused")] * 100)
    sink = make_sink(fake, Sleeps())
    slow = Retrier(
        retry_on=(InfluxUnreachableError,),
        backoff=Backoff(initial=3600.0, maximum=3600.0),
        abandon=stop,
        on_failure=lambda _: stop.set(),
    )
    with pytest.raises(WriteAbortedError):
        slow.run(lambda: sink.write(LINES))


PARTIAL = (
    "partial write: unable to parse 'm v=bad 2': invalid boolean\n"
    "unable to parse 'm,t= 4': missing tag value dropped=0"
)
CONFLICT = (
    'partial write: field type conflict: input field "v" on measurement "m" is type float, '
    "already exists as type integer dropped=2"
)


@pytest.mark.parametrize(
    ("message", "dropped"),
    [
        (PARTIAL, 2),
        (CONFLICT, 2),
        ("partial write: points beyond retention policy dropped=1", 1),
        ("unable to parse 'm v=bad 2': invalid boolean\nunable to parse 'x': missing fields", 5),
        ("partial write: something new", 0),
    ],
)
def test_dropped_lines_are_counted_from_the_message(message: str, dropped: int) -> None:
    assert dropped_lines(message, 5) == dropped


def test_a_partial_write_is_a_result_not_a_retry(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(400, PARTIAL))
    result = make_sink(fake, sleeps).write(["a v=1i 1", "m v=bad 2", "b v=1i 3", "m,t= 4"])
    assert (result.lines, result.dropped_lines, result.written, result.attempts) == (4, 2, 2, 1)
    assert result.error is not None
    assert result.error.startswith("HTTP 400: partial write: unable to parse 'm v=bad 2'")
    assert "\n" not in result.error
    assert sleeps.delays == []


def test_a_batch_refused_whole_is_dropped_whole(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(400, "unable to parse 'broken': missing fields"))
    result = make_sink(fake, sleeps).write(LINES)
    assert (result.dropped_lines, result.written, result.attempts) == (3, 0, 1)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_raise_a_clear_error_without_the_secret(sleeps: Sleeps, status: int) -> None:
    fake = FakeInflux(error(status, "authorization failed"))
    config = InfluxConfig(url=URL, username="writer", password="s3cret")  # noqa: S106 - test credentials
    with pytest.raises(InfluxAuthError) as caught:
        make_sink(fake, sleeps, config).write(LINES)
    message = str(caught.value)
    assert message == (
        f"InfluxDB at {URL} refused user 'writer' (HTTP {status}): authorization failed"
    )
    assert "s3cret" not in message
    assert len(fake.write_requests) == 1


def test_a_missing_database_is_created_once_then_the_write_is_retried(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(404, 'database not found: "hosiery"'))
    result = make_sink(fake, sleeps).write(LINES)
    assert (result.attempts, result.written) == (2, 3)
    assert fake.statements == [
        "SHOW DATABASES",
        'CREATE DATABASE "hosiery"',
        'CREATE RETENTION POLICY "raw" ON "hosiery" DURATION 7d REPLICATION 1 DEFAULT',
        "SHOW DATABASES",
        'SHOW RETENTION POLICIES ON "hosiery"',
        "SHOW CONTINUOUS QUERIES",
    ]
    assert sleeps.delays == []


def test_a_missing_retention_policy_is_created(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(500, "retention policy not found: raw"), databases=("hosiery",))
    fake.policies["autogen"] = ["0s", "168h0m0s", 1, True]
    assert make_sink(fake, sleeps).write(LINES).written == 3
    assert 'CREATE RETENTION POLICY "raw" ON "hosiery" DURATION 7d REPLICATION 1 DEFAULT' in (
        fake.statements
    )


def test_a_database_still_missing_after_creation_raises(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(404, "database not found"), error(404, "database not found"))
    with pytest.raises(InfluxSchemaError, match="still answers 'HTTP 404: database not found'"):
        make_sink(fake, sleeps).write(LINES)


def test_without_schema_creation_a_missing_database_raises(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(404, 'database not found: "hosiery"'))
    with pytest.raises(InfluxSchemaError, match="database not found"):
        make_sink(fake, sleeps, create_schema=False).write(LINES)
    assert fake.statements == []


def test_a_user_who_may_not_create_the_database_gets_an_auth_error(sleeps: Sleeps) -> None:
    fake = FakeInflux(error(404, 'database not found: "hosiery"'))
    fake.query = lambda _statement: error(  # type: ignore[method-assign]
        403, "error authorizing query: w not authorized to execute statement"
    )
    with pytest.raises(InfluxAuthError, match="HTTP 403"):
        make_sink(fake, sleeps).write(LINES)


def _too_large_over(limit: int) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        body = gzip.decompress(request.content)
        if len(body.split(b"\n")) > limit:
            return error(413, "Request Entity Too Large")
        return NO_CONTENT

    return answer


def test_a_body_too_large_is_split_until_the_halves_fit(sleeps: Sleeps) -> None:
    lines = [f"m v={i}i {i}" for i in range(10)]
    fake = FakeInflux(*[_too_large_over(3)] * 100)
    result = make_sink(fake, sleeps).write(lines)
    assert (result.lines, result.dropped_lines, result.error) == (10, 0, None)
    accepted = [b for b in fake.bodies if len(b.split(b"\n")) <= 3]
    assert b"\n".join(accepted) == "\n".join(lines).encode()
    assert result.attempts == len(fake.bodies)
    assert sleeps.delays == []


def test_a_single_line_too_large_is_dropped_and_the_rest_written(sleeps: Sleeps) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if b"huge" in gzip.decompress(request.content):
            return error(413, "Request Entity Too Large")
        return NO_CONTENT

    fake = FakeInflux(*[answer] * 100)
    result = make_sink(fake, sleeps).write(["a v=1i 1", "huge v=1i 2", "b v=1i 3", "c v=1i 4"])
    assert (result.lines, result.dropped_lines, result.written) == (4, 1, 3)
    assert result.error is not None
    assert "a single line is larger than the server accepts" in result.error
    written = [b for b, r in zip(fake.bodies, fake.write_requests, strict=True) if b"huge" not in b]
    assert b"\n".join(written).split(b"\n") == [b"a v=1i 1", b"b v=1i 3", b"c v=1i 4"]
    assert len(fake.statements) == 0
    assert all(r.url.path == WRITE_PATH for r in fake.write_requests)


def test_an_unexpected_status_is_an_error(sleeps: Sleeps) -> None:
    fake = FakeInflux(httpx.Response(302, headers={"Location": "/elsewhere"}))
    with pytest.raises(InfluxError, match="unexpected answer"):
        make_sink(fake, sleeps).write(LINES)


def test_a_sink_closes_only_the_client_it_made() -> None:
    given = httpx.Client(transport=httpx.MockTransport(FakeInflux()))
    with InfluxSink(InfluxConfig(url=URL), given):
        pass
    assert not given.is_closed
    with InfluxSink(InfluxConfig(url=URL)) as own:
        pass
    assert own._client.is_closed


def test_the_schema_must_be_for_the_configured_database() -> None:
    with pytest.raises(ValueError, match="schema is for database 'hosiery'"):
        InfluxSink(InfluxConfig(url=URL, database="x"), schema=default_schema())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "ftp://x"}, "not an http:// or https:// URL"),
        ({"url": "http://"}, "not an http:// or https:// URL"),
        ({"token": "t", "username": "u"}, "either a token or a username"),
        ({"password": "p"}, "a password needs a username"),
        ({"database": "bad name"}, "pattern"),
        ({"timeout": 0}, "greater than 0"),
    ],
)
def test_config_is_validated(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        InfluxConfig(**fields)  # type: ignore[arg-type]


def test_config_hides_secrets() -> None:
    config = InfluxConfig(url=URL, username="u", password="hunter2")  # noqa: S106 - test credentials
    assert "hunter2" not in repr(config)
    assert config.who() == "user 'u'"
    assert InfluxConfig(url=URL, token="t").who()  # noqa: S106 - test credentials == "the token"


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_query_errors() -> None:
    config = InfluxConfig(url=URL)
    statement_error = _client(
        lambda _r: httpx.Response(200, json={"results": [{"statement_id": 0, "error": "nope"}]})
    )
    with pytest.raises(InfluxQueryError, match="'SELECT 1': nope"):
        query(statement_error, config, "SELECT 1")
    bad = _client(lambda _r: error(400, "error parsing query: found bad"))
    with pytest.raises(InfluxQueryError, match=r"\(HTTP 400\): error parsing query"):
        query(bad, config, "SELECT bad bad")
    denied = _client(lambda _r: error(401, "authorization failed"))
    with pytest.raises(InfluxAuthError, match="refused anonymous access"):
        query(denied, config, "SHOW DATABASES")

    def refuse(_r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with pytest.raises(InfluxUnreachableError, match=r"cannot reach InfluxDB at .*refused"):
        query(_client(refuse), config, "SHOW DATABASES")
    garbage = _client(lambda _r: httpx.Response(200, text="<html>"))
    with pytest.raises(InfluxQueryError, match="no query results"):
        query(garbage, config, "SHOW DATABASES")


def test_query_sends_database_and_epoch() -> None:
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(parse_qs(request.content.decode()))
        return ok_query()

    query(_client(handler), InfluxConfig(url=URL), "SELECT 1", database="d")
    assert seen == [{"q": ["SELECT 1"], "epoch": ["ms"], "db": ["d"]}]


def _go_duration(text: str) -> str:
    hours = parse_duration_ns(text) // 3_600_000_000_000
    return f"{hours}h0m0s"


class SchemaServer(FakeInflux):
    """Applies ALTER; answers "already exists" for the first ``races`` CREATE statements."""

    def __init__(
        self, policies: dict[str, list[object]], races: int = 0, *, alter: bool = True
    ) -> None:
        super().__init__(databases=("hosiery",))
        self.policies = policies
        self.races = races
        self.alter = alter

    def query(self, statement: str) -> httpx.Response:
        if statement.startswith("CREATE RETENTION POLICY") and self.races:
            self.races -= 1
            self.policies["raw"] = ["168h0m0s", "24h0m0s", 1, True]
            return statement_error("retention policy already exists")
        if statement.startswith("ALTER RETENTION POLICY"):
            if self.alter:
                words = statement.split()
                self.policies[words[3].strip('"')][0] = _go_duration(words[7])
            return ok_query()
        return super().query(statement)


def statement_error(message: str) -> httpx.Response:
    return httpx.Response(200, json={"results": [{"statement_id": 0, "error": message}]})


def test_ensure_schema_does_nothing_when_the_schema_is_there() -> None:
    fake = SchemaServer({"raw": ["168h0m0s", "24h0m0s", 1, True]})
    assert ensure_schema(_client(fake), InfluxConfig(url=URL), default_schema(rollups=False)) == []
    assert all(s.startswith("SHOW") for s in fake.statements)


def test_ensure_schema_alters_a_changed_duration() -> None:
    fake = SchemaServer({"raw": ["168h0m0s", "24h0m0s", 1, True]})
    schema = default_schema(raw_duration="14d", rollups=False)
    statements = ensure_schema(_client(fake), InfluxConfig(url=URL), schema)
    assert statements == ['ALTER RETENTION POLICY "raw" ON "hosiery" DURATION 14d DEFAULT']
    assert fake.policies["raw"][0] == "336h0m0s"


def test_ensure_schema_tolerates_a_concurrent_creation() -> None:
    fake = SchemaServer({"autogen": ["0s", "168h0m0s", 1, True]}, races=1)
    assert ensure_schema(_client(fake), InfluxConfig(url=URL), default_schema(rollups=False)) == []
    assert fake.statements.count("SHOW DATABASES") == 2


def test_ensure_schema_gives_up_when_the_server_keeps_differing() -> None:
    fake = SchemaServer({"raw": ["24h0m0s", "1h0m0s", 1, True]}, alter=False)
    config = InfluxConfig(url=URL)
    with pytest.raises(InfluxSchemaError, match="still differs: ALTER RETENTION POLICY"):
        ensure_schema(_client(fake), config, default_schema(rollups=False))


def test_ensure_schema_reports_a_failed_statement() -> None:
    fake = SchemaServer({})

    def refuse(statement: str) -> httpx.Response:
        if statement.startswith("SHOW"):
            return SchemaServer.query(fake, statement)
        return statement_error("retention policy duration must be at least 1h0m0s")

    fake.query = refuse  # type: ignore[method-assign]
    schema = Schema(retention_policies=(RetentionPolicy(name="raw", duration="2h"),))
    with pytest.raises(InfluxSchemaError, match=r"cannot set up the schema: .*at least 1h0m0s"):
        ensure_schema(_client(fake), InfluxConfig(url=URL), schema)
