"""The settings of a ``hosiery-admin`` command: command-line options over environment variables.

Every option is also the environment variable ``HOSIERY_ADMIN_`` + its name
(``HOSIERY_ADMIN_BROKER_PASSWD_PATH``, ``HOSIERY_ADMIN_COLLECTOR_PASSWORD``, ...), which keeps
passwords off command lines and lets a container set the file paths once.
``HOSIERY_ADMIN_PASSWORD_FILE``, the old name of ``HOSIERY_ADMIN_BROKER_PASSWD_PATH``, still
works with a warning (it read like a file holding a password, the ``_FILE`` convention).
"""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from admin.errors import AccountError
from contract.durations import Duration
from contract.secret_files import SecretFileError
from contract.settings import HosierySettings


class AdminSettings(HosierySettings):
    model_config = SettingsConfigDict(env_prefix="HOSIERY_ADMIN_", frozen=True, extra="forbid")
    renamed_variables: ClassVar[dict[str, str]] = {
        "HOSIERY_ADMIN_PASSWORD_FILE": "broker_passwd_path",
    }

    broker_passwd_path: Path | None = None
    """The broker's ``password_file`` (mosquitto_passwd format), which this command edits."""
    acl_file: Path | None = None
    credentials_file: Path | None = None
    collector_user: str = "hosiery-collector"
    collector_password: SecretStr | None = None
    gateway_password: SecretStr | None = None
    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "hosiery"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    raw_retention: Duration = Field(7 * 86400.0)
    grafana_url: str = "http://127.0.0.1:3000"
    grafana_token: SecretStr | None = None
    grafana_user: str | None = None
    grafana_password: SecretStr | None = None
    grafana_timeout: Duration = Field(10.0, gt=0)

    def broker_files(self) -> tuple[Path, Path]:
        if self.broker_passwd_path is None or self.acl_file is None:
            raise AccountError(
                "give --broker-passwd-path and --acl-file (or HOSIERY_ADMIN_BROKER_PASSWD_PATH "
                "and HOSIERY_ADMIN_ACL_FILE): the broker's password_file and acl_file"
            )
        return self.broker_passwd_path, self.acl_file


def load_settings(options: dict[str, object]) -> AdminSettings:
    """Settings from the environment, overridden by ``options`` (those not None)."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return AdminSettings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "-".join(str(part) for part in error["loc"]).replace("_", "-") or "settings"
        raise AccountError(f"--{where}: {error['msg']}") from exc
    except SecretFileError as exc:
        raise AccountError(str(exc)) from None
