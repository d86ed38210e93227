"""What the benchmark runs around the collector: child processes, MQTT sessions, InfluxDB checks.

Exceptions::

    BenchError              a step of the benchmark failed (one line, names the log to read)
     +-- WorkerError        a worker process reported an error, exited or did not answer
"""

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import SUBSCRIPTION
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError, InfluxUnreachableError
from influx.query import query, series
from stack import InfluxServer, MosquittoServer
from stack.process import free_port, log_tail

REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A step of the benchmark failed."""


class WorkerError(BenchError):
    """A worker process reported an error, exited early or did not answer in time."""


def _child_env() -> dict[str, str]:
    """The environment of child processes: no ``HOSIERY_*`` settings leak into them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


class Children:
    """Every process the benchmark starts; :meth:`stop_all` ends those still running."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self,
        argv: list[str],
        log_path: Path,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
    ) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout if stdout is not None else log,
                stderr=log,
                cwd=REPO_ROOT,
                env=_child_env(),
            )
        self._procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def stop_all(self) -> None:
        running = [p for p in self._procs if p.poll() is None]
        for proc in running:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._procs.clear()


class Worker:
    """A ``bench._workers`` process and the JSON events it prints."""

    def __init__(self, children: Children, kind: str, config: str, log_path: Path) -> None:
        self.kind = kind
        self.log_path = log_path
        self.proc = children.spawn(
            [sys.executable, "-m", "bench._workers", kind, config],
            log_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream: IO[bytes] | None = self.proc.stdout
        assert stream is not None
        for line in stream:
            with contextlib.suppress(orjson.JSONDecodeError):
                self._events.put(orjson.loads(line))
        self._events.put(None)

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """The next event, which must be ``event``; raises :class:`WorkerError` otherwise."""
        try:
            got = self._events.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(
                f"{self.kind} worker sent no {event!r} within {timeout:.0f}s (log {self.log_path})"
            ) from None
        if got is None:
            self.proc.wait(10)
            raise WorkerError(
                f"{self.kind} worker exited with {self.proc.returncode} before {event!r}: "
                f"{log_tail(self.log_path, 3)}"
            )
        if got.get("event") != event:
            raise WorkerError(f"{self.kind} worker: {got.get('error', got)}")
        return got

    def go(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(b"go\n")
        stdin.flush()

    def finish(self) -> None:
        Children.stop(self.proc, timeout=10)


class Counters(NamedTuple):
    """The collector's counters that the benchmark reads from /metrics."""

    received: float
    written: float
    rejected: float
    duplicates: float
    too_late: float
    refused_by_influx: float
    write_retries: float
    acks_skipped: float
    buffer_depth: float
    write_seconds: float
    """Time spent writing batches durably (InfluxDB, then the journal), summed."""
    batches: float


_COUNTER_NAMES = {
    "hosiery_collector_messages_received_total": "received",
    "hosiery_collector_readings_written_total": "written",
    "hosiery_collector_messages_rejected_total": "rejected",
    "hosiery_collector_duplicates_dropped_total": "duplicates",
    "hosiery_collector_late_readings_dropped_total": "too_late",
    "hosiery_collector_lines_refused_by_influxdb_total": "refused_by_influx",
    "hosiery_collector_write_retries_total": "write_retries",
    "hosiery_collector_acks_skipped_total": "acks_skipped",
    "hosiery_collector_buffer_depth": "buffer_depth",
    "hosiery_collector_write_seconds_sum": "write_seconds",
    "hosiery_collector_write_seconds_count": "batches",
}


def parse_counters(text: str) -> Counters:
    """Sum each counter over its labels, from Prometheus text exposition."""
    values = dict.fromkeys(Counters._fields, 0.0)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        field = _COUNTER_NAMES.get(name_labels.partition("{")[0])
        if field is not None:
            values[field] += float(value)
    return Counters(**values)


