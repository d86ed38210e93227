"""``hosiery-sim backfill``: every level adds up, the history is deterministic for a seed."""

import gzip
import threading
from collections import Counter, defaultdict
from urllib.parse import parse_qs

import httpx
import pytest

from influx.config import WRITE_PATH, InfluxConfig
from influx.rollups import ENTERPRISE_1D, ENTERPRISE_1H, MACHINE_1H, PARK_1H, PARK_5M
from simulators.backfill import Backfill, BackfillConfig, BackfillSummary
from simulators.params import DEFAULT_PARK
from simulators.park import build_park
from simulators.shifts import WorkCalendar
from simulators.state_timer import counts

MACHINES = 150
END_S = 1_780_000_000  # a Thursday in May 2026, 20:26 UTC (rounded down to 20:00)
STATES = ("running", "idle", "fault", "maintenance", "off")

Point = dict[str, int | float]


class Recorder:
    """An InfluxDB /write endpoint that keeps every point: (measurement, tags, time) -> fields."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str, int], Point] = {}
        self.bodies = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == WRITE_PATH
        assert request.headers["Content-Encoding"] == "gzip"
        rp = parse_qs(request.url.query.decode())["rp"][0]
        body = gzip.decompress(request.content).decode()
        with self._lock:
            self.bodies += 1
            for line in body.split("\n"):
                key, fields, time_ns = line.split(" ")
                measurement, _, tags = key.partition(",")
                point: Point = {}
                for item in fields.split(","):
                    name, value = item.split("=")
                    point[name] = int(value[:-1]) if value.endswith("i") else float(value)
                where = (f"{rp}.{measurement}", tags, int(time_ns) // 1_000_000_000)
                assert where not in self.points, f"written twice: {where}"
                self.points[where] = point
        return httpx.Response(204)

    def series(self, measurement: str) -> dict[tuple[str, int], Point]:
        return {
            (tags, t): point
            for (name, tags, t), point in self.points.items()
            if name.endswith(f".{measurement}")
        }


def backfill(
    seed: int = 5, days: float = 3, machine_hours: int = 5
) -> tuple[Recorder, BackfillSummary]:
    recorder = Recorder()
    config = BackfillConfig(
        influx=InfluxConfig(url="http://influx.test:8086", database="hosiery"),
        days=days,
        seed=seed,
        machines=MACHINES,
        end_s=END_S,
        machine_hours=machine_hours,
        create_schema=False,
    )
    summary = Backfill(config, transport=httpx.MockTransport(recorder)).run()
    return recorder, summary


@pytest.fixture(scope="module")
def written() -> tuple[Recorder, BackfillSummary]:
    return backfill()


def test_every_enterprise_hour_of_the_range_is_written_once(
    written: tuple[Recorder, BackfillSummary],
) -> None:
    recorder, summary = written
    park = build_park(seed=5, machines=MACHINES)
    hours = range(summary.start_s, summary.end_s, 3600)
    assert summary.end_s == END_S // 3600 * 3600
    assert len(hours) == 72
    e1h = recorder.series(ENTERPRISE_1H)
    assert set(e1h) == {(f"enterprise={e.id}", h) for e in park.enterprises for h in hours}
    assert summary.points[ENTERPRISE_1H] == len(e1h)
    assert set(recorder.series(PARK_1H)) == {("", h) for h in hours}
    assert len(recorder.series(MACHINE_1H)) == MACHINES * 5
    assert len(recorder.series(PARK_5M)) == 5 * 12


def test_readings_add_up_and_planned_time_follows_the_calendar(
    written: tuple[Recorder, BackfillSummary],
) -> None:
    recorder, _ = written
    park = build_park(seed=5, machines=MACHINES)
    calendars = {s.name: WorkCalendar(s, DEFAULT_PARK.calendar) for s in DEFAULT_PARK.shifts}
    by_id = {e.id: e for e in park.enterprises}
    running = 0
    for (tags, hour), point in recorder.series(ENTERPRISE_1H).items():
        enterprise = by_id[tags.removeprefix("enterprise=")]
        n = len(enterprise.machines)
        staffed = calendars[enterprise.shift.name].on_seconds(hour, hour + 3600)
        assert point["machines"] == n
        assert point["readings"] == 360 * n
        assert sum(point[s] for s in STATES) == point["readings"]
        assert point["planned_s"] == round(staffed) * n
        assert point["off"] == pytest.approx((3600 - staffed) * n / 10, abs=1)
        if not staffed:
            assert point["pairs"] == 0
        running += int(point["running"])
    assert running > 0


def test_days_and_park_hours_are_the_sums_of_the_enterprise_hours(
    written: tuple[Recorder, BackfillSummary],
) -> None:
    recorder, summary = written
    e1h = recorder.series(ENTERPRISE_1H)
    hours: defaultdict[int, Counter[str]] = defaultdict(Counter)
    days: defaultdict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for (tags, hour), point in e1h.items():
        day = (hour + 8 * 3600) // 86400 * 86400 - 8 * 3600  # park-local midnight
        for name, value in point.items():
            hours[hour][name] += int(value)
            if name != "machines":
                days[(tags, day)][name] += int(value)
    park = {h: dict(p) for (_, h), p in recorder.series(PARK_1H).items()}
    assert park == {h: dict(c) for h, c in hours.items()}
    assert recorder.series(ENTERPRISE_1D) == {k: dict(c) for k, c in days.items()}
    assert summary.pairs == sum(int(p["pairs"]) for p in park.values()) > 0


def test_a_seed_gives_the_same_history_and_another_seed_another() -> None:
    first, _ = backfill(seed=11, days=2, machine_hours=1)
    again, _ = backfill(seed=11, days=2, machine_hours=1)
    other, _ = backfill(seed=12, days=2, machine_hours=1)
    assert first.points == again.points
    assert first.series(ENTERPRISE_1H) != other.series(ENTERPRISE_1H)


def test_counts_are_within_one_of_the_exact_value_and_add_up() -> None:
    seconds = [1234.5, 17.0, 3.2, 0.0, 2345.3]
    got = counts(seconds, 10.0)
    assert sum(got) == round(sum(seconds) / 10.0)
    assert all(abs(c - s / 10.0) < 1 for c, s in zip(got, seconds, strict=True))
