"""The native run's broker accounts: the collector's and one per enterprise gateway.

Written with ``hosiery-admin`` into the run's folder, as the compose stack's broker-init writes
them, so the native broker is secured like the deployed one: no anonymous clients, the ACL,
client ids bound to user names. Passwords are generated once and kept (mode 0600).
"""

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

COLLECTOR_USER = "hosiery-collector"


@dataclass(frozen=True)
class BrokerAccounts:
    """The account files of one run, below ``directory``."""

    directory: Path

    @property
    def password_file(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.directory / "acl"

    @property
    def credentials_file(self) -> Path:
        """``ENTERPRISE:PASSWORD`` lines: ``hosiery-sim run --credentials-file``."""
        return self.directory / "gateways.txt"

    def collector_password(self) -> str:
        """The collector's password, made on first use and kept in the folder."""
        path = self.directory / "collector-password"
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24) + "\n")
        return path.read_text().strip()

    def write(self, registry: Path) -> None:
        """The collector's account and a gateway account for every enterprise of ``registry``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        files = ["--broker-passwd-path", str(self.password_file), "--acl-file", str(self.acl_file)]
        admin = [sys.executable, "-m", "admin"]
        env = {**os.environ, "HOSIERY_ADMIN_COLLECTOR_PASSWORD": self.collector_password()}
        subprocess.run(
            [*admin, "init-broker", *files, "--collector-user", COLLECTOR_USER],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                *admin, "add-gateways", "--registry", str(registry), *files,
                "--credentials-file", str(self.credentials_file),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
