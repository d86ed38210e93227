"""The MQTT source: a persistent MQTT v5 session with manual acknowledgements.

Delivery guarantee
------------------
The collector subscribes to ``hosiery/v1/#`` at QoS 1 with a fixed client id, ``clean_start``
off and a session expiry, so the broker keeps the subscription and queues readings while the
collector is down. Messages are acknowledged only when the pipeline says so
(:meth:`MqttSource.ack`), after they are durably written: a crash before that makes the broker
deliver them again (``dup`` set), so nothing acknowledged is lost and nothing lost was
acknowledged.

Backpressure
------------
The CONNECT packet carries ``ReceiveMaximum``: the broker should send at most that many QoS 1
messages that the collector has not acknowledged. When the database stalls, acknowledgements
stop, the window fills, the broker stops sending and queues in the session instead. Mosquitto
before 2.0.13 (Debian 12 ships 2.0.11) lets the window drift well above ``ReceiveMaximum`` once
acknowledgements flow, so the intake has a bound of its own (``intake_capacity``) and blocks the
network thread when it is reached; see :mod:`collector.intake`. Either way memory is bounded and
nothing is dropped.

Message size
------------
CONNECT also carries ``MaximumPacketSize`` (``maximum_packet_size``). A broker drops a message
larger than that for this client (Mosquitto does so without a trace), so it must stay above the
largest packet the broker accepts from publishers (``max_packet_size`` in the product's
``mosquitto.conf``): then every message the broker took reaches the collector, and a payload
over the contract's limit is rejected as ``oversized`` by validation, counted and republished
like any other bad input. At every connection the source compares the broker's announced limit
with its own and logs a warning when the broker would accept larger messages.

Threads
-------
The transport is the product's own client, :class:`mqtt.client.MqttClient`: its network thread
calls :meth:`MqttSource.on_message`, which only wraps the message in a :class:`Delivery` and
appends it to an :class:`~collector.intake.Intake`; one pipeline worker takes deliveries out with
:meth:`MqttSource.drain`. Acknowledgements (:meth:`MqttSource.ack`,
:meth:`MqttSource.ack_many`) may come from another thread (the pipeline's writer), but from one
at a time and in the order the deliveries were drained: the source does not check the order,
the pipeline keeps it by acknowledging whole batches in drain order; the PUBACKs of one call go
out in one send. :meth:`MqttSource.publish` is safe from any thread.

Generations
-----------
A packet identifier (``mid``) means something only on the connection it arrived on: once a
connection is lost, the broker resends every unacknowledged message on the next connection (or,
if it lost the session, never), and an acknowledgement for an old ``mid`` could acknowledge a
different message there. Each successful connection therefore starts a new *generation* (the
client's connection number); a :class:`Delivery` carries the generation it arrived in, and
acknowledging a delivery of an earlier generation sends nothing (it is counted in
:attr:`SourceStats.stale_acks`). The broker redelivers such a message on the new connection and
the pipeline sees it again as a duplicate. Deliveries of an earlier generation are still handed
to the pipeline, never dropped: if the broker lost the session (``session_present`` false after
a reconnect), they will not come again.

Start-up
--------
:meth:`MqttSource.start` returns once the broker accepts the connection and, for a new
session, the subscription. A resumed session keeps its subscription, and the broker may stream
its whole backlog before answering the renewed SUBSCRIBE (Mosquitto 2.0.11 does after a
collector was killed while behind); the pipeline takes that backlog in while start-up
completes, so the start never waits on it.

Reconnection
------------
After :meth:`MqttSource.start` has succeeded, losing the connection never stops the source:
the client reconnects with a jittered exponential delay (``reconnect_min_delay`` ..
``reconnect_max_delay``) and subscribes again on every connection (harmless when the session
survived, essential when the broker lost it). A DISCONNECT from the broker is logged with its
reason (e.g. ``session taken over`` when another client connects with the same id). Start-up
failures, by contrast, raise a one-line :class:`~collector.errors.MqttError`, because a wrong
host or password will not fix itself.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Protocol, Self

import structlog
from structlog.typing import FilteringBoundLogger

from collector.errors import MqttError, MqttRefusedError, MqttUnavailableError
from collector.intake import Intake
from contract import SUBSCRIPTION, TOPIC_ROOT
from mqtt import errors as mqtt_errors
from mqtt.client import ClientOptions, Handler, MqttClient, PublishInfo, Request
from mqtt.protocol import ConnAck, Publish, SessionOptions, reason_name

MAX_RECEIVE_MAXIMUM = 65_535
ACK_BARRIER_FILTER = f"{TOPIC_ROOT}/_collector/ack-barrier"
"""Never subscribed; ``stop`` unsubscribes from it to learn that earlier acks were applied."""
MAX_SESSION_EXPIRY = 0xFFFF_FFFF
MAXIMUM_PACKET_SIZE = 262_144
"""Default largest MQTT packet the collector accepts (``--mqtt-max-packet-size``): above the
broker's ``max_packet_size`` (131072), not equal to it, because a message grows on its way from
the publisher to the collector (packet id, properties) and the broker checks the collector's
limit on what it sends; ``tests/integration/test_mqtt_client.py`` shows a message the broker
accepted that a client announcing exactly the broker's limit never gets."""
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class MqttSourceConfig:
    """How to reach the broker and what session to keep there."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "hosiery-collector"
    """Fixed across restarts: the broker keeps the session (and queued readings) under it."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive: int = 30
    """Seconds; the broker drops the connection after 1.5 times this without traffic."""
    session_expiry: int = 86_400
    """Seconds the broker keeps the session (and queues readings) while the collector is away."""
    receive_maximum: int = 10_000
    """Most unacknowledged QoS 1 messages the broker sends at once (the backpressure window)."""
    tls_ca: Path | None = None
    """CA certificate file; when set, the connection uses TLS and checks the broker's name."""
    tls: bool = False
    """TLS even without ``tls_ca`` (``mqtts://``): the system's CAs check the broker."""
    qos: int = 1
    """QoS of the subscription (0 or 1)."""
    maximum_packet_size: int = MAXIMUM_PACKET_SIZE
    """Largest packet the collector accepts (MQTT ``MaximumPacketSize``); keep it above the
    broker's ``max_packet_size``, or the broker drops larger messages for the collector."""
    reconnect_min_delay: int = 1
    reconnect_max_delay: int = 30
    intake_max_bytes: int = 256 * 1024 * 1024
    """Bytes (topics and payloads) the intake holds before ``on_message`` blocks: with the
    count bound, what bounds the collector's memory while InfluxDB is down, whatever the size of
    the messages (a topic may be 64 KiB)."""
    intake_capacity: int | None = None
    """Deliveries the intake holds before ``on_message`` blocks; default twice
    ``receive_maximum`` (after a reconnect, undrained deliveries of the old connection and the
    redelivered window can both be there). With a broker that overshoots ``ReceiveMaximum``
    (Mosquitto before 2.0.13) this is what bounds the collector's memory."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("mqtt host must not be empty")
        if not 0 < self.port < 65_536:
            raise ValueError(f"mqtt port {self.port} is not 1-65535")
        if not self.client_id:
            raise ValueError("mqtt client id must not be empty: the persistent session needs it")
        if self.password is not None and self.username is None:
            raise ValueError("mqtt password given without a username")
        if not 0 < self.keepalive < 65_536:
            raise ValueError(f"mqtt keepalive {self.keepalive} is not 1-65535 seconds")
        if not 0 <= self.session_expiry <= MAX_SESSION_EXPIRY:
            raise ValueError(
                f"mqtt session expiry {self.session_expiry} is not 0-{MAX_SESSION_EXPIRY}"
            )
        if not 0 < self.receive_maximum <= MAX_RECEIVE_MAXIMUM:
            raise ValueError(
                f"mqtt receive maximum {self.receive_maximum} is not 1-{MAX_RECEIVE_MAXIMUM}"
            )
        if self.qos not in (0, 1):
            raise ValueError(f"mqtt qos {self.qos} is not 0 or 1")
        if not 1_024 <= self.maximum_packet_size <= 268_435_460:
            raise ValueError(
                f"mqtt maximum packet size {self.maximum_packet_size} is not 1024-268435460"
            )
        if not 0 < self.reconnect_min_delay <= self.reconnect_max_delay:
            raise ValueError(
                f"mqtt reconnect delays {self.reconnect_min_delay}..{self.reconnect_max_delay} "
                "must satisfy 0 < min <= max"
            )
        if self.intake_max_bytes < 1:
            raise ValueError(f"intake max bytes {self.intake_max_bytes} is below 1")
        if self.intake_capacity is not None and self.intake_capacity < self.receive_maximum:
            raise ValueError(
                f"intake capacity {self.intake_capacity} is below the receive maximum "
                f"{self.receive_maximum}"
            )

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls or self.tls_ca is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def capacity(self) -> int:
        """The intake's capacity."""
        return self.intake_capacity or 2 * self.receive_maximum


