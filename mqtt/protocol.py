"""The MQTT v5 client session without I/O: bytes in, events and bytes out.

A :class:`Session` builds every packet with the ``mqtt5`` codec and parses what the broker sends
with :func:`mqtt5.read`. It owns no socket, thread or clock, so one thread can drive it over a
blocking socket (:mod:`mqtt.client`) or a selector loop over many non-blocking sockets.

Use: :meth:`Session.connect` gives the CONNECT bytes of a new connection; every chunk read from
the socket goes to :meth:`Session.receive`, which returns the complete packets as events and
keeps an incomplete one for the next chunk; whatever the session has to send by itself
(publications released by the broker's window, resends after a reconnect) is collected by
:meth:`Session.data_to_send`. :meth:`Session.connection_lost` marks the end of a connection.

Outgoing QoS 1 publications are tracked until their PUBACK: at most the broker's Receive Maximum
are in flight, the rest wait in order; after a reconnect the unacknowledged ones go out again
(with DUP set if the broker kept the session), so nothing published is lost to a broken
connection. This module is the seam to the codec: only it (and :mod:`mqtt.client`'s
``puback`` helper through it) touches ``mqtt5``.
"""

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import mqtt5

from mqtt.errors import MqttProtocolError

MAX_PACKET_ID = 65_535
PACKET_TOO_LARGE = 149
MAX_VARIABLE_INT = 268_435_455
"""The largest packet MQTT allows (remaining length), and the default Maximum Packet Size."""


# ------------------------------------------------------------------------------ events


class Publish(NamedTuple):
    """A message from the broker."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int
    """0 for QoS 0; otherwise acknowledge it with :func:`pubacks` on the same connection."""
    dup: bool


class ConnAck(NamedTuple):
    """The broker's answer to CONNECT."""

    session_present: bool
    reason_code: int
    """0 accepted; 128 and above refused (see :func:`reason_name`)."""
    server_keep_alive: int | None
    """Keep alive the broker imposes (seconds), overriding the one the client asked for."""
    receive_maximum: int
    """Most unacknowledged QoS 1 publications the broker takes from the client."""
    maximum_packet_size: int | None
    """Largest packet the broker accepts from the client."""
    reason_string: str | None


class PubAck(NamedTuple):
    """The broker acknowledged a QoS 1 publication of the client."""

    packet_id: int
    reason_code: int
    message: "Outgoing | None"
    """The publication it acknowledges (None if the packet id was not in flight)."""


class SubAck(NamedTuple):
    packet_id: int
    reason_codes: tuple[int, ...]
    """Per filter: the granted QoS (0-2), or a failure code (128 and above)."""


class UnsubAck(NamedTuple):
    packet_id: int
    reason_codes: tuple[int, ...]


class PingResp(NamedTuple):
    """The broker answered PINGREQ."""


class Disconnect(NamedTuple):
    """The broker is closing the connection."""

    reason_code: int
    reason_string: str | None


Event = Publish | ConnAck | PubAck | SubAck | UnsubAck | PingResp | Disconnect

_PING_RESP = PingResp()

_REASON_NAMES: dict[int, str] = {}
for _codes in (
    mqtt5.ConnAckReasonCode,
    mqtt5.SubAckReasonCode,
    mqtt5.UnsubAckReasonCode,
    mqtt5.PubAckReasonCode,
    mqtt5.DisconnectReasonCode,
):
    # The codec's enums are not iterable (compiled classes): read their upper-case attributes.
    for _name in dir(_codes):
        if _name.isupper():
            _REASON_NAMES.setdefault(int(getattr(_codes, _name)), _name.replace("_", " ").lower())
_REASON_NAMES[0] = "success"


def reason_name(code: int) -> str:
    """``135`` -> ``"not authorized"``; an unknown code -> ``"reason code 250"``."""
    return _REASON_NAMES.get(code, f"reason code {code}")


