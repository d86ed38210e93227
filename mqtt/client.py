"""A blocking MQTT v5 client on :class:`mqtt.protocol.Session`: one network thread.

Threads
-------
The **network thread** reads up to ``receive_buffer`` bytes per ``recv``, parses every complete
packet of the chunk and calls :meth:`Handler.on_message` for each PUBLISH, in arrival order. The
handler may block (a full intake): the thread then stops reading and TCP holds the rest back at
the broker. A small **keep-alive thread** sends PINGREQ every half keep-alive period whatever
the traffic, so the connection also stays up while a backlog streams in or while the network
thread is held by the handler; the network thread closes a connection on which nothing arrived
for a whole keep-alive period after a PINGREQ.

Any thread may call :meth:`MqttClient.publish`, :meth:`MqttClient.ack_many` and
:meth:`MqttClient.unsubscribe`: they encode the packets and write them with one ``sendall``
under the client's lock (no wake-up of the network thread). Over TLS the network thread also
reads under that lock (an OpenSSL connection must not be used by two threads at once).

Acknowledgements
----------------
The client never acknowledges a QoS 1 message by itself: the caller passes the packet ids to
:meth:`MqttClient.ack_many` together with the *connection* number the messages arrived on. A
packet id means something only on its connection; acknowledgements for an earlier connection
are not sent (the broker redelivers those messages on the new one).

Connections
-----------
:meth:`MqttClient.start` connects in the calling thread and raises
:class:`~mqtt.errors.MqttUnavailableError` or :class:`~mqtt.errors.MqttRefusedError` (CONNACK
or SUBACK reason code) with one line an operator can act on. When the broker resumes a session
(CONNACK's Session Present), the subscriptions are part of it (MQTT 5, 4.1) and the broker
sends the session's queued messages right away, ahead of the SUBACK of the renewed
subscription (Mosquitto sends a whole backlog first once the session's window has grown past
the Receive Maximum): ``start`` then returns at CONNACK, and the SUBACK is handled when it
comes. After that, a lost connection or a
DISCONNECT from the broker (with its reason code, reported to
:meth:`Handler.on_disconnect`) is followed by reconnecting with a jittered exponential delay;
each connection resumes the session (clean start off) and subscribes again.
"""

import contextlib
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mqtt.errors import (
    MqttDisconnectedError,
    MqttError,
    MqttProtocolError,
    MqttRefusedError,
    MqttUnavailableError,
)
from mqtt.protocol import (
    ConnAck,
    Disconnect,
    Event,
    Outgoing,
    PubAck,
    Publish,
    Session,
    SessionOptions,
    SubAck,
    UnsubAck,
    pubacks,
    reason_name,
)

RECEIVE_BUFFER = 262_144


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Where the broker is, how to reach it, and the session to keep there."""

    host: str
    port: int
    session: SessionOptions
    tls_ca: Path | None = None
    """CA certificate file; when set, TLS with the broker's name checked (``mqtts://``)."""
    tls: bool = False
    """TLS even without ``tls_ca``: the broker's certificate checked against the system's CAs."""
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 30.0
    connect_timeout: float = 10.0
    """Seconds for TCP, TLS and CONNACK on a reconnection (start takes its own timeout)."""
    receive_buffer: int = RECEIVE_BUFFER
    """Bytes asked for per ``recv``."""
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    """Source of the reconnect delays' jitter (0 <= x < 1)."""

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.tls_ca is not None

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.uses_tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    def reconnect_delay(self, attempt: int) -> float:
        """Delay before reconnection ``attempt`` (0-based): doubling, capped, half jittered."""
        ceiling = min(self.reconnect_max_delay, self.reconnect_min_delay * 2.0 ** min(attempt, 30))
        jitter: float = self.random()
        return ceiling * (0.5 + 0.5 * jitter)


