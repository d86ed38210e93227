"""``hosiery-admin`` without a broker: the password format, the files it edits, the commands."""

import os
import stat
from pathlib import Path

import pytest

from admin.acl import COLLECTOR_RULES, AclFile, gateway_rules
from admin.cli import main
from admin.errors import AccountError, AccountFileError
from admin.passwords import (
    PasswordFile,
    hash_password,
    read_credentials,
    verify_password,
    write_credentials,
)

# Written by Mosquitto 2.0.11's ``mosquitto_passwd -b pw E0001 secret``.
MOSQUITTO_ENTRY = (
    "$7$101$DJzZJL/Io1v2H/MI$ijfP7Mnty0Nu4sZToPMz2LM3lPQvQA/Uib3NbZooshhE4FmYKq7V5mcUuJtt4+aGAT9ew6K4"
    "InvoPBC6v/a9xg=="
)


def test_an_entry_of_mosquitto_passwd_verifies_and_a_wrong_password_does_not() -> None:
    assert verify_password("secret", MOSQUITTO_ENTRY)
    assert not verify_password("Secret", MOSQUITTO_ENTRY)


def test_the_same_salt_gives_mosquitto_passwds_entry() -> None:
    salt = bytes.fromhex("0c9cd924bfc8a35bf61ff308")
    assert hash_password("secret", salt=salt) == MOSQUITTO_ENTRY


def test_entries_are_salted_pbkdf2_and_verify() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second
    assert first.startswith("$7$101$")
    assert verify_password("pw", first)
    assert verify_password("pw", second)
    assert not verify_password("pw", "$6$salt$hash")
    assert not verify_password("pw", "$7$101$not base64!$x")


@pytest.mark.parametrize("user", ["", "E 1", "a/b", "E#", "E+", "%u", "x" * 65, "E\n1"])
def test_user_names_that_could_change_a_topic_or_a_file_line_are_refused(
    tmp_path: Path, user: str
) -> None:
    with pytest.raises(AccountError):
        PasswordFile(tmp_path / "passwd").set(user, "pw")
    with pytest.raises(AccountError):
        gateway_rules(user)


@pytest.mark.parametrize("password", ["", "a\nb", "a\rb", "a\0b"])
def test_passwords_that_would_break_the_file_are_refused(tmp_path: Path, password: str) -> None:
    with pytest.raises(AccountError):
        PasswordFile(tmp_path / "passwd").set("E0001", password)


