"""The database accounts of docker-compose.yml on a real InfluxDB with authentication: the admin
sets up the schema (hosiery-admin influx-schema), the collector's account may only write,
Grafana's and hosiery-top's may only read."""

import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from stack import InfluxServer

pytestmark = pytest.mark.integration

ADMIN = ("admin", "admin-pw")
WRITER = ("hosiery-collector", "write-pw")
READER = ("grafana", "read-pw")


def q(
    url: str, statement: str, auth: tuple[str, str] | None, db: str = "hosiery"
) -> httpx.Response:
    return httpx.post(
        f"{url}/query", params={"db": db}, data={"q": statement}, auth=auth, timeout=30
    )


def write(url: str, auth: tuple[str, str], line: str) -> httpx.Response:
    return httpx.post(
        f"{url}/write", params={"db": "hosiery", "precision": "ms"}, content=line, auth=auth
    )


def test_the_admin_sets_up_the_schema_the_writer_writes_the_reader_reads(
    influx_factory: Callable[..., InfluxServer],
) -> None:
    server = influx_factory(auth=True)
    url = server.url
    # What the influxdb:1.8 image does on its first start with the INFLUXDB_* variables.
    first = q(url, f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES", None)
    assert first.status_code == 200
    for statement in (
        "CREATE DATABASE hosiery",
        f"CREATE USER \"{WRITER[0]}\" WITH PASSWORD '{WRITER[1]}'",
        f'GRANT WRITE ON hosiery TO "{WRITER[0]}"',
        f"CREATE USER {READER[0]} WITH PASSWORD '{READER[1]}'",
        f"GRANT READ ON hosiery TO {READER[0]}",
    ):
        assert "error" not in q(url, statement, ADMIN).json()["results"][0], statement

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
    policies = q(url, "SHOW RETENTION POLICIES ON hosiery", ADMIN).json()
    rows = {r[0]: r for r in policies["results"][0]["series"][0]["values"]}
    assert rows["raw"][1] == "336h0m0s"
    assert rows["raw"][-1] is True  # the default policy
    again = subprocess.run(
        [*schema, "--influx-username", ADMIN[0], "--raw-retention", "14d"],
        env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "0 change(s)" in again.stdout

    now_ms = time.time_ns() // 1_000_000
    line = f'production,enterprise=E0001,machine=M001 pairs=3i,state="running" {now_ms}'
    assert write(url, WRITER, line).status_code == 204
    assert write(url, READER, line).status_code == 403
    refused = q(url, 'SELECT * FROM "production"', WRITER)
    assert refused.status_code == 403
    assert "not authorized" in refused.json()["error"]
    rows = q(url, 'SELECT sum("pairs") FROM "production"', READER).json()["results"][0]
    assert rows["series"][0]["values"][0][1] == 3
    assert q(url, "SHOW DATABASES", None).status_code == 401

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
    assert "refused the credentials" in wrong.stderr
