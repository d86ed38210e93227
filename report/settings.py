"""``hosiery-report``'s settings: options, or ``HOSIERY_REPORT_*`` variables (secrets also
``*_FILE``)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from contract.calendar import time_zone
from contract.durations import Duration
from contract.ids import Identifier
from contract.settings import HosierySettings

By = Literal["shift", "day", "month"]
Format = Literal["csv", "xlsx"]


class ReportSettings(HosierySettings):
    """hosiery-report: pairs, running and planned time, downtime by stop reason and OEE, per
    enterprise and shift, day or month."""

    model_config = SettingsConfigDict(
        env_prefix="HOSIERY_REPORT_",
        cli_kebab_case=True,
        cli_prog_name="hosiery-report",
        frozen=True,
        extra="ignore",
    )

    since: str = Field(description="start: RFC 3339 (2026-05-01T00:00:00+08:00), -24h, now-7d")
    until: str = Field("now", description="end (excluded), same forms as --since")
    by: By = Field("shift", description="one row per enterprise and shift, day or month")
    enterprise: Identifier | None = Field(None, description="only this enterprise")
    format: Format = Field("csv", description="csv or xlsx")
    output: Path = Field(description="the file to write (- : standard output, csv only)")
    registry: Path | None = Field(None, description="park registry: enterprises, their shifts")
    shift_calendar: Path | None = Field(None, description="shift calendar file (as the collector)")
    timezone: str = Field("UTC", description="the park's clock (the registry's offset wins)")
    raw_recent: Duration = Field(
        3600.0, ge=0, le=6 * 86400, description="read the last hours from raw readings"
    )
    influx_url: str = Field("http://127.0.0.1:8086", description="InfluxDB, http://HOST:PORT")
    influx_db: str = Field("hosiery", description="database")
    influx_username: str | None = Field(None, description="InfluxDB 1.x user")
    influx_password: SecretStr | None = Field(None, description="InfluxDB 1.x password")
    influx_token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token")
    influx_timeout: Duration = Field(60.0, gt=0, description="how long to wait for an answer")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        time_zone(value)  # ValueError naming the problem
        return value
