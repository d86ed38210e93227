"""The collector's MQTT client id: what the broker keeps its session under."""

import pytest
from pydantic import SecretStr

from collector.service import client_id
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
