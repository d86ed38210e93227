"""``hosiery-sim backfill`` on the command line: InfluxDB credentials as the collector takes
them (options over ``HOSIERY_*``), a progress bar on a terminal, one line per step elsewhere."""

import io

import httpx
import pytest
from rich.console import Console

from influx.config import InfluxConfig
from simulators.backfill import Backfill, BackfillConfig, run_backfill
from simulators.backfill_settings import load_backfill_settings
from simulators.cli import main
from simulators.errors import ParameterError
from simulators.progress import BarProgress, LineProgress
from tests.unit.test_sim_backfill import END_S, Recorder


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os  # noqa: PLC0415 - only to list the variables

    for name in list(os.environ):
        if name.startswith("HOSIERY_"):
            monkeypatch.delenv(name)


def test_credentials_come_from_the_collectors_variables_and_options_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSIERY_INFLUX_URL", "http://influx.test:8086")
    monkeypatch.setenv("HOSIERY_INFLUX_USERNAME", "writer")
    monkeypatch.setenv("HOSIERY_INFLUX_PASSWORD", "from-env")
    monkeypatch.setenv("HOSIERY_CREATE_DATABASE", "false")
    monkeypatch.setenv("HOSIERY_SIM_SEED", "7")
    settings = load_backfill_settings({"days": 2, "influx_username": "admin", "scale": None})
    config = settings.influx_config()
    assert config.url == "http://influx.test:8086"
    assert config.username == "admin"
    assert config.password is not None
    assert config.password.get_secret_value() == "from-env"
    assert config.headers()["Authorization"].startswith("Basic ")
    assert settings.create_database is False
    assert settings.seed == 7
    monkeypatch.delenv("HOSIERY_INFLUX_USERNAME")
    monkeypatch.delenv("HOSIERY_INFLUX_PASSWORD")
    monkeypatch.setenv("HOSIERY_INFLUX_TOKEN", "t0ken")
    config = load_backfill_settings({"days": 2}).influx_config()
    assert config.headers() == {"Authorization": "Token t0ken"}


def test_token_and_username_together_are_one_clear_error() -> None:
    settings = load_backfill_settings({"days": 1, "influx_username": "a", "influx_token": "t"})
    with pytest.raises(ParameterError, match="either a token or a username"):
        settings.influx_config()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backfill"], "--days: Field required"),
        (["backfill", "--days", "0"], "--days: Input should be greater than 0"),
        (["backfill", "--days", "1", "--influx-url", "ftp://x"], "not an http:// or https://"),
        (["backfill", "--days", "1", "--influx-password", "p"], "a password needs a username"),
    ],
)
def test_bad_backfill_options_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hosiery-sim: ")
    assert message in err
    assert len(err.splitlines()) == 1


class Steps:
    def __init__(self) -> None:
        self.steps: list[tuple[str, int, int]] = []

    def start(self, what: str, total: int) -> None:
        self.steps.append((what, total, 0))

    def advance(self, units: int = 1) -> None:
        what, total, done = self.steps[-1]
        self.steps[-1] = (what, total, done + units)


def config(days: float = 2) -> BackfillConfig:
    return BackfillConfig(
        influx=InfluxConfig(url="http://influx.test:8086"),
        days=days,
        machines=30,
        end_s=END_S,
        machine_hours=3,
        create_schema=False,
    )


def test_every_step_of_a_backfill_is_reported_to_its_end() -> None:
    steps = Steps()
    Backfill(config(), transport=httpx.MockTransport(Recorder()), progress=steps).run()
    assert [what for what, _total, _done in steps.steps] == [
        "simulating 30 machines",
        "writing the expected enterprise-hours (days)",
        "writing the simulated enterprise-hours, days and park-hours",
    ]
    assert steps.steps[0][1] == 30
    assert steps.steps[1][1] in (2, 3)  # park-local days touched by 45 hours
    assert all(total == done for _what, total, done in steps.steps)


def test_on_a_terminal_the_steps_are_bars() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with BarProgress(console) as bars:
        Backfill(config(), transport=httpx.MockTransport(Recorder()), progress=bars).run()
    shown = out.getvalue()
    assert "simulating 30 machines" in shown
    assert "30/30" in shown
    assert "3/3" in shown
    lines: list[str] = []
    LineProgress(lines.append).start("simulating 30 machines", 30)
    assert lines == ["simulating 30 machines"]


def test_the_credentials_given_reach_influxdb_and_a_refusal_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()

    def influx(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != "Token s3cret":
            return httpx.Response(401, json={"error": "authorization failed"})
        return recorder(request)

    def backfill_with(token: str) -> tuple[int, list[str]]:
        monkeypatch.setenv("HOSIERY_INFLUX_TOKEN", token)
        options = {"days": 1, "machines": 10, "machine_hours": 1, "create_database": False}
        settings = load_backfill_settings(options)
        config = BackfillConfig(
            influx=settings.influx_config(),
            days=settings.days,
            machines=settings.machine_count(),
            machine_hours=settings.machine_hours,
            create_schema=settings.create_database,
        )
        said: list[str] = []
        code = run_backfill(
            config,
            say=said.append,
            progress=LineProgress(said.append),
            transport=httpx.MockTransport(influx),
        )
        return code, said

    code, said = backfill_with("s3cret")
    assert code == 0
    assert said[0] == "simulating 10 machines"
    assert "pairs of 10 machines" in said[-1]
    assert recorder.points
    code, said = backfill_with("wrong")
    assert code == 1
    assert said[-1].startswith("backfill failed: ")
    assert "authorization failed" in said[-1]