class Delivery(NamedTuple):
    """One received message, as the pipeline sees it."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    """Packet identifier; meaningful only within ``generation``."""
    retain: bool
    dup: bool
    """Set by the broker when it sends the message again (it may have been seen before)."""
    generation: int
    """The connection it arrived on (see the module docstring)."""
    received_ns: int
    """Arrival time by the collector's clock, epoch nanoseconds."""


class SourceStats(NamedTuple):
    """A snapshot of the source's state and counters, for metrics and health checks."""

    connected: bool
    connects: int
    """Successful connections, the first one included."""
    disconnects: int
    """Connections lost (or closed) after they were established."""
    sessions_lost: int
    """Connections on which the broker no longer had the session (queued messages lost): every
    reconnection without it, and the first connection when the collector had a state (it ran
    before under its client id) and the broker had no session for it."""
    received: int
    acked: int
    stale_acks: int
    """Acknowledgements skipped because the delivery came on an earlier connection."""
    intake_depth: int
    intake_full: int
    """How many times a delivery had to wait for room in the intake."""


class Transport(Protocol):
    """What the source needs from an MQTT client (:class:`mqtt.client.MqttClient`)."""

    @property
    def connected(self) -> bool: ...

    @property
    def connection(self) -> int: ...

    def subscribe(self, pattern: str, qos: int = 1, *, no_local: bool = False) -> None: ...

    def start(self, timeout: float = 10.0) -> ConnAck: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def ack_many(self, packet_ids: Iterable[int], connection: int) -> bool: ...

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, *, retain: bool = False
    ) -> PublishInfo: ...

    def unsubscribe(self, pattern: str) -> Request: ...


