"""The sans-I/O MQTT session, fed with real ``mqtt5``-encoded bytes (the broker's side)."""

import mqtt5
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt.errors import MqttProtocolError
from mqtt.protocol import (
    ConnAck,
    Disconnect,
    PacketReader,
    PingResp,
    PubAck,
    Publish,
    Session,
    SessionOptions,
    SubAck,
    UnsubAck,
    Will,
    pubacks,
    reason_name,
)

QOS1 = mqtt5.QoS.AT_LEAST_ONCE

CODEC_PANIC = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
"""mqtt5 0.8.0 panics on a string that is not UTF-8 and reports an unraisable exception on the
way; the reader turns the panic into MqttProtocolError, the report stays (Mosquitto never sends
such a topic: it checks UTF-8 itself)."""
TOPIC = "hosiery/v1/E0001/M001/counter"


def publish_bytes(packet_id: int, payload: bytes = b"{}", *, dup: bool = False) -> bytes:
    return mqtt5.PublishPacket(TOPIC, payload, qos=QOS1, packet_id=packet_id, duplicate=dup).write()


def connack(*, session_present: bool = False, **fields: object) -> bytes:
    return mqtt5.ConnAckPacket(session_present=session_present, **fields).write()  # type: ignore[arg-type]


def sent_packets(data: bytes) -> list[mqtt5.Packet]:
    """What the client sent, read back with the codec."""
    reader = PacketReader()
    packets = reader.feed(data)
    assert reader.buffered == 0
    return packets


def connected(options: SessionOptions | None = None, **connack_fields: object) -> Session:
    session = Session(options or SessionOptions("collector"))
    session.connect()
    (event,) = session.receive(connack(**connack_fields))
    assert isinstance(event, ConnAck)
    return session


# ----------------------------------------------------------------------------- CONNECT


def test_connect_asks_for_a_persistent_session_with_a_window_and_a_size_limit() -> None:
    options = SessionOptions(
        "collector",
        username="user",
        password="secret",  # noqa: S106 - a test credential
        keepalive=20,
        session_expiry=3600,
        receive_maximum=500,
        maximum_packet_size=262_144,
        will=Will("hosiery/v1/E0001/status", b'{"online":false}', qos=1, retain=True),
    )
    (packet,) = sent_packets(Session(options).connect())
    assert isinstance(packet, mqtt5.ConnectPacket)
    assert (packet.client_id, packet.username, packet.password) == ("collector", "user", b"secret")
    assert packet.clean_start is False
    assert (packet.keep_alive, packet.session_expiry_interval) == (20, 3600)
    assert (packet.receive_max, packet.max_packet_size) == (500, 262_144)
    assert packet.will is not None
    assert (packet.will.topic, packet.will.payload, packet.will.retain) == (
        "hosiery/v1/E0001/status",
        b'{"online":false}',
        True,
    )


def test_connack_is_an_event_with_the_brokers_limits() -> None:
    session = Session(SessionOptions("c", keepalive=30))
    session.connect()
    (event,) = session.receive(
        connack(session_present=True, server_keep_alive=10, receive_max=20, max_packet_size=1000)
    )
    assert event == ConnAck(True, 0, 10, 20, 1000, None)
    assert session.connected
    assert session.keepalive == 10


def test_a_refused_connack_leaves_the_session_disconnected() -> None:
    session = Session(SessionOptions("c"))
    session.connect()
    (event,) = session.receive(connack(reason_code=mqtt5.ConnAckReasonCode.NOT_AUTHORIZED))
    assert isinstance(event, ConnAck)
    assert event.reason_code == 135
    assert reason_name(event.reason_code) == "not authorized"
    assert not session.connected


def test_reason_names() -> None:
    assert reason_name(142) == "session taken over"
    assert reason_name(152) == "administrative action"
    assert reason_name(250) == "reason code 250"


# ----------------------------------------------------------------------------- receiving


def test_many_packets_in_one_read_become_events_in_order() -> None:
    session = connected()
    chunk = b"".join(publish_bytes(i, str(i).encode()) for i in range(1, 501))
    chunk += mqtt5.PingRespPacket().write()
    events = session.receive(chunk)
    assert len(events) == 501
    assert events[:2] == [
        Publish(TOPIC, b"1", 1, False, 1, False),
        Publish(TOPIC, b"2", 1, False, 2, False),
    ]
    assert [e.packet_id for e in events[:500] if isinstance(e, Publish)] == list(range(1, 501))
    assert events[-1] == PingResp()
    assert session.reader.buffered == 0


def test_a_packet_split_across_reads_is_kept_until_complete() -> None:
    session = connected()
    head = publish_bytes(7, b"x" * 300)
    data = head + publish_bytes(8, b"y")
    assert session.receive(data[:1]) == []
    assert session.receive(data[1:150]) == []
    assert session.reader.buffered == 150
    (first,) = session.receive(data[150 : len(head) + 5])
    assert isinstance(first, Publish)
    assert (first.packet_id, first.payload) == (7, b"x" * 300)
    (second,) = session.receive(data[len(head) + 5 :])
    assert isinstance(second, Publish)
    assert second.packet_id == 8
    assert session.reader.buffered == 0


