"""``hosiery-sim backfill`` into an InfluxDB with authentication on, as in the compose stack:
the admin may set the schema up and write, the collector's write-only account writes into the
schema set up already, no credentials and wrong ones are one line and exit 1."""

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from stack import InfluxServer
from tests.integration.test_influx_accounts import ADMIN, READER, WRITER, q

pytestmark = pytest.mark.integration

MACHINES = 12


def backfill(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "simulators", "backfill", "--days", "1",
            "--machines", str(MACHINES), "--machine-hours", "2", *options]  # fmt: skip
    return subprocess.run(argv, env=env, check=False, capture_output=True, text=True, timeout=120)


def park_pairs(url: str) -> int:
    result = q(url, 'SELECT sum("pairs") FROM "rollup_long"."park_1h"', READER)[0]
    series = result.get("series") or [{"values": [[0, 0]]}]
    return int(series[0]["values"][0][1] or 0)


def test_backfill_writes_into_a_secured_influxdb(
    influx_factory: Callable[..., InfluxServer],
) -> None:
    url = influx_factory(auth=True).url
    statements = (
        f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES",
        "CREATE DATABASE hosiery",
        f"CREATE USER \"{WRITER[0]}\" WITH PASSWORD '{WRITER[1]}'",
        f'GRANT WRITE ON hosiery TO "{WRITER[0]}"',
        f"CREATE USER {READER[0]} WITH PASSWORD '{READER[1]}'",
        f"GRANT READ ON hosiery TO {READER[0]}",
    )
    for i, statement in enumerate(statements):
        q(url, statement, None if i == 0 else ADMIN)  # raises InfluxQueryError when refused
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    env["HOSIERY_INFLUX_URL"] = url

    anonymous = backfill(env)
    assert anonymous.returncode == 1, anonymous.stderr
    assert anonymous.stderr.strip().startswith("hosiery-sim: backfill failed:")
    assert "Traceback" not in anonymous.stderr

    # The admin, its password from the environment, sets up the schema and writes.
    admin_env = {**env, "HOSIERY_INFLUX_USERNAME": ADMIN[0], "HOSIERY_INFLUX_PASSWORD": ADMIN[1]}
    done = backfill(admin_env)
    assert done.returncode == 0, done.stderr
    assert f"pairs of {MACHINES} machines" in done.stderr
    policies = q(url, "SHOW RETENTION POLICIES ON hosiery", ADMIN)
    names = {row[0] for row in policies[0]["series"][0]["values"]}
    assert {"raw", "rollup_5m", "rollup_1h", "rollup_long"} <= names
    first = park_pairs(url)
    assert first > 0

    # The collector's account may only write: the schema is there, it writes the same points.
    writer = {**env, "HOSIERY_INFLUX_PASSWORD": WRITER[1], "HOSIERY_CREATE_DATABASE": "false"}
    again = backfill(writer, "--influx-username", WRITER[0])
    assert again.returncode == 0, again.stderr
    assert park_pairs(url) == first  # the same history, the same points overwritten

    denied = backfill(writer, "--influx-username", WRITER[0], "--influx-password", "wrong")
    assert denied.returncode == 1
    assert denied.stderr.count("\n") == 1
    assert "backfill failed" in denied.stderr
