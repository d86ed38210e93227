"""Hours owed a re-roll: bookkeeping, persistence, and the re-roller's passes (no network)."""

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collector.errors import StateError
from collector.late import FILE, HOUR_MS, LATE_MS, LateHours, late_hours
from collector.metrics import CollectorMetrics
from collector.rerolling import Reroller
from influx.errors import InfluxQueryError
from influx.rollups import HOUR_NS, hour_statements, rollups

H0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
AFTER = 300_000


def owed(tmp_path: Path) -> LateHours:
    return LateHours(tmp_path, AFTER, fsync=False)


def test_an_hour_is_due_reroll_after_its_first_late_write(tmp_path: Path) -> None:
    hours = owed(tmp_path)
    assert hours.record([H0 + 5, H0 + 1_000], now_ms=H0 + 4 * HOUR_MS)
    assert not hours.record([H0 + 7], now_ms=H0 + 4 * HOUR_MS + 60_000)  # already owed
    assert hours.take(H0 + 4 * HOUR_MS + AFTER - 1, 10) == []
    assert hours.take(H0 + 4 * HOUR_MS + AFTER, 10) == [H0]
    assert hours.take(H0 + 4 * HOUR_MS + AFTER, 10) == []  # taken, not yet paid
    hours.paid([H0], H0 + 5 * HOUR_MS)
    assert len(hours) == 0


def test_oldest_first_and_at_most_the_limit(tmp_path: Path) -> None:
    hours = owed(tmp_path)
    hours.record([H0 + 3 * HOUR_MS, H0, H0 + HOUR_MS], now_ms=H0)
    assert hours.take(H0 + AFTER, 2) == [H0, H0 + HOUR_MS]
    assert hours.take(H0 + AFTER, 2) == [H0 + 3 * HOUR_MS]


def test_late_data_written_while_its_hour_is_rolled_up_is_owed_again(tmp_path: Path) -> None:
    hours = owed(tmp_path)
    hours.record([H0], now_ms=H0)
    assert hours.take(H0 + AFTER, 5) == [H0]
    hours.record([H0 + 10], now_ms=H0 + AFTER + 1)  # during the re-roll
    hours.paid([H0], H0 + AFTER + 2)
    assert hours.take(H0 + AFTER + 2, 5) == []
    assert hours.take(H0 + 2 * AFTER + 2, 5) == [H0]


def test_a_failed_reroll_leaves_the_hour_owed(tmp_path: Path) -> None:
    hours = owed(tmp_path)
    hours.record([H0], now_ms=H0)
    assert hours.take(H0 + AFTER, 5) == [H0]
    hours.failed([H0])
    assert hours.take(H0 + AFTER, 5) == [H0]


def test_hours_owed_survive_a_restart(tmp_path: Path) -> None:
    hours = owed(tmp_path)
    hours.record([H0, H0 + HOUR_MS], now_ms=H0)
    hours.take(H0 + AFTER, 1)
    hours.paid([H0], H0 + AFTER)
    again = owed(tmp_path)
    again.load()
    assert again.take(H0 + AFTER, 5) == [H0 + HOUR_MS]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no leftovers


def test_no_file_is_no_hour_owed(tmp_path: Path) -> None:
    hours = owed(tmp_path)
    hours.load()
    assert len(hours) == 0


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"version": 9, "due": {}}', b'{"due": []}', b"[]"]
)
def test_an_unreadable_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / FILE).write_bytes(content)
    with pytest.raises(StateError, match=FILE):
        owed(tmp_path).load()


def test_a_file_that_cannot_be_written_is_a_state_error(tmp_path: Path) -> None:
    hours = LateHours(tmp_path / "missing", AFTER, fsync=False)
    with pytest.raises(StateError, match="cannot write"):
        hours.record([H0], now_ms=H0)


