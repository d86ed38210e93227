"""Where the broker is and who connects: parsed once, from ``mqtt://HOST:PORT``."""

import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from simulators.errors import ParameterError

DEFAULT_PORT = 1883


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.host:
            raise ParameterError("the broker host is empty")
        if not 1 <= self.port <= 65535:
            raise ParameterError(f"broker port {self.port} is not 1-65535")
        if self.password is not None and self.username is None:
            raise ParameterError("a broker password needs a user name")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"


def parse_mqtt_url(
    url: str, *, username: str | None = None, password: str | None = None
) -> BrokerAddress:
    """Parse ``mqtt://HOST[:PORT]`` (TLS, ``mqtts://``, is not supported by the simulator)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ParameterError(f"broker URL {url!r} is invalid: {exc}") from exc
    if parts.scheme != "mqtt":
        raise ParameterError(f"broker URL {url!r} must start with mqtt://")
    if not parts.hostname:
        raise ParameterError(f"broker URL {url!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ParameterError(f"broker URL {url!r} must be mqtt://HOST[:PORT] and nothing more")
    return BrokerAddress(
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        username=username if username is not None else parts.username,
        password=password if password is not None else parts.password,
    )


def describe_os_error(exc: OSError) -> str:
    """A short lower-case reason for a failed TCP connection."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]
