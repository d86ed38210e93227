"""An enterprise gateway: one MQTT connection publishing its machines' readings.

The gateway does no I/O on its own: the fleet drives every gateway's paho client from one
thread through paho's external-loop API (``socket()``, ``loop_read``/``loop_write``/
``loop_misc``, ``want_write``), with one selector for all sockets. Readings are QoS 1; the
gateway publishes a retained birth message on its status topic when it connects and leaves a
retained Last Will (``online: false``) with the broker.
"""

import contextlib
import selectors
import socket
import struct
from collections.abc import Callable
from enum import Enum
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from contract import status_topic
from simulators.broker import BrokerAddress

MAX_INFLIGHT = 1000
"""Unacknowledged QoS 1 messages per connection before paho queues further ones."""


class GatewayState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    ONLINE = "online"
    DOWN = "down"
    """Lost its connection unexpectedly; the fleet reconnects it."""
    DEAD = "dead"
    """Connection aborted on purpose (fault injection); the fleet revives it later."""
    REFUSED = "refused"
    CLOSING = "closing"
    CLOSED = "closed"


class Gateway:
    """One enterprise's connection. ``pending`` counts messages the broker has not yet acked."""

    def __init__(
        self,
        enterprise: str,
        machines: tuple[str, ...],
        broker: BrokerAddress,
        *,
        selector: selectors.BaseSelector,
        wall_ms: Callable[[], int],
        keepalive: int = 60,
        on_lost: Callable[["Gateway"], None] | None = None,
    ) -> None:
        self.enterprise = enterprise
        self.client_id = f"gw-{enterprise}"
        self.status_topic = status_topic(enterprise)
        self.machines = machines
        self.broker = broker
        self.state = GatewayState.NEW
        self.pending = 0
        self.refusal: str | None = None
        self.writing = False
        self._selector = selector
        self._wall_ms = wall_ms
        self._keepalive = keepalive
        self._on_lost = on_lost
        self._online_since_ms = 0
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        client.will_set(self.status_topic, orjson.dumps({"online": False}), qos=1, retain=True)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        self.client = client

    # -- paho callbacks (run inside loop_read/loop_write, in the fleet's thread) -----------------

    def _on_socket_open(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        self._selector.register(sock, selectors.EVENT_READ, self)
        self.writing = False

    def _on_socket_close(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        # (already unregistered when paho closes an aborted socket a second time)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        self.writing = False

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self.refusal = str(reason_code)
            self.state = GatewayState.REFUSED
            return
        self.state = GatewayState.ONLINE
        self._online_since_ms = self._wall_ms()
        birth = {"online": True, "ts": self._wall_ms(), "machines": list(self.machines)}
        self.publish(self.status_topic, orjson.dumps(birth), retain=True)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        _reason_code: ReasonCode,
        _properties: Any,
    ) -> None:
        if self.state is GatewayState.CLOSING:
            self.state = GatewayState.CLOSED
        elif self.state in (GatewayState.CONNECTING, GatewayState.ONLINE):
            self.state = GatewayState.DOWN
            if self._on_lost is not None:
                self._on_lost(self)

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, _rc: ReasonCode, _props: Any
    ) -> None:
        self.pending -= 1

    # -- driven by the fleet ---------------------------------------------------------------------

    def open(self) -> None:
        """Connect (TCP now, CONNACK later through ``loop_read``); raises ``OSError``."""
        self.state = GatewayState.CONNECTING
        try:
            self.client.connect(self.broker.host, self.broker.port, keepalive=self._keepalive)
        except OSError:
            self.state = GatewayState.DOWN
            raise

    def reopen(self) -> None:
        """Reconnect the same client: unacknowledged messages are sent again."""
        self.state = GatewayState.CONNECTING
        try:
            self.client.reconnect()
        except OSError:
            self.state = GatewayState.DOWN
            raise

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)
        self.pending += 1

    def abort(self) -> None:
        """Die without DISCONNECT: reset the TCP connection so the broker sends the Last Will."""
        self.state = GatewayState.DEAD
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone: the broker sees the connection lost either way
            # paho reads the end of the stream, closes the socket (a reset, with linger 0) and
            # reports the connection lost.
            self.client.loop_read()

    def say_offline(self) -> None:
        """Publish the retained ``online: false`` status of a clean shutdown."""
        self.publish(self.status_topic, orjson.dumps({"online": False, "ts": self._wall_ms()}),
                     retain=True)  # fmt: skip

    def disconnect(self) -> None:
        """Clean DISCONNECT (the broker then discards the Last Will)."""
        self.state = GatewayState.CLOSING
        self.client.disconnect()

    def since_online(self, now_ms: int) -> float:
        """Seconds since the gateway last came online (infinite if it never did)."""
        if not self._online_since_ms:
            return float("inf")
        return (now_ms - self._online_since_ms) / 1000.0

    def loop_misc(self) -> None:
        if self.state in (GatewayState.CONNECTING, GatewayState.ONLINE):
            self.client.loop_misc()
