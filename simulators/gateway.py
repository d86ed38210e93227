"""An enterprise gateway: one MQTT v5 connection publishing its machines' readings.

The gateway does no I/O on its own initiative: the fleet drives every gateway from one thread
with one selector. The connection is the product's own MQTT client (:class:`mqtt.connection.
Connection`, the same session the collector uses): readings go out at QoS 1 and stay in flight
until the broker's PUBACK; after a lost connection they are sent again once the broker has
accepted the new connection. The gateway publishes a retained birth message on its status topic
whenever it connects and leaves a retained Last Will (``online: false``) with the broker.
"""

import selectors
import ssl
from collections.abc import Callable
from enum import Enum

import orjson

from contract import status_topic
from mqtt.client import ClientOptions
from mqtt.connection import Connection, ConnectionHandler
from mqtt.protocol import ConnAck, Outgoing, SessionOptions, Will, reason_name
from simulators.broker import BrokerAddress


class GatewayState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    ONLINE = "online"
    DOWN = "down"
    """Lost its connection unexpectedly; the fleet reconnects it."""
    DEAD = "dead"
    """Connection aborted on purpose (fault injection); the fleet revives it later."""
    REFUSED = "refused"
    """The broker answered CONNECT with a refusal (fatal at the start, retried later on)."""
    CLOSING = "closing"
    CLOSED = "closed"


class Gateway(ConnectionHandler):
    """One enterprise's connection. ``pending`` counts messages the broker has not acked yet."""

    def __init__(
        self,
        enterprise: str,
        machines: tuple[str, ...],
        broker: BrokerAddress,
        *,
        selector: selectors.BaseSelector,
        wall_ms: Callable[[], int],
        monotonic: Callable[[], float],
        keepalive: int = 60,
        connect_timeout: float = 10.0,
        on_lost: Callable[["Gateway"], None] | None = None,
        client_id_prefix: str = "gw-",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.enterprise = enterprise
        self.client_id = f"{client_id_prefix}{enterprise}"
        self.status_topic = status_topic(enterprise)
        self.machines = machines
        self.broker = broker
        self.state = GatewayState.NEW
        self.refusal: str | None = None
        self.lost_reason: str | None = None
        self._wall_ms = wall_ms
        self._on_lost = on_lost
        session = SessionOptions(
            self.client_id,
            username=broker.username,
            password=broker.password,
            keepalive=keepalive,
            clean_start=True,
            will=Will(self.status_topic, orjson.dumps({"online": False}), qos=1, retain=True),
        )
        options = ClientOptions(
            broker.host,
            broker.port,
            session,
            tls_ca=broker.ca_file,
            connect_timeout=connect_timeout,
        )
        if tls is None and broker.tls:
            tls = broker.tls_context()
        self.connection = Connection(options, selector, self, tls=tls, monotonic=monotonic)
        self.publish: Callable[[str, bytes], Outgoing] = self.connection.session.publish
        """Queue a QoS 1 reading (sent by :meth:`flush`; kept until the broker acks it). The
        session's own method, bound here: one Python call less per reading."""
        self._online_since_ms = 0

    @property
    def pending(self) -> int:
        """Publications not acknowledged by the broker yet."""
        return self.connection.pending

    @property
    def closed(self) -> bool:
        return self.connection.closed

    def since_online(self, now_ms: int) -> float:
        """Seconds since the gateway last came online (infinite if it never did)."""
        if not self._online_since_ms:
            return float("inf")
        return (now_ms - self._online_since_ms) / 1000.0

    # -- the connection's events ------------------------------------------------------------------

    def open(self) -> None:
        """Connect: TCP (and TLS) now (raises ``OSError``), CONNACK later.

        Messages still in flight from an earlier connection are sent again after the CONNACK.
        """
        self.state = GatewayState.CONNECTING
        try:
            self.connection.open()
        except OSError:
            self.state = GatewayState.DOWN
            raise

    def on_connect(self, connack: ConnAck) -> None:  # noqa: ARG002 - the handler's signature
        self.state = GatewayState.ONLINE
        self._online_since_ms = self._wall_ms()
        birth = {"online": True, "ts": self._online_since_ms, "machines": list(self.machines)}
        self.connection.publish(self.status_topic, orjson.dumps(birth), retain=True)

    def on_refused(self, connack: ConnAck) -> None:
        self.refusal = reason_name(connack.reason_code)
        self.state = GatewayState.REFUSED
        if self._on_lost is not None:
            self._on_lost(self)

    def on_lost(self, reason: str) -> None:
        self.lost_reason = reason
        if self.state in (GatewayState.CONNECTING, GatewayState.ONLINE):
            self.state = GatewayState.DOWN
            if self._on_lost is not None:
                self._on_lost(self)

    # -- I/O, driven by the fleet -----------------------------------------------------------------

    def flush(self) -> None:
        """Send what is queued."""
        self.connection.flush()
        if self.state is GatewayState.CLOSING and self.connection.closed:
            self.state = GatewayState.CLOSED

    def keepalive(self, now: float) -> None:
        """Ping an idle connection; give up on one that stopped answering."""
        self.connection.keepalive(now)

    def abort(self) -> None:
        """Die without DISCONNECT: reset the TCP connection, so the broker sends the Last Will."""
        self.state = GatewayState.DEAD
        self.connection.abort()

    def say_offline(self) -> None:
        """Publish the retained ``online: false`` status of a clean shutdown."""
        payload = orjson.dumps({"online": False, "ts": self._wall_ms()})
        self.connection.publish(self.status_topic, payload, retain=True)
        self.connection.flush()

    def disconnect(self) -> None:
        """Clean DISCONNECT (the broker then discards the Last Will), then close."""
        if self.connection.closed:
            self.state = GatewayState.CLOSED
            return
        self.state = GatewayState.CLOSING
        self.connection.disconnect()
        if self.connection.closed:
            self.state = GatewayState.CLOSED

    def close(self) -> None:
        """Close the socket, whatever the state (no DISCONNECT)."""
        self.connection.close()