def test_a_password_file_keeps_other_users_and_replaces_one(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text(f"# comment\nother:{MOSQUITTO_ENTRY}\nE0001:$7$101$old$old\n")
    passwords = PasswordFile(path)
    passwords.set("E0001", "new")
    passwords.set("E0002", "two")
    passwords.save()
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["other", "E0001", "E0002"]
    again = PasswordFile(path)
    assert again.verify("other", "secret")
    assert again.verify("E0001", "new")
    assert again.verify("E0002", "two")
    assert again.remove("E0001")
    assert not again.remove("E0001")


def test_a_damaged_password_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("E0001\n")
    with pytest.raises(AccountFileError, match=r"passwd:1: not a 'user:hash' line"):
        PasswordFile(path)


def test_rewriting_keeps_the_files_permissions(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    PasswordFile(path).save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    passwords = PasswordFile(path)
    passwords.set("E0001", "pw")
    passwords.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_acl_gives_a_gateway_only_its_own_counters_and_status(tmp_path: Path) -> None:
    acl = AclFile(tmp_path / "acl")
    acl.set_user("E0001", gateway_rules("E0001"))
    acl.set_user("hosiery-collector", COLLECTOR_RULES)
    text = acl.render()
    assert "pattern" not in text
    block = text.split("user E0001\n")[1].split("\n\n")[0].splitlines()
    assert block == [
        "topic write hosiery/v1/E0001/+/counter",
        "topic write hosiery/v1/E0001/status",
    ]
    assert "topic read hosiery/v1/#" in text.split("user hosiery-collector\n")[1]


def test_the_acl_keeps_blocks_it_does_not_manage(tmp_path: Path) -> None:
    path = tmp_path / "acl"
    path.write_text(
        "# site header\n\nuser viewer\n# dashboards\ntopic read hosiery/v1/+/+/alert\n\n"
        "user E0001\ntopic write hosiery/v1/#\n"
    )
    acl = AclFile(path)
    acl.set_user("E0001", gateway_rules("E0001"))
    acl.save()
    again = AclFile(path)
    assert again.header == ["# site header", ""]
    assert again.rules("viewer") == ["read hosiery/v1/+/+/alert"]
    assert again.rules("E0001") == list(gateway_rules("E0001"))
    assert "# dashboards" in path.read_text()


def test_rules_outside_a_user_block_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "acl"
    path.write_text("pattern write hosiery/v1/%u/#\n")
    with pytest.raises(AccountFileError, match="outside a 'user' block"):
        AclFile(path)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    for name in list(os.environ):
        if name.startswith("HOSIERY_ADMIN_"):
            monkeypatch.delenv(name)
    return tmp_path / "passwd", tmp_path / "acl"


def test_add_gateway_generates_a_password_prints_it_once_and_records_it(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    creds = tmp_path / "gateways.txt"
    argv = ["--broker-passwd-path", str(passwd), "--acl-file", str(acl)]
    argv += ["--credentials-file", str(creds)]
    assert main(["add-gateway", "E0007", *argv]) == 0
    out = capsys.readouterr().out
    password = out.split("(shown once): ")[1].strip()
    assert len(password) >= 20
    assert PasswordFile(passwd).verify("E0007", password)
    assert read_credentials(creds) == {"E0007": password}
    assert AclFile(acl).rules("E0007") == list(gateway_rules("E0007"))
    assert "SIGHUP" in out


def test_add_gateway_takes_the_password_from_the_environment(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    monkeypatch.setenv("HOSIERY_ADMIN_GATEWAY_PASSWORD", "from-env")
    argv = ["--broker-passwd-path", str(passwd), "--acl-file", str(acl)]
    assert main(["add-gateway", "E0008", *argv]) == 0
    assert "shown once" not in capsys.readouterr().out
    assert PasswordFile(passwd).verify("E0008", "from-env")


def test_the_collectors_account_cannot_be_turned_into_a_gateway(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    argv = ["--broker-passwd-path", str(passwd), "--acl-file", str(acl)]
    monkeypatch.setenv("HOSIERY_ADMIN_COLLECTOR_PASSWORD", "c-pw")
    assert main(["init-broker", *argv]) == 0
    assert main(["add-gateway", "hosiery-collector", *argv]) == 2
    assert "not a gateway" in capsys.readouterr().err
    assert AclFile(acl).rules("hosiery-collector") == list(COLLECTOR_RULES)
    assert PasswordFile(passwd).verify("hosiery-collector", "c-pw")


def test_init_broker_without_a_password_is_one_clear_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    assert main(["init-broker", "--broker-passwd-path", str(passwd), "--acl-file", str(acl)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hosiery-admin: set HOSIERY_ADMIN_COLLECTOR_PASSWORD")
    assert not passwd.exists()


def test_add_gateways_keeps_known_passwords_and_adds_new_ones(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    passwd, acl = files
    registry = tmp_path / "registry.json"
    registry.write_text('{"enterprises": [{"id": "E0001"}, {"id": "E0002"}]}')
    creds = tmp_path / "gateways.txt"
    write_credentials(creds, {"E0001": "kept"})
    argv = ["--broker-passwd-path", str(passwd), "--acl-file", str(acl)]
    argv += ["--credentials-file", str(creds)]
    assert main(["add-gateways", "--registry", str(registry), *argv]) == 0
    found = read_credentials(creds)
    assert found["E0001"] == "kept"
    assert set(found) == {"E0001", "E0002"}
    passwords = PasswordFile(passwd)
    assert passwords.verify("E0001", "kept")
    assert passwords.verify("E0002", found["E0002"])
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600


def test_remove_gateway_removes_both_entries(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    argv = ["--broker-passwd-path", str(passwd), "--acl-file", str(acl)]
    monkeypatch.setenv("HOSIERY_ADMIN_GATEWAY_PASSWORD", "pw")
    assert main(["add-gateway", "E0009", *argv]) == 0
    assert main(["remove-gateway", "E0009", *argv]) == 0
    assert "E0009" not in PasswordFile(passwd).entries
    assert "E0009" not in AclFile(acl).blocks
    assert main(["remove-gateway", "E0009", *argv]) == 2
    assert "no account E0009" in capsys.readouterr().err


def test_missing_file_options_are_one_clear_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-gateway", "E0001"]) == 2
    assert "give --broker-passwd-path and --acl-file" in capsys.readouterr().err


def test_the_old_name_of_the_brokers_password_file_still_works_with_one_warning(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    monkeypatch.setenv("HOSIERY_ADMIN_COLLECTOR_PASSWORD", "c-pw")
    monkeypatch.setenv("HOSIERY_ADMIN_PASSWORD_FILE", str(passwd))
    monkeypatch.setenv("HOSIERY_ADMIN_ACL_FILE", str(acl))
    assert main(["init-broker"]) == 0
    assert PasswordFile(passwd).verify("hosiery-collector", "c-pw")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        (
            "hosiery-admin: warning: HOSIERY_ADMIN_PASSWORD_FILE is deprecated and will be removed:"
            " use HOSIERY_ADMIN_BROKER_PASSWD_PATH"
        )
    ]
    # the new name wins over the old one
    other = passwd.with_name("passwd-new")
    monkeypatch.setenv("HOSIERY_ADMIN_BROKER_PASSWD_PATH", str(other))
    assert main(["init-broker"]) == 0
    assert PasswordFile(other).verify("hosiery-collector", "c-pw")
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_the_old_option_of_the_brokers_password_file_still_works_with_one_warning(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, acl = files
    monkeypatch.setenv("HOSIERY_ADMIN_COLLECTOR_PASSWORD", "c-pw")
    assert main(["init-broker", "--password-file", str(passwd), "--acl-file", str(acl)]) == 0
    assert PasswordFile(passwd).verify("hosiery-collector", "c-pw")
    assert capsys.readouterr().err.splitlines() == [
        (
            "hosiery-admin: warning: --password-file is deprecated and will be removed:"
            " use --broker-passwd-path"
        )
    ]
