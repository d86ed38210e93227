"""How the native run finds and configures Grafana (Grafana cannot run on the test machines)."""

import stat
from pathlib import Path

from stack.cli import parse_args
from stack.grafana import (
    DASHBOARDS,
    DASHBOARDS_MOUNT,
    PROVISIONING,
    admin_password,
    find_grafana,
    grafana_argv,
    grafana_env,
)


def fake_install(root: Path, name: str) -> Path:
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "defaults.ini").write_text("")
    (root / "bin").mkdir()
    binary = root / "bin" / name
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return binary


def test_a_release_archive_is_found_with_its_home(tmp_path: Path) -> None:
    binary = fake_install(tmp_path / "grafana-11.6.0", "grafana")
    install = find_grafana(str(binary.parent))
    assert install is not None
    assert install.home == tmp_path / "grafana-11.6.0"
    assert grafana_argv(install) == [str(binary), "server", "--homepath", str(install.home)]


def test_the_older_grafana_server_binary_is_found(tmp_path: Path) -> None:
    binary = fake_install(tmp_path / "g", "grafana-server")
    install = find_grafana(str(binary.parent))
    assert install is not None
    assert install.command == (str(binary),)


def test_no_grafana_is_none(tmp_path: Path) -> None:
    assert find_grafana(str(tmp_path)) is None


def test_grafana_gets_the_repositorys_provisioning_and_the_local_influxdb(tmp_path: Path) -> None:
    env = grafana_env(
        tmp_path,
        port=3456,
        influx_url="http://127.0.0.1:8123",
        database="hosiery",
        password="pw",  # noqa: S106 - a test value
        base={"PATH": "/bin", "GF_SECURITY_ADMIN_PASSWORD": "from outside"},
    )
    provisioning = Path(env["GF_PATHS_PROVISIONING"])
    assert provisioning == tmp_path / "provisioning"
    datasources = provisioning / "datasources"
    assert datasources.resolve() == PROVISIONING / "datasources"
    assert any(datasources.glob("*.yaml"))
    providers = "".join(p.read_text() for p in (provisioning / "dashboards").glob("*.yaml"))
    assert f'path: "{DASHBOARDS}"' in providers
    assert DASHBOARDS_MOUNT not in providers
    assert env["GF_SERVER_HTTP_PORT"] == "3456"
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "pw"  # noqa: S105 - a test value
    assert env["HOSIERY_INFLUX_URL"] == "http://127.0.0.1:8123"
    assert env["GF_PATHS_DATA"] == str(tmp_path / "data")
    assert env["PATH"] == "/bin"


def test_the_admin_password_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = admin_password(tmp_path / "grafana")
    assert len(first) >= 16
    assert admin_password(tmp_path / "grafana") == first
    mode = (tmp_path / "grafana" / "admin-password").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_port_zero_and_no_grafana_are_options() -> None:
    args = parse_args(["run", "--mqtt-port", "0", "--grafana-port", "0", "--no-grafana"])
    assert (args.mqtt_port, args.grafana_port, args.no_grafana) == (0, 0, True)
