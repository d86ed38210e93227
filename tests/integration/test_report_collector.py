"""hosiery-report of the current shift, from readings the collector has just written.

Real Mosquitto, InfluxDB and collector (with a registry, so it writes the planned time): the
shift running now is reported exactly up to now, from the raw readings the rollups have not
finished yet.
"""

import csv
import datetime as dt
import io
import time
from pathlib import Path

import httpx
import orjson
import pytest

from influx.config import InfluxConfig
from influx.query import series
from influx.rollups import REASONS
from report.cli import run
from report.settings import ReportSettings
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import running_collector, settings_for
from tests.support.mqtt import publisher
from tests.support.sim import SimRun

pytestmark = pytest.mark.integration

ENTERPRISE = "R0001"
MACHINES = ("M001", "M002")
REGISTRY = {
    "utc_offset_hours": 0,
    "shifts": [{"name": "two", "windows": [[0, 12], [12, 24]], "workdays": list(range(7))}],
    "enterprises": [{"id": ENTERPRISE, "shift": "two", "machines": [{"id": m} for m in MACHINES]}],
}
STATES = (("running", None), ("running", None), ("idle", "yarn_break"), ("fault", "needle_break"))


def raw(
    config: InfluxConfig,
    expression: str,
    where: str,
    policy: str = "raw",
    measurement: str = "production",
) -> float:
    with httpx.Client() as client:
        found = series(
            client,
            config,
            f'SELECT {expression} FROM "{policy}"."{measurement}" WHERE {where}',
            database=config.database,
            missing_ok=True,
        )
    return float(found[0]["values"][0][1] or 0) if found else 0.0


def test_the_current_shift_equals_the_raw_readings_up_to_now(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    registry.write_bytes(orjson.dumps(REGISTRY))
    settings = settings_for(mosquitto, influx, tmp_path / "state", registry=registry)
    config = InfluxConfig(url=influx.url, database=settings.influx_db)
    now = time.time_ns() // 1_000_000
    # a reading a minute for the last 20 minutes (within the shift running now, or the one
    # before it just after 00:00 and 12:00: the report covers both)
    first = now - 20 * 60_000
    sent = 0
    with running_collector(settings), publisher(mosquitto) as client:
        for number, machine in enumerate(MACHINES):
            total = 0
            for seq in range(20):
                state, reason = STATES[(seq + number) % len(STATES)]
                total += 3 if state == "running" else 0
                body = {"ts": first + seq * 60_000, "seq": seq, "boot": "b1",
                        "pairs_total": total, "state": state, "reason": reason}  # fmt: skip
                topic = f"hosiery/v1/{ENTERPRISE}/{machine}/counter"
                client.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)
                sent += 1
        wait_until(
            lambda: raw(config, 'COUNT("pairs")', "time > 0") == sent,
            20,
            what="every reading in raw",
        )
        # the collector's planned time of the hour so far (written at start)
        wait_until(
            lambda: raw(config, 'SUM("planned_s")', "time > 0", "rollup_long", "enterprise_1h"),
            20,
            what="planned time written",
        )
    output = tmp_path / "shift.csv"
    report = ReportSettings(
        since="-20m", by="shift", output=output, registry=registry,
        influx_url=influx.url, influx_db=settings.influx_db,
    )  # fmt: skip
    err = io.StringIO()
    until = time.time_ns() // 1_000_000
    assert run(report, now_ms=until, err=err) == 0, err.getvalue()
    rows = list(csv.DictReader(output.read_text().splitlines()))
    assert rows
    assert {row["enterprise"] for row in rows} == {ENTERPRISE}
    assert {row["period"] for row in rows} <= {"00:00-12:00", "12:00-24:00"}
    for row in rows:
        start = int(dt.datetime.fromisoformat(row["period_start"]).timestamp() * 1000)
        end = int(dt.datetime.fromisoformat(row["period_end"]).timestamp() * 1000)
        where = f"time >= {start}ms AND time < {end}ms"
        assert int(row["pairs"]) == raw(config, 'SUM("pairs")', where)
        for reason in ("yarn_break", "needle_break"):
            readings = raw(config, 'COUNT("pairs")', f"\"reason\" = '{reason}' AND {where}")
            assert (float(row[f"downtime_s_{reason}"]) > 0) == (readings > 0)
    assert sum(int(row["pairs"]) for row in rows) == raw(config, 'SUM("pairs")', "time > 0") > 0
    assert max(int(dt.datetime.fromisoformat(r["period_end"]).timestamp() * 1000)
               for r in rows) == until  # fmt: skip
    # the collector planned the shift: two machines, so availability is a ratio of it
    current = rows[-1]
    assert float(current["planned_s"]) > 0
    assert current["availability"] != ""


def test_a_simulator_run_reports_its_true_pairs_and_downtime_per_reason(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    """A simulator run with stop reasons and every reading fault (drops, duplicates,
    reordering, reboots) through the real collector: hosiery-report's rows add up to the
    simulator's truth, pairs and seconds stopped per reason (its machines measure them)."""
    settings = settings_for(mosquitto, influx, tmp_path / "state")
    config = InfluxConfig(url=influx.url, database=settings.influx_db)
    with running_collector(settings):
        sim = SimRun(mosquitto, tmp_path, machines=60, duration=8, seed=21)
        pairs = sum(sim.wait().values())
        wait_until(
            lambda: raw(config, 'SUM("pairs")', "time > 0") == pairs,
            60,
            what="the run's pairs in raw",
        )
    truth = sim.truth_file()
    stopped = {reason: truth["stopped_ms"].get(reason, 0) / 1000 for reason in REASONS}
    assert sum(1 for seconds in stopped.values() if seconds) >= 3, stopped
    output = tmp_path / "run.csv"
    report = ReportSettings(
        since="-30m", by="day", output=output,
        influx_url=influx.url, influx_db=settings.influx_db,
    )  # fmt: skip
    err = io.StringIO()
    assert run(report, now_ms=time.time_ns() // 1_000_000, err=err) == 0, err.getvalue()
    rows = list(csv.DictReader(output.read_text().splitlines()))
    assert sum(int(row["pairs"]) for row in rows) == truth["total_pairs"] == pairs
    reported = {r: sum(float(row[f"downtime_s_{r}"]) for row in rows) for r in REASONS}
    assert reported == pytest.approx(stopped, abs=1e-6)
