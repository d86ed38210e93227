"""One MQTT v5 session over a non-blocking socket, driven by the caller's selector loop.

Where :mod:`mqtt.client` runs a thread per connection, a :class:`Connection` does no I/O on its
own initiative: the caller runs one selector for many connections (each registers its socket
with the connection as the key's ``data``), calls :meth:`Connection.handle_read` and
:meth:`Connection.flush` when the selector reports a socket ready, and
:meth:`Connection.keepalive` now and then. A thousand connections then cost one thread.

:meth:`Connection.open` makes the TCP connection (and the TLS handshake for ``mqtts://``)
blocking, within ``connect_timeout``, and raises ``OSError``; the rest is non-blocking.
Outgoing QoS 1 publications are kept by the :class:`~mqtt.protocol.Session` until their
PUBACK and go out again after :meth:`open` on a new connection. What happens is reported to a
:class:`ConnectionHandler`.
"""

import contextlib
import selectors
import socket
import ssl
import struct
import time
from collections.abc import Callable
from pathlib import Path

from mqtt.client import ClientOptions
from mqtt.errors import MqttProtocolError
from mqtt.protocol import (
    ConnAck,
    Disconnect,
    Outgoing,
    PingResp,
    PubAck,
    Publish,
    Session,
    pubacks,
    reason_name,
)

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_RECV_BYTES = 65_536


def tls_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts ``ca_file`` and checks the broker's name; share it."""
    return ssl.create_default_context(cafile=str(ca_file))


class ConnectionHandler:
    """What a :class:`Connection` reports; called from the caller's loop, doing nothing here."""

    def on_connect(self, connack: ConnAck) -> None:
        """The broker accepted the connection (publications waiting have been queued)."""

    def on_refused(self, connack: ConnAck) -> None:
        """The broker refused the connection (reason code 128 and above); the socket is closed."""

    def on_lost(self, reason: str) -> None:
        """The connection ended without :meth:`Connection.abort`, ``close`` or ``disconnect``."""

    def on_message(self, message: Publish) -> None:
        """A PUBLISH from the broker (only after a subscription; QoS 1 is acknowledged)."""


