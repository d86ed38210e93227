"""MQTT 3.1.1 packets of the gateways, byte for byte, and malformed messages."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import MAX_PAYLOAD_BYTES, CounterReading, TopicError, parse_topic
from simulators.malformed import FAR_FUTURE_MS, MalformedKind, malformed_message
from simulators.mqtt_wire import (
    PUBACK,
    PUBLISH,
    PacketReader,
    ProtocolError,
    as_dup,
    connect_packet,
    publish_packet,
    str16,
    varint,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length(value: int, encoded: bytes) -> None:
    assert varint(value) == encoded


def test_remaining_length_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        varint(268_435_456)


def test_connect_packet() -> None:
    secret = "p"  # noqa: S105 (a made-up credential, checked byte for byte)
    packet = connect_packet(
        "gw-E1", keepalive=60, will_topic="s", will_payload=b"x", username="u", password=secret
    )
    body = (
        b"\x00\x04MQTT\x04"
        + bytes([0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02])
        + b"\x00\x3c"
        + b"\x00\x05gw-E1\x00\x01s\x00\x01x\x00\x01u\x00\x01p"
    )
    assert packet == b"\x10" + bytes([len(body)]) + body


def test_connect_packet_without_credentials() -> None:
    packet = connect_packet("c", keepalive=5, will_topic="t", will_payload=b"{}")
    assert packet[9] == 0x2E  # will retain, will QoS 1, will flag, clean session


@given(
    topic=st.text(min_size=1, max_size=80).filter(lambda t: "\x00" not in t),
    payload=st.binary(max_size=70_000),
    packet_id=st.integers(1, 65535),
    retain=st.booleans(),
)
def test_publish_packets_parse_back(
    *, topic: str, payload: bytes, packet_id: int, retain: bool
) -> None:
    packet = publish_packet(str16(topic), payload, packet_id, retain=retain)
    (parsed,) = PacketReader().feed(packet)
    assert parsed.kind == PUBLISH
    assert parsed.flags == (0x02 | (0x01 if retain else 0))
    length = int.from_bytes(parsed.body[:2], "big")
    assert parsed.body[2 : 2 + length].decode() == topic
    assert int.from_bytes(parsed.body[2 + length : 4 + length], "big") == packet_id
    assert parsed.body[4 + length :] == payload
    assert PacketReader().feed(as_dup(packet))[0].flags & 0x08


@given(
    ids=st.lists(st.integers(1, 65535), min_size=1, max_size=40),
    cuts=st.lists(st.integers(0, 200), max_size=20),
)
def test_a_stream_split_anywhere_gives_the_same_packets(ids: list[int], cuts: list[int]) -> None:
    stream = b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in ids) + b"\xd0\x00"
    reader = PacketReader()
    packets = []
    start = 0
    for cut in sorted({c for c in cuts if c < len(stream)}):
        packets += reader.feed(stream[start:cut])
        start = cut
    packets += reader.feed(stream[start:])
    assert [int.from_bytes(p.body, "big") for p in packets[:-1]] == ids
    assert all(p.kind == PUBACK for p in packets[:-1])
    assert packets[-1].kind == 0xD0


def test_a_remaining_length_of_five_bytes_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")


def _rejected(topic: str, payload: bytes, now_ms: int) -> bool:
    """The contract's checks, in the order a collector applies them."""
    try:
        parse_topic(topic)
    except TopicError:
        return True
    if len(payload) > MAX_PAYLOAD_BYTES:
        return True
    try:
        reading = CounterReading.model_validate_json(payload)
    except ValidationError:
        return True
    return reading.ts > now_ms + FAR_FUTURE_MS // 2


@pytest.mark.parametrize("kind", list(MalformedKind))
def test_every_malformed_kind_breaks_the_contract(kind: MalformedKind) -> None:
    now = 1_750_000_000_000
    topic, payload = malformed_message(
        kind, enterprise="E0001", machine="M001", ts_ms=now, seq=4, boot="b-1",
        pairs_total=17, style="terry-sport",
    )  # fmt: skip
    assert _rejected(topic, payload, now)
    assert len(payload) < 65536  # within the broker's message size limit
    assert "+" not in topic
    assert "#" not in topic


def test_the_well_formed_control_case_is_accepted() -> None:
    assert not _rejected(
        "hosiery/v1/E0001/M001/counter",
        b'{"ts":1,"seq":0,"boot":"b-1","pairs_total":0,"state":"idle"}',
        1_750_000_000_000,
    )