class Handler:
    """What the client reports; the methods run on the network thread and do nothing here.

    An exception escaping a method closes the connection (which is then reconnected).
    """

    def on_connect(self, connack: ConnAck, connection: int) -> None:
        """Connection number ``connection`` was accepted (before its subscriptions are)."""

    def on_subscribe(self, pattern: str, reason_code: int, connection: int) -> None:
        """The broker answered a subscription: granted QoS (0-2) or a refusal (128 and up)."""

    def on_message(self, message: Publish, connection: int) -> None:
        """A PUBLISH, in arrival order. May block (backpressure)."""

    def on_disconnect(self, reason: str, reason_code: int | None, connection: int) -> None:
        """A connection ended; ``reason_code`` when the broker sent DISCONNECT."""

    def on_connect_failed(self, reason: str) -> None:
        """A reconnection attempt failed; the next follows after the backoff delay."""


class PublishInfo:
    """A publication's progress, as returned by :meth:`MqttClient.publish`."""

    __slots__ = ("_done", "message")

    def __init__(self, message: Outgoing) -> None:
        self.message = message
        self._done = threading.Event()
        message.token = self._done

    def is_published(self) -> bool:
        """QoS 1: the broker acknowledged it; QoS 0: it was written to a connection."""
        return self.message.done

    def wait_for_publish(self, timeout: float | None = None) -> bool:
        """Wait for the broker's acknowledgement (QoS 0: does not wait)."""
        if self.message.qos == 0:
            return self.message.done
        return self._done.wait(timeout)

    @property
    def reason_code(self) -> int:
        """The PUBACK's reason code (-1 until acknowledged; 128 and above: refused)."""
        return self.message.reason_code


class Request:
    """A SUBSCRIBE or UNSUBSCRIBE round trip; ``wait`` gives the broker's reason codes."""

    __slots__ = ("_done", "reason_codes")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.reason_codes: tuple[int, ...] | None = None

    def _finish(self, reason_codes: tuple[int, ...] | None) -> None:
        self.reason_codes = reason_codes
        self._done.set()

    def wait(self, timeout: float | None = None) -> tuple[int, ...] | None:
        """The reason codes; None on timeout or if the connection ended first."""
        self._done.wait(timeout)
        return self.reason_codes