# ------------------------------------------------------------------------------ options


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes when the connection is lost without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """What the CONNECT packet asks for."""

    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive: int = 30
    """Seconds; the broker may impose its own (``ConnAck.server_keep_alive``)."""
    session_expiry: int = 0
    """Seconds the broker keeps the session after the connection ends (0: not at all)."""
    clean_start: bool = False
    receive_maximum: int = 65_535
    """Most unacknowledged QoS 1 messages the broker may send at once (the backpressure window)."""
    maximum_packet_size: int = MAX_VARIABLE_INT
    """Largest packet the client accepts; the broker drops larger messages for this client
    (Mosquitto does so silently), so keep it above what the broker accepts from publishers."""
    will: Will | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.keepalive <= 65_535:
            raise ValueError(f"keep alive {self.keepalive} is not 0-65535 seconds")
        if not 0 < self.receive_maximum <= 65_535:
            raise ValueError(f"receive maximum {self.receive_maximum} is not 1-65535")
        if not 0 < self.maximum_packet_size <= MAX_VARIABLE_INT + 5:
            raise ValueError(f"maximum packet size {self.maximum_packet_size} is out of range")
        if self.password is not None and self.username is None:
            raise ValueError("password given without a username")


# ------------------------------------------------------------------------------ reading


def _malformed(detail: str) -> MqttProtocolError:
    return MqttProtocolError(f"malformed packet from the broker: {detail}")


class PacketReader:
    """Splits a byte stream into ``mqtt5`` packets; holds at most one incomplete packet.

    ``feed`` takes any chunk (several packets, part of one, or both) and returns every packet
    completed by it, in order. A packet larger than ``maximum_packet_size`` or bytes that are
    not MQTT raise :class:`~mqtt.errors.MqttProtocolError`; the stream is then unusable.
    """

    def __init__(self, maximum_packet_size: int = MAX_VARIABLE_INT + 5) -> None:
        self.maximum_packet_size = maximum_packet_size
        self._pending = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete packet kept for the next chunk."""
        return len(self._pending)

    def clear(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[mqtt5.Packet]:
        pending = self._pending
        if pending:
            pending += data
            source: bytes | bytearray | memoryview = pending
        else:
            source = data
        packets: list[mqtt5.Packet] = []
        offset = 0
        read = mqtt5.read
        with memoryview(source) as view:
            end = len(view)
            while offset < end:
                try:
                    packet, size = read(view[offset:])
                except IndexError:  # incomplete: the rest comes with the next chunk
                    break
                except UnicodeDecodeError:
                    raise _malformed("a string is not UTF-8") from None
                except ValueError as exc:
                    raise _malformed(str(exc)) from None
                except BaseException as exc:
                    # mqtt5 0.8.0 panics (pyo3 PanicException, a BaseException) on some invalid
                    # strings; that is bad input, not a reason to end the program.
                    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                        raise
                    raise _malformed("the codec could not decode it") from None
                if size > self.maximum_packet_size:
                    raise MqttProtocolError(
                        f"a packet from the broker is larger than the maximum packet size "
                        f"{self.maximum_packet_size}"
                    )
                packets.append(packet)
                offset += size
            rest = end - offset
            if rest > self.maximum_packet_size:
                raise MqttProtocolError(
                    f"a packet from the broker is larger than the maximum packet size "
                    f"{self.maximum_packet_size}"
                )
            tail = bytes(view[offset:]) if rest and not pending else b""
        if pending:
            del pending[:offset]
        elif rest:
            self._pending = bytearray(tail)
        return packets


# ------------------------------------------------------------------------------ sending


class Outgoing:
    """One publication of the client, from :meth:`Session.publish` until it is done."""

    __slots__ = (
        "done",
        "packet_id",
        "payload",
        "qos",
        "reason_code",
        "retain",
        "sent",
        "token",
        "topic",
    )

    def __init__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:  # noqa: FBT001 - mirrors the packet's fields
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.packet_id = 0
        self.sent = False
        """Written to a connection at least once (a resend then carries DUP)."""
        self.done = False
        """QoS 0: written; QoS 1: acknowledged by the broker."""
        self.reason_code = -1
        """The PUBACK's reason code once done (0 or 16 accepted, 128 and above refused)."""
        self.token: object = None
        """Free for the I/O layer (e.g. something to wake a waiting thread)."""

    def __repr__(self) -> str:
        return f"Outgoing({self.topic!r}, qos={self.qos}, packet_id={self.packet_id})"


