"""The collector's MQTT settings: the client id its session is kept under, its packet limit."""

import pytest
from pydantic import SecretStr, ValidationError

from collector.service import client_id, mqtt_config
from collector.settings import CollectorSettings


@pytest.mark.parametrize(
    ("given", "user", "expected"),
    [
        (None, None, "hosiery-collector"),
        (None, "collector-a", "collector-a"),
        ("chosen", "collector-a", "chosen"),
        ("chosen", None, "chosen"),
    ],
)
def test_the_client_id_defaults_to_the_broker_user(
    given: str | None, user: str | None, expected: str
) -> None:
    password = None if user is None else SecretStr("secret")
    settings = CollectorSettings(mqtt_client_id=given, mqtt_username=user, mqtt_password=password)
    assert client_id(settings) == expected


def test_mqtts_without_a_ca_file_is_tls_checked_against_the_system_cas() -> None:
    config = mqtt_config(CollectorSettings(mqtt_url="mqtts://broker.example"))
    assert config.tls
    assert config.tls_ca is None
    assert config.url == "mqtts://broker.example:8883"
    plain = mqtt_config(CollectorSettings(mqtt_url="mqtt://broker.example"))
    assert not plain.tls
    assert plain.url == "mqtt://broker.example:1883"


def test_a_ca_file_for_a_plain_broker_is_refused() -> None:
    with pytest.raises(ValueError, match="mqtt-ca-file is for an mqtts:// broker"):
        CollectorSettings(mqtt_url="mqtt://broker.example", mqtt_ca_file="ca.crt")


def test_the_maximum_packet_size_comes_from_the_command_line_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert mqtt_config(CollectorSettings()).maximum_packet_size == 262_144
    cli = CollectorSettings(_cli_parse_args=["--mqtt-max-packet-size", "200000"])  # type: ignore[call-arg]
    assert mqtt_config(cli).maximum_packet_size == 200_000
    monkeypatch.setenv("HOSIERY_MQTT_MAX_PACKET_SIZE", "150000")
    assert mqtt_config(CollectorSettings()).maximum_packet_size == 150_000


@pytest.mark.parametrize("size", ["1023", "268435461", "big"])
def test_a_maximum_packet_size_out_of_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    monkeypatch.setenv("HOSIERY_MQTT_MAX_PACKET_SIZE", size)
    with pytest.raises(ValidationError, match="mqtt_max_packet_size"):
        CollectorSettings()
