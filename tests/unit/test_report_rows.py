"""Report rows, their CSV and XLSX, the OEE adapter and the command's errors (no network)."""

import datetime as dt
import io
from pathlib import Path

import httpx
import openpyxl
import pytest

from influx.config import InfluxConfig
from influx.rollups import REASON_MS
from report.cli import main, request_of, run
from report.errors import CalendarFileError, UsageError
from report.fetch import prefer_measured, raw_hours
from report.grouping import PeriodSums
from report.oee import Oee, oee
from report.output import csv_text, xlsx_bytes
from report.periods import Period
from report.rows import COLUMNS, build_row, build_rows
from report.settings import ReportSettings

CST = dt.timezone(dt.timedelta(hours=8))
T0 = int(dt.datetime(2026, 5, 4, 6, tzinfo=CST).timestamp() * 1000)
H = 3_600_000


def group(enterprise: str = "E0001", start: int = T0, **sums: float) -> PeriodSums:
    return PeriodSums(Period(start, start + 8 * H, "06:00-14:00"), enterprise, dict(sums))


def test_a_row_has_every_column_typed() -> None:
    row = build_row(
        group(pairs=1200, running_s=20_000.0, planned_s=28_800, stopped_s_yarn_break=600.5), CST
    )
    assert len(row.values) == len(COLUMNS)
    assert row["period_start"] == dt.datetime(2026, 5, 4, 6, tzinfo=CST)
    assert row["period_end"] == dt.datetime(2026, 5, 4, 14, tzinfo=CST)
    assert (row["enterprise"], row["period"], row["pairs"]) == ("E0001", "06:00-14:00", 1200)
    assert isinstance(row["pairs"], int)
    assert (row["running_s"], row["planned_s"]) == (20_000.0, 28_800.0)
    assert row["downtime_s_yarn_break"] == 600.5
    assert row["downtime_s_other"] == 0.0
    assert row["availability"] == pytest.approx(20_000 / 28_800, abs=1e-6)
    assert (row["performance"], row["quality"], row["oee"]) == (None, None, None)


@pytest.mark.parametrize(
    ("sums", "expected"),
    [
        ({}, Oee(None, None, None, None)),
        ({"running_s": 10.0}, Oee(None, None, None, None)),  # nothing planned
        ({"running_s": 3600.0, "planned_s": 7200}, Oee(0.5, None, None, None)),
        (
            {"running_s": 3600.0, "planned_s": 7200, "pairs": 80, "nominal_pairs": 100,
             "rejects": 8},
            Oee(0.5, 0.8, 0.9, 0.5 * 0.8 * 0.9),
        ),
        ({"planned_s": 7200, "pairs": 0, "nominal_pairs": 0, "rejects": 0},
         Oee(0.0, None, None, None)),
    ],
)  # fmt: skip
def test_oee_adapter(sums: dict[str, float], expected: Oee) -> None:
    got = oee(sums)
    for a, b in zip(got, expected, strict=True):
        assert a == (None if b is None else pytest.approx(b))


def test_rows_are_ordered_by_period_then_enterprise() -> None:
    rows = build_rows([group("E2", T0 + 8 * H), group("E2"), group("E1", T0 + 8 * H)], CST)
    assert [(r["enterprise"], r["period_start"]) for r in rows] == [
        ("E2", dt.datetime(2026, 5, 4, 6, tzinfo=CST)),
        ("E1", dt.datetime(2026, 5, 4, 14, tzinfo=CST)),
        ("E2", dt.datetime(2026, 5, 4, 14, tzinfo=CST)),
    ]


def test_csv_and_xlsx_hold_the_same_values() -> None:
    rows = build_rows([group(pairs=7, running_s=1.5, planned_s=3600)], CST)
    text = csv_text(rows)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert text.splitlines()[1].startswith(
        "2026-05-04T06:00:00+08:00,2026-05-04T14:00:00+08:00,E0001,06:00-14:00,7,1.5,3600.0,"
    )
    assert text.splitlines()[1].endswith(",0.000417,,,")
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(rows, "UTC+08:00")))
    sheet = book.active
    assert sheet is not None
    header, values = list(sheet.iter_rows(values_only=True))
    assert header[0] == "period_start (UTC+08:00)"
    assert header[2:] == COLUMNS[2:]
    assert values[0] == dt.datetime(2026, 5, 4, 6, tzinfo=CST).replace(tzinfo=None)
    assert values[4] == 7
    assert values[-4:] == (0.000417, None, None, None)


def respond(status: int, body: object) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(status, json=body)))


def settings(tmp_path: Path, **extra: object) -> ReportSettings:
    return ReportSettings.model_validate({"since": "-8h", "output": tmp_path / "r.csv", **extra})


def test_bad_credentials_are_one_line_and_exit_1(tmp_path: Path) -> None:
    err = io.StringIO()
    client = respond(401, {"error": "authorization failed"})
    assert run(settings(tmp_path), client=client, err=err, now_ms=T0) == 1
    assert err.getvalue().startswith("hosiery-report: ")
    assert "refused anonymous access (HTTP 401): authorization failed" in err.getvalue()
    assert err.getvalue().count("\n") == 1
    assert not (tmp_path / "r.csv").exists()


