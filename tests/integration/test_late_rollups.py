"""Late readings reach every rollup level by themselves, against real Mosquitto and InfluxDB.

A gateway delivers readings taken three hours ago: the continuous queries no longer recompute
those hours (their ``RESAMPLE FOR`` is 15 minutes to 2 hours), so only the collector's own
re-roll of the hours it wrote late into can bring them to the rollups.
"""

import time
from pathlib import Path

import orjson
import pytest

from influx import rollups as r
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import metric, running_collector, settings_for
from tests.support.influx import query
from tests.support.mqtt import publisher

pytestmark = pytest.mark.integration

REROLL_AFTER_S = 3.0
LEVELS = (
    (r.FIVE_MIN_POLICY, r.MACHINE_5M),
    (r.FIVE_MIN_POLICY, r.PARK_5M),
    (r.HOURLY_POLICY, r.MACHINE_1H),
    (r.LONG_POLICY, r.ENTERPRISE_1H),
    (r.LONG_POLICY, r.PARK_1H),
    (r.LONG_POLICY, r.ENTERPRISE_1D),
)


def total(influx: InfluxServer, db: str, policy: str, measurement: str) -> int:
    rows = query(influx.url, db, f'SELECT SUM("pairs") FROM "{db}"."{policy}"."{measurement}"')
    return int(rows[0]["values"][0][1]) if rows else 0


def test_readings_three_hours_late_reach_every_rollup_level(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto, influx, tmp_path / "state", reroll_after=REROLL_AFTER_S)
    db = settings.influx_db
    topic = "hosiery/v1/E0042/M007/counter"
    # a reading a minute over 40 minutes, three hours ago or more, across an hour boundary
    boundary = (int(time.time() * 1000) - 3 * 3_600_000) // 3_600_000 * 3_600_000
    start = boundary - 20 * 60_000
    with running_collector(settings) as collector, publisher(mosquitto) as client:
        for seq in range(40):
            body = {"ts": start + seq * 60_000, "seq": seq, "boot": "b1",
                    "pairs_total": seq * 3, "state": "running"}  # fmt: skip
            client.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)
        wait_until(
            lambda: total(influx, db, r.RAW_POLICY, r.PRODUCTION) == 39 * 3,
            15,
            what="the late readings in raw",
        )
        assert metric(collector, "hosiery_collector_reroll_hours_owed") >= 0
        levels = {f"{p}.{m}": 0 for p, m in LEVELS}

        def rolled_up() -> bool:
            for policy, measurement in LEVELS:
                levels[f"{policy}.{measurement}"] = total(influx, db, policy, measurement)
            return set(levels.values()) == {39 * 3}

        try:
            wait_until(rolled_up, REROLL_AFTER_S + 60, interval=1.0, what="every level")
        except TimeoutError:
            raise AssertionError(f"pairs per rollup level: {levels}, raw 117") from None
        assert metric(collector, "hosiery_collector_reroll_hours_total") >= 2
        wait_until(
            lambda: metric(collector, "hosiery_collector_reroll_hours_owed") == 0,
            15,
            what="no hour owed any more",
        )
    assert (tmp_path / "state" / "late-hours.json").exists()
