"""Validation: an MQTT message becomes a reading, a gateway status, or a rejection with a reason.

Pure functions of the topic, the payload and ``now``; nothing here does I/O. Every reason is
listed in :class:`Reason` and documented in ``docs/contract.md``.
"""

from enum import StrEnum
from typing import NamedTuple

from pydantic import ValidationError

from contract import (
    MAX_PAYLOAD_BYTES,
    CounterReading,
    GatewayStatus,
    InvalidIdError,
    TopicError,
    TopicKind,
    TopicRef,
    parse_topic,
)


class Reason(StrEnum):
    """Why a message was rejected."""

    UNKNOWN_TOPIC = "unknown_topic"
    INVALID_ID = "invalid_id"
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    INVALID_VALUE = "invalid_value"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    TOO_MANY_MACHINES = "too_many_machines"
    IMPLAUSIBLE_COUNT = "implausible_count"
    UNKNOWN_STOP_REASON = "unknown_stop_reason"


MAX_DETAIL_CHARS = 300
"""A rejection's detail quotes at most this much (a topic may be 64 KiB)."""


class Limits(NamedTuple):
    """How far a reading's clock may be from the collector's."""

    max_future_ms: int = 5 * 60 * 1000
    max_age_ms: int = 7 * 24 * 3600 * 1000
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


class Reading(NamedTuple):
    enterprise: str
    machine: str
    data: CounterReading


class Status(NamedTuple):
    enterprise: str
    data: GatewayStatus


class Rejection(NamedTuple):
    reason: Reason
    detail: str


class Ignored(NamedTuple):
    """A message on a topic the collector publishes itself (alerts, rejections)."""

    kind: TopicKind


Verdict = Reading | Status | Rejection | Ignored

_PYDANTIC_REASONS = {
    "missing": Reason.MISSING_FIELD,
    "json_invalid": Reason.MALFORMED_JSON,
    "json_type": Reason.MALFORMED_JSON,
    "model_type": Reason.MALFORMED_JSON,
    "model_attributes_type": Reason.MALFORMED_JSON,
    "greater_than_equal": Reason.OUT_OF_RANGE,
    "less_than_equal": Reason.OUT_OF_RANGE,
    "greater_than": Reason.OUT_OF_RANGE,
    "less_than": Reason.OUT_OF_RANGE,
    "string_pattern_mismatch": Reason.INVALID_VALUE,
    "enum": Reason.INVALID_VALUE,
    "finite_number": Reason.OUT_OF_RANGE,
}


def _explain(error: ValidationError) -> Rejection:
    first = error.errors(include_url=False, include_input=False)[0]
    kind = first["type"]
    reason = _PYDANTIC_REASONS.get(kind)
    if kind == "enum" and first["loc"][:1] in (("reason",), ("stopped_ms_total",)):
        reason = Reason.UNKNOWN_STOP_REASON
    if reason is None:
        reason = Reason.WRONG_TYPE if kind.endswith("_type") else Reason.INVALID_VALUE
    where = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    return Rejection(reason, f"{where}: {msg}" if where else msg)


_new_tuple = tuple.__new__  # builds NamedTuples without their Python-level __new__ (hot path)
_COUNTER = TopicKind.COUNTER
_STATUS = TopicKind.STATUS
_validate_reading = CounterReading.__pydantic_validator__.validate_json


class Validator:
    """Validates messages; caches the parsed topics of valid readings and statuses.

    Only valid topics are cached, and their ids are short (``contract.ids``), so the cache is
    bounded by ``topic_cache_size`` entries of at most a few hundred bytes each: a flood of
    unique invalid topics (each up to 64 KiB) costs parsing time, never memory.

    ``validate`` runs once per message, so it avoids the costs that matter at tens of thousands
    of messages a second (enum attribute look-ups, NamedTuple constructors); behaviour is the
    plain reading of the code.
    """

    def __init__(self, limits: Limits | None = None, topic_cache_size: int = 100_000) -> None:
        self.limits = limits or Limits()
        self._topics: dict[str, TopicRef] = {}
        self._cache_size = topic_cache_size
        self._max_payload = self.limits.max_payload_bytes
        self._max_future = self.limits.max_future_ms
        self._max_age = self.limits.max_age_ms

    def _topic(self, topic: str) -> TopicRef | Rejection:
        try:
            ref = parse_topic(topic)
        except TopicError as exc:
            reason = Reason.INVALID_ID if isinstance(exc, InvalidIdError) else Reason.UNKNOWN_TOPIC
            return Rejection(reason, str(exc)[:MAX_DETAIL_CHARS])
        if len(self._topics) >= self._cache_size:
            self._topics.clear()
        self._topics[topic] = ref
        return ref

    @property
    def cached_topics(self) -> int:
        return len(self._topics)

    def validate(self, topic: str, payload: bytes, now_ms: int) -> Verdict:
        ref = self._topics.get(topic) or self._topic(topic)
        if isinstance(ref, Rejection):
            return ref
        if len(payload) > self._max_payload:
            return Rejection(
                Reason.OVERSIZED, f"payload of {len(payload)} bytes exceeds {self._max_payload}"
            )
        kind, enterprise, machine = ref
        if kind is _COUNTER:
            try:
                data = _validate_reading(payload)
            except ValidationError as exc:
                return _explain(exc)
            ts = data.ts
            if ts > now_ms + self._max_future:
                return Rejection(Reason.TS_IN_FUTURE, f"ts {ts} is {ts - now_ms} ms ahead of now")
            if ts < now_ms - self._max_age:
                return Rejection(Reason.TS_TOO_OLD, f"ts {ts} is {now_ms - ts} ms older than now")
            return _new_tuple(Reading, (enterprise, machine, data))
        if kind is _STATUS:
            try:
                return Status(enterprise, GatewayStatus.model_validate_json(payload))
            except ValidationError as exc:
                return _explain(exc)
        return Ignored(kind)