def client_options(config: MqttSourceConfig) -> ClientOptions:
    """The client's options for ``config``: a persistent session with a backpressure window."""
    return ClientOptions(
        host=config.host,
        port=config.port,
        session=SessionOptions(
            client_id=config.client_id,
            username=config.username,
            password=config.password,
            keepalive=config.keepalive,
            session_expiry=config.session_expiry,
            clean_start=False,
            receive_maximum=config.receive_maximum,
            maximum_packet_size=config.maximum_packet_size,
        ),
        tls_ca=config.tls_ca,
        tls=config.tls,
        reconnect_min_delay=config.reconnect_min_delay,
        reconnect_max_delay=config.reconnect_max_delay,
    )


def mqtt5_client(config: MqttSourceConfig, handler: Handler) -> Transport:
    """The default transport: the product's MQTT v5 client."""
    return MqttClient(client_options(config), handler)


ClientFactory = Callable[[MqttSourceConfig, Handler], Transport]


def _weight(delivery: Delivery) -> int:
    """What a delivery costs the intake: its topic and payload."""
    return len(delivery.topic) + len(delivery.payload)


def _collector_error(exc: mqtt_errors.MqttError) -> MqttError:
    """The client's exception as the collector's (same one-line message)."""
    if isinstance(exc, mqtt_errors.MqttRefusedError):
        return MqttRefusedError(str(exc))
    return MqttUnavailableError(str(exc))


