"""The sink against servers of the test's own: stopped and started again, or with authentication."""

import threading
import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from collector.errors import WriteAbortedError
from collector.retry import Backoff, Failure, Retrier
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxAuthError, InfluxBusyError, InfluxUnreachableError
from influx.lines import production_line
from influx.provision import ensure_schema
from influx.query import query
from influx.schema import default_schema
from influx.write import InfluxSink, WriteResult
from stack import InfluxServer
from stack.process import free_port, wait_until

pytestmark = pytest.mark.integration

FAST = Backoff(initial=0.05, maximum=0.5)
TRANSIENT = (InfluxUnreachableError, InfluxBusyError)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Writer(threading.Thread):
    """Runs one ``sink.write`` through the pipeline's retry policy in a thread and keeps its
    result or exception."""

    def __init__(self, sink: InfluxSink, lines: list[str], retrier: Retrier) -> None:
        super().__init__(daemon=True)
        self.sink = sink
        self.lines = lines
        self.retrier = retrier
        self.result: WriteResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.retrier.run(lambda: self.sink.write(self.lines))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc


def test_a_write_retries_until_the_server_is_back(
    influx_factory: Callable[..., InfluxServer],
) -> None:
    server = influx_factory()
    config = InfluxConfig(url=server.url)
    ts = now_ms()
    lines = [production_line("e", "m", ts, s, "b", 1, s, "running", None, None) for s in range(50)]
    retries: list[Failure] = []
    retrier = Retrier(retry_on=TRANSIENT, backoff=FAST, on_failure=retries.append)
    with httpx.Client() as client:
        ensure_schema(client, config, default_schema())
        server.stop()
        writer = Writer(InfluxSink(config, client), lines, retrier)
        writer.start()
        wait_until(lambda: len(retries) >= 2, 30, what="the sink to report failed attempts")
        assert writer.is_alive()
        server.start()
        writer.join(30)
        assert not writer.is_alive()
        assert writer.error is None
        assert writer.result is not None
        assert (writer.result.written, writer.result.dropped_lines) == (50, 0)
        assert writer.result.attempts == 1
        assert "cannot reach InfluxDB" in str(retries[0].error)
        rows = query(
            client,
            config,
            'SELECT count("pairs"), sum("seq") FROM "raw"."production"',
            database="hosiery",
        )[0]["series"][0]["values"]
    assert rows[0][1:] == [50, sum(range(50))]


def test_stop_ends_the_retries_and_the_batch_is_not_written() -> None:
    stop = threading.Event()
    config = InfluxConfig(url=f"http://127.0.0.1:{free_port()}")
    retries: list[Failure] = []
    retrier = Retrier(retry_on=TRANSIENT, backoff=FAST, abandon=stop, on_failure=retries.append)
    with httpx.Client() as client:
        writer = Writer(InfluxSink(config, client), ["m v=1i"], retrier)
        writer.start()
        wait_until(lambda: bool(retries), 30, what="a failed attempt")
        stop.set()
        writer.join(30)
    assert not writer.is_alive()
    assert isinstance(writer.error, WriteAbortedError)
    assert writer.result is None


def _admin(server: InfluxServer) -> None:
    anonymous = InfluxConfig(url=server.url)
    with make_client(anonymous) as client:
        query(client, anonymous, "CREATE USER admin WITH PASSWORD 'adminpw' WITH ALL PRIVILEGES")


def test_authentication(influx_factory: Callable[..., InfluxServer]) -> None:
    server = influx_factory(auth=True)
    _admin(server)
    admin = InfluxConfig(url=server.url, username="admin", password="adminpw")  # noqa: S106 - test credentials
    wrong = admin.model_copy(update={"password": SecretStr("nope")})
    line = production_line("e", "m", now_ms(), 1, "b", 1, 1, "running", None, None)
    with httpx.Client() as client:
        with pytest.raises(InfluxAuthError) as caught:
            ensure_schema(client, wrong, default_schema())
        assert str(caught.value) == (
            f"InfluxDB at {server.url} refused user 'admin' (HTTP 401): authorization failed"
        )
        with pytest.raises(InfluxAuthError, match="HTTP 401"):
            InfluxSink(wrong, client).write([line])
        anonymous = InfluxConfig(url=server.url)
        with pytest.raises(InfluxAuthError, match="refused anonymous access"):
            InfluxSink(anonymous, client).write([line])

        # a writer without admin rights cannot create the database it writes to
        query(client, admin, "CREATE USER writer WITH PASSWORD 'writerpw'")
        writer = InfluxConfig(url=server.url, username="writer", password="writerpw")  # noqa: S106 - test credentials
        with pytest.raises(InfluxAuthError, match=r"HTTP 403.*requires admin privilege"):
            InfluxSink(writer, client).write([line])

        assert InfluxSink(admin, client).write([line]).written == 1
        query(client, admin, 'GRANT WRITE ON "hosiery" TO "writer"')
        assert InfluxSink(writer, client).write([line]).written == 1
        assert ensure_schema(client, admin, default_schema()) == []
