"""Helpers for the alerting integration tests: machines with scripted readings, a gateway
process to kill, a webhook receiver on loopback, and the collector's alert outputs."""

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from collector.settings import CollectorSettings
from contract import counter_topic
from stack import MosquittoServer
from stack.process import wait_until
from tests.support.collector import CollectorProcess
from tests.support.influx import query
from tests.support.mqtt import Recorder, recorder

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class ScriptedMachine:
    """A machine whose readings the test sends one at a time, stamped ``interval_ms`` apart.

    Time stamps start ``start_ago_ms`` in the past, so a threshold of minutes in the machine's
    own time passes in a few readings (idle and stopped are judged by the readings' ``ts``).
    """

    def __init__(
        self,
        client: mqtt.Client,
        enterprise: str,
        machine: str,
        *,
        interval_ms: int = 10_000,
        start_ago_ms: int = 1_800_000,
    ) -> None:
        self.client = client
        self.topic = counter_topic(enterprise, machine)
        self.interval_ms = interval_ms
        self.ts = int(time.time() * 1000) - start_ago_ms
        self.seq = 0
        self.total = 0

    def send(self, state: str = "running", pairs: int = 0) -> int:
        """Publish the next reading (QoS 1, acknowledged by the broker); its ``ts``."""
        self.ts += self.interval_ms
        self.seq += 1
        self.total += pairs
        body = {
            "ts": self.ts,
            "seq": self.seq,
            "boot": "b1",
            "pairs_total": self.total,
            "state": state,
        }
        self.client.publish(self.topic, orjson.dumps(body), qos=1).wait_for_publish(5)
        return self.ts


class GatewayProcess:
    """``tests.support.gateway`` in a child process: killed, it leaves its Last Will."""

    def __init__(
        self, server: MosquittoServer, enterprise: str, machines: list[str], interval: float
    ) -> None:
        argv = [
            sys.executable, "-m", "tests.support.gateway",
            server.host, str(server.port), enterprise, ",".join(machines), str(interval),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.kill()
            raise AssertionError(f"test gateway did not start: {line!r}")

    def kill(self) -> None:
        """SIGKILL: the connection drops without DISCONNECT, the broker sends the Will."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class WebhookReceiver:
    """An HTTP server on loopback that answers 500 while ``failing``, else 200 and records."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failing.is_set():
                    with receiver.lock:
                        receiver.refused += 1
                    self.send_response(500)
                else:
                    with receiver.lock:
                        receiver.accepted.append(orjson.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(body["id"] for body in self.accepted)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class AlertingCollectorProcess(CollectorProcess):
    """``CollectorProcess`` with alerting options on its command line."""

    def __init__(self, settings: CollectorSettings, log_path: Path, extra: list[str]) -> None:
        super().__init__(settings, log_path)
        self.extra = extra

    def argv(self) -> list[str]:
        return [*super().argv(), *self.extra]


def alert_messages(rec: Recorder, topic: str, status: str | None = None) -> list[dict[str, Any]]:
    """The JSON alert messages a recorder saw on ``topic`` (empty payloads left out)."""
    bodies = [orjson.loads(p) for p in rec.payloads(topic) if p]
    return [b for b in bodies if status is None or b["status"] == status]


@contextmanager
def retained(server: MosquittoServer, topic_filter: str) -> Iterator[dict[str, bytes]]:
    """The retained messages under ``topic_filter`` now, by topic.

    A marker published after subscribing arrives after the retained messages, so waiting for it
    means all of them are in.
    """
    marker_topic = topic_filter.replace("+", "_marker").replace("#", "_marker")
    with recorder(server, topic_filter) as rec:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect(server.host, server.port)
        client.loop_start()
        try:
            client.publish(marker_topic, b"marker", qos=1).wait_for_publish(5)
            wait_until(lambda: b"marker" in rec.payloads(marker_topic), 10, what="marker")
        finally:
            client.disconnect()
            client.loop_stop()
        yield {t: p for t, p, r in list(rec.messages) if r}


def alert_points(url: str, db: str, where: str = "") -> list[dict[str, Any]]:
    """Every ``alerts`` point, as dicts of column -> value."""
    rows = query(url, db, f'SELECT * FROM "alerts" {where}')
    if not rows:
        return []
    columns = rows[0]["columns"]
    return [dict(zip(columns, values, strict=True)) for values in rows[0]["values"]]
