import pytest
from pydantic import BaseModel

from contract.durations import Duration, parse_duration
from influx.schema import influx_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("1.5s", 1.5),
        ("10m", 600),
        ("1h", 3600),
        ("7d", 604800),
        ("250ms", 0.25),
        (" 2 h ", 7200),
        (45, 45),
        (0.5, 0.5),
    ],
)
def test_parse(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "10x", "-5", "1h30m", True])
def test_reject(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)


def test_negative_number() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)


def test_field_type() -> None:
    class Opts(BaseModel):
        idle_after: Duration

    assert Opts(idle_after="10m").idle_after == 600


@pytest.mark.parametrize(
    ("seconds", "literal"), [(604800, "1w"), (86400 * 3, "3d"), (3600 * 36, "36h"), (90, "90s")]
)
def test_influx_duration(seconds: float, literal: str) -> None:
    assert influx_duration(seconds) == literal