def test_qos0_dup_and_retained_messages() -> None:
    session = connected()
    data = mqtt5.PublishPacket(TOPIC, b"a", retain=True).write() + publish_bytes(3, dup=True)
    assert session.receive(data) == [
        Publish(TOPIC, b"a", 0, True, 0, False),
        Publish(TOPIC, b"{}", 1, False, 3, True),
    ]


def test_a_disconnect_from_the_broker_carries_its_reason_code() -> None:
    session = connected()
    data = mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode.SESSION_TAKEN_OVER).write()
    assert session.receive(data) == [Disconnect(142, None)]
    assert not session.connected


def test_a_packet_over_the_maximum_packet_size_is_a_protocol_error() -> None:
    session = connected(SessionOptions("c", maximum_packet_size=1024))
    with pytest.raises(MqttProtocolError, match="larger than the maximum packet size 1024"):
        session.receive(publish_bytes(1, b"x" * 2000))


def test_a_packet_just_under_the_limit_is_read() -> None:
    data = publish_bytes(1, b"x" * 900)
    session = connected(SessionOptions("c", maximum_packet_size=len(data)))
    (event,) = session.receive(data[:500]) + session.receive(data[500:])
    assert isinstance(event, Publish)


@CODEC_PANIC
@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"\x00\x00", "Invalid PacketType"),
        (b"\x30\x05\x00\x02\xff\xfeA", "not UTF-8"),  # a topic that is not UTF-8
        (b"\xff\xff\xff\xff\xff", "variable byte integer"),
    ],
)
def test_malformed_bytes_are_a_protocol_error(data: bytes, detail: str) -> None:
    with pytest.raises(MqttProtocolError, match="malformed packet from the broker") as caught:
        connected().receive(data)
    assert detail in str(caught.value) or "could not decode" in str(caught.value)


def test_packets_a_broker_must_not_send_are_a_protocol_error() -> None:
    session = connected()
    with pytest.raises(MqttProtocolError, match="SUBSCRIBE packet"):
        session.receive(mqtt5.SubscribePacket(1, [mqtt5.TopicFilter("a")]).write())


def test_a_qos2_message_is_a_protocol_error() -> None:
    session = connected()
    data = mqtt5.PublishPacket(TOPIC, b"", qos=mqtt5.QoS.EXACTLY_ONCE, packet_id=1).write()
    with pytest.raises(MqttProtocolError, match="QoS 2"):
        session.receive(data)


def test_pubacks_of_a_batch_are_one_chunk_in_order() -> None:
    packets = sent_packets(pubacks([5, 3, 9]))
    assert [(type(p), p.packet_id) for p in packets] == [  # type: ignore[union-attr]
        (mqtt5.PubAckPacket, 5),
        (mqtt5.PubAckPacket, 3),
        (mqtt5.PubAckPacket, 9),
    ]
    assert pubacks([]) == b""


# ----------------------------------------------------------------------------- the reader

PACKETS = st.lists(
    st.one_of(
        st.builds(
            lambda pid, payload, dup: publish_bytes(pid, payload, dup=dup),
            st.integers(1, 65_535),
            st.binary(max_size=300),
            st.booleans(),
        ),
        st.builds(lambda pid: mqtt5.PubAckPacket(pid).write(), st.integers(1, 65_535)),
        st.just(mqtt5.PingRespPacket().write()),
    ),
    min_size=1,
    max_size=40,
)


@given(PACKETS, st.data())
def test_any_split_of_a_stream_yields_every_packet_once_in_order(
    packets: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(packets)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=20)))
    reader = PacketReader()
    got: list[bytes] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        got.extend(packet.write() for packet in reader.feed(stream[start:cut]))
        start = cut
    assert got == packets
    assert reader.buffered == 0


@CODEC_PANIC
@given(PACKETS, st.binary(min_size=1, max_size=64))
def test_garbage_after_complete_packets_never_crashes_and_never_loses_them(
    packets: list[bytes], garbage: bytes
) -> None:
    """Garbage is an MqttProtocolError or an incomplete packet; never another exception.

    Every complete packet before it is returned, when fed in a read of its own.
    """
    reader = PacketReader(maximum_packet_size=4096)
    got = [packet.write() for packet in reader.feed(b"".join(packets))]
    assert got == packets
    try:
        reader.feed(garbage)
        reader.feed(garbage * 100)
    except MqttProtocolError:
        pass


@CODEC_PANIC
@given(st.binary(max_size=200))
def test_truncated_or_random_input_is_never_anything_but_a_protocol_error(data: bytes) -> None:
    reader = PacketReader(maximum_packet_size=256)
    try:
        for i in range(0, len(data), 7):
            reader.feed(data[i : i + 7])
    except MqttProtocolError:
        return
    assert reader.buffered <= 256


# ----------------------------------------------------------------------------- publishing


