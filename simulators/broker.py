"""Where the broker is and who connects: parsed once, from ``mqtt://HOST:PORT`` or
``mqtts://HOST:PORT`` (TLS, checked against a CA file or the system's trusted CAs)."""

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mqtt.client import describe_os_error as describe_mqtt_os_error
from simulators.errors import ParameterError

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    """CA certificate the broker's certificate is checked against (TLS; None: the system's)."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ParameterError("the broker host is empty")
        if not 1 <= self.port <= 65535:
            raise ParameterError(f"broker port {self.port} is not 1-65535")
        if self.password is not None and self.username is None:
            raise ParameterError("a broker password needs a user name")
        if self.ca_file is not None and not self.tls:
            raise ParameterError("a CA file is for a TLS broker: give an mqtts:// URL")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS client context every gateway shares (None: plain MQTT); raises
        :class:`ParameterError` for a CA file that cannot be read."""
        if not self.tls:
            return None
        try:
            return ssl.create_default_context(
                cafile=None if self.ca_file is None else str(self.ca_file)
            )
        except (OSError, ssl.SSLError) as exc:
            raise ParameterError(
                f"cannot use {self.ca_file} as the broker's CA certificate: {exc}"
            ) from None


def parse_mqtt_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
) -> BrokerAddress:
    """Parse ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]`` (TLS, port 8883 by default)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ParameterError(f"broker URL {url!r} is invalid: {exc}") from exc
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ParameterError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ParameterError(f"broker URL {url!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ParameterError(f"broker URL {url!r} must be mqtt://HOST[:PORT] and nothing more")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
        username=username if username is not None else parts.username,
        password=password if password is not None else parts.password,
        tls=tls,
        ca_file=ca_file,
    )


def describe_os_error(exc: OSError) -> str:
    """A short lower-case reason for a failed TCP connection or TLS handshake."""
    if isinstance(exc, ssl.SSLError):
        return describe_mqtt_os_error(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]
