"""``hosiery-admin``: accounts of the MQTT broker and the InfluxDB schema of a deployment.

    hosiery-admin init-broker --broker-passwd-path P --acl-file A [--collector-user U]
    hosiery-admin add-gateway ENTERPRISE --broker-passwd-path P --acl-file A
        [--password-stdin] [--credentials-file C]
    hosiery-admin add-gateways --registry R --credentials-file C --broker-passwd-path P --acl-file A
    hosiery-admin remove-gateway ENTERPRISE --broker-passwd-path P --acl-file A
    hosiery-admin influx-schema --influx-url URL --influx-username ADMIN
    hosiery-admin grafana push --grafana-url URL [--dashboards DIR] [--overwrite]

Passwords come from the environment (``HOSIERY_ADMIN_COLLECTOR_PASSWORD``,
``HOSIERY_ADMIN_GATEWAY_PASSWORD``, ``HOSIERY_ADMIN_INFLUX_PASSWORD``,
``HOSIERY_ADMIN_GRAFANA_TOKEN``, ``HOSIERY_ADMIN_GRAFANA_PASSWORD``; each also as ``..._FILE``)
or standard input, never
from the command line. A gateway without a given password gets a random one, printed once.
Mosquitto reads its password and ACL files at start and on SIGHUP: reload it afterwards.
Errors are one line on stderr, ``hosiery-admin: ...``, exit code 2. ``--password-file`` and
``HOSIERY_ADMIN_PASSWORD_FILE`` are the deprecated old names of ``--broker-passwd-path`` and
``HOSIERY_ADMIN_BROKER_PASSWD_PATH``: they still work and print one warning.
"""

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from admin.acl import COLLECTOR_RULES, AclFile, gateway_rules
from admin.errors import AccountError, AccountFileError, AdminError
from admin.grafana import GrafanaTarget, connect, push_dashboards, read_dashboards
from admin.passwords import (
    PasswordFile,
    check_password,
    check_user,
    new_password,
    read_credentials,
    write_credentials,
)
from admin.settings import AdminSettings, load_settings
from contract.renamed import RenamedVariableWarning
from contract.version import version_line
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from influx.provision import ensure_schema
from influx.schema import default_schema, influx_duration

if TYPE_CHECKING:
    from niquests.adapters import BaseAdapter

PROG = "hosiery-admin"
RELOAD = (
    "reload the broker to apply it (SIGHUP: 'docker compose kill -s SIGHUP mosquitto', "
    "'systemctl reload mosquitto' or 'kill -HUP PID')"
)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-passwd-path", type=Path, help="the broker's password_file, which is edited"
    )
    # The old name, which read like a file holding a password: still accepted, with a warning.
    parser.add_argument("--password-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--acl-file", type=Path, help="the broker's acl_file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Manage the broker's accounts and the database schema."
    )
    parser.add_argument("--version", action="version", version=version_line(PROG))
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser(
        "init-broker", help="write the collector's account and the ACL's base"
    )
    _broker_options(init)
    init.add_argument("--collector-user", help="the collector's user (default hosiery-collector)")

    add = commands.add_parser(
        "add-gateway", help="add an enterprise gateway, or change its password"
    )
    add.add_argument("enterprise", help="enterprise id: the gateway's user name")
    _broker_options(add)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument(
        "--credentials-file", type=Path, help="also record ENTERPRISE:PASSWORD in this plain file"
    )

    many = commands.add_parser(
        "add-gateways", help="add every enterprise of a park registry (the simulated park)"
    )
    many.add_argument("--registry", type=Path, required=True, help="hosiery-sim park --registry")
    _broker_options(many)
    many.add_argument(
        "--credentials-file",
        type=Path,
        help="ENTERPRISE:PASSWORD file: passwords found there are kept, new ones are added",
    )

    remove = commands.add_parser("remove-gateway", help="remove an enterprise gateway's account")
    remove.add_argument("enterprise")
    _broker_options(remove)

    schema = commands.add_parser(
        "influx-schema", help="create the database and retention policies (admin user)"
    )
    schema.add_argument("--influx-url", help="InfluxDB, http://HOST:PORT")
    schema.add_argument("--influx-db", help="database (default hosiery)")
    schema.add_argument("--influx-username", help="an admin user")
    schema.add_argument("--raw-retention", help="how long raw readings are kept (default 7d)")

    grafana = commands.add_parser("grafana", help="an existing Grafana's dashboards")
    grafana_commands = grafana.add_subparsers(dest="grafana_command", required=True)
    push = grafana_commands.add_parser(
        "push",
        help="save the dashboards into a Grafana through its HTTP API (folders from directories)",
    )
    push.add_argument(
        "--dashboards",
        type=Path,
        default=Path("dashboards/json"),
        help="the generated dashboards (default dashboards/json)",
    )
    push.add_argument("--grafana-url", help="Grafana, http://HOST:PORT (default local :3000)")
    push.add_argument(
        "--grafana-user",
        help="basic auth user (password: HOSIERY_ADMIN_GRAFANA_PASSWORD); default: the token "
        "in HOSIERY_ADMIN_GRAFANA_TOKEN",
    )
    push.add_argument("--grafana-timeout", help="timeout of one request (default 10s)")
    push.add_argument(
        "--overwrite",
        action="store_true",
        help="replace dashboards that were changed in Grafana since",
    )
    return parser