class Connection:
    """A session and its current socket (see the module docstring)."""

    def __init__(
        self,
        options: ClientOptions,
        selector: selectors.BaseSelector,
        handler: ConnectionHandler,
        *,
        tls: ssl.SSLContext | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.session = Session(options.session)
        self._queued = self.session._output  # (one list for the session's life)
        self.handler = handler
        self._selector = selector
        if tls is None and options.tls_ca is not None:
            tls = tls_context(options.tls_ca)
        self._tls = tls
        self._mono = monotonic
        self._sock: socket.socket | None = None
        self._out = bytearray()
        self._writing = False
        self._closing = False
        self._last_sent = 0.0
        self._ping_sent: float | None = None
        self._opened = 0.0

    @property
    def url(self) -> str:
        return self.options.url

    @property
    def closed(self) -> bool:
        """No socket (never opened, lost, refused, aborted or closed)."""
        return self._sock is None

    @property
    def connected(self) -> bool:
        """The broker accepted the current connection."""
        return self._sock is not None and self.session.connected

    @property
    def pending(self) -> int:
        """Publications the broker has not acknowledged yet (waiting or in flight)."""
        return self.session.unacknowledged

    # ---------------------------------------------------------------------------- connection

    def open(self) -> None:
        """Connect (TCP, TLS) now and send CONNECT; raises ``OSError``. CONNACK comes later."""
        self._close_socket()
        options = self.options
        sock = socket.create_connection(
            (options.host, options.port), timeout=options.connect_timeout
        )
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=options.host)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._selector.register(sock, _READ, self)
        self._writing = False
        self._closing = False
        self._out.clear()
        self._opened = self._mono()
        self._ping_sent = None
        self._out += self.session.connect()
        self.flush()

    def abort(self) -> None:
        """End the connection without DISCONNECT (a TCP reset): the broker publishes the Will."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone: the broker sees it lost anyway
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close_socket()

    def disconnect(self) -> None:
        """Send DISCONNECT (the broker discards the Will) and close once it is written."""
        if self._sock is None:
            return
        self.session.disconnect()
        self._closing = True
        self.flush()

    def close(self) -> None:
        """Close the socket, whatever the state (no DISCONNECT)."""
        self._close_socket()

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        self._writing = False
        self._out.clear()
        self.session.connection_lost()
        if sock is not None:
            # (a socket the selector has already forgotten is fine)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()

    def _lost(self, reason: str) -> None:
        closing = self._closing
        self._close_socket()
        if not closing:
            self.handler.on_lost(reason)

    # ---------------------------------------------------------------------------- I/O

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False
    ) -> Outgoing:
        """Queue a publication; :meth:`flush` sends it (kept until the broker acknowledges it)."""
        return self.session.publish(topic, payload, qos, retain=retain)

    def flush(self) -> None:
        """Send what is queued; watch for writability while some of it is left."""
        sock = self._sock
        if sock is None:
            return
        out = self._out
        queued = self._queued
        if queued:  # (the session's data_to_send, without the call and the copy)
            for chunk in queued:
                out += chunk
            queued.clear()
        elif not out:
            return
        try:
            sent = sock.send(out)
        except _WOULD_BLOCK:
            sent = 0
        except OSError as exc:
            self._lost(f"connection lost: {exc.strerror or exc}")
            return
        if sent:
            del out[:sent]
            self._last_sent = self._mono()
        want = bool(out)
        if want != self._writing:
            self._selector.modify(sock, _READ | _WRITE if want else _READ, self)
            self._writing = want
        if not want and self._closing:
            self._close_socket()

    def handle_read(self) -> None:
        """Read what the socket has and handle every complete packet."""
        data = self._read()
        if not data:
            return
        try:
            events = self.session.receive(data)
        except MqttProtocolError as exc:
            self._lost(str(exc))
            return
        for event in events:
            kind = type(event)
            if kind is PubAck:
                continue  # (the session has marked the publication done)
            if kind is ConnAck:
                if not self._connack(event):  # type: ignore[arg-type]
                    return
            elif kind is Publish:
                self._message(event)  # type: ignore[arg-type]
            elif kind is PingResp:
                self._ping_sent = None
            elif kind is Disconnect:
                text = reason_name(event.reason_code)  # type: ignore[union-attr]
                self._lost(f"disconnected by the broker: {text}")
                return
            # SubAck, UnsubAck: unused.
        if self._out or self._queued:  # (released by PUBACKs; PUBACKs of messages)
            self.flush()

    def _read(self) -> bytes:
        """What the socket has (b"" if nothing; the connection is lost if it ended)."""
        sock = self._sock
        if sock is None:
            return b""
        try:
            data = sock.recv(_RECV_BYTES)
            if data and isinstance(sock, ssl.SSLSocket):
                while sock.pending():  # (decrypted bytes the selector cannot see)
                    data += sock.recv(_RECV_BYTES)
        except _WOULD_BLOCK:
            return b""
        except OSError as exc:
            self._lost(f"connection lost: {exc.strerror or exc}")
            return b""
        if not data:
            self._lost("connection closed by the broker")
        return data

    def _connack(self, connack: ConnAck) -> bool:
        if connack.reason_code >= 128:
            self._close_socket()
            self.handler.on_refused(connack)
            return False
        self.handler.on_connect(connack)
        return self._sock is not None

    def _message(self, message: Publish) -> None:
        self.handler.on_message(message)
        if message.qos == 1:
            self._out += pubacks((message.packet_id,))

    def keepalive(self, now: float) -> None:
        """Ping an idle connection; end one that does not answer (or never sent CONNACK)."""
        if self._sock is None or self._closing:
            return
        if not self.session.connected:
            if now - self._opened > self.options.connect_timeout:
                self._lost("no CONNACK from the broker in time")
            return
        keepalive = self.session.keepalive
        if not keepalive:
            return
        if self._ping_sent is not None:
            if now - self._ping_sent > keepalive:
                self._lost(f"no answer from the broker for {keepalive}s (keep alive)")
        elif now - self._last_sent >= keepalive / 2:
            self._ping_sent = now
            self.session.ping()
            self.flush()