@pytest.mark.parametrize(
    ("fresh", "written", "expected"),
    [
        pytest.param(H0 + 10, H0 + 60_000, [], id="a quick write: nothing more"),
        pytest.param(H0 + 10, H0 + LATE_MS + 60_000, [H0], id="a slow write: its hour"),
        pytest.param(
            H0 - 2 * HOUR_MS,
            H0 + LATE_MS + 1,
            [H0 - 2 * HOUR_MS, H0 - HOUR_MS, H0],
            id="InfluxDB down for two hours",
        ),
        pytest.param(2**62, H0 + LATE_MS, [], id="no fresh reading"),
    ],
)
def test_late_hours_of_a_slow_write(fresh: int, written: int, expected: list[int]) -> None:
    assert list(late_hours(fresh, written)) == expected


def test_hour_statements_merge_neighbours_level_by_level() -> None:
    h = H0 * 1_000_000
    levels = hour_statements("db", [h + 5, h + HOUR_NS, h + 5 * HOUR_NS])
    assert len(levels) == len(rollups())
    hourly = [f"time >= {h} AND time < {h + 2 * HOUR_NS}", f"time >= {h + 5 * HOUR_NS}"]
    for statements, rollup in zip(levels, rollups(), strict=True):
        if rollup.interval == "1d":
            # 00:00Z is 08:00 park time: one park-local day from 16:00Z the day before
            assert len(statements) == 1
            assert f"time >= {h - 8 * HOUR_NS} AND time < {h + 16 * HOUR_NS}" in statements[0]
        else:
            assert len(statements) == 2
            assert all(part in s for part, s in zip(hourly, statements, strict=True))
        assert all(s.startswith(rollup.select("db").split(" GROUP BY")[0]) for s in statements)


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms * 1_000_000


def reroller(
    tmp_path: Path, run: list[str], clock: Clock, *, fail: bool = False, per_minute: int = 2
) -> tuple[Reroller, LateHours, CollectorRegistry]:
    hours = owed(tmp_path)
    registry = CollectorRegistry()
    metrics = CollectorMetrics(registry)

    def execute(statement: str) -> None:
        if fail:
            raise InfluxQueryError("refused")
        run.append(statement)

    return (
        Reroller(hours, execute, "db", metrics=metrics, hours_per_minute=per_minute, clock=clock),
        hours,
        registry,
    )


def sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(f"hosiery_collector_{name}")


def test_the_reroller_runs_every_level_in_order_within_its_budget(tmp_path: Path) -> None:
    run: list[str] = []
    clock = Clock(H0)
    job, hours, metrics = reroller(tmp_path, run, clock)
    hours.record([H0 - 10 * HOUR_MS, H0 - 8 * HOUR_MS, H0 - 6 * HOUR_MS], now_ms=H0)
    assert job.run_once() == 0  # not due yet
    clock.ms += AFTER
    assert job.run_once() == 2  # two hours a minute
    targets = [s.split(" INTO ")[1].split(" ")[0] for s in run]
    order = [f'"db"."{x.target_policy}"."{x.target}"' for x in rollups()]
    assert sorted(set(targets), key=order.index) == list(dict.fromkeys(targets))  # level by level
    assert job.run_once() == 0  # budget spent
    clock.ms += 60_000
    assert job.run_once() == 1
    assert len(hours) == 0
    assert sample(metrics, "reroll_hours_owed") == 0
    assert sample(metrics, "reroll_hours_total") == 3


def test_a_failing_reroll_keeps_its_hours_owed_and_is_counted(tmp_path: Path) -> None:
    clock = Clock(H0)
    job, hours, metrics = reroller(tmp_path, [], clock, fail=True)
    hours.record([H0 - 10 * HOUR_MS], now_ms=H0 - AFTER)
    assert job.run_once() == 1
    assert len(hours) == 1
    assert sample(metrics, "reroll_failures_total") == 1
    assert hours.take(H0, 5) == [H0 - 10 * HOUR_MS]