def _init_broker(settings: AdminSettings) -> int:
    password_path, acl_path = settings.broker_files()
    user = check_user(settings.collector_user)
    if settings.collector_password is None:
        raise AccountError("set HOSIERY_ADMIN_COLLECTOR_PASSWORD: the collector's MQTT password")
    password = check_password(settings.collector_password.get_secret_value())
    passwords = PasswordFile(password_path)
    acl = AclFile(acl_path)
    passwords.set(user, password)
    acl.set_user(user, COLLECTOR_RULES)
    passwords.save()
    acl.save()
    _out(f"collector account {user} written to {password_path} and {acl_path}; {RELOAD}")
    return 0


def _add_gateway(settings: AdminSettings, enterprise: str, *, from_stdin: bool) -> int:
    password_path, acl_path = settings.broker_files()
    check_user(enterprise)
    generated = False
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif settings.gateway_password is not None:
        password = settings.gateway_password.get_secret_value()
    else:
        password, generated = new_password(), True
    check_password(password)
    passwords = PasswordFile(password_path)
    acl = AclFile(acl_path)
    other = enterprise in acl.blocks and set(acl.rules(enterprise)) != set(
        gateway_rules(enterprise)
    )
    if enterprise == settings.collector_user or other:
        raise AccountError(f"user {enterprise} exists and is not a gateway; choose another name")
    passwords.set(enterprise, password)
    acl.set_user(enterprise, gateway_rules(enterprise))
    passwords.save()
    acl.save()
    if settings.credentials_file is not None:
        credentials = read_credentials(settings.credentials_file)
        credentials[enterprise] = password
        write_credentials(settings.credentials_file, credentials)
    _out(f"gateway {enterprise} written to {password_path} and {acl_path}; {RELOAD}")
    if generated:
        _out(f"password of {enterprise} (shown once): {password}")
    return 0


def _registry_enterprises(path: Path) -> list[str]:
    try:
        document = orjson.loads(path.read_bytes())
        ids = [str(e["id"]) for e in document["enterprises"]]
    except OSError as exc:
        raise AccountFileError(f"cannot read {path}: {exc.strerror}") from exc
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise AccountFileError(f"{path} is not a park registry ({exc})") from exc
    for enterprise in ids:
        check_user(enterprise)
    return ids


