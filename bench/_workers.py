"""The benchmark's worker processes: a QoS 1 publisher and the three ceilings.

``python -m bench._workers publish|count|write CONFIG_JSON``. ``count`` is a subscriber that only
counts messages, on paho-mqtt or on the product's own client (``client``: ``paho`` or
``mqtt5``); ``write`` posts the workload's line protocol to InfluxDB the way the collector's
writer does, with no MQTT at all. A worker reports on stdout, one JSON
object a line: ``{"event": "ready", ...}`` once it is connected (and, for ``count``,
subscribed), then ``{"event": "done", ...}`` with its figures, or ``{"event": "error", ...}``.
A publisher waits for a line on stdin after ``ready``, so several publishers start together.
Times are ``time.monotonic()`` seconds, which every process on the machine shares.
"""

import sys
import threading
import time
from typing import Any, Literal

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import BaseModel, ConfigDict, Field

from bench._workload import Workload, machine_ids, messages, step
from contract import SUBSCRIPTION
from influx.config import InfluxConfig
from influx.lines import production_line
from influx.schema import default_schema
from influx.write import InfluxSink
from mqtt.client import ClientOptions, Handler, MqttClient
from mqtt.protocol import Publish, SessionOptions


class PublishConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int
    client_id: str
    workload: Workload
    part: int = Field(ge=0)
    parts: int = Field(ge=1)
    window: int = Field(ge=1, le=65_535)
    """Most PUBLISHes without a PUBACK (also capped by the broker's Receive Maximum)."""
    timeout: float = Field(gt=0)


class CountConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int
    client_id: str
    expect: int = Field(ge=1)
    receive_maximum: int = Field(ge=1, le=65_535)
    session_expiry: int = Field(ge=0)
    timeout: float = Field(gt=0)
    ack_batch: int = Field(0, ge=0)
    """0: paho acknowledges each message itself (mqtt5: every 1,000); N: acknowledge in arrival
    order every N."""
    client: Literal["paho", "mqtt5"] = "paho"


class WriteConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    database: str
    workload: Workload
    batch_size: int = Field(ge=1)


def _say(**fields: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(fields) + b"\n")
    sys.stdout.flush()


