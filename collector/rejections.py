"""Rejected messages: each is stored as a ``rejected`` line with the batch, republished on
``hosiery/v1/_rejected`` and logged, the notices and log lines rate-limited."""

from typing import Protocol

import orjson
from structlog.typing import FilteringBoundLogger

from collector.accounting import PairsLimit
from collector.batch import Batch
from collector.delivery import Delivery
from collector.logs import RateLimit
from collector.validate import Reason, Rejection
from contract import REJECTED_TOPIC, CounterReading
from influx.lines import encode_payload, printable, rejected_line


class Publisher(Protocol):
    """Where rejection notices go (the MQTT source)."""

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> object: ...


class Rejections:
    """Stores, republishes and logs rejections; a flood of bad input stays bounded."""

    def __init__(
        self, publisher: Publisher, log: FilteringBoundLogger, notices_per_minute: int = 600
    ) -> None:
        self._publisher = publisher
        self._log = log
        self._logged = RateLimit(burst=10, period=60.0)
        self._notices = RateLimit(burst=notices_per_minute, period=60.0)
        self._last_ns = 0

    def reject(self, delivery: Delivery, rejection: Rejection, batch: Batch, now_ns: int) -> None:
        """Count ``rejection`` in ``batch``, add its line, republish it and log it."""
        reason = rejection.reason
        batch.rejected[reason] += 1
        time_ns = max(delivery.received_ns, self._last_ns + 1)
        self._last_ns = time_ns
        batch.lines.append(
            rejected_line(reason.value, delivery.topic, rejection.detail, delivery.payload, time_ns)
        )
        # The stored line keeps every rejection; the MQTT notices are rate-limited, so that a
        # flood of bad input cannot queue without bound in the outgoing session.
        notice_allowed, _skipped = self._notices.allow("notice", now_ns / 1e9)
        if notice_allowed:
            self._notify(delivery, rejection)
        else:
            batch.tally["notice_skipped"] += 1
        allowed, suppressed = self._logged.allow(reason.value, now_ns / 1e9)
        if allowed:
            self._log.warning(
                "message rejected",
                reason=reason.value,
                detail=rejection.detail,
                topic=delivery.topic[:200],
                suppressed_since_last=suppressed,
            )

    def _notify(self, delivery: Delivery, rejection: Rejection) -> None:
        """Republish a rejection on ``hosiery/v1/_rejected`` (topic and detail cut short)."""
        text, encoding = encode_payload(delivery.payload)
        notice = orjson.dumps(
            {
                "reason": rejection.reason.value,
                "detail": printable(rejection.detail),
                "topic": printable(delivery.topic),
                "payload": text,
                "payload_encoding": encoding,
                "payload_size": len(delivery.payload),
                "received_ns": delivery.received_ns,
            }
        )
        try:
            self._publisher.publish(REJECTED_TOPIC, notice, 1)
        except (RuntimeError, ValueError, OSError) as exc:
            self._log.warning("cannot republish a rejected message", error=str(exc))


def implausible(data: CounterReading, limit: PairsLimit | None) -> Rejection:
    """The rejection of a reading that counts more pairs than a machine can knit."""
    rate = f"{limit.max_pairs_per_hour:g}" if limit is not None else "?"
    return Rejection(
        Reason.IMPLAUSIBLE_COUNT,
        f"pairs_total {data.pairs_total} at seq {data.seq} of boot {data.boot} would count "
        f"more pairs than a machine knits at {rate} pairs/h since its previous reading",
    )