def _add_gateways(settings: AdminSettings, registry: Path) -> int:
    password_path, acl_path = settings.broker_files()
    if settings.credentials_file is None:
        raise AccountError("give --credentials-file: where the gateways' passwords are kept")
    enterprises = _registry_enterprises(registry)
    credentials = read_credentials(settings.credentials_file)
    passwords = PasswordFile(password_path)
    acl = AclFile(acl_path)
    added = 0
    for enterprise in enterprises:
        password = credentials.get(enterprise)
        if password is None:
            password = credentials[enterprise] = new_password()
            added += 1
        if not passwords.verify(enterprise, password):
            passwords.set(enterprise, password)
        acl.set_user(enterprise, gateway_rules(enterprise))
    write_credentials(settings.credentials_file, credentials)
    passwords.save()
    acl.save()
    _out(
        f"{len(enterprises):,} gateways ({added:,} new) written to {password_path} and "
        f"{acl_path}; passwords in {settings.credentials_file}; {RELOAD}"
    )
    return 0


def _remove_gateway(settings: AdminSettings, enterprise: str) -> int:
    password_path, acl_path = settings.broker_files()
    passwords = PasswordFile(password_path)
    acl = AclFile(acl_path)
    if enterprise == settings.collector_user:
        raise AccountError(f"{enterprise} is the collector's account, not a gateway")
    found = passwords.remove(enterprise) | acl.remove_user(enterprise)
    if not found:
        raise AccountError(f"no account {enterprise} in {password_path} or {acl_path}")
    passwords.save()
    acl.save()
    _out(f"gateway {enterprise} removed; {RELOAD}")
    return 0


def _influx_schema(settings: AdminSettings) -> int:
    try:
        config = InfluxConfig(
            url=settings.influx_url,
            database=settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
        )
    except ValueError as exc:
        raise AccountError(f"InfluxDB settings: {exc}") from exc
    schema = default_schema(settings.influx_db, influx_duration(settings.raw_retention))
    with make_client(config) as client:
        done = ensure_schema(client, config, schema)
    for statement in done:
        _out(statement)
    _out(f"schema of {settings.influx_db} on {settings.influx_url}: {len(done)} change(s)")
    return 0


def _grafana_push(
    settings: AdminSettings, root: Path, *, overwrite: bool, adapter: "BaseAdapter | None"
) -> int:
    target = GrafanaTarget(
        url=settings.grafana_url,
        token=None if settings.grafana_token is None else settings.grafana_token.get_secret_value(),
        user=settings.grafana_user,
        password=(
            None
            if settings.grafana_password is None
            else settings.grafana_password.get_secret_value()
        ),
        timeout=settings.grafana_timeout,
    )
    dashboards = read_dashboards(root)
    api = connect(target, adapter)
    for line in push_dashboards(api, target, dashboards, overwrite=overwrite):
        _out(line)
    _out(f"{len(dashboards)} dashboards pushed to {settings.grafana_url}")
    return 0


def main(argv: Sequence[str] | None = None, *, grafana_adapter: "BaseAdapter | None" = None) -> int:
    """The command; ``grafana_adapter`` (tests) replaces the HTTP transport to Grafana."""
    args = build_parser().parse_args(argv)
    local = {"command", "enterprise", "password_stdin", "registry"}
    local |= {"grafana_command", "dashboards", "overwrite"}
    options = {k: v for k, v in vars(args).items() if k not in local}
    old_path = options.pop("password_file", None)
    if old_path is not None:
        _warn("--password-file is deprecated and will be removed: use --broker-passwd-path")
        options["broker_passwd_path"] = options.get("broker_passwd_path") or old_path
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RenamedVariableWarning)
            settings = load_settings(options)
        for warning in caught:
            if issubclass(warning.category, RenamedVariableWarning):
                _warn(str(warning.message))
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        if args.command == "init-broker":
            return _init_broker(settings)
        if args.command == "add-gateway":
            return _add_gateway(settings, args.enterprise, from_stdin=args.password_stdin)
        if args.command == "add-gateways":
            return _add_gateways(settings, args.registry)
        if args.command == "remove-gateway":
            return _remove_gateway(settings, args.enterprise)
        if args.command == "grafana":
            return _grafana_push(
                settings, args.dashboards, overwrite=args.overwrite, adapter=grafana_adapter
            )
        return _influx_schema(settings)
    except (AdminError, InfluxError) as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
