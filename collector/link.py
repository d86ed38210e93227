"""The MQTT source's link to the broker as an operator sees it: connections, lost sessions,
disconnections and refused subscriptions, counted and logged once each, from the MQTT client's
connection callbacks (on its network thread)."""

from structlog.typing import FilteringBoundLogger

from collector.session import MqttSourceConfig
from contract import SUBSCRIPTION
from mqtt.protocol import ConnAck, reason_name


class BrokerLink:
    """The state of the source's connection, kept by the client's connection callbacks.

    An exception escaping a callback would cost the connection; every callback catches and logs
    everything. ``starting``, ``stopping`` and ``expect_session`` are set by the source.
    """

    def __init__(self, config: MqttSourceConfig, log: FilteringBoundLogger) -> None:
        self.config = config
        self._log = log
        self.connected = False
        """CONNACK received, connection not yet lost."""
        self.connects = 0
        self.disconnects = 0
        self.sessions_lost = 0
        self.starting = False
        self.stopping = False
        self.expect_session = False
        """The collector ran before under its client id: the broker should have its session."""
        self._resumed = False  # the current connection resumed the session
        self._size_checked = False

    def on_connect(self, connack: ConnAck, connection: int) -> None:
        try:
            self.connects += 1
            self.connected = True
            self._resumed = connack.session_present
            if not connack.session_present and (self.connects > 1 or self.expect_session):
                self.sessions_lost += 1
                self._log.warning(
                    "mqtt session lost: messages queued while disconnected may be gone",
                    url=self.config.url,
                    client_id=self.config.client_id,
                )
            self._log.info(
                "mqtt connected",
                url=self.config.url,
                client_id=self.config.client_id,
                session_present=connack.session_present,
                generation=connection,
            )
            self._check_packet_size(connack.maximum_packet_size)
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_connect failed")

    def _check_packet_size(self, broker_limit: int | None) -> None:
        if self._size_checked:
            return
        self._size_checked = True
        ours = self.config.maximum_packet_size
        if broker_limit is None or broker_limit > ours:
            self._log.warning(
                "mqtt broker accepts larger messages than the collector: the broker would drop "
                "them for the collector without notice; set max_packet_size in mosquitto.conf "
                "to at most the collector's maximum packet size",
                broker_max_packet_size=broker_limit or "unlimited",
                collector_max_packet_size=ours,
            )

    def on_subscribe(self, pattern: str, reason_code: int, _connection: int) -> None:
        try:
            if pattern != SUBSCRIPTION:
                return
            if reason_code >= 128:
                # At start-up with a new session, start() raises it; a resumed session starts
                # at CONNACK and keeps its subscription, so the refusal is logged.
                if not self.starting or self._resumed:
                    self._log.error(
                        "mqtt subscription refused; nothing arrives until the next reconnect",
                        reason=f"{self.config.url} refused the subscription to {SUBSCRIPTION}: "
                        f"{reason_name(reason_code)}",
                    )
            elif reason_code < self.config.qos:
                self._log.warning(
                    "mqtt subscription granted a lower qos",
                    requested=self.config.qos,
                    granted=reason_code,
                )
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_subscribe failed")

    def on_connect_failed(self, reason: str) -> None:
        self._log.warning("mqtt reconnect failed; retrying", url=self.config.url, reason=reason)

    def on_disconnect(self, reason: str, reason_code: int | None, _connection: int) -> None:
        try:
            if not self.connected:
                if not self.stopping and not self.starting:
                    self._log.warning(
                        "mqtt reconnect failed; retrying", url=self.config.url, reason=reason
                    )
                return
            self.connected = False
            self.disconnects += 1
            if self.stopping:
                self._log.info("mqtt disconnected", url=self.config.url)
            elif reason_code is not None:
                self._log.warning(
                    "mqtt broker closed the connection; reconnecting",
                    url=self.config.url,
                    reason=reason,
                    reason_code=reason_code,
                )
            else:
                self._log.warning(
                    "mqtt connection lost; reconnecting", url=self.config.url, reason=reason
                )
        except Exception:  # noqa: BLE001 - must not cost the connection; logged
            self._log.exception("mqtt on_disconnect failed")
