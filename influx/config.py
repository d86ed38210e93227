"""Where InfluxDB is and how to authenticate to it; the URLs of its v1 API.

Every request to InfluxDB is built from an :class:`InfluxConfig` (or, for a bare server
address, from :func:`query_url` and :func:`write_url`): nothing outside this package names
the API's paths.
"""

import base64
from typing import Any, Protocol, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from influx.schema import RAW, Name

QUERY_PATH = "/query"
"""InfluxQL: ``SELECT``, ``SHOW`` and the schema statements."""
WRITE_PATH = "/write"
"""Line protocol."""


def query_url(url: str) -> str:
    """The ``/query`` endpoint of the server at ``url``."""
    return url.rstrip("/") + QUERY_PATH


def write_url(url: str) -> str:
    """The ``/write`` endpoint of the server at ``url``."""
    return url.rstrip("/") + WRITE_PATH


def check_url(value: str) -> str:
    """``value`` without a trailing ``/``; ``ValueError`` unless it is an http(s) URL."""
    url = httpx.URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


class InfluxSettings(Protocol):
    """The InfluxDB options a command's settings share (``--influx-url``, ``--influx-db``, ...)."""

    @property
    def influx_url(self) -> str: ...
    @property
    def influx_db(self) -> str: ...
    @property
    def influx_username(self) -> str | None: ...
    @property
    def influx_password(self) -> SecretStr | None: ...
    @property
    def influx_token(self) -> SecretStr | None: ...
    @property
    def influx_timeout(self) -> float: ...


class InfluxConfig(BaseModel):
    """Where and how to reach InfluxDB.

    Authenticate with ``username``/``password`` (InfluxDB 1.x, sent as HTTP basic auth) or with
    ``token`` (InfluxDB 2.x/3.x v1-compatible API, sent as ``Authorization: Token ...``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = "http://127.0.0.1:8086"
    database: Name = "hosiery"
    retention_policy: Name | None = RAW
    """Written with ``rp=``; ``None`` writes to the database's default retention policy."""
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)
    """Seconds to connect, and to wait for each answer."""
    gzip: bool = True

    @classmethod
    def of(cls, settings: InfluxSettings, **overrides: Any) -> Self:
        """The configuration a command's ``--influx-*`` settings give (``overrides`` replace)."""
        fields: dict[str, Any] = {
            "url": settings.influx_url,
            "database": settings.influx_db,
            "username": settings.influx_username,
            "password": settings.influx_password,
            "token": settings.influx_token,
            "timeout": settings.influx_timeout,
        }
        return cls(**(fields | overrides))

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        if self.token is not None and (self.username is not None or self.password is not None):
            raise ValueError("give either a token or a username and password, not both")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self

    @property
    def query_url(self) -> str:
        return query_url(self.url)

    @property
    def write_url(self) -> str:
        return write_url(self.url)

    def headers(self) -> dict[str, str]:
        """HTTP headers carrying the credentials (empty without credentials)."""
        if self.token is not None:
            return {"Authorization": f"Token {self.token.get_secret_value()}"}
        if self.username is not None:
            password = "" if self.password is None else self.password.get_secret_value()
            pair = base64.b64encode(f"{self.username}:{password}".encode()).decode("ascii")
            return {"Authorization": f"Basic {pair}"}
        return {}

    def who(self) -> str:
        """How the credentials are named in error messages (never the secret)."""
        if self.token is not None:
            return "the token"
        if self.username is not None:
            return f"user {self.username!r}"
        return "anonymous access"


def make_client(config: InfluxConfig, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An HTTP client for ``config`` (``transport`` replaces the network in tests)."""
    return httpx.Client(timeout=config.timeout, transport=transport)