def _connect_properties(*, receive_maximum: int | None, session_expiry: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return props


def publish(config: PublishConfig) -> None:
    """Publish this part of the workload at QoS 1 as fast as the broker acknowledges it.

    One thread drives paho's loop itself (no network thread): PUBLISHes go straight to the
    socket, and PUBACKs are read between them. paho's own in-flight limit is off, because its
    queue is scanned on every PUBACK; the window is kept here instead.
    """
    batch = list(messages(config.workload, config.part, config.parts))
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=config.client_id, protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    state = {"acked": 0, "failed": 0, "window": config.window, "connected": 0}

    def on_connect(
        _c: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            state["connected"] = -1
            return
        broker_max = getattr(props, "ReceiveMaximum", None) if props is not None else None
        if broker_max:
            state["window"] = min(state["window"], int(broker_max))
        state["connected"] = 1

    def on_publish(
        _c: mqtt.Client, _u: object, _mid: int, reason: ReasonCode, _p: Properties | None
    ) -> None:
        state["acked"] += 1
        if reason.is_failure:
            state["failed"] += 1

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(config.host, config.port, keepalive=60, clean_start=True)
    deadline = time.monotonic() + 30
    while state["connected"] == 0 and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    if state["connected"] != 1:
        _say(event="error", error="publisher could not connect")
        return
    _say(event="ready", messages=len(batch), window=state["window"])
    if not sys.stdin.readline():
        client.disconnect()
        return  # the benchmark went away before saying go
    started = time.monotonic()
    deadline = started + config.timeout
    window = state["window"]
    sent = 0
    total = len(batch)
    loop = client.loop
    pub = client.publish
    while state["acked"] < total:
        while sent < total and sent - state["acked"] < window:
            topic, payload = batch[sent]
            info = pub(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                _say(event="error", error=f"publish failed: {mqtt.error_string(info.rc)}")
                return
            sent += 1
        loop(timeout=0.01)
        if time.monotonic() > deadline:
            _say(event="error", error=f"timed out: {state['acked']} of {total} acknowledged")
            return
    done = time.monotonic()
    _say(
        event="done",
        published=total,
        acked=state["acked"],
        failed=state["failed"],
        started=started,
        finished=done,
    )
    client.disconnect()
    client.loop(timeout=0.1)


def _not_a_reading(client: mqtt.Client, message: mqtt.MQTTMessage, batch: int) -> bool:
    """The collector's alerts and summary are no readings: acknowledged, not counted."""
    if message.topic.endswith("/counter"):
        return False
    if batch:
        client.ack(message.mid, 1)
    return True


def count(config: CountConfig) -> None:
    """The ceiling: a plain paho subscriber that only counts messages.

    paho acknowledges each message as it arrives (``ack_batch`` 0), or the subscriber
    acknowledges them in arrival order every ``ack_batch`` messages, as the collector does per
    write batch.

    It connects like the collector (MQTT v5, fixed client id, clean start off, session expiry,
    the same Receive Maximum, ``hosiery/v1/#`` at QoS 1) and reports when ``expect`` messages
    have arrived: the times of the first and the last, and the CPU time the process spent
    receiving them (paho's own cost: the callback only counts).
    """
    batch = config.ack_batch
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=batch > 0,
    )
    unacked: list[int] = []
    done = threading.Event()
    ready = threading.Event()
    stats = {"count": 0, "dup": 0, "first": 0.0, "last": 0.0, "sub_mid": -1}
    expect = config.expect
    clock = time.monotonic

    def on_connect(
        c: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not reason.is_failure:
            _rc, mid = c.subscribe(SUBSCRIPTION, options=SubscribeOptions(qos=1, noLocal=True))
            stats["sub_mid"] = mid if mid is not None else -1

    def on_subscribe(
        _c: mqtt.Client,
        _u: object,
        mid: int,
        _codes: list[ReasonCode],
        _p: Properties | None,
    ) -> None:
        if mid == stats["sub_mid"]:
            ready.set()

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if _not_a_reading(c, message, batch):
            return
        n = stats["count"] + 1
        stats["count"] = n
        if n == 1:
            stats["first"] = clock()
        if message.dup:
            stats["dup"] += 1
        if batch:
            unacked.append(message.mid)
            if len(unacked) >= batch or n >= expect:
                for mid in unacked:
                    c.ack(mid, 1)
                unacked.clear()
        if n >= expect:
            stats["last"] = clock()
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    started = clock()
    cpu_started = time.process_time()  # a backlog arrives from the connection on
    client.connect(
        config.host,
        config.port,
        keepalive=60,
        clean_start=False,
        properties=_connect_properties(
            receive_maximum=config.receive_maximum, session_expiry=config.session_expiry
        ),
    )
    client.loop_start()
    try:
        if not ready.wait(30):
            _say(event="error", error="ceiling subscriber could not subscribe")
            return
        _say(event="ready", started=started)
        if not done.wait(config.timeout):
            _say(event="error", error=f"timed out: {stats['count']} of {expect} messages")
            return
        _say(
            event="done",
            count=stats["count"],
            dup=stats["dup"],
            first=stats["first"],
            last=stats["last"],
            started=started,
            cpu_s=time.process_time() - cpu_started,
        )
    finally:
        client.disconnect()
        client.loop_stop()


class _Counter(Handler):
    """Counts messages on the network thread; acknowledges every ``batch`` in arrival order."""

    def __init__(self, expect: int, batch: int) -> None:
        self.client: MqttClient | None = None
        self.expect = expect
        self.batch = batch
        self.count = 0
        self.dup = 0
        self.first = 0.0
        self.last = 0.0
        self.unacked: list[int] = []
        self.done = threading.Event()

    def on_message(self, message: Publish, connection: int) -> None:
        if not message.topic.endswith("/counter"):  # the collector's alerts, summary: no readings
            assert self.client is not None
            self.client.ack_many([message.packet_id], connection)
            return
        n = self.count + 1
        self.count = n
        if n == 1:
            self.first = time.monotonic()
        if message.dup:
            self.dup += 1
        unacked = self.unacked
        unacked.append(message.packet_id)
        if len(unacked) >= self.batch or n >= self.expect:
            assert self.client is not None
            self.client.ack_many(unacked, connection)
            unacked.clear()
        if n >= self.expect:
            self.last = time.monotonic()
            self.done.set()


def count_mqtt5(config: CountConfig) -> None:
    """The receive ceiling: the product's own client (:mod:`mqtt.client`), only counting.

    Same session settings as :func:`count`; PUBACKs go out every ``ack_batch`` (default 1,000)
    messages, each batch in one send, from the network thread.
    """
    counter = _Counter(config.expect, config.ack_batch or 1000)
    options = ClientOptions(
        config.host,
        config.port,
        SessionOptions(
            config.client_id,
            keepalive=60,
            session_expiry=config.session_expiry,
            receive_maximum=config.receive_maximum,
        ),
    )
    client = MqttClient(options, counter)
    counter.client = client
    client.subscribe(SUBSCRIPTION, 1, no_local=True)
    started = time.monotonic()
    cpu_started = time.process_time()
    try:
        client.start(30)
    except Exception as exc:  # noqa: BLE001 - reported to the benchmark as one line
        _say(event="error", error=f"mqtt5 ceiling could not subscribe: {exc}")
        return
    try:
        _say(event="ready", started=started)
        if not counter.done.wait(config.timeout):
            _say(event="error", error=f"timed out: {counter.count} of {config.expect} messages")
            return
        _say(
            event="done",
            count=counter.count,
            dup=counter.dup,
            first=counter.first,
            last=counter.last,
            started=started,
            cpu_s=time.process_time() - cpu_started,
        )
    finally:
        client.stop()


def write(config: WriteConfig) -> None:
    """The write ceiling: the workload's production points, in the collector's batches.

    The lines are those the collector writes for these readings (``influx.lines``), built
    before the clock starts; one thread writes them batch after batch with the collector's sink
    (gzip, retries), as the collector's writer does.
    """
    w = config.workload
    lines = []
    for k in range(w.readings):
        j = k % w.machines
        r = k // w.machines
        enterprise, machine = machine_ids(j)
        lines.append(
            production_line(
                enterprise,
                machine,
                w.base_ms + k,
                r + 1,
                f"{w.tag}-{j}",
                step(j),
                (r + 1) * step(j),
                "running",
                "crew-12",
                180.0 + j % 40,
            )
        )
    batches = [lines[i : i + config.batch_size] for i in range(0, len(lines), config.batch_size)]
    influx = InfluxConfig(url=config.url, database=config.database)
    with InfluxSink(influx, schema=default_schema(config.database)) as sink:
        sink.write(batches[0][:1])  # creates the database, outside the timing
        _say(event="ready", batches=len(batches))
        started = time.monotonic()
        cpu_started = time.process_time()
        written = sum(sink.write(batch).written for batch in batches)
        finished = time.monotonic()
    _say(
        event="done",
        count=written,
        first=started,
        last=finished,
        started=started,
        cpu_s=time.process_time() - cpu_started,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("publish", "count", "write"):
        print("usage: python -m bench._workers publish|count|write CONFIG_JSON", file=sys.stderr)
        return 2
    if argv[0] == "publish":
        publish(PublishConfig.model_validate_json(argv[1]))
    elif argv[0] == "write":
        write(WriteConfig.model_validate_json(argv[1]))
    else:
        config = CountConfig.model_validate_json(argv[1])
        (count_mqtt5 if config.client == "mqtt5" else count)(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