class CollectorProcess:
    """``python -m collector`` on the benchmark's servers, with its own state and database."""

    def __init__(
        self,
        children: Children,
        *,
        mosquitto: MosquittoServer,
        influx: InfluxServer,
        client_id: str,
        database: str,
        state_dir: Path,
        log_path: Path,
        receive_maximum: int,
    ) -> None:
        self.children = children
        self.port = free_port()
        self.log_path = log_path
        self.argv = [
            sys.executable, "-m", "collector",
            "--mqtt-url", mosquitto.url,
            "--mqtt-client-id", client_id,
            "--mqtt-receive-maximum", str(receive_maximum),
            "--influx-url", influx.url,
            "--influx-db", database,
            "--state-dir", str(state_dir),
            "--http-port", str(self.port),
            "--log-level", "info",
            "--log-format", "json",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(timeout=2.0)

    def start(self) -> None:
        self.proc = self.children.spawn(self.argv, self.log_path)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"collector exited with {self.proc.returncode}: {log_tail(self.log_path, 3)}"
            )

    def counters(self) -> Counters | None:
        """The counters now, or None while /metrics does not answer (starting up)."""
        try:
            resp = self._http.get(f"http://127.0.0.1:{self.port}/metrics")
        except httpx.HTTPError:
            return None
        return parse_counters(resp.text) if resp.status_code == 200 else None

    def connected_at(self) -> float | None:
        """When the collector connected to the broker (its first ``mqtt connected`` log line).

        In ``time.monotonic()`` seconds. With a backlog, the broker starts sending it right after
        the connection, while the collector is still starting, so this is when the first message
        arrived. None if the log has no such line.
        """
        offset = time.time() - time.monotonic()
        for line in self.log_path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("event") == "mqtt connected":
                return datetime.fromisoformat(str(entry["timestamp"])).timestamp() - offset
        return None

    def log_events(self, *levels: str) -> dict[str, int]:
        """How many times each event of the given levels was logged (``warning``, ``error``)."""
        events: dict[str, int] = {}
        for line in self.log_path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("level") in levels:
                event = str(entry.get("event"))
                events[event] = events.get(event, 0) + 1
        return events

    def health(self) -> dict[str, Any] | None:
        """/healthz's answer (``status``, ``buffered``, ...), or None while it does not answer."""
        try:
            resp = self._http.get(f"http://127.0.0.1:{self.port}/healthz")
        except httpx.HTTPError:
            return None
        if resp.status_code not in (200, 503):
            return None
        health: dict[str, Any] = orjson.loads(resp.content)
        return health

    def healthy(self) -> bool:
        health = self.health()
        return health is not None and health.get("status") == "ok"

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the collector writes what it holds), SIGKILL after ``timeout`` s."""
        self._http.close()
        if self.proc is None:
            return 0
        return Children.stop(self.proc, timeout=timeout)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------- MQTT sessions


def _session(
    server: MosquittoServer, client_id: str, *, expiry: int, subscribe: bool, timeout: float = 10
) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    done = threading.Event()
    closed = threading.Event()
    failure: list[str] = []

    def on_connect(
        c: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if reason.is_failure:
            failure.append(str(reason))
            done.set()
        elif subscribe:
            c.subscribe(SUBSCRIPTION, options=SubscribeOptions(qos=1, noLocal=True))
        else:
            done.set()

    def on_subscribe(
        _c: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: Properties | None
    ) -> None:
        if codes[0].is_failure:
            failure.append(str(codes[0]))
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_disconnect = lambda *_args: closed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry
    # keep-alive 17 s: the broker logs it ("k17"), which tells these connections apart from
    # the collector's own (k30) in its log.
    try:
        client.connect(
            server.host, server.port, keepalive=17, clean_start=not subscribe, properties=props
        )
    except OSError as exc:
        raise BenchError(
            f"MQTT session {client_id}: cannot connect to {server.url}: {exc}"
        ) from None
    deadline = time.monotonic() + timeout
    while not done.is_set() and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    if done.is_set():
        client.disconnect()
        while not closed.is_set() and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    if failure or not closed.is_set():
        raise BenchError(f"MQTT session {client_id}: {failure[0] if failure else 'no answer'}")


def open_session(server: MosquittoServer, client_id: str, expiry: int) -> None:
    """Create a persistent session subscribed to ``hosiery/v1/#`` at QoS 1, then leave it."""
    _session(server, client_id, expiry=expiry, subscribe=True)


def drop_session(server: MosquittoServer, client_id: str) -> None:
    """Discard ``client_id``'s session (clean start, expiry 0), with whatever it queued."""
    _session(server, client_id, expiry=0, subscribe=False)


# ------------------------------------------------------------------------------- InfluxDB


class Stored(NamedTuple):
    """What InfluxDB holds in one database."""

    points: int
    pairs: int
    rejected: int


def _query(influx: InfluxServer, database: str, q: str) -> list[dict[str, Any]]:
    """The series of ``q`` (none while the database does not exist yet)."""
    config = InfluxConfig(url=influx.url, timeout=120.0)
    try:
        with make_client(config) as client:
            return series(client, config, q, database=database, missing_ok=True)
    except InfluxError as exc:
        raise BenchError(f"InfluxDB query failed: {exc}") from exc


def stored(influx: InfluxServer, database: str) -> Stored:
    rows = _query(influx, database, 'SELECT count("pairs"), sum("pairs") FROM "production"')
    points, pairs = (int(rows[0]["values"][0][1]), int(rows[0]["values"][0][2])) if rows else (0, 0)
    rows = _query(influx, database, 'SELECT count("topic") FROM "rejected"')
    rejected = int(rows[0]["values"][0][1]) if rows else 0
    return Stored(points, pairs, rejected)


def drop_database(influx: InfluxServer, database: str) -> None:
    """Free the round's database; a slow drop (InfluxDB busy compacting) only costs disk."""
    config = InfluxConfig(url=influx.url, timeout=300.0)
    try:
        with make_client(config) as client:
            query(client, config, f'DROP DATABASE "{database}"')
    except InfluxUnreachableError as exc:
        print(f"  (dropping database {database} failed: {exc}; left in place)", file=sys.stderr)
