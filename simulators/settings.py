"""The settings of a ``hosiery-sim run`` process: command-line options over environment variables.

Every option of ``hosiery-sim run`` can also come from an environment variable ``HOSIERY_SIM_``
+ the option's name (``HOSIERY_SIM_MQTT_URL``, ``HOSIERY_SIM_MQTT_PASSWORD``, ...), which keeps
passwords off command lines. Options given on the command line win.

``--credentials-file`` gives every gateway its own account, as on a broker that lets each
enterprise publish only its own topics: the user name is the enterprise id, the password is
read from the file, one ``ENTERPRISE:PASSWORD`` line per enterprise (``#`` starts a comment;
``hosiery-admin add-gateways`` writes such a file).
"""

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.credentials import CredentialsLineError, parse_credentials
from contract.durations import Duration
from simulators.broker import parse_mqtt_url
from simulators.errors import ParameterError
from simulators.faults import FaultRates
from simulators.fleet_config import FleetConfig
from simulators.params import DEFAULT_PARK, DEFAULT_SEED
from simulators.sizes import machines_for_scale

Probability = Annotated[float, Field(ge=0.0, le=1.0)]

FAULT_OPTIONS = ("reboot", "duplicate", "reorder", "drop", "malformed", "gateway_death")


class RunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOSIERY_SIM_", frozen=True, extra="forbid")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None
    credentials_file: Path | None = None
    seed: int = DEFAULT_SEED
    scale: Annotated[float, Field(gt=0.0, le=25.0)] | None = None
    machines: Annotated[int, Field(ge=1)] | None = None
    interval: Annotated[Duration, Field(ge=0.01, le=86400.0)] = 10.0
    speed: Annotated[float, Field(gt=0.0, le=1e6)] = 1.0
    duration: Duration | None = None
    jitter: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    sim_start: dt.datetime | None = None
    truth_file: Path | None = None
    faults: Literal["none", "all"] = "none"
    fault_reboot: Probability | None = None
    fault_duplicate: Probability | None = None
    fault_reorder: Probability | None = None
    fault_drop: Probability | None = None
    fault_malformed: Probability | None = None
    fault_gateway_death: Probability | None = None
    fault_gateway_downtime: Annotated[Duration, Field(ge=0.1, le=3600.0)] | None = None
    connect_timeout: Annotated[Duration, Field(gt=0.0)] = 30.0
    shutdown_timeout: Annotated[Duration, Field(gt=0.0)] = 30.0
    client_id_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{0,40}$")] = "gw-"

    def fault_rates(self) -> FaultRates:
        """The ``faults`` preset with each ``fault_*`` option given replacing its rate."""
        preset = FaultRates.all() if self.faults == "all" else FaultRates()
        rates = preset.as_dict()
        for name in (*FAULT_OPTIONS, "gateway_downtime"):
            value = getattr(self, f"fault_{name}")
            if value is not None:
                rates[name] = value
        return FaultRates(**rates)

    def machine_count(self) -> int | None:
        if self.machines is not None and self.scale is not None:
            raise ParameterError("give --scale or --machines, not both")
        if self.scale is not None:
            return machines_for_scale(DEFAULT_PARK, self.scale)
        return self.machines

    def gateway_passwords(self) -> dict[str, str] | None:
        """``credentials_file`` read: enterprise id -> its gateway's password (None: no file)."""
        path = self.credentials_file
        if path is None:
            return None
        if self.mqtt_username is not None:
            raise ParameterError("give --credentials-file or --mqtt-username, not both")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError(f"cannot read {path}: {exc}") from exc
        try:
            return parse_credentials(text, path)
        except CredentialsLineError as exc:
            raise ParameterError(str(exc)) from None

    def fleet_config(self) -> FleetConfig:
        broker = parse_mqtt_url(
            self.mqtt_url,
            username=self.mqtt_username,
            password=None if self.mqtt_password is None else self.mqtt_password.get_secret_value(),
            ca_file=self.mqtt_ca_file,
        )
        sim_start = None
        if self.sim_start is not None:
            start = self.sim_start
            if start.tzinfo is None:
                offset = dt.timedelta(hours=DEFAULT_PARK.calendar.utc_offset_hours)
                start = start.replace(tzinfo=dt.timezone(offset))
            sim_start = start.timestamp()
        return FleetConfig(
            broker=broker,
            seed=self.seed,
            machines=self.machine_count(),
            interval=self.interval,
            speed=self.speed,
            duration=self.duration,
            jitter=self.jitter,
            faults=self.fault_rates(),
            sim_start=sim_start,
            connect_timeout=self.connect_timeout,
            shutdown_timeout=self.shutdown_timeout,
            client_id_prefix=self.client_id_prefix,
            gateway_passwords=self.gateway_passwords(),
        )


def load_settings(options: dict[str, object]) -> RunSettings:
    """Settings from the environment, overridden by ``options`` (those not None)."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return RunSettings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        raise ParameterError(f"{where.replace('_', '-')}: {error['msg']}") from exc
