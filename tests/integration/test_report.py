"""hosiery-report against a real InfluxDB: rows equal what the raw readings give.

Four machines of two enterprises report every minute for five hours up to ``NOW``; the rollups
are computed by their own statements (as ``collector.reroll`` runs them), the last hour is
left to the raw readings. Every reading stands for the minute before it, so per stop reason the
raw readings give 60 s of downtime each (as the rollups estimate it: a machine-hour of sixty
readings, five per 5-minute interval, holds 3,600 s).
"""

import csv
import datetime as dt
import io
from pathlib import Path

import httpx
import openpyxl
import pytest

from influx import rollups as r
from influx.config import InfluxConfig
from influx.lines import production_line
from influx.provision import ensure_schema
from influx.query import query, series
from influx.schema import default_schema
from influx.write import InfluxSink
from report.cli import main, run
from report.rows import COLUMNS, DOWNTIME
from report.settings import ReportSettings
from stack import InfluxServer

pytestmark = pytest.mark.integration

DB = "report"
HOUR = 3_600_000
MINUTE = 60_000
# whole 5 minutes, so that each 5-minute interval of the raw tail holds five readings
NOW = (int(dt.datetime.now(dt.UTC).timestamp() * 1000) // (5 * MINUTE) - 1) * 5 * MINUTE
START = (NOW // HOUR - 5) * HOUR
MACHINES = (("E1", "M1"), ("E1", "M2"), ("E2", "M1"), ("E2", "M2"))
REASONS = r.REASONS
# two-hour shifts with an hour off between them: every report has shifts and off-shift time
CALENDAR = (
    'timezone = "UTC"\n[patterns.short]\nwindows = [{}]\n[enterprises]\nE1 = "short"\n'.format(
        ", ".join(f'"{h:02d}:00-{h + 2:02d}:00"' for h in range(0, 24, 3))
    )
)


def reading(i: int, machine: int) -> tuple[str, str | None, int]:
    """(state, reason, pairs) of the ``i``-th minute of a machine: mostly running."""
    k = (i * 7 + machine * 3) % 20
    if k < 13:
        return "running", None, 2 + (i + machine) % 3
    if k < 13 + len(REASONS):
        return "idle", REASONS[k - 13], 0
    return "off", None, 0


@pytest.fixture(scope="module")
def config(influx: InfluxServer) -> InfluxConfig:
    config = InfluxConfig(url=influx.url, database=DB)
    lines = []
    for number, (enterprise, machine) in enumerate(MACHINES):
        total = 0
        for i, ts in enumerate(range(START, NOW, MINUTE)):
            state, reason, pairs = reading(i, number)
            total += pairs
            line = production_line(
                enterprise, machine, ts, i, "b", pairs, total, state, None, None, reason=reason
            )
            lines.append(line)
    # the collector's planned time: two machines of E1 in its shifts, E2 around the clock
    for hour in range(START, NOW, HOUR):
        planned = 7200 if (hour // HOUR % 24) % 3 != 2 else 0
        lines.append(f"{r.ENTERPRISE_1H},enterprise=E1 planned_s={planned}i {hour}000000")
        lines.append(f"{r.ENTERPRISE_1H},enterprise=E2 planned_s=7200i {hour}000000")
    with httpx.Client() as client:
        ensure_schema(client, config, default_schema(DB))
        with InfluxSink(config.model_copy(update={"retention_policy": None}), client) as sink:
            raw = [line for line in lines if line.startswith("production")]
            assert sink.write(raw).error is None
        with InfluxSink(config.model_copy(update={"retention_policy": r.LONG_POLICY}), client) as s:
            planned = [line for line in lines if not line.startswith("production")]
            assert s.write(planned).error is None
        # the rollups of every hour but the last (which the report reads from raw)
        for statement in r.backfill_statements(
            DB, START * 10**6, (NOW // HOUR - 1) * HOUR * 10**6, 0
        ):
            query(client, config, statement, database=DB)
    return config


def make(config: InfluxConfig, tmp_path: Path, by: str, fmt: str = "csv") -> Path:
    output = tmp_path / f"report-{by}.{fmt}"
    settings = ReportSettings(
        since=str(START), until=str(NOW), by=by, format=fmt, output=output,
        shift_calendar=tmp_path / "calendar.toml", influx_url=config.url, influx_db=DB,
    )  # fmt: skip
    (tmp_path / "calendar.toml").write_text(CALENDAR)
    err = io.StringIO()
    assert run(settings, now_ms=NOW, err=err) == 0, err.getvalue()
    return output


def raw_sum(config: InfluxConfig, expression: str, where: str) -> float:
    with httpx.Client() as client:
        found = series(
            client,
            config,
            f'SELECT {expression} FROM "{DB}"."raw"."production" WHERE {where}',
            database=DB,
        )
    return float(found[0]["values"][0][1] or 0) if found else 0.0


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize("by", ["shift", "day"])
def test_every_row_equals_the_raw_readings_of_its_period(
    config: InfluxConfig, tmp_path: Path, by: str
) -> None:
    rows = list(csv.DictReader(make(config, tmp_path, by).read_text().splitlines()))
    assert {row["enterprise"] for row in rows} == {"E1", "E2"}
    if by == "shift":
        assert {row["period"] for row in rows if row["enterprise"] == "E1"} >= {"off-shift"}
        assert {row["period"] for row in rows if row["enterprise"] == "E2"} == {"day"}
    total = 0
    for row in rows:
        start, end = ms(row["period_start"]), ms(row["period_end"])
        where = f"time >= {start}ms AND time < {end}ms AND \"enterprise\" = '{row['enterprise']}'"
        pairs = raw_sum(config, 'SUM("pairs")', where)
        assert int(row["pairs"]) == pairs, row
        total += int(row["pairs"])
        for reason, column in zip(REASONS, DOWNTIME, strict=True):
            readings = raw_sum(config, 'COUNT("pairs")', f"\"reason\" = '{reason}' AND {where}")
            assert float(row[column]) == pytest.approx(readings * 60), (column, row)
        running = raw_sum(config, 'COUNT("pairs")', f"\"state\" = 'running' AND {where}")
        assert float(row["running_s"]) == pytest.approx(running * 60)
        if float(row["planned_s"]):
            expected = float(row["running_s"]) / float(row["planned_s"])
            assert float(row["availability"]) == pytest.approx(expected, abs=1e-6)
        assert (row["performance"], row["quality"], row["oee"]) == ("", "", "")
    # nothing lost: the rows hold every pair of the window
    assert total == raw_sum(config, 'SUM("pairs")', f"time >= {START}ms AND time < {NOW}ms")
    # the current period ends now
    assert max(ms(row["period_end"]) for row in rows) == NOW


def test_xlsx_holds_the_csv_numbers_as_typed_cells(config: InfluxConfig, tmp_path: Path) -> None:
    rows = list(csv.reader(make(config, tmp_path, "shift").read_text().splitlines()))
    book = openpyxl.load_workbook(make(config, tmp_path, "shift", "xlsx"))
    sheet = book.active
    assert sheet is not None
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [c.split(" (")[0] for c in cells[0]] == list(COLUMNS) == rows[0]
    assert len(cells) == len(rows) > 1
    for text, typed in zip(rows[1:], cells[1:], strict=True):
        for column, a, b in zip(COLUMNS, text, typed, strict=True):
            if column.startswith("period_"):
                assert isinstance(b, dt.datetime)
                assert b == dt.datetime.fromisoformat(a).replace(tzinfo=None)
            elif column in ("enterprise", "period"):
                assert b == a
            elif a == "":
                assert b is None
            else:
                assert isinstance(b, int | float)
                assert b == pytest.approx(float(a))
    assert isinstance(cells[1][COLUMNS.index("pairs")], int)


def test_unreachable_influxdb_is_one_line_and_exit_1(tmp_path: Path) -> None:
    err = io.StringIO()
    argv = ["--since", "-24h", "--output", str(tmp_path / "r.csv"),
            "--influx-url", "http://127.0.0.1:9", "--influx-timeout", "2s"]  # fmt: skip
    assert main(argv, err=err) == 1
    assert err.getvalue().startswith("hosiery-report: ")
    assert err.getvalue().count("\n") == 1
    assert not (tmp_path / "r.csv").exists()
