"""The simulator's per-gateway accounts (``--credentials-file``), without a broker."""

from pathlib import Path

import pytest

from simulators.broker import BrokerAddress
from simulators.errors import ParameterError
from simulators.fleet import Fleet
from simulators.fleet_config import FleetConfig
from simulators.park import build_park
from simulators.settings import load_settings


def test_each_gateway_logs_in_as_its_enterprise_with_its_password(tmp_path: Path) -> None:
    park = build_park(seed=2, machines=200)
    creds = tmp_path / "gateways.txt"
    lines = [f"{e.id}:pw:{e.id}" for e in park.enterprises]
    creds.write_text("# comment\n\n" + "\n".join(lines) + "\n")
    settings = load_settings(
        {"credentials_file": creds, "machines": 200, "seed": 2, "mqtt_url": "mqtt://h:1"}
    )
    config = settings.fleet_config()
    assert "pw:" not in repr(config)
    fleet = Fleet(config)
    assert len(fleet.gateways) == len(park.enterprises) > 1
    for gateway in fleet.gateways:
        assert gateway.broker.username == gateway.enterprise
        assert gateway.broker.password == f"pw:{gateway.enterprise}"
        assert (gateway.broker.host, gateway.broker.port) == ("h", 1)


def test_an_enterprise_without_a_password_is_one_clear_error() -> None:
    park = build_park(seed=2, machines=200)
    passwords = {e.id: "pw" for e in park.enterprises[1:]}
    config = FleetConfig(BrokerAddress("h"), seed=2, machines=200, gateway_passwords=passwords)
    with pytest.raises(
        ParameterError, match=rf"have no gateway password \(the first: {park.enterprises[0].id}\)"
    ):
        Fleet(config)


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    creds = tmp_path / "gateways.txt"
    creds.write_text("E0001:ok\nE 2:bad\n")
    with pytest.raises(ParameterError, match=r"gateways.txt:2: not an 'ENTERPRISE:PASSWORD' line"):
        load_settings({"credentials_file": creds}).fleet_config()


def test_one_user_name_and_per_gateway_accounts_exclude_each_other(tmp_path: Path) -> None:
    creds = tmp_path / "gateways.txt"
    creds.write_text("E0001:pw\n")
    settings = load_settings({"credentials_file": creds, "mqtt_username": "gw"})
    with pytest.raises(ParameterError, match="not both"):
        settings.fleet_config()


def test_without_a_file_every_gateway_uses_the_brokers_account() -> None:
    settings = load_settings({"machines": 10, "mqtt_username": "gw", "mqtt_password": "p"})
    fleet = Fleet(settings.fleet_config())
    assert {(g.broker.username, g.broker.password) for g in fleet.gateways} == {("gw", "p")}
