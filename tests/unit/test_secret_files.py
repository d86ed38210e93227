"""Secrets from files: ``<VAR>_FILE`` (Docker secrets) in every command that takes a secret."""

import os
from pathlib import Path

import pytest

from admin.cli import main as admin_main
from admin.settings import AdminSettings
from collector.cli import main as collector_main
from collector.reroll import RerollSettings
from collector.settings import CollectorSettings
from collector.totals import TotalsSettings
from contract.secret_files import SecretFileError, secret_variables
from report.settings import ReportSettings
from simulators.backfill_settings import BackfillSettings
from simulators.cli import main as sim_main
from stack.top import main as top_main
from stack.top_settings import TopSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HOSIERY_"):
            monkeypatch.delenv(name)


def secret(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secret"
    path.write_bytes(text.encode())
    return path


def test_every_secret_setting_has_a_file_variable() -> None:
    assert secret_variables(CollectorSettings) == {
        "mqtt_password": "HOSIERY_MQTT_PASSWORD",
        "influx_password": "HOSIERY_INFLUX_PASSWORD",
        "influx_token": "HOSIERY_INFLUX_TOKEN",
    }
    assert set(secret_variables(AdminSettings).values()) == {
        "HOSIERY_ADMIN_COLLECTOR_PASSWORD",
        "HOSIERY_ADMIN_GATEWAY_PASSWORD",
        "HOSIERY_ADMIN_INFLUX_PASSWORD",
        "HOSIERY_ADMIN_GRAFANA_TOKEN",
        "HOSIERY_ADMIN_GRAFANA_PASSWORD",
    }
    # backfill reaches InfluxDB with the collector's variables
    assert secret_variables(BackfillSettings) == {
        "influx_password": "HOSIERY_INFLUX_PASSWORD",
        "influx_token": "HOSIERY_INFLUX_TOKEN",
    }
    for cls in (TotalsSettings, RerollSettings):
        assert set(secret_variables(cls).values()) == {
            "HOSIERY_INFLUX_PASSWORD",
            "HOSIERY_INFLUX_TOKEN",
        }
    assert secret_variables(TopSettings) == {"influx_password": "HOSIERY_TOP_INFLUX_PASSWORD"}
    assert secret_variables(ReportSettings) == {
        "influx_password": "HOSIERY_REPORT_INFLUX_PASSWORD",
        "influx_token": "HOSIERY_REPORT_INFLUX_TOKEN",
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [("s3cret\n", "s3cret"), ("s3cret", "s3cret"), ("s3cret\r\n", "s3cret"), (" a b \n", " a b ")],
)
def test_the_file_holds_the_secret_with_one_trailing_newline_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    monkeypatch.setenv("HOSIERY_INFLUX_PASSWORD_FILE", str(secret(tmp_path, content)))
    monkeypatch.setenv("HOSIERY_MQTT_PASSWORD_FILE", str(secret(tmp_path, content)))
    settings = CollectorSettings(influx_username="writer", mqtt_username="collector")
    assert settings.influx_password is not None
    assert settings.influx_password.get_secret_value() == expected
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == expected


def test_an_option_given_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSIERY_INFLUX_PASSWORD_FILE", str(secret(tmp_path, "from-file")))
    given: dict[str, object] = {"days": 1, "influx_username": "w", "influx_password": "given"}
    settings = BackfillSettings(**given)  # type: ignore[arg-type]
    assert settings.influx_password is not None
    assert settings.influx_password.get_secret_value() == "given"
    settings = BackfillSettings(days=1, influx_username="w")
    assert settings.influx_password is not None
    assert settings.influx_password.get_secret_value() == "from-file"


def test_the_variable_and_its_file_together_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSIERY_ADMIN_INFLUX_PASSWORD", "x")
    monkeypatch.setenv("HOSIERY_ADMIN_INFLUX_PASSWORD_FILE", str(secret(tmp_path, "y")))
    with pytest.raises(
        SecretFileError, match=r"HOSIERY_ADMIN_INFLUX_PASSWORD or .*_FILE, not both"
    ):
        AdminSettings()


@pytest.mark.parametrize("problem", ["missing", "empty", "directory", "binary"])
def test_an_unusable_file_is_one_clear_line_in_every_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    problem: str,
) -> None:
    path = {
        "missing": tmp_path / "absent",
        "empty": secret(tmp_path, "\n"),
        "directory": tmp_path,
        "binary": tmp_path / "binary",
    }[problem]
    if problem == "binary":
        path.write_bytes(b"\xff\xfe\x00")
    commands = [
        ("HOSIERY_INFLUX_PASSWORD_FILE", lambda: collector_main(["--influx-username", "w"])),
        ("HOSIERY_INFLUX_TOKEN_FILE", lambda: collector_main(["totals", "--since", "-1h"])),
        ("HOSIERY_ADMIN_INFLUX_PASSWORD_FILE", lambda: admin_main(["influx-schema"])),
        ("HOSIERY_INFLUX_PASSWORD_FILE", lambda: sim_main(["backfill", "--days", "1"])),
        ("HOSIERY_TOP_INFLUX_PASSWORD_FILE", lambda: top_main(["--once"])),
    ]
    for variable, command in commands:
        monkeypatch.setenv(variable, str(path))
        assert command() == 2
        monkeypatch.delenv(variable)
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert f"{variable}={path}" in err
        assert "Traceback" not in err
