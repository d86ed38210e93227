import importlib.util

import pytest
from pydantic import BaseModel

from admin.settings import load_settings as admin_settings
from contract.durations import Duration, parse_duration
from influx.schema import influx_duration
from simulators.errors import ParameterError
from simulators.settings import load_settings as sim_run_settings
from stack.cli import parse_args as stack_args
from stack.top import build_parser as top_parser
from stack.top_settings import TopSettings


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


# -- one syntax in every command -------------------------------------------------------------------


def test_every_duration_option_of_hosiery_stack_takes_the_syntax() -> None:
    args = stack_args(
        [
            "run",
            "--duration",
            "2h",
            "--refresh",
            "5s",
            "--status-interval",
            "1m",
            "--interval",
            "90",
        ]
    )
    assert (args.duration, args.refresh, args.status_interval, args.interval) == (
        7200,
        5,
        60,
        90,
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--duration", "10x", "is not a duration"),
        ("--refresh", "2h", "at most 3600s"),
        ("--status-interval", "0.1s", "at least 0.2s"),
    ],
)
def test_a_bad_duration_of_hosiery_stack_is_a_usage_error(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        stack_args(["run", option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err
    assert message in err


def test_hosiery_top_takes_durations_from_options_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSIERY_TOP_WINDOW", "1h")
    options = vars(top_parser().parse_args(["--refresh", "2s"]))
    settings = TopSettings(**{k: v for k, v in options.items() if v is not None})
    assert (settings.refresh, settings.window) == (2, 3600)


def test_hosiery_sim_run_takes_durations_from_options_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSIERY_SIM_SHUTDOWN_TIMEOUT", "2m")
    settings = sim_run_settings(
        {
            "interval": "10s",
            "duration": "7d",
            "fault_gateway_downtime": "5m",
            "connect_timeout": "90",
        }
    )
    assert settings.interval == 10
    assert settings.duration == 7 * 86400
    assert settings.fault_gateway_downtime == 300
    assert (settings.connect_timeout, settings.shutdown_timeout) == (90, 120)
    with pytest.raises(ParameterError, match="duration"):
        sim_run_settings({"interval": "10 parsecs"})


def test_hosiery_admin_takes_the_raw_retention_as_a_duration() -> None:
    assert admin_settings({"raw_retention": "30d"}).raw_retention == 30 * 86400


def test_the_collector_owns_no_copy_of_the_syntax() -> None:
    assert importlib.util.find_spec("collector.durations") is None
