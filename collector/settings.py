"""The collector's settings: one pydantic-settings class, from the command line and environment.

Every option ``--mqtt-url`` is also the environment variable ``HOSIERY_MQTT_URL``.
"""

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from collector.session import MAXIMUM_PACKET_SIZE
from contract import SUMMARY_TOPIC, TOPIC_ROOT, StopReason, require_id
from contract.calendar import time_zone
from contract.durations import Duration
from contract.settings import HosierySettings


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{value!r} is not a URL like {schemes[0]}://HOST:PORT")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r} has an invalid port") from exc
    return value


class CollectorSettings(HosierySettings):
    """hosiery-collector: MQTT to InfluxDB with exact pair accounting."""

    model_config = SettingsConfigDict(
        env_prefix="HOSIERY_",
        cli_kebab_case=True,
        cli_prog_name="hosiery-collector",
        cli_implicit_flags=True,
        frozen=True,
        extra="forbid",
    )

    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883", description="broker, mqtt://HOST:PORT or mqtts://"
    )
    mqtt_username: str | None = Field(None, description="broker user")
    mqtt_password: SecretStr | None = Field(None, description="broker password")
    mqtt_client_id: str | None = Field(
        None,
        description=(
            "fixed client id, under which the broker keeps messages while the collector is down "
            "(default: the broker user, else hosiery-collector; the shipped broker configuration "
            "makes every client's id its user name)"
        ),
    )
    mqtt_ca_file: Path | None = Field(None, description="CA certificate for mqtts:// brokers")
    mqtt_session_expiry: Duration = Field(
        86400.0, description="how long the broker keeps the session while the collector is down"
    )
    mqtt_receive_maximum: int = Field(
        20000, ge=1, le=65535, description="unacknowledged messages the broker may send at once"
    )
    mqtt_keepalive: Duration = Field(
        120.0,
        description=(
            "MQTT keep-alive; long, because a broker streaming a backlog may answer pings late"
        ),
    )
    mqtt_max_packet_size: int = Field(
        MAXIMUM_PACKET_SIZE,
        ge=1024,
        le=268_435_460,
        description=(
            "largest MQTT packet the collector accepts (Maximum Packet Size); keep it above the"
            " broker's max_packet_size (131072 as shipped), or the broker drops larger messages"
            " for the collector without notice"
        ),
    )
    mqtt_connect_timeout: Duration = Field(
        60.0, description="at start, how long to wait for the broker to accept the subscription"
    )
    influx_url: str = Field("http://127.0.0.1:8086", description="InfluxDB, http://HOST:PORT")
    influx_db: str = Field("hosiery", description="database (InfluxDB 2.x/3.x: the DBRP name)")
    influx_username: str | None = Field(None, description="InfluxDB 1.x user")
    influx_password: SecretStr | None = Field(None, description="InfluxDB 1.x password")
    influx_token: SecretStr | None = Field(
        None, description="InfluxDB 2.x/3.x token for the v1-compatible API"
    )
    influx_timeout: Duration = Field(10.0, description="timeout of one InfluxDB request")
    raw_retention: Duration = Field(7 * 86400.0, description="how long raw readings are kept")
    create_database: bool = Field(
        default=True, description="create the database and retention policies when missing"
    )
    batch_size: int = Field(5000, ge=1, le=100_000, description="lines per InfluxDB write")
    flush_interval: Duration = Field(1.0, description="write at least this often")
    state_dir: Path = Field(
        Path("var/collector"), description="accounting state (journal and snapshot); keep it"
    )
    checkpoint_interval: Duration = Field(300.0, description="how often to snapshot the state")
    checkpoint_bytes: int = Field(
        128 * 2**20,
        ge=4096,
        description="also snapshot the state when its journal reaches this many bytes",
    )
    reorder_window: int = Field(
        8, ge=1, le=1000, description="readings per boot kept for reordering"
    )
    max_machines: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="machines tracked at most; readings of further new machines are rejected",
    )
    unregistered_machines: int = Field(
        1000,
        ge=0,
        description="with --registry: machines outside the registry that are tracked at most",
    )
    max_pairs_per_hour: float = Field(
        120.0,
        gt=0,
        description=(
            "plausibility bound: most pairs a machine knits per hour; a new boot or a counter"
            " reset counting more since the previous reading (plus an hour) is rejected"
        ),
    )
    reroll_after: Duration = Field(
        300.0,
        description=(
            "roll up again the hours written late into (past the continuous queries' window)"
            " this long after; 0: never (python -m collector.reroll by hand)"
        ),
    )
    max_future: Duration = Field(300.0, description="reject readings this far ahead of now")
    max_age: Duration = Field(7 * 86400.0, description="reject readings older than this")
    http_host: str = Field("127.0.0.1", description="address of /metrics and /healthz")
    http_port: int = Field(
        9108, ge=0, le=65535, description="port of /metrics and /healthz (0: any)"
    )
    unhealthy_after: Duration = Field(
        60.0,
        description=(
            "/healthz fails once InfluxDB or the journal has been failing, a write has hung, or "
            "ingest has stalled with messages waiting, this long"
        ),
    )
    log_format: Literal["json", "console"] = Field("console", description="log line format")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    shutdown_timeout: Duration = Field(
        30.0, description="on SIGTERM, how long to try writing what is buffered"
    )
    alerts: bool = Field(
        default=True, description="detect idle, stopped and offline machines (docs/alerting.md)"
    )
    idle_after: Duration = Field(
        600.0, description="idle: no pairs knitted for this long while running or idle"
    )
    idle_after_style: dict[str, Duration] = Field(
        default_factory=dict, description="idle threshold of a style: STYLE=DURATION, repeatable"
    )
    fault_after: Duration = Field(120.0, description="stopped: reporting fault for this long")
    idle_after_reason: dict[StopReason, Duration] = Field(
        default_factory=dict,
        description=(
            "idle threshold while a machine reports a stop reason: REASON=DURATION, repeatable "
            "(defaults: yarn_change=20m, style_change=1h)"
        ),
    )
    fault_after_reason: dict[StopReason, Duration] = Field(
        default_factory=dict,
        description=(
            "stopped threshold of a fault with a stop reason: REASON=DURATION, repeatable, 0 "
            "alerts at once (defaults: needle_break=0, yarn_change=20m, style_change=1h)"
        ),
    )
    offline_after: Duration | None = Field(
        None, description="offline: no reading for this long (default: 3 reporting intervals)"
    )
    resolve_after: Duration = Field(
        0.0, description="resolve once the condition has been clear this long (0: at once)"
    )
    registry: Path | None = Field(
        None, description="park registry (hosiery-sim park --registry): machines expected"
    )
    shift_calendar: Path | None = Field(
        None, description="shift calendar, TOML or JSON: when alerts may fire"
    )
    timezone: str = Field("UTC", description="time zone of the shift calendar (Asia/Shanghai)")
    alert_webhook: list[str] = Field(
        default_factory=list, description="POST every alert notification to this URL, repeatable"
    )
    webhook_timeout: Duration = Field(5.0, description="timeout of one webhook request")
    webhook_queue: int = Field(
        10_000, ge=1, le=1_000_000, description="notifications queued per webhook before dropping"
    )
    webhook_give_up: Duration = Field(
        3600.0, description="stop retrying a webhook notification after this long"
    )
    summary_topic: str = Field(
        SUMMARY_TOPIC,
        description="retained MQTT summary of machines that do not report",
    )
    summary_interval: Duration = Field(60.0, description="how often the summary is computed")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        return _check_url(value, ("mqtt", "mqtts"))

    @field_validator("influx_url")
    @classmethod
    def _influx_url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        time_zone(value)
        return value

    @field_validator(
        "idle_after",
        "fault_after",
        "offline_after",
        "summary_interval",
        "webhook_timeout",
        "unhealthy_after",
    )
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be longer than 0")
        return value

    @field_validator("idle_after_style")
    @classmethod
    def _styles(cls, value: dict[str, float]) -> dict[str, float]:
        for style, seconds in value.items():
            require_id(style, "style")
            if seconds <= 0:
                raise ValueError(f"idle threshold of style {style} must be longer than 0")
        return value

    @field_validator("idle_after_reason")
    @classmethod
    def _idle_reasons(cls, value: dict[StopReason, float]) -> dict[StopReason, float]:
        for reason, seconds in value.items():
            if seconds <= 0:
                raise ValueError(f"idle threshold of reason {reason} must be longer than 0")
        return value

    @field_validator("alert_webhook")
    @classmethod
    def _webhooks(cls, value: list[str]) -> list[str]:
        return [_check_url(url, ("http", "https")) for url in value]

    @field_validator("summary_topic")
    @classmethod
    def _summary_topic(cls, value: str) -> str:
        if not value or "+" in value or "#" in value or "\0" in value:
            raise ValueError(f"{value!r} is not an MQTT topic to publish to (no + or #)")
        if value.startswith(f"{TOPIC_ROOT}/") and value != SUMMARY_TOPIC:
            raise ValueError(
                f"{value!r} is under {TOPIC_ROOT}/, where the contract rejects unknown topics"
            )
        return value

    @model_validator(mode="after")
    def _credentials(self) -> "CollectorSettings":
        if self.influx_token is not None and self.influx_username is not None:
            raise ValueError("give either --influx-token or --influx-username, not both")
        if (self.mqtt_username is None) != (self.mqtt_password is None):
            raise ValueError("--mqtt-username and --mqtt-password go together")
        if self.mqtt_ca_file is not None and not self.mqtt_url.startswith("mqtts://"):
            raise ValueError("--mqtt-ca-file is for an mqtts:// broker; --mqtt-url is not one")
        return self