class _ConnectionEnded(Exception):  # noqa: N818 - control flow inside the network thread
    def __init__(self, reason: str, reason_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_code = reason_code


def describe_os_error(exc: OSError) -> str:
    """``ConnectionRefusedError(111, 'Connection refused')`` -> ``connection refused``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {getattr(exc, 'verify_message', None) or exc}"
    if isinstance(exc, ssl.SSLError):
        reason = (getattr(exc, "reason", None) or "").replace("_", " ").lower()
        return f"TLS handshake failed: {reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


class MqttClient:
    """A blocking MQTT v5 client. Use once: ``subscribe``..., ``start``, ..., ``stop``."""

    def __init__(self, options: ClientOptions, handler: Handler) -> None:
        self.options = options
        self.handler = handler
        self.session = Session(options.session)
        self._lock = threading.Lock()  # session state and writes to the socket
        self._sock: socket.socket | None = None
        self._tls = options.uses_tls
        self._subscriptions: dict[str, tuple[int, bool]] = {}  # pattern -> (qos, no_local)
        self._suback_ids: dict[int, list[str]] = {}
        self._unsubscribing: dict[int, Request] = {}
        self._unconfirmed = 0  # subscriptions of this connection still waiting for SUBACK
        self._resumed = False  # this connection resumed a session (its subscriptions hold)
        self._connection = 0
        self._live: int | None = None  # the connection acks may go to (None: none)
        self._thread: threading.Thread | None = None
        self._pinger: threading.Thread | None = None
        self._stop = threading.Event()
        self._stopping = False
        self._starting = False
        self._started = threading.Event()
        self._start_error: MqttError | None = None
        self._ping_sent = 0.0  # monotonic time of the unanswered PINGREQ (0: none)
        self._last_received = 0.0

    # ------------------------------------------------------------------------ lifecycle

    def subscribe(self, pattern: str, qos: int = 1, *, no_local: bool = False) -> None:
        """Subscribe on every connection from now on (before ``start``: part of starting)."""
        with self._lock:
            self._subscriptions[pattern] = (qos, no_local)
            if self.session.connected:
                self._send_subscribe([pattern])

    def start(self, timeout: float = 10.0) -> ConnAck:
        """Connect, wait for CONNACK and, for a new session, the SUBACKs of the subscriptions.

        A resumed session keeps its subscriptions: ``start`` returns at CONNACK, while the
        broker may already stream the session's backlog ahead of the SUBACKs.
        """
        if self._thread is not None:
            raise RuntimeError("an MqttClient can be started only once")
        url = self.options.url
        try:
            sock = self._open(timeout)
        except OSError as exc:
            raise MqttUnavailableError(
                f"cannot connect to {url}: {describe_os_error(exc)}"
            ) from None
        self._starting = True
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="mqtt-network", daemon=True
        )
        self._thread.start()
        answered = self._started.wait(timeout)
        self._starting = False
        if answered and self._start_error is None:
            connack = self.session.connack
            assert connack is not None  # noqa: S101 - set before _started
            self._pinger = threading.Thread(target=self._keep_alive, name="mqtt-ping", daemon=True)
            self._pinger.start()
            return connack
        self._halt(0.0)
        if self._start_error is not None:
            raise self._start_error
        raise MqttUnavailableError(
            f"cannot connect to {url}: no answer from the broker within {timeout:g}s"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """DISCONNECT cleanly (the Will is not published) and end the threads."""
        if self._thread is None or self._stopping:
            return
        self._halt(timeout)

    def _halt(self, timeout: float) -> None:
        self._stopping = True
        self._stop.set()
        with self._lock:
            sock = self._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    if self.session.connected:
                        self.session.disconnect()
                        sock.sendall(self.session.data_to_send())
                    # The broker closes its side in answer; reading on until then (the network
                    # thread does) avoids resetting a connection with unread data in it.
                    sock.shutdown(socket.SHUT_WR)
        for thread in (self._thread, self._pinger):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(timeout, 1.0))
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    # ------------------------------------------------------------------------ any thread

    @property
    def connected(self) -> bool:
        """Connected, and every subscription confirmed on this connection or kept by the
        resumed session."""
        return self.session.connected and (self._unconfirmed == 0 or self._resumed)

    @property
    def connection(self) -> int:
        """Number of the current (or last) accepted connection, from 1."""
        return self._connection

    def ack_many(self, packet_ids: Iterable[int], connection: int) -> bool:
        """PUBACK ``packet_ids`` in the given order with one send, if ``connection`` is live.

        Returns False (and sends nothing) when the messages came on an earlier connection.
        """
        data = pubacks(packet_ids)
        with self._lock:
            sock = self._sock
            if connection != self._live or sock is None:
                return False
            if data:
                self._send(sock, data)
            return True

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, *, retain: bool = False
    ) -> PublishInfo:
        """Publish; while disconnected it waits in the session and goes out after reconnecting."""
        if isinstance(payload, str):
            payload = payload.encode()
        with self._lock:
            info = PublishInfo(self.session.publish(topic, payload, qos, retain=retain))
            self._flush()
            refused = self.session.refused()
        self._dispatch(refused)  # wakes waiters of publications refused as too large
        return info

    def unsubscribe(self, pattern: str) -> Request:
        """UNSUBSCRIBE; the broker answers after handling every packet sent before it."""
        request = Request()
        with self._lock:
            self._subscriptions.pop(pattern, None)
            if not self.session.connected or self._sock is None:
                request._finish(None)
                return request
            packet_id = self.session.unsubscribe([pattern])
            self._unsubscribing[packet_id] = request
            self._flush()
        return request

    # ----------------------------------------------------------------- under self._lock

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError:
            # The network thread notices the broken connection on its next read.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        sock = self._sock
        if data and sock is not None:
            self._send(sock, data)

    def _send_subscribe(self, patterns: list[str]) -> None:
        filters = [(p, *self._subscriptions[p]) for p in patterns]
        packet_id = self.session.subscribe(filters)
        self._suback_ids[packet_id] = patterns
        self._unconfirmed += len(patterns)
        self._flush()

    # ------------------------------------------------------------------------ connecting

    def _open(self, timeout: float) -> socket.socket:
        """TCP (and TLS) connection with CONNECT sent; the network thread reads CONNACK."""
        options = self.options
        sock = socket.create_connection((options.host, options.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if options.uses_tls:
                ca = None if options.tls_ca is None else str(options.tls_ca)
                context = ssl.create_default_context(cafile=ca)
                sock = context.wrap_socket(sock, server_hostname=options.host)
            # Sends block at most this long on a broker that stopped reading.
            sock.settimeout(max(10.0, float(self.session.options.keepalive or 60)))
            with self._lock:
                sock.sendall(self.session.connect())
                self._sock = sock
        except BaseException:
            sock.close()
            raise
        self._last_received = time.monotonic()
        self._ping_sent = 0.0
        return sock

    def _reconnect(self) -> socket.socket | None:
        attempt = 0
        while not self._stop.wait(self.options.reconnect_delay(attempt)):
            attempt += 1
            try:
                return self._open(self.options.connect_timeout)
            except OSError as exc:
                self._report(self.handler.on_connect_failed, describe_os_error(exc))
        return None

    # ------------------------------------------------------------------ network thread

    def _run(self, sock: socket.socket | None) -> None:
        while sock is not None:
            ended = self._serve(sock)
            first_failed = self._starting and not self._started.is_set()
            with self._lock:
                self._live = None
                self.session.connection_lost()
                self._unconfirmed = 0
                self._resumed = False
                self._suback_ids.clear()
                requests = list(self._unsubscribing.values())
                self._unsubscribing.clear()
                self._sock = None
            sock.close()
            for request in requests:
                request._finish(None)
            if first_failed:
                if self._start_error is None:
                    self._start_error = MqttUnavailableError(
                        f"cannot connect to {self.options.url}: {ended.reason}"
                    )
                self._started.set()
                return
            self._report(
                self.handler.on_disconnect, ended.reason, ended.reason_code, self._connection
            )
            if self._stopping:
                return
            sock = self._reconnect()

    def _serve(self, sock: socket.socket) -> _ConnectionEnded:
        """Read and dispatch until the connection ends; returns why."""
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        size = self.options.receive_buffer
        receive = self.session.receive
        tls = self._tls
        pending = sock.pending if isinstance(sock, ssl.SSLSocket) else None
        lock = self._lock
        opened = time.monotonic()
        try:
            while True:
                if (pending is None or not pending()) and not poller.poll(250):
                    self._check_alive(opened)
                    continue
                if tls:
                    with lock:
                        data = sock.recv(size)
                else:
                    data = sock.recv(size)
                if not data:
                    return self._closed_by_broker()
                self._last_received = time.monotonic()
                with lock:
                    events = receive(data)
                    if self.session._output:  # cheap check on the hot path
                        self._flush()
                self._dispatch(events)
        except _ConnectionEnded as ended:
            return ended
        except Exception as exc:  # noqa: BLE001 - a failing handler must not end the thread
            return self._why(exc)

    def _why(self, exc: Exception) -> _ConnectionEnded:
        """The reason a connection ended with ``exc``."""
        if isinstance(exc, MqttProtocolError):
            with contextlib.suppress(OSError), self._lock:
                self.session.disconnect(130)  # protocol error
                self._flush()
            return _ConnectionEnded(str(exc))
        if isinstance(exc, MqttError):  # refusals at start
            return _ConnectionEnded(str(exc))
        if isinstance(exc, OSError):  # ssl.SSLError included
            if self._stopping:
                return _ConnectionEnded("stopped")
            if self._live is None:
                return _ConnectionEnded(
                    "the broker closed the connection before accepting it: "
                    + describe_os_error(exc)
                )
            return _ConnectionEnded(f"connection lost: {describe_os_error(exc)}")
        return _ConnectionEnded(f"handler failed: {type(exc).__name__}: {exc}")

    def _closed_by_broker(self) -> _ConnectionEnded:
        if self._stopping:
            return _ConnectionEnded("stopped")
        if self._live is not None:
            return _ConnectionEnded("connection closed by the broker")
        return _ConnectionEnded("the broker closed the connection before accepting it")

    def _check_alive(self, opened: float) -> None:
        """Called when nothing arrived for a while: stop, or end a silent connection."""
        if self._stop.is_set():
            raise _ConnectionEnded("stopped")
        now = time.monotonic()
        if not self.session.connected:
            if not self._starting and now - opened > self.options.connect_timeout:
                raise _ConnectionEnded("no CONNACK from the broker in time")
            return
        keepalive = self.session.keepalive
        sent = self._ping_sent
        if keepalive and sent and self._last_received < sent and now - sent > keepalive:
            raise _ConnectionEnded(f"no answer from the broker for {keepalive}s (keep alive)")

    def _dispatch(self, events: Sequence[Event]) -> None:
        handler = self.handler
        on_message = handler.on_message
        connection = self._connection
        for event in events:
            if type(event) is Publish:
                on_message(event, connection)
            else:
                self._control(event)
                connection = self._connection

    def _control(self, event: Event) -> None:
        if type(event) is PubAck:
            message = event.message
            if message is not None and isinstance(message.token, threading.Event):
                message.token.set()
        elif type(event) is ConnAck:
            self._connack(event)
        elif type(event) is SubAck:
            self._suback(event)
        elif type(event) is UnsubAck:
            with self._lock:
                request = self._unsubscribing.pop(event.packet_id, None)
            if request is not None:
                request._finish(event.reason_codes)
        elif type(event) is Disconnect:
            text = reason_name(event.reason_code)
            if event.reason_string:
                text = f"{text} ({event.reason_string})"
            if self._starting and not self._started.is_set():
                self._start_error = MqttDisconnectedError(
                    f"{self.options.url} closed the connection: {text}", event.reason_code
                )
            raise _ConnectionEnded(f"disconnected by the broker: {text}", event.reason_code)
        else:  # PingResp
            self._ping_sent = 0.0

    def _connack(self, connack: ConnAck) -> None:
        url = self.options.url
        if connack.reason_code >= 128:
            message = f"{url} refused the connection: {reason_name(connack.reason_code)}"
            if self._starting:
                self._start_error = MqttRefusedError(message, connack.reason_code)
                raise MqttRefusedError(message, connack.reason_code)
            raise _ConnectionEnded(message, connack.reason_code)
        with self._lock:
            self._connection += 1
            self._live = self._connection
            self._resumed = connack.session_present
            patterns = list(self._subscriptions)
            if patterns:
                self._send_subscribe(patterns)
        self.handler.on_connect(connack, self._connection)
        if (not patterns or connack.session_present) and self._starting:
            self._started.set()

    def _suback(self, event: SubAck) -> None:
        with self._lock:
            patterns = self._suback_ids.pop(event.packet_id, [])
            self._unconfirmed -= len(patterns)
        refused = None
        for pattern, code in zip(patterns, event.reason_codes, strict=False):
            if code >= 128 and refused is None:
                refused = MqttRefusedError(
                    f"{self.options.url} refused the subscription to {pattern}: "
                    f"{reason_name(code)}",
                    code,
                )
            self.handler.on_subscribe(pattern, code, self._connection)
        if self._starting and not self._started.is_set():
            if refused is not None:
                self._start_error = refused
                raise refused
            if self._unconfirmed <= 0:
                self._started.set()

    def _report(self, method: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(Exception):
            method(*args)

    # ------------------------------------------------------------------ keep-alive thread

    def _keep_alive(self) -> None:
        while True:
            keepalive = self.session.keepalive
            if self._stop.wait(keepalive / 2 if keepalive else 1.0):
                return
            if not keepalive:
                continue
            with self._lock:
                sock = self._sock
                if sock is None or not self.session.connected:
                    continue
                self.session.ping()
                if not self._ping_sent:
                    self._ping_sent = time.monotonic()
                self._flush()
