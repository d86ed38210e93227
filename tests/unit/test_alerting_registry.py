"""The park registry as the collector reads it: the simulator's file, edits, clear errors."""

import datetime as dt
from pathlib import Path

import orjson
import pytest

from collector.alerting.calendar import ParkCalendar
from collector.alerting.registry import load_registry, parse_registry
from collector.errors import RegistryError
from simulators.park import build_park
from simulators.registry import write_registry


def test_reads_the_simulators_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    park = build_park(seed=3, machines=400)
    write_registry(path, park)
    registry = load_registry(path)
    assert registry.machine_count == 400
    assert set(registry.enterprises) == {e.id for e in park.enterprises}
    first = park.enterprises[0]
    machine = first.machines[0]
    assert registry.style(first.id, machine.id) == machine.style.name
    pattern = registry.patterns[first.id]
    assert pattern.name == first.shift.name
    assert pattern.tz.utcoffset(None) == dt.timedelta(hours=8)
    assert {h.name for h in registry.holidays} == {"spring-festival", "labour-day", "national-day"}
    calendar = ParkCalendar(
        registry_patterns=registry.patterns, registry_holidays=registry.holidays
    ).for_enterprise(first.id)
    assert calendar is not None
    labour_day = int(dt.datetime(2026, 5, 2, 12, tzinfo=pattern.tz).timestamp() * 1000)
    assert not calendar.working(labour_day)


def test_minimal_hand_written_registry() -> None:
    registry = parse_registry(b'{"enterprises": [{"id": "E1", "machines": [{"id": "M1"}]}]}')
    assert registry.enterprises == {"E1": {"M1": None}}
    assert registry.patterns == {}
    assert registry.holidays == ()


def minimal(**changes: object) -> bytes:
    data: dict[str, object] = {
        "version": 1,
        "shifts": [{"name": "day", "windows": [[8.0, 18.0]], "workdays": [0, 1, 2, 3, 4]}],
        "enterprises": [
            {"id": "E1", "shift": "day", "machines": [{"id": "M1"}, {"id": "M2"}]},
            {"id": "E2", "machines": []},
        ],
    }
    data.update(changes)
    return orjson.dumps(data)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "Input should be an object"),
        (b"{}", "enterprises: Field required"),
        (minimal(version=2), "version 2 is not supported (only 1)"),
        (
            minimal(enterprises=[{"id": "E 1", "machines": []}]),
            "enterprises[0].id: String should match pattern",
        ),
        (
            minimal(enterprises=[{"id": "E1", "machines": [{"id": "M1"}, {"id": "M1"}]}]),
            "enterprises[0].machines[1].id: machine 'M1' is listed twice in enterprise E1",
        ),
        (
            minimal(enterprises=[{"id": "E1"}, {"id": "E1"}]),
            "enterprises[1].id: enterprise 'E1' is listed twice",
        ),
        (
            minimal(enterprises=[{"id": "E1", "shift": "night"}]),
            "enterprises[0].shift: shift 'night' of enterprise E1 is not one of the registry's",
        ),
        (
            minimal(shifts=[{"name": "day", "windows": [[18.0, 8.0]], "workdays": [0]}]),
            "shifts[0]: windows must be sorted, disjoint hour ranges",
        ),
        (
            minimal(shifts=[{"name": "day", "windows": [[8.0, 18.0]], "workdays": [7]}]),
            "shifts[0].workdays[0]: Input should be less than or equal to 6",
        ),
        (
            minimal(holidays=[{"name": "x", "month": 13, "day": 1}]),
            "holidays[0].month: Input should be less than or equal to 12",
        ),
        (minimal(utc_offset_hours=20), "utc_offset_hours: Input should be less than or equal"),
    ],
)
def test_errors_name_the_problem_and_where(tmp_path: Path, raw: bytes, message: str) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(raw)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    text = str(caught.value)
    assert message in text
    assert text.startswith(f"park registry {path}: ")
    assert "\n" not in text


def test_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"cannot read park registry .*No such file"):
        load_registry(tmp_path / "nope.json")
