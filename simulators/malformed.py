"""Malformed messages: what a broken or hostile gateway might publish.

Each kind breaks one rule of the contract (``contract``): every one of them is rejected by a
consumer that checks the topic, the payload size, the payload against
:class:`contract.CounterReading`, and that the timestamp is not far in the future. Those that
carry a plausible counter carry the machine's real boot and counter, so even a consumer that
wrongly accepted them would not count pairs that were not knitted.
"""

from collections.abc import Callable
from enum import StrEnum

import orjson

from contract import MAX_PAIRS_TOTAL, MAX_PAYLOAD_BYTES, TOPIC_ROOT, counter_topic

FAR_FUTURE_MS = 365 * 86_400_000
"""How far ahead a far-future timestamp is."""


class MalformedKind(StrEnum):
    BAD_JSON = "bad-json"
    NOT_UTF8 = "not-utf8"
    EMPTY = "empty"
    NOT_AN_OBJECT = "not-an-object"
    WRONG_TYPES = "wrong-types"
    MISSING_FIELDS = "missing-fields"
    NEGATIVE_COUNTER = "negative-counter"
    ABSURD_COUNTER = "absurd-counter"
    NEGATIVE_SEQ = "negative-seq"
    UNKNOWN_STATE = "unknown-state"
    INVALID_BOOT = "invalid-boot"
    FAR_FUTURE_TS = "far-future-ts"
    OVERSIZED = "oversized"
    INVALID_MACHINE_ID = "invalid-machine-id"
    INVALID_ENTERPRISE_ID = "invalid-enterprise-id"
    UNKNOWN_TOPIC = "unknown-topic"


def _fields_with(**changes: object) -> Callable[[dict[str, object]], bytes]:
    return lambda fields: orjson.dumps(fields | changes)


_PAYLOADS: dict[MalformedKind, Callable[[dict[str, object]], bytes]] = {
    MalformedKind.BAD_JSON: lambda f: orjson.dumps(f)[:-7],
    MalformedKind.NOT_UTF8: lambda _f: b'{"ts": \xff\xfe, "boot": "\xc3\x28"}',
    MalformedKind.EMPTY: lambda _f: b"",
    MalformedKind.NOT_AN_OBJECT: lambda f: orjson.dumps(list(f.values())),
    MalformedKind.WRONG_TYPES: lambda f: orjson.dumps(
        f | {"pairs_total": str(f["pairs_total"]), "seq": str(f["seq"])}
    ),
    MalformedKind.MISSING_FIELDS: lambda f: orjson.dumps({"ts": f["ts"], "state": "running"}),
    MalformedKind.NEGATIVE_COUNTER: lambda f: orjson.dumps(
        f | {"pairs_total": -int(str(f["pairs_total"])) - 1}
    ),
    MalformedKind.ABSURD_COUNTER: _fields_with(pairs_total=MAX_PAIRS_TOTAL + 1),
    MalformedKind.NEGATIVE_SEQ: _fields_with(seq=-1),
    MalformedKind.UNKNOWN_STATE: _fields_with(state="exploded"),
    MalformedKind.INVALID_BOOT: _fields_with(boot="boot id/with spaces"),
    MalformedKind.FAR_FUTURE_TS: lambda f: orjson.dumps(
        f | {"ts": int(str(f["ts"])) + FAR_FUTURE_MS}
    ),
    MalformedKind.OVERSIZED: _fields_with(note="x" * (MAX_PAYLOAD_BYTES + 100)),
}

_TOPICS: dict[MalformedKind, Callable[[str, str], str]] = {
    MalformedKind.INVALID_MACHINE_ID: lambda e, m: f"{TOPIC_ROOT}/{e}/{m} !/counter",
    MalformedKind.INVALID_ENTERPRISE_ID: lambda e, m: f"{TOPIC_ROOT}/{e}.x/{m}/counter",
    MalformedKind.UNKNOWN_TOPIC: lambda e, m: f"{counter_topic(e, m)}/extra",
}


def malformed_message(
    kind: MalformedKind,
    *,
    enterprise: str,
    machine: str,
    ts_ms: int,
    seq: int,
    boot: str,
    pairs_total: int,
    style: str,
) -> tuple[str, bytes]:
    """A malformed message of ``kind`` as ``(topic, payload)`` for the given machine.

    Payload kinds go to the machine's real counter topic; topic kinds carry a valid payload.
    """
    fields: dict[str, object] = {
        "ts": ts_ms,
        "seq": seq,
        "boot": boot,
        "pairs_total": pairs_total,
        "state": "running",
        "style": style,
    }
    topic_of = _TOPICS.get(kind)
    if topic_of is not None:
        return topic_of(enterprise, machine), orjson.dumps(fields)
    return counter_topic(enterprise, machine), _PAYLOADS[kind](fields)