class MqttSource(Handler):
    """The collector's MQTT intake. Use once: ``start``, then ``drain``/``ack``, then ``stop``.

    The ``on_*`` methods are the client's callbacks; they run on its network thread.
    """

    def __init__(
        self,
        config: MqttSourceConfig,
        *,
        client_factory: ClientFactory = mqtt5_client,
        log: FilteringBoundLogger | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self._client_factory = client_factory
        self._log: FilteringBoundLogger = (
            log if log is not None else structlog.get_logger("collector.source")
        )
        self._clock = clock
        self._intake: Intake[Delivery] = Intake(
            config.capacity, max_bytes=config.intake_max_bytes, weigh=_weight
        )
        self._client: Transport | None = None
        self._connected = False  # CONNACK received, connection not yet lost
        self._connects = 0
        self._disconnects = 0
        self._sessions_lost = 0
        self._received = 0
        self._acked = 0
        self._stale_acks = 0
        self._size_checked = False
        self._resumed = False  # the current connection resumed the session
        self._starting = False
        self._stopping = False
        self._expect_session = False

    # ----------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 10.0, *, expect_session: bool = False) -> None:
        """Connect, wait for the broker to accept the connection and the subscription.

        ``expect_session``: the collector ran before under this client id (it has a state), so
        the broker should still hold its session; if it does not, that first connection counts
        in ``sessions_lost`` like a reconnection without the session.

        Raises :class:`~collector.errors.MqttUnavailableError` if the broker cannot be reached
        or does not answer within ``timeout`` seconds, and
        :class:`~collector.errors.MqttRefusedError` if it refuses the connection or the
        subscription. After it returns, connection losses are handled by reconnecting.
        """
        if self._client is not None:
            raise RuntimeError("an MqttSource can be started only once")
        client = self._client_factory(self.config, self)
        self._client = client
        client.subscribe(SUBSCRIPTION, self.config.qos, no_local=True)
        self._expect_session = expect_session
        self._starting = True
        try:
            client.start(timeout)
        except mqtt_errors.MqttError as exc:
            self._stopping = True
            raise _collector_error(exc) from None
        finally:
            self._starting = False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking messages in and disconnect cleanly.

        Acknowledge what is durably written *before* calling this. Deliveries still in the
        intake stay unacknowledged and the broker delivers them again on the next start.

        Acknowledgements written to the socket are not enough by themselves: closing a socket
        with unread incoming data (the broker keeps sending as acknowledgements free the
        window) resets the connection, which makes the broker discard whatever it had not yet
        read, acknowledgements included. So ``stop`` first waits (up to ``timeout`` s) for the
        broker to answer an UNSUBSCRIBE of a filter the source never subscribed to: the broker
        handles a client's packets in order, so the answer means every earlier acknowledgement
        has been applied to the session.
        """
        client = self._client
        if client is None or self._stopping:
            return
        self._stopping = True
        self._intake.close()
        if self._connected and client.unsubscribe(ACK_BARRIER_FILTER).wait(timeout) is None:
            self._log.warning(
                "mqtt broker did not confirm the last acknowledgements; "
                "they will be delivered again",
                url=self.config.url,
            )
        client.stop(timeout)
        self._connected = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------- pipeline side

    def drain(self, max_items: int, timeout: float) -> list[Delivery]:
        """Up to ``max_items`` deliveries, oldest first; waits up to ``timeout`` s for the first."""
        return self._intake.drain(max_items, timeout)

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge ``delivery`` to the broker; False if it came on an earlier connection.

        Call it only after the delivery is durably handled, in drain order, from one thread at
        a time. QoS 0 deliveries need no acknowledgement (True).
        """
        if delivery.qos == 0:
            return True
        return self.ack_many((delivery,)) == 1

    def ack_many(self, deliveries: Iterable[Delivery]) -> int:
        """Acknowledge deliveries in the given (arrival) order; return how many were sent.

        The PUBACKs of one connection go out in one send; deliveries of an earlier connection
        are skipped and counted as stale.
        """
        client = self._client
        sent = 0
        stale = 0
        ids: list[int] = []
        generation = -1
        for delivery in deliveries:
            if delivery.qos == 0:
                continue
            if delivery.generation != generation:
                if ids:
                    if client is not None and client.ack_many(ids, generation):
                        sent += len(ids)
                    else:
                        stale += len(ids)
                ids = []
                generation = delivery.generation
            ids.append(delivery.mid)
        if ids:
            if client is not None and client.ack_many(ids, generation):
                sent += len(ids)
            else:
                stale += len(ids)
        self._acked += sent
        self._stale_acks += stale
        return sent

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, *, retain: bool = False
    ) -> PublishInfo:
        """Publish (rejected input, alerts); safe from any thread.

        While the connection is down, messages wait in the client's session and go out after
        the reconnect. ``wait_for_publish(timeout)`` on the result waits for the broker's
        acknowledgement of a QoS 1 message; ``is_published()`` asks without waiting.
        """
        client = self._client
        if client is None:
            raise RuntimeError("publish before start")
        return client.publish(topic, payload, qos, retain=retain)

    # --------------------------------------------------------------------------- observation

    @property
    def connected(self) -> bool:
        """Connected and subscribed: messages published now reach the collector."""
        client = self._client
        return client is not None and self._connected and client.connected

    @property
    def generation(self) -> int:
        client = self._client
        return 0 if client is None else client.connection

    def stats(self) -> SourceStats:
        return SourceStats(
            connected=self.connected,
            connects=self._connects,
            disconnects=self._disconnects,
            sessions_lost=self._sessions_lost,
            received=self._received,
            acked=self._acked,
            stale_acks=self._stale_acks,
            intake_depth=len(self._intake),
            intake_full=self._intake.blocked_puts,
        )

    # ----------------------------------------------------------- callbacks (network thread)
    # An exception escaping a callback would cost the connection; every callback catches and
    # logs everything.

    def on_connect(self, connack: ConnAck, connection: int) -> None:
        try:
            self._connects += 1
            self._connected = True
            self._resumed = connack.session_present
            if not connack.session_present and (self._connects > 1 or self._expect_session):
                self._sessions_lost += 1
                self._log.warning(
                    "mqtt session lost: messages queued while disconnected may be gone",
                    url=self.config.url,
                    client_id=self.config.client_id,
                )
            self._log.info(
                "mqtt connected",
                url=self.config.url,
                client_id=self.config.client_id,
                session_present=connack.session_present,
                generation=connection,
            )
            self._check_packet_size(connack.maximum_packet_size)
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_connect failed")

    def _check_packet_size(self, broker_limit: int | None) -> None:
        if self._size_checked:
            return
        self._size_checked = True
        ours = self.config.maximum_packet_size
        if broker_limit is None or broker_limit > ours:
            self._log.warning(
                "mqtt broker accepts larger messages than the collector: the broker would drop "
                "them for the collector without notice; set max_packet_size in mosquitto.conf "
                "to at most the collector's maximum packet size",
                broker_max_packet_size=broker_limit or "unlimited",
                collector_max_packet_size=ours,
            )

    def on_subscribe(self, pattern: str, reason_code: int, _connection: int) -> None:
        try:
            if pattern != SUBSCRIPTION:
                return
            if reason_code >= 128:
                # At start-up with a new session, start() raises it; a resumed session starts
                # at CONNACK and keeps its subscription, so the refusal is logged.
                if not self._starting or self._resumed:
                    self._log.error(
                        "mqtt subscription refused; nothing arrives until the next reconnect",
                        reason=f"{self.config.url} refused the subscription to {SUBSCRIPTION}: "
                        f"{reason_name(reason_code)}",
                    )
            elif reason_code < self.config.qos:
                self._log.warning(
                    "mqtt subscription granted a lower qos",
                    requested=self.config.qos,
                    granted=reason_code,
                )
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_subscribe failed")

    def on_connect_failed(self, reason: str) -> None:
        self._log.warning("mqtt reconnect failed; retrying", url=self.config.url, reason=reason)

    def on_disconnect(self, reason: str, reason_code: int | None, _connection: int) -> None:
        try:
            if not self._connected:
                if not self._stopping and not self._starting:
                    self._log.warning(
                        "mqtt reconnect failed; retrying", url=self.config.url, reason=reason
                    )
                return
            self._connected = False
            self._disconnects += 1
            if self._stopping:
                self._log.info("mqtt disconnected", url=self.config.url)
            elif reason_code is not None:
                self._log.warning(
                    "mqtt broker closed the connection; reconnecting",
                    url=self.config.url,
                    reason=reason,
                    reason_code=reason_code,
                )
            else:
                self._log.warning(
                    "mqtt connection lost; reconnecting", url=self.config.url, reason=reason
                )
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_disconnect failed")

    def on_message(self, message: Publish, connection: int) -> None:
        # The per-message path of the network thread: keep it to a tuple and an append.
        try:
            self._received += 1
            # tuple.__new__ builds the same Delivery as Delivery(...) in less than half the time
            # (NamedTuple's __new__ is a Python function).
            self._intake.put(
                _new_tuple(
                    Delivery,
                    (
                        message.topic,
                        message.payload,
                        message.qos,
                        message.packet_id,
                        message.retain,
                        message.dup,
                        connection,
                        self._clock(),
                    ),
                )
            )
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_message failed")
