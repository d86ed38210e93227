"""Grafana for the native run, when it is installed: the repository's provisioning, the local
InfluxDB, all state in one directory.

Grafana is not packaged by Debian; Grafana Labs' packages install ``grafana`` (``grafana server``)
or the older ``grafana-server`` in ``/usr/sbin`` and its files in ``/usr/share/grafana``; a
release archive has ``bin/grafana`` next to ``conf/defaults.ini``.
"""

import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.mosquitto import REPO_ROOT

PROVISIONING = REPO_ROOT / "dashboards" / "provisioning"
"""Datasource, dashboard and alert-rule provisioning, shared with docker-compose.yml."""
DASHBOARDS = REPO_ROOT / "dashboards" / "json"
DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards/hosiery"
"""Where docker-compose.yml mounts :data:`DASHBOARDS`, the path the dashboard provider names."""
_BINARIES = (("grafana", ("server",)), ("grafana-server", ()))
_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/usr/share/grafana/bin")
_HOMES = (Path("/usr/share/grafana"), Path("/usr/local/share/grafana"))


@dataclass(frozen=True)
class GrafanaInstall:
    command: tuple[str, ...]
    """The binary and, for ``grafana``, its ``server`` subcommand."""
    home: Path
    """Where ``conf/defaults.ini`` and the web assets are."""


def _is_home(path: Path) -> bool:
    return (path / "conf" / "defaults.ini").is_file()


def find_grafana(path: str | None = None) -> GrafanaInstall | None:
    """The installed Grafana, or None. ``path`` replaces ``$PATH`` (tests)."""
    for name, sub in _BINARIES:
        found = shutil.which(name, path=path) or next(
            (str(Path(d) / name) for d in _SEARCH if path is None and (Path(d) / name).is_file()),
            None,
        )
        if found is None:
            continue
        binary = Path(found).resolve()
        homes = (binary.parent.parent, *_HOMES)
        home = next((h for h in homes if _is_home(h)), None)
        if home is not None:
            return GrafanaInstall((str(binary), *sub), home)
    return None


def admin_password(directory: Path) -> str:
    """The admin password of this Grafana: made up on the first run, kept in the state dir.

    Grafana stores the admin password in its database when it first starts and ignores the
    setting afterwards, so the same one is given every time.
    """
    path = directory / "admin-password"
    if path.is_file():
        return path.read_text().strip()
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password


def native_provisioning(directory: Path) -> Path:
    """The repository's provisioning for a Grafana running outside a container.

    Datasources and alert rules are the repository's files (linked); the dashboard provider is
    the repository's too, with the container path of the dashboards replaced by their place in
    the repository.
    """
    target = directory / "provisioning"
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(PROVISIONING.iterdir()) if PROVISIONING.is_dir() else ():
        link = target / source.name
        if source.name == "dashboards" and source.is_dir():
            link.mkdir(exist_ok=True)
            for provider in sorted(source.glob("*.y*ml")):
                text = provider.read_text().replace(DASHBOARDS_MOUNT, str(DASHBOARDS))
                (link / provider.name).write_text(text)
        elif not link.exists():
            link.symlink_to(source)
    return target


def grafana_argv(install: GrafanaInstall) -> list[str]:
    return [*install.command, "--homepath", str(install.home)]


def grafana_env(
    directory: Path,
    *,
    port: int,
    influx_url: str,
    database: str,
    password: str,
    base: Mapping[str, str],
    prometheus_url: str = "http://127.0.0.1:9090",
) -> dict[str, str]:
    """The environment of a Grafana on loopback ``port`` with the repository's provisioning.

    The provisioning files read the datasource's address from ``HOSIERY_INFLUX_*`` variables
    (``${VAR}`` interpolation), the same ones docker-compose.yml sets; the Prometheus datasource
    (the collector's health) from ``HOSIERY_PROMETHEUS_URL``, Prometheus's default address unless
    given.
    """
    env = {k: v for k, v in base.items() if not k.startswith("GF_")}
    env.update(
        {
            "GF_PATHS_DATA": str(directory / "data"),
            "GF_PATHS_LOGS": str(directory / "logs"),
            "GF_PATHS_PLUGINS": str(directory / "plugins"),
            "GF_PATHS_PROVISIONING": str(native_provisioning(directory)),
            "GF_SERVER_HTTP_ADDR": "127.0.0.1",
            "GF_SERVER_HTTP_PORT": str(port),
            "GF_SECURITY_ADMIN_USER": "admin",
            "GF_SECURITY_ADMIN_PASSWORD": password,
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
            "GF_LOG_MODE": "console",
            "HOSIERY_INFLUX_URL": influx_url,
            "HOSIERY_INFLUX_DB": database,
            "HOSIERY_INFLUX_USERNAME": "",
            "HOSIERY_INFLUX_PASSWORD": "",
            "HOSIERY_PROMETHEUS_URL": prometheus_url,
        }
    )
    return env
