"""MQTT topics of contract version 1.

=====================================================  ===========================================
topic                                                  payload
=====================================================  ===========================================
``hosiery/v1/{enterprise}/{machine}/counter``          :class:`contract.messages.CounterReading`
``hosiery/v1/{enterprise}/status``                     :class:`contract.messages.GatewayStatus`,
                                                       retained; also the gateway's Last Will
``hosiery/v1/{enterprise}/{machine}/alert``            machine alerts, published by the collector
``hosiery/v1/_rejected``                               rejected input, published by the collector
``hosiery/v1/_summary``                                machines not reporting, published by the
                                                       collector, retained
=====================================================  ===========================================
"""

from enum import StrEnum
from typing import NamedTuple

from contract.ids import InvalidIdError, is_valid_id, require_id

TOPIC_ROOT = "hosiery/v1"
SUBSCRIPTION = f"{TOPIC_ROOT}/#"
REJECTED_TOPIC = f"{TOPIC_ROOT}/_rejected"
SUMMARY_TOPIC = f"{TOPIC_ROOT}/_summary"


class TopicError(ValueError):
    """A topic under ``hosiery/v1/`` that the contract does not define."""


class TopicIdError(TopicError, InvalidIdError):
    """A topic of the contract's shape whose enterprise or machine level is not an identifier."""


class TopicKind(StrEnum):
    COUNTER = "counter"
    STATUS = "status"
    ALERT = "alert"
    REJECTED = "rejected"
    SUMMARY = "summary"


class TopicRef(NamedTuple):
    """What a topic names: its kind, enterprise and (for machine topics) machine."""

    kind: TopicKind
    enterprise: str = ""
    machine: str = ""


def _machine_topic(enterprise: str, machine: str, leaf: str) -> str:
    enterprise = require_id(enterprise, "enterprise")
    return f"{TOPIC_ROOT}/{enterprise}/{require_id(machine, 'machine')}/{leaf}"


def counter_topic(enterprise: str, machine: str) -> str:
    return _machine_topic(enterprise, machine, "counter")


def alert_topic(enterprise: str, machine: str) -> str:
    return _machine_topic(enterprise, machine, "alert")


def status_topic(enterprise: str) -> str:
    return f"{TOPIC_ROOT}/{require_id(enterprise, 'enterprise')}/status"


_MACHINE_LEAVES = {"counter": TopicKind.COUNTER, "alert": TopicKind.ALERT}
_COLLECTOR_LEAVES = {"_rejected": TopicKind.REJECTED, "_summary": TopicKind.SUMMARY}


def parse_topic(topic: str) -> TopicRef:
    """Classify a topic, or raise :class:`TopicError` naming what is wrong with it
    (:class:`TopicIdError`, also an :class:`~contract.ids.InvalidIdError`, for a bad id)."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "hosiery" or parts[1] != "v1":
        raise TopicError(f"topic {topic!r} is not under {TOPIC_ROOT}/")
    if len(parts) == 3 and parts[2] in _COLLECTOR_LEAVES:
        return TopicRef(_COLLECTOR_LEAVES[parts[2]])
    if len(parts) == 4 and parts[3] == "status":
        if not is_valid_id(parts[2]):
            raise TopicIdError(f"enterprise id {parts[2]!r} in topic {topic!r} is invalid")
        return TopicRef(TopicKind.STATUS, parts[2])
    if len(parts) == 5 and parts[4] in _MACHINE_LEAVES:
        if not is_valid_id(parts[2]):
            raise TopicIdError(f"enterprise id {parts[2]!r} in topic {topic!r} is invalid")
        if not is_valid_id(parts[3]):
            raise TopicIdError(f"machine id {parts[3]!r} in topic {topic!r} is invalid")
        return TopicRef(_MACHINE_LEAVES[parts[4]], parts[2], parts[3])
    raise TopicError(f"topic {topic!r} is not a topic of contract {TOPIC_ROOT}")
