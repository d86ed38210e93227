"""The few MQTT 3.1.1 packets a gateway needs, encoded and decoded without I/O.

A gateway only connects (with a Last Will), publishes at QoS 1, pings and disconnects; it
receives CONNACK, PUBACK and PINGRESP. Encoding them directly costs a few microseconds per
reading, where a general-purpose client spends tens (see ``docs/simulator.md``, performance).
"""

from typing import NamedTuple

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PINGREQ_PACKET = b"\xc0\x00"
PINGRESP = 0xD0
DISCONNECT_PACKET = b"\xe0\x00"

MAX_REMAINING = 268_435_455
"""The largest remaining length MQTT can express (four bytes of varint)."""

CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class ProtocolError(ValueError):
    """The broker sent bytes that are not an MQTT 3.1.1 packet."""


def str16(text: str) -> bytes:
    """A UTF-8 string with its two-byte length prefix."""
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def bin16(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def varint(value: int) -> bytes:
    """A remaining length, 7 bits per byte, least significant first."""
    if not 0 <= value <= MAX_REMAINING:
        raise ValueError(f"remaining length {value} is out of range")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def connect_packet(
    client_id: str,
    *,
    keepalive: int,
    will_topic: str,
    will_payload: bytes,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT, clean session, with a retained QoS 1 Last Will."""
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    payload = str16(client_id) + str16(will_topic) + bin16(will_payload)
    if username is not None:
        flags |= 0x80
        payload += str16(username)
    if password is not None:
        flags |= 0x40
        payload += bin16(password.encode())
    body = str16("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + payload
    return bytes([CONNECT]) + varint(len(body)) + body


def publish_packet(
    topic16: bytes, payload: bytes, packet_id: int, *, retain: bool = False, dup: bool = False
) -> bytes:
    """PUBLISH at QoS 1; ``topic16`` is the topic with its length prefix (see :func:`str16`)."""
    first = PUBLISH | 0x02 | (0x08 if dup else 0) | (0x01 if retain else 0)
    remaining = len(topic16) + 2 + len(payload)
    header = bytes((first, remaining)) if remaining < 128 else bytes((first,)) + varint(remaining)
    return header + topic16 + packet_id.to_bytes(2, "big") + payload


def as_dup(packet: bytes) -> bytes:
    """The same PUBLISH with the DUP flag set, for sending it again after a reconnect."""
    return bytes((packet[0] | 0x08,)) + packet[1:]


class Packet(NamedTuple):
    kind: int
    """The packet type (high nibble of the first byte, e.g. :data:`PUBACK`)."""
    flags: int
    body: bytes


class PacketReader:
    """Splits a byte stream into packets."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; the packets they complete, in order."""
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        pos = 0
        end = len(buffer)
        while end - pos >= 2:
            length = 0
            multiplier = 1
            i = pos + 1
            complete = False
            while i < end:
                byte = buffer[i]
                i += 1
                length += (byte & 0x7F) * multiplier
                if not byte & 0x80:
                    complete = True
                    break
                multiplier *= 128
                if multiplier > 128**3:
                    raise ProtocolError("remaining length longer than four bytes")
            if not complete or end - i < length:
                break
            first = buffer[pos]
            packets.append(Packet(first & 0xF0, first & 0x0F, bytes(buffer[i : i + length])))
            pos = i + length
        if pos:
            del buffer[:pos]
        return packets