def test_an_empty_database_gives_a_header_and_no_progress_bar_off_a_terminal(
    tmp_path: Path,
) -> None:
    err = io.StringIO()
    client = respond(200, {"results": [{"statement_id": i} for i in range(9)]})
    assert run(settings(tmp_path), client=client, err=err, now_ms=T0) == 0
    assert (tmp_path / "r.csv").read_text() == ",".join(COLUMNS) + "\n"
    assert err.getvalue() == f"hosiery-report: 0 rows written to {tmp_path / 'r.csv'}\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    err = Terminal()
    client = respond(200, {"results": [{"statement_id": i} for i in range(9)]})
    assert run(settings(tmp_path, since="-30d"), client=client, err=err, now_ms=T0) == 0
    assert "hosiery-report: reading" in err.getvalue()
    assert "6/6 steps" in err.getvalue()  # five weeks and the raw readings


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output", "r.csv"], "--since"),
        (["--since", "yesterday", "--output", "r.csv"], "'yesterday' is not a time"),
        (["--since", "-1h", "--until", "-2h", "--output", "r.csv"], "must be before"),
        (["--since", "-1h", "--by", "week", "--output", "r.csv"], "--by"),
        (["--since", "-1h", "--format", "pdf", "--output", "r.csv"], "--format"),
        (["--since", "-1h", "--format", "xlsx", "--output", "-"], "needs a file"),
        (["--since", "-1h", "--enterprise", "a b", "--output", "r.csv"], "--enterprise"),
        (["--since", "-1h", "--timezone", "Mars/Base", "--output", "r.csv"], "Mars/Base"),
        (["--since", "-1h", "--raw-recent", "soon", "--output", "r.csv"], "--raw-recent"),
        (["--since", "-1h", "--shift-calendar", "/nonexistent.toml", "--output", "r.csv"],
         "cannot read shift calendar"),
        (["--since", "-1h", "--registry", "/nonexistent.json", "--output", "r.csv"],
         "cannot read park registry"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    err = io.StringIO()
    assert main(argv, err=err) == 2
    line = err.getvalue()
    assert line.startswith("hosiery-report: ")
    assert message in line
    assert line.count("\n") == 1


def test_a_calendar_with_half_hour_shifts_is_refused_as_usage(tmp_path: Path) -> None:
    calendar = tmp_path / "c.toml"
    calendar.write_text('[patterns.p]\nwindows = ["06:30-14:30"]\n[enterprises]\nE1 = "p"\n')
    err = io.StringIO()
    s = settings(tmp_path, shift_calendar=calendar)
    assert run(s, client=respond(200, {"results": []}), err=err, now_ms=T0) == 2
    assert "E1: 06:30-14:30" in err.getvalue()
    calendar.write_text("[patterns")
    with pytest.raises(CalendarFileError, match="not valid TOML"):
        request_of(s, T0)
    with pytest.raises(UsageError):
        request_of(settings(tmp_path, until="-9h"), T0)


def test_raw_readings_are_estimated_per_machine_hour_as_the_rollups() -> None:
    # one machine, one hour: two 5-minute intervals with readings, 3 of 4 readings running,
    # 1 of 4 with a yarn break: 600 s reported, 450 s running, 150 s stopped for yarn
    def answer(request: httpx.Request) -> httpx.Response:
        tags = {"enterprise": "E1", "machine": "M1"}
        nothing = [None] * len(REASON_MS)  # no machine measures its stops
        first = {"series": [{"tags": tags, "columns": ["time", "pairs", "readings", *REASON_MS],
                             "values": [[T0, 5, 2, *nothing],
                                        [T0 + 300_000, 4, 2, *nothing]]}]}  # fmt: skip
        running = {"series": [{"tags": tags, "columns": ["time", "n"],
                               "values": [[T0, 2], [T0 + 300_000, 1]]}]}  # fmt: skip
        yarn = {"series": [{"tags": tags, "columns": ["time", "n"], "values": [[T0, 1]]}]}
        return httpx.Response(200, json={"results": [first, running, yarn, *[{}] * 6]})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    hours = raw_hours(client, InfluxConfig(), T0, T0 + H)
    fields = hours["E1"][T0]
    assert (fields["pairs"], fields["readings"], fields["reported_s"]) == (9, 4, 600)
    assert fields["running_s"] == 450
    assert fields["stopped_s_yarn_break"] == 150
    assert fields["stopped_s_other"] == 0
    assert not any(name in fields for name in REASON_MS)
    assert prefer_measured(hours)["E1"][T0]["stopped_s_yarn_break"] == 150


def test_measured_stopped_time_replaces_the_estimate_of_its_hours() -> None:
    # the same hour, the machine's counters measured 95.5 s of yarn break and 2 s of other
    def answer(request: httpx.Request) -> httpx.Response:
        tags = {"enterprise": "E1", "machine": "M1"}
        ms = dict.fromkeys(REASON_MS)
        ms["stopped_ms_yarn_break"] = 95_500
        later = dict.fromkeys(REASON_MS)
        later["stopped_ms_other"] = 2_000
        first = {"series": [{"tags": tags, "columns": ["time", "pairs", "readings", *REASON_MS],
                             "values": [[T0, 5, 2, *ms.values()],
                                        [T0 + 300_000, 4, 2, *later.values()]]}]}  # fmt: skip
        yarn = {"series": [{"tags": tags, "columns": ["time", "n"], "values": [[T0, 1]]}]}
        return httpx.Response(200, json={"results": [first, {}, yarn, *[{}] * 6]})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    fields = prefer_measured(raw_hours(client, InfluxConfig(), T0, T0 + H))["E1"][T0]
    assert fields["stopped_s_yarn_break"] == 95.5
    assert fields["stopped_s_other"] == 2.0
    assert fields["stopped_s_needle_break"] == 0.0
