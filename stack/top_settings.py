"""``hosiery-top``'s settings: every option also an environment variable ``HOSIERY_TOP_`` +
its name."""

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from contract.calendar import time_zone
from contract.durations import Duration
from contract.settings import HosierySettings
from influx.config import check_url

PROG = "hosiery-top"


class TopSettings(HosierySettings):
    model_config = SettingsConfigDict(env_prefix="HOSIERY_TOP_", frozen=True, extra="forbid")

    influx_url: Annotated[str, AfterValidator(check_url)] = "http://127.0.0.1:8086"
    influx_db: str = "hosiery"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    registry: Path | None = None
    refresh: Duration = Field(5.0, ge=0.2, le=3600)
    window: Duration = Field(300.0, ge=10, le=86400)
    top: int = Field(10, ge=0, le=1000)
    collector_url: str | None = None
    timezone: str = "UTC+08:00"
    """Where "today" begins: park time, as the dashboards."""
    once: bool = False

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        time_zone(value)
        return value
