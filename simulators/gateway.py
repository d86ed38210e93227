"""An enterprise gateway: one MQTT 3.1.1 connection publishing its machines' readings.

The gateway does no I/O on its own initiative: the fleet drives every gateway from one thread
with one selector. Readings go out at QoS 1 and stay in flight until the broker's PUBACK; after a
lost connection they are sent again (DUP) once the broker has accepted the new connection. The
gateway publishes a retained birth message on its status topic whenever it connects and leaves a
retained Last Will (``online: false``) with the broker.

Packets are encoded by :mod:`simulators.mqtt_wire`: a general-purpose MQTT client costs several
times more CPU per message than the park's 4,000 readings a second can afford in one process.
"""

import contextlib
import selectors
import socket
import struct
from collections.abc import Callable
from enum import Enum

import orjson

from contract import status_topic
from simulators.broker import BrokerAddress
from simulators.mqtt_wire import (
    CONNACK,
    CONNACK_REASONS,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK,
    PacketReader,
    ProtocolError,
    as_dup,
    connect_packet,
    publish_packet,
    str16,
)

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_RECV_BYTES = 65536


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


class Gateway:
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
    ) -> None:
        self.enterprise = enterprise
        self.client_id = f"{client_id_prefix}{enterprise}"
        self.status_topic = status_topic(enterprise)
        self.machines = machines
        self.broker = broker
        self.state = GatewayState.NEW
        self.refusal: str | None = None
        self._selector = selector
        self._wall_ms = wall_ms
        self._mono = monotonic
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._on_lost = on_lost
        self._status16 = str16(self.status_topic)
        self._connect = connect_packet(
            self.client_id,
            keepalive=keepalive,
            will_topic=self.status_topic,
            will_payload=orjson.dumps({"online": False}),
            username=broker.username,
            password=broker.password,
        )
        self._sock: socket.socket | None = None
        self._out = bytearray()
        self._writing = False
        self._inflight: dict[int, bytes] = {}
        self._next_id = 1
        self._reader = PacketReader()
        self._last_sent = 0.0
        self._ping_sent: float | None = None
        self._connecting_since = 0.0
        self._online_since_ms = 0

    @property
    def pending(self) -> int:
        """PUBLISH packets not acknowledged by the broker yet."""
        return len(self._inflight)

    @property
    def closed(self) -> bool:
        return self._sock is None

    def since_online(self, now_ms: int) -> float:
        """Seconds since the gateway last came online (infinite if it never did)."""
        if not self._online_since_ms:
            return float("inf")
        return (now_ms - self._online_since_ms) / 1000.0

    # -- connection ----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect: TCP now (raises ``OSError``), CONNACK later through :meth:`handle_read`.

        Messages still in flight from an earlier connection are sent again after the CONNACK.
        """
        self._close_socket()
        self.state = GatewayState.CONNECTING
        self._out.clear()
        self._reader = PacketReader()
        try:
            sock = socket.create_connection(
                (self.broker.host, self.broker.port), timeout=self._connect_timeout
            )
        except OSError:
            self.state = GatewayState.DOWN
            raise
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._selector.register(sock, _READ, self)
        self._writing = False
        now = self._mono()
        self._connecting_since = now
        self._ping_sent = None
        self._out += self._connect
        self.flush()

    def _on_connack(self, body: bytes) -> None:
        code = body[1] if len(body) >= 2 else -1
        if code != 0:
            self.refusal = CONNACK_REASONS.get(code, f"CONNACK return code {code}")
            self.state = GatewayState.REFUSED
            self._close_socket()
            if self._on_lost is not None:
                self._on_lost(self)
            return
        self.state = GatewayState.ONLINE
        self._online_since_ms = self._wall_ms()
        resend = [as_dup(packet) for packet in self._inflight.values()]
        birth = {"online": True, "ts": self._online_since_ms, "machines": list(self.machines)}
        self.publish(self._status16, orjson.dumps(birth), retain=True)
        for packet in resend:
            self._out += packet
        self.flush()

    def _lost(self) -> None:
        self._close_socket()
        if self.state is GatewayState.CLOSING:
            self.state = GatewayState.CLOSED
        elif self.state in (GatewayState.CONNECTING, GatewayState.ONLINE):
            self.state = GatewayState.DOWN
            if self._on_lost is not None:
                self._on_lost(self)

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        self._writing = False
        if sock is not None:
            # (a socket the selector has already forgotten is fine)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()

    # -- I/O, driven by the fleet -----------------------------------------------------------------

    def publish(self, topic16: bytes, payload: bytes, *, retain: bool = False) -> None:
        """Queue a QoS 1 PUBLISH (sent by :meth:`flush`; kept until the broker acks it)."""
        inflight = self._inflight
        packet_id = self._next_id
        while packet_id in inflight:
            packet_id = packet_id % 65535 + 1
        self._next_id = packet_id % 65535 + 1
        packet = publish_packet(topic16, payload, packet_id, retain=retain)
        inflight[packet_id] = packet
        if self.state is GatewayState.ONLINE:
            self._out += packet

    def flush(self) -> None:
        """Send what is queued; watch for writability while some of it is left."""
        sock = self._sock
        if sock is None or not self._out:
            return
        try:
            sent = sock.send(self._out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost()
            return
        if sent:
            del self._out[:sent]
            self._last_sent = self._mono()
        want = bool(self._out)
        if want != self._writing:
            self._selector.modify(sock, _READ | _WRITE if want else _READ, self)
            self._writing = want
        if not want and self.state is GatewayState.CLOSING:
            self._close_socket()
            self.state = GatewayState.CLOSED

    def handle_read(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            self._lost()
            return
        if not data:
            self._lost()
            return
        try:
            packets = self._reader.feed(data)
        except ProtocolError:
            self._lost()
            return
        inflight = self._inflight
        for kind, _flags, body in packets:
            if kind == PUBACK:
                inflight.pop(int.from_bytes(body[:2], "big"), None)
            elif kind == CONNACK:
                self._on_connack(body)
            elif kind == PINGRESP:
                self._ping_sent = None

    def keepalive(self, now: float) -> None:
        """Ping an idle connection; give up on one that stopped answering."""
        if self._sock is None:
            return
        if self.state is GatewayState.CONNECTING:
            if now - self._connecting_since > self._connect_timeout:
                self._lost()
            return
        if self.state is not GatewayState.ONLINE:
            return
        if self._ping_sent is not None:
            if now - self._ping_sent > self._keepalive:
                self._lost()
        elif now - self._last_sent >= self._keepalive / 2:
            self._ping_sent = now
            self._out += PINGREQ_PACKET
            self.flush()

    def abort(self) -> None:
        """Die without DISCONNECT: reset the TCP connection, so the broker sends the Last Will."""
        self.state = GatewayState.DEAD
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone: the broker sees it lost anyway
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close_socket()
        self._out.clear()

    def say_offline(self) -> None:
        """Publish the retained ``online: false`` status of a clean shutdown."""
        payload = orjson.dumps({"online": False, "ts": self._wall_ms()})
        self.publish(self._status16, payload, retain=True)
        self.flush()

    def disconnect(self) -> None:
        """Clean DISCONNECT (the broker then discards the Last Will), then close."""
        if self._sock is None:
            self.state = GatewayState.CLOSED
            return
        self.state = GatewayState.CLOSING
        self._out += DISCONNECT_PACKET
        self.flush()

    def close(self) -> None:
        """Close the socket, whatever the state (no DISCONNECT)."""
        self._close_socket()
