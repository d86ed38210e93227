"""The settings of a ``hosiery-sim backfill`` process: command-line options over environment.

The park's options read ``HOSIERY_SIM_`` + their name, as ``hosiery-sim run`` does
(``HOSIERY_SIM_SEED``, ``HOSIERY_SIM_SCALE``); InfluxDB is reached as the collector reaches it,
with the collector's variables: ``HOSIERY_INFLUX_URL``, ``HOSIERY_INFLUX_DB``,
``HOSIERY_INFLUX_USERNAME`` and ``HOSIERY_INFLUX_PASSWORD`` (InfluxDB 1.x) or
``HOSIERY_INFLUX_TOKEN`` (2.x/3.x), and ``HOSIERY_CREATE_DATABASE``. Options given on the
command line win.
"""

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from contract.durations import Duration
from contract.secret_files import SecretFileError
from contract.settings import HosierySettings
from influx.config import InfluxConfig
from simulators.errors import ParameterError
from simulators.params import DEFAULT_PARK, DEFAULT_SEED
from simulators.sizes import machines_for_scale


def _env(name: str) -> str:
    return f"HOSIERY_{name.upper()}"


class BackfillSettings(HosierySettings):
    model_config = SettingsConfigDict(
        env_prefix="HOSIERY_SIM_", frozen=True, extra="forbid", populate_by_name=True
    )

    seed: int = DEFAULT_SEED
    scale: Annotated[float, Field(gt=0.0, le=25.0)] | None = None
    machines: Annotated[int, Field(ge=1)] | None = None
    days: Annotated[float, Field(gt=0.0, le=1830.0)]
    machine_hours: Annotated[int, Field(ge=0, le=840)] = 24
    influx_url: str = Field("http://127.0.0.1:8086", validation_alias=_env("influx_url"))
    influx_db: str = Field("hosiery", validation_alias=_env("influx_db"))
    influx_username: str | None = Field(None, validation_alias=_env("influx_username"))
    influx_password: SecretStr | None = Field(None, validation_alias=_env("influx_password"))
    influx_token: SecretStr | None = Field(None, validation_alias=_env("influx_token"))
    influx_timeout: Duration = Field(120.0, gt=0.0, validation_alias=_env("influx_timeout"))
    create_database: bool = Field(True, validation_alias=_env("create_database"))
    """Set up the database, its retention policies and rollups first (an admin's work); false
    when they are set up already and the account may only write."""

    def machine_count(self) -> int | None:
        if self.machines is not None and self.scale is not None:
            raise ParameterError("give --scale or --machines, not both")
        if self.scale is not None:
            return machines_for_scale(DEFAULT_PARK, self.scale)
        return self.machines

    def influx_config(self) -> InfluxConfig:
        try:
            return InfluxConfig.of(self)
        except ValidationError as exc:
            raise ParameterError(f"InfluxDB: {exc.errors()[0]['msg']}") from None


def load_backfill_settings(options: dict[str, object]) -> BackfillSettings:
    """Settings from the environment, overridden by ``options`` (those not None)."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return BackfillSettings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        name = where.lower().removeprefix("hosiery_").replace("_", "-")
        raise ParameterError(f"--{name}: {error['msg']}") from exc
    except SecretFileError as exc:
        raise ParameterError(str(exc)) from None
