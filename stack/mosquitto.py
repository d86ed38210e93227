"""A Mosquitto 2 broker started from the repository's broker settings."""

import os
from pathlib import Path

from stack.process import ServerProcess, find_binary, free_port, port_open

REPO_ROOT = Path(__file__).resolve().parent.parent
PRODUCT_CONF = REPO_ROOT / "config" / "mosquitto" / "hosiery.conf"
DOCKER_CONF = REPO_ROOT / "config" / "mosquitto" / "docker.conf"
AUTH_KEYS = ("allow_anonymous", "password_file", "acl_file", "use_username_as_clientid")


def auth_conf(auth_dir: Path) -> str:
    """docker.conf's account lines (no anonymous clients, password file, ACL, client ids bound
    to user names), with the account files in ``auth_dir``: for after a ``listener`` line."""
    lines = [
        line.replace("/mosquitto/auth", str(auth_dir))
        for line in DOCKER_CONF.read_text().splitlines()
        if line.split(" ", 1)[0] in AUTH_KEYS
    ]
    if len(lines) != len(AUTH_KEYS):
        raise ValueError(f"{DOCKER_CONF} lacks one of {', '.join(AUTH_KEYS)}")
    return "\n".join(lines)


class MosquittoServer(ServerProcess):
    """Mosquitto on a loopback port, with persistence in its own directory.

    ``extra_conf`` lines are appended (authentication, TLS listeners); without them anonymous
    clients are allowed, which is what the plain integration tests and the local demo use.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_conf: str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.extra_conf = extra_conf
        self.binary = find_binary("mosquitto", "/usr/sbin")
        self.conf_path = workdir / "mosquitto.conf"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def prepare(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            # Started as root, mosquitto switches to the user "mosquitto", which cannot write
            # persistence (or read a password file) in a private directory: keep running as
            # the user that started it.
            *(["user root"] if os.geteuid() == 0 else []),
            f"persistence_location {data}/",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.extra_conf is None:
            lines.append("allow_anonymous true")
        else:
            lines.append(self.extra_conf)
        lines.append(PRODUCT_CONF.read_text())
        self.conf_path.write_text("\n".join(lines) + "\n")

    def argv(self) -> list[str]:
        return [self.binary, "-c", str(self.conf_path)]

    def ready(self) -> bool:
        return port_open(self.host, self.port)
