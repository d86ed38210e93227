"""The database accounts of docker-compose.yml on a real InfluxDB with authentication: the admin
sets up the schema (hosiery-admin influx-schema), the collector's account may only write,
Grafana's and hosiery-top's may only read."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from influx.config import InfluxConfig, make_client
from influx.errors import InfluxAuthError
from influx.query import query
from influx.write import InfluxSink, WriteResult
from stack import InfluxServer

pytestmark = pytest.mark.integration

ADMIN = ("admin", "admin-pw")
WRITER = ("hosiery-collector", "write-pw")
READER = ("grafana", "read-pw")


def config(url: str, auth: tuple[str, str] | None) -> InfluxConfig:
    if auth is None:
        return InfluxConfig(url=url, timeout=30)
    return InfluxConfig(url=url, username=auth[0], password=SecretStr(auth[1]), timeout=30)


def q(
    url: str, statement: str, auth: tuple[str, str] | None, db: str = "hosiery"
) -> list[dict[str, Any]]:
    influx = config(url, auth)
    with make_client(influx) as client:
        return query(client, influx, statement, database=db)


def write(url: str, auth: tuple[str, str], line: str) -> WriteResult:
    with InfluxSink(config(url, auth), create_schema=False) as sink:
        return sink.write([line])


def test_the_admin_sets_up_the_schema_the_writer_writes_the_reader_reads(
    influx_factory: Callable[..., InfluxServer],
) -> None:
    server = influx_factory(auth=True)
    url = server.url
    # What the influxdb:1.8 image does on its first start with the INFLUXDB_* variables.
    q(url, f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES", None)
    for statement in (
        "CREATE DATABASE hosiery",
        f"CREATE USER \"{WRITER[0]}\" WITH PASSWORD '{WRITER[1]}'",
        f'GRANT WRITE ON hosiery TO "{WRITER[0]}"',
        f"CREATE USER {READER[0]} WITH PASSWORD '{READER[1]}'",
        f"GRANT READ ON hosiery TO {READER[0]}",
    ):
        q(url, statement, ADMIN)  # raises InfluxQueryError when refused

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    env["HOSIERY_ADMIN_INFLUX_PASSWORD"] = ADMIN[1]
    schema = [sys.executable, "-m", "admin", "influx-schema", "--influx-url", url]
    denied = subprocess.run(
        [*schema, "--influx-username", READER[0]],
        env={**env, "HOSIERY_ADMIN_INFLUX_PASSWORD": READER[1]},
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert denied.returncode == 2
    assert denied.stderr.startswith("hosiery-admin: ")
    assert len(denied.stderr.splitlines()) == 1
    done = subprocess.run(
        [*schema, "--influx-username", ADMIN[0], "--raw-retention", "14d"],
        env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "CREATE RETENTION POLICY" in done.stdout
    policies = q(url, "SHOW RETENTION POLICIES ON hosiery", ADMIN)
    rows = {r[0]: r for r in policies[0]["series"][0]["values"]}
    assert rows["raw"][1] == "336h0m0s"
    assert rows["raw"][-1] is True  # the default policy
    again = subprocess.run(
        [*schema, "--influx-username", ADMIN[0], "--raw-retention", "14d"],
        env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "0 change(s)" in again.stdout

    line = f'production,enterprise=E0001,machine=M001 pairs=3i,state="running" {time.time_ns()}'
    assert write(url, WRITER, line).written == 1
    with pytest.raises(InfluxAuthError, match=r"refused user 'grafana' \(HTTP 403\)"):
        write(url, READER, line)
    with pytest.raises(InfluxAuthError, match=r"\(HTTP 403\): .*not authorized"):
        q(url, 'SELECT * FROM "production"', WRITER)
    rows = q(url, 'SELECT sum("pairs") FROM "production"', READER)[0]
    assert rows["series"][0]["values"][0][1] == 3
    with pytest.raises(InfluxAuthError, match=r"refused anonymous access \(HTTP 401\)"):
        q(url, "SHOW DATABASES", None)

    top = [sys.executable, "-m", "stack.top", "--once", "--influx-url", url]
    frame = subprocess.run(
        [*top, "--influx-username", READER[0]],
        env={**env, "HOSIERY_TOP_INFLUX_PASSWORD": READER[1]},
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert "Rate       180 pairs/h  (last 1m00s: 3 pairs)" in frame
    assert "Machines   1 reporting" in frame
    wrong = subprocess.run(
        [*top, "--influx-username", READER[0]],
        env={**env, "HOSIERY_TOP_INFLUX_PASSWORD": "wrong"},
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert "refused user 'grafana' (HTTP 401)" in wrong.stderr
