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

The session's settings and the message size limit are in :mod:`collector.session`; the
connection's state and its log lines in :mod:`collector.link`.

Threads
-------
The transport is the product's own client, :class:`mqtt.client.MqttClient`: its network thread
calls :meth:`MqttSource.on_message`, which only wraps the message in a
:class:`~collector.delivery.Delivery` and appends it to an :class:`~collector.intake.Intake`;
one pipeline worker takes deliveries out with :meth:`MqttSource.drain`. Acknowledgements
(:meth:`MqttSource.ack`, :meth:`MqttSource.ack_many`) may come from another thread (the
pipeline's writer), but from one at a time and in the order the deliveries were drained: the
source does not check the order, the pipeline keeps it by acknowledging whole batches in drain
order; the PUBACKs of one call go out in one send. :meth:`MqttSource.publish` is safe from any
thread.

Generations
-----------
A packet identifier (``mid``) means something only on the connection it arrived on: once a
connection is lost, the broker resends every unacknowledged message on the next connection (or,
if it lost the session, never), and an acknowledgement for an old ``mid`` could acknowledge a
different message there. Each successful connection therefore starts a new *generation* (the
client's connection number); a :class:`~collector.delivery.Delivery` carries the generation it
arrived in, and acknowledging a delivery of an earlier generation sends nothing (it is counted in
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
from types import TracebackType
from typing import NamedTuple, Protocol, Self

import structlog
from structlog.typing import FilteringBoundLogger

from collector.delivery import Delivery
from collector.errors import MqttError, MqttRefusedError, MqttUnavailableError
from collector.intake import Intake
from collector.link import BrokerLink
from collector.session import MqttSourceConfig, client_options
from contract import SUBSCRIPTION, TOPIC_ROOT
from mqtt import errors as mqtt_errors
from mqtt.client import Handler, MqttClient, PublishInfo, Request
from mqtt.protocol import ConnAck, Publish

ACK_BARRIER_FILTER = f"{TOPIC_ROOT}/_collector/ack-barrier"
"""Never subscribed; ``stop`` unsubscribes from it to learn that earlier acks were applied."""
_new_tuple = tuple.__new__


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
        self._link = BrokerLink(config, self._log)
        self._received = 0
        self._acked = 0
        self._stale_acks = 0

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
        self._link.expect_session = expect_session
        self._link.starting = True
        try:
            client.start(timeout)
        except mqtt_errors.MqttError as exc:
            self._link.stopping = True
            raise _collector_error(exc) from None
        finally:
            self._link.starting = False

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
        if client is None or self._link.stopping:
            return
        self._link.stopping = True
        self._intake.close()
        if self._link.connected and client.unsubscribe(ACK_BARRIER_FILTER).wait(timeout) is None:
            self._log.warning(
                "mqtt broker did not confirm the last acknowledgements; "
                "they will be delivered again",
                url=self.config.url,
            )
        client.stop(timeout)
        self._link.connected = False

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
        return client is not None and self._link.connected and client.connected

    @property
    def generation(self) -> int:
        client = self._client
        return 0 if client is None else client.connection

    def stats(self) -> SourceStats:
        return SourceStats(
            connected=self.connected,
            connects=self._link.connects,
            disconnects=self._link.disconnects,
            sessions_lost=self._link.sessions_lost,
            received=self._received,
            acked=self._acked,
            stale_acks=self._stale_acks,
            intake_depth=len(self._intake),
            intake_full=self._intake.blocked_puts,
        )

    # ----------------------------------------------------------- callbacks (network thread)

    def on_connect(self, connack: ConnAck, connection: int) -> None:
        self._link.on_connect(connack, connection)

    def on_subscribe(self, pattern: str, reason_code: int, connection: int) -> None:
        self._link.on_subscribe(pattern, reason_code, connection)

    def on_connect_failed(self, reason: str) -> None:
        self._link.on_connect_failed(reason)

    def on_disconnect(self, reason: str, reason_code: int | None, connection: int) -> None:
        self._link.on_disconnect(reason, reason_code, connection)

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
