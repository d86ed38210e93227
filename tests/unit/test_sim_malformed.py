"""Malformed messages: each breaks one rule of the contract, none breaks MQTT."""

import pytest
from pydantic import ValidationError

from contract import MAX_PAYLOAD_BYTES, CounterReading, TopicError, parse_topic
from simulators.malformed import FAR_FUTURE_MS, MalformedKind, malformed_message


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
