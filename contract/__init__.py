"""The MQTT message contract shared by machine gateways, the simulator and the collector.

Topics, identifiers and payloads are defined here once; ``docs/contract.md`` explains them for
people who connect real gateways.
"""

from contract.ids import ID_PATTERN, InvalidIdError, is_valid_id, require_id
from contract.messages import (
    MAX_PAIRS_TOTAL,
    MAX_PAYLOAD_BYTES,
    CounterReading,
    GatewayStatus,
    MachineState,
    StopReason,
)
from contract.topics import (
    REJECTED_TOPIC,
    SUBSCRIPTION,
    SUMMARY_TOPIC,
    TOPIC_ROOT,
    TopicError,
    TopicIdError,
    TopicKind,
    TopicRef,
    alert_topic,
    counter_topic,
    parse_topic,
    status_topic,
)

__all__ = [
    "ID_PATTERN",
    "MAX_PAIRS_TOTAL",
    "MAX_PAYLOAD_BYTES",
    "REJECTED_TOPIC",
    "SUBSCRIPTION",
    "SUMMARY_TOPIC",
    "TOPIC_ROOT",
    "CounterReading",
    "GatewayStatus",
    "InvalidIdError",
    "MachineState",
    "StopReason",
    "TopicError",
    "TopicIdError",
    "TopicKind",
    "TopicRef",
    "alert_topic",
    "counter_topic",
    "is_valid_id",
    "parse_topic",
    "require_id",
    "status_topic",
]
