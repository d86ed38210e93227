"""A delivery: one message as it travels from the MQTT source through the pipeline to its
acknowledgement (see :mod:`collector.source` for what ``mid`` and ``generation`` mean)."""

from typing import NamedTuple


class Delivery(NamedTuple):
    """One received message, as the pipeline sees it."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    """Packet identifier; meaningful only within ``generation``."""
    retain: bool
    dup: bool
    """Set by the broker when it sends the message again (it may have been seen before)."""
    generation: int
    """The connection it arrived on (see "Generations" in :mod:`collector.source`)."""
    received_ns: int
    """Arrival time by the collector's clock, epoch nanoseconds."""
