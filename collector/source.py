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

Threads
-------
paho's network thread runs the callbacks. ``on_message`` only wraps the message in a
:class:`Delivery` and appends it to an :class:`~collector.intake.Intake`; one pipeline worker
takes deliveries out with :meth:`MqttSource.drain`. Acknowledgements (:meth:`MqttSource.ack`,
:meth:`MqttSource.ack_many`) may come from another thread (the pipeline's writer), but from one
at a time and in the order the deliveries were drained: the source does not check the order,
the pipeline keeps it by acknowledging whole batches in drain order. :meth:`MqttSource.publish`
is safe from any thread.

Generations
-----------
A packet identifier (``mid``) means something only on the connection it arrived on: once a
connection is lost, the broker resends every unacknowledged message on the next connection (or,
if it lost the session, never), and an acknowledgement for an old ``mid`` could acknowledge a
different message there. Each
successful connection therefore starts a new *generation*; a :class:`Delivery` carries the
generation it arrived in, and acknowledging a delivery of an earlier generation sends nothing
(it is counted in :attr:`SourceStats.stale_acks`). The broker redelivers such a message on the
new connection and the pipeline sees it again as a duplicate. Deliveries of an earlier
generation are still handed to the pipeline, never dropped: if the broker lost the session
(``session_present`` false after a reconnect), they will not come again.

Reconnection
------------
After :meth:`MqttSource.start` has succeeded, losing the connection never stops the source:
paho reconnects with an exponential delay (``reconnect_min_delay`` .. ``reconnect_max_delay``)
and the source subscribes again on every connection (harmless when the session survived,
essential when the broker lost it). Start-up failures, by contrast, raise a one-line
:class:`~collector.errors.MqttError`, because a wrong host or password will not fix itself.
"""

import contextlib
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from structlog.typing import FilteringBoundLogger

from collector.errors import MqttError, MqttRefusedError, MqttUnavailableError
from collector.intake import Intake
from contract import SUBSCRIPTION, TOPIC_ROOT

MAX_RECEIVE_MAXIMUM = 65_535
ACK_BARRIER_FILTER = f"{TOPIC_ROOT}/_collector/ack-barrier"
"""Never subscribed; ``stop`` unsubscribes from it to learn that earlier acks were applied."""
MAX_SESSION_EXPIRY = 0xFFFF_FFFF
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
    qos: int = 1
    """QoS of the subscription."""
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
        if self.qos not in (0, 1, 2):
            raise ValueError(f"mqtt qos {self.qos} is not 0, 1 or 2")
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
        scheme = "mqtts" if self.tls_ca is not None else "mqtt"
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
    """Reconnections on which the broker no longer had the session (queued messages lost)."""
    received: int
    acked: int
    stale_acks: int
    """Acknowledgements skipped because the delivery came on an earlier connection."""
    intake_depth: int
    intake_full: int
    """How many times a delivery had to wait for room in the intake."""


def paho_client(config: MqttSourceConfig) -> mqtt.Client:
    """The default client factory: a paho MQTT v5 client with manual acknowledgements."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    if config.username is not None:
        client.username_pw_set(config.username, config.password)
    if config.tls_ca is not None:
        client.tls_set_context(ssl.create_default_context(cafile=str(config.tls_ca)))
    return client


ClientFactory = Callable[[MqttSourceConfig], mqtt.Client]


def _weight(delivery: Delivery) -> int:
    """What a delivery costs the intake: its topic and payload."""
    return len(delivery.topic) + len(delivery.payload)


def _describe(exc: OSError) -> str:
    """``ConnectionRefusedError(111, 'Connection refused')`` -> ``connection refused``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").replace("_", " ").lower()
        return f"TLS handshake failed: {reason or exc}"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _reason(code: ReasonCode) -> str:
    text = code.getName()
    return text[:1].lower() + text[1:]


class MqttSource:
    """The collector's MQTT intake. Use once: ``start``, then ``drain``/``ack``, then ``stop``."""

    def __init__(
        self,
        config: MqttSourceConfig,
        *,
        client_factory: ClientFactory = paho_client,
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
        self._client: mqtt.Client | None = None
        # Generation bookkeeping: ``_generation`` is written only by the network thread;
        # ``_live_generation`` (None while there is no connection) is read and written under
        # ``_ack_lock``, so an acknowledgement is either sent before the connection is
        # declared gone or not at all.
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._live_generation: int | None = None
        self._connected = False  # CONNACK received, connection not yet lost
        self._subscribed = False  # ... and the broker confirmed the subscription on it
        self._connects = 0
        self._disconnects = 0
        self._sessions_lost = 0
        self._received = 0
        self._acked = 0
        self._stale_acks = 0
        self._sub_mid: int | None = None
        self._barrier_lock = threading.Lock()
        self._barrier: tuple[int, threading.Event] | None = None
        # Start-up handshake: the network thread reports the outcome of the first connection.
        self._starting = False
        self._stopping = False
        self._start_done = threading.Event()
        self._start_error: MqttError | None = None

    # ----------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 10.0) -> None:
        """Connect, wait for the broker to accept the connection and the subscription.

        Raises :class:`~collector.errors.MqttUnavailableError` if the broker cannot be reached
        or does not answer within ``timeout`` seconds, and
        :class:`~collector.errors.MqttRefusedError` if it refuses the connection or the
        subscription. After it returns, connection losses are handled by reconnecting.
        """
        if self._client is not None:
            raise RuntimeError("an MqttSource can be started only once")
        config = self.config
        client = self._client_factory(config)
        self._client = client
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(config.reconnect_min_delay, config.reconnect_max_delay)
        client.connect_timeout = timeout
        # paho's Properties constructor has no annotations.
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = config.session_expiry
        properties.ReceiveMaximum = config.receive_maximum
        self._starting = True
        failure = None
        with warnings.catch_warnings():
            # After a failed TLS handshake paho leaves the socket to the garbage collector,
            # which complains when the exception (and with it the socket) is released.
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                client.connect(
                    config.host,
                    config.port,
                    keepalive=config.keepalive,
                    clean_start=False,
                    properties=properties,
                )
            except OSError as exc:
                failure = _describe(exc)
        if failure is not None:
            self._starting = False
            self._stopping = True
            raise MqttUnavailableError(f"cannot connect to {config.url}: {failure}")
        client.loop_start()
        answered = self._start_done.wait(timeout)
        self._starting = False
        if answered and self._start_error is None:
            return
        self._stopping = True
        client.disconnect()
        client.loop_stop()
        if self._start_error is not None:
            raise self._start_error
        raise MqttUnavailableError(
            f"cannot connect to {config.url}: no answer from the broker within {timeout:g}s"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking messages in and disconnect cleanly.

        Acknowledge what is durably written *before* calling this. Deliveries still in the
        intake stay unacknowledged and the broker delivers them again on the next start.

        Queued acknowledgements are not enough by themselves: paho closes the socket right after
        sending DISCONNECT, and closing a socket with unread incoming data (the broker keeps
        sending as acknowledgements free the window) resets the connection, which makes the
        broker discard whatever it had not yet read, acknowledgements included. So ``stop``
        first waits (up to ``timeout`` s) for the broker to answer an UNSUBSCRIBE of a filter
        the source never subscribed to: the broker handles a client's packets in order, so the
        answer means every earlier acknowledgement has been applied to the session.
        """
        client = self._client
        if client is None or self._stopping:
            return
        self._stopping = True
        self._intake.close()
        if self._connected and not self._ack_barrier(client, timeout):
            self._log.warning(
                "mqtt broker did not confirm the last acknowledgements; "
                "they will be delivered again",
                url=self.config.url,
            )
        client.disconnect()
        client.loop_stop()
        with self._ack_lock:
            self._live_generation = None
        self._connected = False
        self._subscribed = False

    def _ack_barrier(self, client: mqtt.Client, timeout: float) -> bool:
        done = threading.Event()
        with self._barrier_lock:
            rc, mid = client.unsubscribe(ACK_BARRIER_FILTER)
            if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
                return False
            self._barrier = (mid, done)
        return done.wait(timeout)

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
        client = self._client
        with self._ack_lock:
            if client is None or delivery.generation != self._live_generation:
                self._stale_acks += 1
                return False
            client.ack(delivery.mid, delivery.qos)
            self._acked += 1
            return True

    def ack_many(self, deliveries: Iterable[Delivery]) -> int:
        """Acknowledge deliveries in the given (arrival) order; return how many were sent."""
        client = self._client
        sent = 0
        skipped = 0
        with self._ack_lock:
            live = self._live_generation
            for delivery in deliveries:
                if delivery.qos == 0:
                    continue
                if client is None or delivery.generation != live:
                    skipped += 1
                    continue
                client.ack(delivery.mid, delivery.qos)
                sent += 1
            self._acked += sent
            self._stale_acks += skipped
        return sent

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish (rejected input, alerts); safe from any thread.

        While the connection is down, QoS 1 messages wait in paho's memory and go out after the
        reconnect. Do not wait for the result on the draining thread without a timeout: if the
        intake is full the network thread is blocked until that thread drains.
        """
        client = self._client
        if client is None:
            raise RuntimeError("publish before start")
        return client.publish(topic, payload, qos=qos, retain=retain)

    # --------------------------------------------------------------------------- observation

    @property
    def connected(self) -> bool:
        """Connected and subscribed: messages published now reach the collector."""
        return self._connected and self._subscribed

    @property
    def generation(self) -> int:
        return self._generation

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
    # An exception escaping a callback would end paho's network thread, so every callback
    # catches and logs everything.

    def _on_pre_connect(self, _client: mqtt.Client, _userdata: object) -> None:
        # A connection attempt starts: whatever the previous connection was, its packet
        # identifiers are void from now on (covers losses paho reports without on_disconnect).
        with self._ack_lock:
            self._live_generation = None

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        try:
            if reason_code.is_failure:
                self._refused(
                    client,
                    f"{self.config.url} refused the connection: {_reason(reason_code)}",
                    "mqtt connection refused; retrying",
                )
                return
            with self._ack_lock:
                self._generation += 1
                self._live_generation = self._generation
            self._connects += 1
            self._connected = True
            self._subscribed = False
            first = self._connects == 1
            if not flags.session_present and not first:
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
                session_present=flags.session_present,
                generation=self._generation,
            )
            options = SubscribeOptions(qos=self.config.qos, noLocal=True)
            _rc, self._sub_mid = client.subscribe(SUBSCRIPTION, options=options)
        except Exception:  # noqa: BLE001 - must not end the network thread; logged
            self._log.exception("mqtt on_connect failed")

    def _on_subscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        try:
            if mid != self._sub_mid:
                return
            code = reason_codes[0]
            if code.is_failure:
                self._refused(
                    client,
                    f"{self.config.url} refused the subscription to {SUBSCRIPTION}: "
                    f"{_reason(code)}",
                    "mqtt subscription refused; nothing arrives until the next reconnect",
                )
                return
            if code.value < self.config.qos:
                self._log.warning(
                    "mqtt subscription granted a lower qos",
                    requested=self.config.qos,
                    granted=code.value,
                )
            self._subscribed = True
            self._start_done.set()
        except Exception:  # noqa: BLE001 - must not end the network thread; logged
            self._log.exception("mqtt on_subscribe failed")

    def _on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._barrier_lock:
            if self._barrier is not None and self._barrier[0] == mid:
                self._barrier[1].set()

    def _refused(self, client: mqtt.Client, message: str, later: str) -> None:
        if self._starting:
            # Give up: start() raises this; disconnecting here (in the network thread) makes
            # the loop end now instead of retrying.
            self._start_error = MqttRefusedError(message)
            self._start_done.set()
            client.disconnect()
        else:
            self._log.error(later, reason=message)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        with contextlib.suppress(Exception):
            self._log.warning("mqtt reconnect failed; retrying", url=self.config.url)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        try:
            with self._ack_lock:
                self._live_generation = None
            self._subscribed = False
            if self._starting and not self._start_done.is_set():
                # Closed before accepting us (e.g. a TLS port spoken to without TLS): retrying
                # would not help.
                self._start_error = MqttUnavailableError(
                    f"cannot connect to {self.config.url}: "
                    "the broker closed the connection before accepting it"
                )
                self._start_done.set()
                client.disconnect()
            if not self._connected:
                return
            self._connected = False
            self._disconnects += 1
            if self._stopping:
                self._log.info("mqtt disconnected", url=self.config.url)
            else:
                self._log.warning(
                    "mqtt connection lost; reconnecting",
                    url=self.config.url,
                    reason=_reason(reason_code),
                    by_broker=flags.is_disconnect_packet_from_server,
                )
        except Exception:  # noqa: BLE001 - must not end the network thread; logged
            self._log.exception("mqtt on_disconnect failed")

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        # The per-message path of the network thread: keep it to a tuple and an append.
        try:
            try:
                topic = message.topic
            except UnicodeDecodeError:
                # Brokers reject such topics; should one arrive, validation rejects it.
                topic = message._topic.decode("utf-8", "replace")
            payload = message.payload
            if type(payload) is not bytes:  # paho decodes to bytes; be sure it stays immutable
                payload = bytes(payload)
            self._received += 1
            # tuple.__new__ builds the same Delivery as Delivery(...) in less than half the time
            # (NamedTuple's __new__ is a Python function).
            self._intake.put(
                _new_tuple(
                    Delivery,
                    (
                        topic,
                        payload,
                        message.qos,
                        message.mid,
                        message.retain,
                        message.dup,
                        self._generation,
                        self._clock(),
                    ),
                )
            )
        except Exception:  # noqa: BLE001 - must not end the network thread; logged
            self._log.exception("mqtt on_message failed")