def test_publications_wait_while_disconnected_and_go_out_on_connect() -> None:
    session = Session(SessionOptions("c"))
    message = session.publish("hosiery/v1/_rejected", b"r", 1, retain=True)
    assert session.data_to_send() == b""
    session.connect()
    session.receive(connack())
    (packet,) = sent_packets(session.data_to_send())
    assert isinstance(packet, mqtt5.PublishPacket)
    assert (packet.topic, packet.payload, packet.retain, packet.duplicate) == (
        "hosiery/v1/_rejected",
        b"r",
        True,
        False,
    )
    assert packet.packet_id == message.packet_id
    (event,) = session.receive(mqtt5.PubAckPacket(message.packet_id).write())
    assert event == PubAck(message.packet_id, 0, message)
    assert message.done
    assert session.unacknowledged == 0


def test_unacknowledged_publications_are_resent_with_dup_when_the_session_survived() -> None:
    session = connected()
    first = session.publish("a/1", b"1")
    second = session.publish("a/2", b"2")
    session.data_to_send()
    session.receive(mqtt5.PubAckPacket(first.packet_id).write())
    session.connection_lost()
    session.connect()
    session.receive(connack(session_present=True))
    (packet,) = sent_packets(session.data_to_send())
    assert isinstance(packet, mqtt5.PublishPacket)
    assert (packet.topic, packet.packet_id, packet.duplicate) == ("a/2", second.packet_id, True)


def test_unacknowledged_publications_are_sent_as_new_when_the_session_was_lost() -> None:
    session = connected()
    session.publish("a/1", b"1")
    session.data_to_send()
    session.connection_lost()
    session.connect()
    session.receive(connack(session_present=False))
    (packet,) = sent_packets(session.data_to_send())
    assert isinstance(packet, mqtt5.PublishPacket)
    assert (packet.topic, packet.duplicate) == ("a/1", False)


def test_the_brokers_receive_maximum_limits_publications_in_flight() -> None:
    session = connected(receive_max=2)
    messages = [session.publish(f"a/{i}", b"") for i in range(5)]
    assert [p.topic for p in sent_packets(session.data_to_send())] == ["a/0", "a/1"]  # type: ignore[union-attr]
    session.receive(mqtt5.PubAckPacket(messages[0].packet_id).write())
    assert [p.topic for p in sent_packets(session.data_to_send())] == ["a/2"]  # type: ignore[union-attr]
    assert session.unacknowledged == 4


def test_a_publication_over_the_brokers_packet_limit_is_refused_and_never_sent() -> None:
    session = connected(max_packet_size=100)
    big = session.publish("a", b"x" * 200)
    small = session.publish("a", b"x")
    assert [p.payload for p in sent_packets(session.data_to_send())] == [b"x"]  # type: ignore[union-attr]
    assert (big.done, big.reason_code) == (True, 149)
    assert session.refused() == [PubAck(big.packet_id, 149, big)]
    assert session.unacknowledged == 1
    assert not small.done


def test_qos0_publications_are_not_tracked() -> None:
    session = connected()
    message = session.publish("a", b"", 0)
    (packet,) = sent_packets(session.data_to_send())
    assert isinstance(packet, mqtt5.PublishPacket)
    assert packet.qos == 0
    assert message.done
    assert session.unacknowledged == 0


def test_packet_ids_skip_those_in_use_and_wrap() -> None:
    session = connected()
    session._next_id = 65_534
    ids = [session.publish("a", b"").packet_id for _ in range(3)]
    assert ids == [65_535, 1, 2]
    assert session.subscribe([("x", 1, True)]) == 3


def test_subscribe_and_unsubscribe_round_trips() -> None:
    session = connected()
    sub = session.subscribe([("hosiery/v1/#", 1, True)])
    (packet,) = sent_packets(session.data_to_send())
    assert isinstance(packet, mqtt5.SubscribePacket)
    (topic_filter,) = packet.topic_filters
    assert (topic_filter.pattern, topic_filter.max_qos, topic_filter.no_local) == (
        "hosiery/v1/#",
        1,
        True,
    )
    granted = mqtt5.SubAckPacket(sub, [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE])
    assert session.receive(granted.write()) == [SubAck(sub, (1,))]
    unsub = session.unsubscribe(["x"])
    done = mqtt5.UnsubAckPacket(unsub, [mqtt5.UnsubAckReasonCode.NO_SUBSCRIPTION_EXISTED])
    assert session.receive(done.write()) == [UnsubAck(unsub, (17,))]


def test_requests_need_a_connection() -> None:
    with pytest.raises(MqttProtocolError, match="not connected"):
        Session(SessionOptions("c")).subscribe([("a", 1, False)])


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="receive maximum"):
        SessionOptions("c", receive_maximum=0)
    with pytest.raises(ValueError, match="password given without a username"):
        SessionOptions("c", password="x")  # noqa: S106 - a test credential
    with pytest.raises(ValueError, match="qos 2 is not supported"):
        Session(SessionOptions("c")).publish("a", b"", 2)
