"""The collector's MQTT session settings (:class:`MqttSourceConfig`) and the client options
they make: a persistent session at the broker with a backpressure window and a size limit."""

from dataclasses import dataclass, field
from pathlib import Path

from mqtt.client import ClientOptions
from mqtt.protocol import SessionOptions

MAX_RECEIVE_MAXIMUM = 65_535
MAX_SESSION_EXPIRY = 0xFFFF_FFFF
MAXIMUM_PACKET_SIZE = 262_144
"""Default largest MQTT packet the collector accepts (``--mqtt-max-packet-size``): above the
broker's ``max_packet_size`` (131072), not equal to it, because a message grows on its way from
the publisher to the collector (packet id, properties) and the broker checks the collector's
limit on what it sends; ``tests/integration/test_mqtt_client.py`` shows a message the broker
accepted that a client announcing exactly the broker's limit never gets."""


@dataclass(frozen=True, slots=True)
class MqttSourceConfig:
    """How to reach the broker and what session to keep there.

    The size limit: CONNECT carries ``MaximumPacketSize`` (``maximum_packet_size``). A broker
    drops a message larger than that for this client (Mosquitto does so without a trace), so it
    must stay above the largest packet the broker accepts from publishers (``max_packet_size``
    in the product's ``mosquitto.conf``): then every message the broker took reaches the
    collector, and a payload over the contract's limit is rejected as ``oversized`` by
    validation, counted and republished like any other bad input. At every connection the source
    compares the broker's announced limit with its own and logs a warning when the broker would
    accept larger messages.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "hosiery-collector"
    """Fixed across restarts: the broker keeps the session (and queued readings) under it."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive: int = 30
    """Seconds; the broker drops the connection after 1.5 times this without traffic."""
    session_expiry: int = 86_400
    """Seconds the broker keeps the session (and queues readings) while the collector is away."""
    receive_maximum: int = 10_000
    """Most unacknowledged QoS 1 messages the broker sends at once (the backpressure window)."""
    tls_ca: Path | None = None
    """CA certificate file; when set, the connection uses TLS and checks the broker's name."""
    tls: bool = False
    """TLS even without ``tls_ca`` (``mqtts://``): the system's CAs check the broker."""
    qos: int = 1
    """QoS of the subscription (0 or 1)."""
    maximum_packet_size: int = MAXIMUM_PACKET_SIZE
    """Largest packet the collector accepts (MQTT ``MaximumPacketSize``); keep it above the
    broker's ``max_packet_size``, or the broker drops larger messages for the collector."""
    reconnect_min_delay: int = 1
    reconnect_max_delay: int = 30
    intake_max_bytes: int = 256 * 1024 * 1024
    """Bytes (topics and payloads) the intake holds before ``on_message`` blocks: with the
    count bound, what bounds the collector's memory while InfluxDB is down, whatever the size of
    the messages (a topic may be 64 KiB)."""
    intake_capacity: int | None = None
    """Deliveries the intake holds before ``on_message`` blocks; default twice
    ``receive_maximum`` (after a reconnect, undrained deliveries of the old connection and the
    redelivered window can both be there). With a broker that overshoots ``ReceiveMaximum``
    (Mosquitto before 2.0.13) this is what bounds the collector's memory."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("mqtt host must not be empty")
        if not 0 < self.port < 65_536:
            raise ValueError(f"mqtt port {self.port} is not 1-65535")
        if not self.client_id:
            raise ValueError("mqtt client id must not be empty: the persistent session needs it")
        if self.password is not None and self.username is None:
            raise ValueError("mqtt password given without a username")
        if not 0 < self.keepalive < 65_536:
            raise ValueError(f"mqtt keepalive {self.keepalive} is not 1-65535 seconds")
        if not 0 <= self.session_expiry <= MAX_SESSION_EXPIRY:
            raise ValueError(
                f"mqtt session expiry {self.session_expiry} is not 0-{MAX_SESSION_EXPIRY}"
            )
        if not 0 < self.receive_maximum <= MAX_RECEIVE_MAXIMUM:
            raise ValueError(
                f"mqtt receive maximum {self.receive_maximum} is not 1-{MAX_RECEIVE_MAXIMUM}"
            )
        if self.qos not in (0, 1):
            raise ValueError(f"mqtt qos {self.qos} is not 0 or 1")
        if not 1_024 <= self.maximum_packet_size <= 268_435_460:
            raise ValueError(
                f"mqtt maximum packet size {self.maximum_packet_size} is not 1024-268435460"
            )
        if not 0 < self.reconnect_min_delay <= self.reconnect_max_delay:
            raise ValueError(
                f"mqtt reconnect delays {self.reconnect_min_delay}..{self.reconnect_max_delay} "
                "must satisfy 0 < min <= max"
            )
        if self.intake_max_bytes < 1:
            raise ValueError(f"intake max bytes {self.intake_max_bytes} is below 1")
        if self.intake_capacity is not None and self.intake_capacity < self.receive_maximum:
            raise ValueError(
                f"intake capacity {self.intake_capacity} is below the receive maximum "
                f"{self.receive_maximum}"
            )

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls or self.tls_ca is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def capacity(self) -> int:
        """The intake's capacity."""
        return self.intake_capacity or 2 * self.receive_maximum


def client_options(config: MqttSourceConfig) -> ClientOptions:
    """The client's options for ``config``: a persistent session with a backpressure window."""
    return ClientOptions(
        host=config.host,
        port=config.port,
        session=SessionOptions(
            client_id=config.client_id,
            username=config.username,
            password=config.password,
            keepalive=config.keepalive,
            session_expiry=config.session_expiry,
            clean_start=False,
            receive_maximum=config.receive_maximum,
            maximum_packet_size=config.maximum_packet_size,
        ),
        tls_ca=config.tls_ca,
        tls=config.tls,
        reconnect_min_delay=config.reconnect_min_delay,
        reconnect_max_delay=config.reconnect_max_delay,
    )