def pubacks(packet_ids: Iterable[int]) -> bytes:
    """The PUBACK packets of ``packet_ids``, in order, as one chunk for one send."""
    ack = mqtt5.PubAckPacket
    return b"".join([ack(packet_id).write() for packet_id in packet_ids])


_QOS = (mqtt5.QoS(0), mqtt5.QoS(1))
_PUBLISH = mqtt5.PublishPacket


def _qos(value: int) -> mqtt5.QoS:
    if value not in (0, 1):
        raise ValueError(f"qos {value} is not supported (0 or 1)")
    return _QOS[value]


class Session:
    """One client's MQTT v5 session state across connections (see the module docstring)."""

    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        self.reader = PacketReader(options.maximum_packet_size)
        self.connected = False
        """CONNACK accepted on the current connection."""
        self.connack: ConnAck | None = None
        self._output: list[bytes] = []
        self._next_id = 0
        self._in_flight: dict[int, Outgoing] = {}  # sent, waiting for PUBACK, in send order
        self._waiting: deque[Outgoing] = deque()  # not yet sent (window full or disconnected)
        self._requests: dict[int, str] = {}  # SUBSCRIBE / UNSUBSCRIBE packet ids awaiting acks
        self._send_quota = 65_535
        self._limit: int | None = None  # the broker's Maximum Packet Size
        self._refused: list[PubAck] = []  # publications too large for the broker

    # -------------------------------------------------------------------- connection

    def connect(self) -> bytes:
        """The CONNECT packet of a new connection; forgets anything of the previous one."""
        self.connection_lost()
        self.reader.clear()
        options = self.options
        will = None
        if options.will is not None:
            will = mqtt5.Will(
                options.will.topic,
                payload=options.will.payload,
                qos=_qos(options.will.qos),
                retain=options.will.retain,
            )
        return mqtt5.ConnectPacket(
            options.client_id,
            username=options.username,
            password=None if options.password is None else options.password.encode(),
            clean_start=options.clean_start,
            will=will,
            keep_alive=options.keepalive,
            session_expiry_interval=options.session_expiry,
            receive_max=options.receive_maximum,
            max_packet_size=options.maximum_packet_size,
        ).write()

    def connection_lost(self) -> None:
        """The connection ended: requests on it are void; publications wait for the next."""
        self.connected = False
        self._output.clear()
        self._requests.clear()

    @property
    def keepalive(self) -> int:
        """The keep alive in force: the broker's if it imposed one."""
        connack = self.connack
        if connack is not None and connack.server_keep_alive is not None:
            return connack.server_keep_alive
        return self.options.keepalive

    # -------------------------------------------------------------------- receiving

    def receive(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """The events of every packet completed by ``data`` (see :class:`PacketReader`)."""
        events: list[Event] = []
        append = events.append
        publish_type = mqtt5.PublishPacket
        puback_type = mqtt5.PubAckPacket
        new_tuple = tuple.__new__
        in_flight = self._in_flight
        released = False
        for packet in self.reader.feed(data):
            if type(packet) is puback_type:  # (a publisher's stream: one per message)
                packet_id = packet.packet_id
                reason_code = int(packet.reason_code)
                message = in_flight.pop(packet_id, None)
                if message is not None:  # (as _puback, inline: a call less per message)
                    message.done = True
                    message.reason_code = reason_code
                    self._send_quota += 1
                    released = True
                append(new_tuple(PubAck, (packet_id, reason_code, message)))
            elif type(packet) is publish_type:
                qos = int(packet.qos)
                if qos > 1:
                    raise MqttProtocolError("the broker sent a QoS 2 message; QoS 1 was granted")
                # tuple.__new__ builds the same Publish in a fraction of the time of
                # Publish(...), whose __new__ is a Python function (a third of the network
                # thread's CPU in a profile of the collector draining a backlog).
                append(
                    new_tuple(
                        Publish,
                        (
                            packet.topic,
                            packet.payload,
                            qos,
                            packet.retain,
                            packet.packet_id or 0,
                            packet.duplicate,
                        ),
                    )
                )
            else:
                append(self._control(packet))
        if released and self._waiting:
            self._release()
        if self._refused:
            events.extend(self.refused())
        return events

    def refused(self) -> list[PubAck]:
        """Publications refused without sending: larger than the broker's Maximum Packet Size.

        Each is done, with reason code 149 (packet too large); :meth:`receive` returns them
        too, after the packets of its chunk.
        """
        refused = self._refused
        self._refused = []
        return refused

    def _control(self, packet: mqtt5.Packet) -> Event:
        if isinstance(packet, mqtt5.PubAckPacket):
            return self._puback(packet.packet_id, int(packet.reason_code))
        if isinstance(packet, mqtt5.PingRespPacket):
            return _PING_RESP
        if isinstance(packet, mqtt5.SubAckPacket):
            self._requests.pop(packet.packet_id, None)
            return SubAck(packet.packet_id, tuple(int(code) for code in packet.reason_codes))
        if isinstance(packet, mqtt5.UnsubAckPacket):
            self._requests.pop(packet.packet_id, None)
            return UnsubAck(packet.packet_id, tuple(int(code) for code in packet.reason_codes))
        if isinstance(packet, mqtt5.ConnAckPacket):
            return self._connack(packet)
        if isinstance(packet, mqtt5.DisconnectPacket):
            self.connected = False
            return Disconnect(int(packet.reason_code), packet.reason_str)
        raise MqttProtocolError(
            f"the broker sent a {type(packet).__name__.removesuffix('Packet').upper()} packet, "
            "which a client does not accept"
        )

    def _connack(self, packet: mqtt5.ConnAckPacket) -> ConnAck:
        if self.connected:
            raise MqttProtocolError("the broker sent a second CONNACK")
        connack = ConnAck(
            packet.session_present,
            int(packet.reason_code),
            packet.server_keep_alive,
            packet.receive_max,
            packet.max_packet_size,
            packet.reason_str,
        )
        self.connack = connack
        if connack.reason_code >= 128:
            return connack
        self.connected = True
        self._send_quota = connack.receive_maximum
        self._limit = connack.maximum_packet_size
        # Unacknowledged publications go out again first, in their order: with DUP if the
        # broker kept the session (it may have them), as new messages if it did not.
        resend = list(self._in_flight.values())
        self._in_flight.clear()
        if not connack.session_present:
            for message in resend:
                message.sent = False
        self._waiting.extendleft(reversed(resend))
        self._release()
        return connack

    def _puback(self, packet_id: int, reason_code: int) -> PubAck:
        message = self._in_flight.pop(packet_id, None)
        if message is not None:
            message.done = True
            message.reason_code = reason_code
            self._send_quota += 1
            if self._waiting:
                self._release()
        # (tuple.__new__: see receive(); a publisher gets one PUBACK per message)
        return tuple.__new__(PubAck, (packet_id, reason_code, message))

    # -------------------------------------------------------------------- sending

    def data_to_send(self) -> bytes:
        """Everything the session has queued for the current connection since the last call."""
        if not self._output:
            return b""
        data = b"".join(self._output)
        self._output.clear()
        return data

    def _packet_id(self) -> int:
        in_flight = self._in_flight
        requests = self._requests
        if len(in_flight) + len(requests) >= MAX_PACKET_ID:
            raise MqttProtocolError("all 65,535 packet identifiers are in use")
        packet_id = self._next_id
        while True:
            packet_id = packet_id % MAX_PACKET_ID + 1
            if packet_id not in in_flight and packet_id not in requests:
                self._next_id = packet_id
                return packet_id

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False
    ) -> Outgoing:
        """Queue a publication; it goes out now if connected and the broker's window allows."""
        if qos not in (0, 1):
            raise ValueError(f"qos {qos} is not supported (0 or 1)")
        message = Outgoing(topic, payload, qos, retain)
        if qos == 1 and self.connected and self._send_quota > 0 and not self._waiting:
            # The common case of a publisher, without the queue: a quarter of the session's
            # cost per message (see docs/architecture.md, the simulator's gateways).
            in_flight = self._in_flight
            packet_id = self._next_id % MAX_PACKET_ID + 1
            if packet_id in in_flight or packet_id in self._requests:
                packet_id = self._packet_id()
            data = _PUBLISH(topic, payload, qos=_QOS[1], retain=retain, packet_id=packet_id).write()
            limit = self._limit
            if limit is None or len(data) <= limit:
                self._next_id = packet_id
                message.packet_id = packet_id
                message.sent = True
                self._output.append(data)
                in_flight[packet_id] = message
                self._send_quota -= 1
                return message
        self._waiting.append(message)
        self._release()
        return message

    def _release(self) -> None:
        if not self.connected:
            return
        waiting = self._waiting
        output = self._output
        limit = self._limit
        publish_packet = _PUBLISH
        in_flight = self._in_flight
        while waiting:
            message = waiting[0]
            if message.qos == 1 and self._send_quota <= 0:
                return
            waiting.popleft()
            dup = message.sent
            if message.qos == 1 and not dup:
                message.packet_id = self._packet_id()
            data = publish_packet(
                message.topic,
                message.payload,
                qos=_QOS[message.qos],
                retain=message.retain,
                packet_id=message.packet_id or None,
                duplicate=dup,
            ).write()
            if limit is not None and len(data) > limit:
                # The broker would close the connection (and the resend after the reconnect
                # would close it again): refused here, with the broker's reason.
                message.done = True
                message.reason_code = PACKET_TOO_LARGE
                self._refused.append(PubAck(message.packet_id, PACKET_TOO_LARGE, message))
                continue
            output.append(data)
            message.sent = True
            if message.qos == 0:
                message.done = True
                continue
            in_flight[message.packet_id] = message
            self._send_quota -= 1

    @property
    def unacknowledged(self) -> int:
        """Publications not yet done (waiting or in flight)."""
        return len(self._in_flight) + len(self._waiting)

    def subscribe(self, filters: Sequence[tuple[str, int, bool]]) -> int:
        """SUBSCRIBE ``(filter, qos, no_local)`` ...; returns its packet id (see SubAck)."""
        packet_id = self._request("subscribe")
        topic_filters = [
            mqtt5.TopicFilter(pattern, max_qos=_qos(qos), no_local=no_local)
            for pattern, qos, no_local in filters
        ]
        self._output.append(mqtt5.SubscribePacket(packet_id, topic_filters).write())
        return packet_id

    def unsubscribe(self, patterns: Sequence[str]) -> int:
        """UNSUBSCRIBE; returns its packet id (see UnsubAck)."""
        packet_id = self._request("unsubscribe")
        self._output.append(mqtt5.UnsubscribePacket(packet_id, list(patterns)).write())
        return packet_id

    def _request(self, kind: str) -> int:
        if not self.connected:
            raise MqttProtocolError(f"cannot {kind} while not connected")
        packet_id = self._packet_id()
        self._requests[packet_id] = kind
        return packet_id

    def ping(self) -> None:
        self._output.append(mqtt5.PingReqPacket().write())

    def disconnect(self, reason_code: int = 0) -> None:
        """Queue DISCONNECT (0: normal, the Will is not published)."""
        self._output.append(
            mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode(reason_code)).write()
        )
        self.connected = False
