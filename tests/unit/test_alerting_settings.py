"""The alerting options of hosiery-collector, as an operator types them."""

from pathlib import Path

import pytest
import structlog
import structlog.testing
from pydantic import ValidationError
from pydantic_settings import CliApp

from collector.alerting.assemble import load_files, tracker_config
from collector.alerting.tracker import Tracker, TrackerConfig
from collector.cli import _explain
from collector.errors import CalendarError, RegistryError
from collector.settings import CollectorSettings
from contract import StopReason


def parse(*argv: str) -> CollectorSettings:
    return CliApp.run(CollectorSettings, cli_args=list(argv))


def test_defaults() -> None:
    s = parse()
    assert s.alerts is True
    config = tracker_config(s)
    assert config.idle_after_ms == 600_000
    assert config.fault_after_ms == 120_000
    assert config.offline_after_ms is None
    assert config.offline_intervals == 3
    assert config.resolve_after_ms == 0
    assert s.timezone == "UTC"
    assert s.alert_webhook == []


def test_options_as_typed() -> None:
    s = parse(
        "--no-alerts",
        "--idle-after", "15m",
        "--idle-after-style", "slipper-rubber-sole=20m",
        "--idle-after-style", "terry-sport=900",
        "--fault-after", "90s",
        "--fault-after-reason", "yarn_break=10s",
        "--fault-after-reason", "needle_break=30s",
        "--idle-after-reason", "style_change=2h",
        "--offline-after", "1h",
        "--resolve-after", "2m",
        "--timezone", "Asia/Shanghai",
        "--alert-webhook", "http://a.example/hook",
        "--alert-webhook", "https://b.example/hook",
    )  # fmt: skip
    assert s.alerts is False
    config = tracker_config(s)
    assert config.idle_after_ms == 900_000
    assert dict(config.idle_after_by_style) == {
        "slipper-rubber-sole": 1_200_000,
        "terry-sport": 900_000,
    }
    assert config.fault_after_ms == 90_000
    # given reasons replace their defaults; the other defaults stay
    assert dict(config.fault_after_by_reason) == {
        StopReason.YARN_BREAK: 10_000,
        StopReason.NEEDLE_BREAK: 30_000,
        StopReason.YARN_CHANGE: 1_200_000,
        StopReason.STYLE_CHANGE: 3_600_000,
    }
    assert dict(config.idle_after_by_reason) == {
        StopReason.YARN_CHANGE: 1_200_000,
        StopReason.STYLE_CHANGE: 7_200_000,
    }
    assert config.offline_after_ms == 3_600_000
    assert config.resolve_after_ms == 120_000
    assert s.alert_webhook == ["http://a.example/hook", "https://b.example/hook"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone: unknown time zone 'Mars/Olympus'"),
        (["--idle-after", "0"], "--idle-after: must be longer than 0"),
        (["--fault-after", "soon"], "--fault-after: 'soon' is not a duration"),
        (["--idle-after-style", "bad style=5m"], "style 'bad style' is not 1-64 characters"),
        (["--fault-after-reason", "lunch=5m"], "Input should be 'yarn_break'"),
        (["--idle-after-reason", "yarn_change=0"], "idle threshold of reason yarn_change must"),
        (["--fault-after-reason", "yarn_change=-1"], "'-1' is not a duration"),
        (["--alert-webhook", "ftp://x"], "--alert-webhook: 'ftp://x' is not a URL"),
        (["--summary-topic", "hosiery/v1/mine"], "is under hosiery/v1/, where the contract"),
        (["--summary-topic", "a/+/b"], "is not an MQTT topic to publish to"),
    ],
)
def test_bad_options_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(*argv)
    text = _explain(caught.value)
    assert message in text
    assert "\n" not in text


def test_bad_files_stop_the_start_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read park registry"):
        load_files(parse("--registry", str(tmp_path / "missing.json")))
    calendar = tmp_path / "shifts.toml"
    calendar.write_text("[patterns.a]\nwindows = ['6-22']\n")
    with pytest.raises(CalendarError, match="window '6-22' is not HH:MM-HH:MM"):
        load_files(parse("--shift-calendar", str(calendar)))


def test_edited_registry_is_loaded_again_and_a_broken_edit_is_ignored(tmp_path: Path) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text('{"enterprises": [{"id": "E1", "machines": [{"id": "A"}]}]}')
    files = load_files(parse("--registry", str(registry)))
    tracker = Tracker(TrackerConfig(), registry=files.registry, now_ms=0)
    log = structlog.get_logger("test")
    assert tracker.report(0).expected == 1
    assert not files.reload_if_changed(tracker, log)  # unchanged
    registry.write_text('{"enterprises": [{"id": "E1", "machines": [{"id": "A"}, {"id": "B"}]}]}')
    assert files.reload_if_changed(tracker, log)
    assert tracker.report(0).expected == 2
    # (each edit changes the size: file times may not change between quick writes)
    registry.write_text(
        '{"enterprises": [{"id": "E1", "machines": [{"id": "A"}, {"id": "A"}, {"id": "C"}]}]}'
    )
    with structlog.testing.capture_logs() as logs:
        assert not files.reload_if_changed(tracker, log)
    assert "listed twice" in logs[0]["error"]
    assert tracker.report(0).expected == 2  # the previous registry stays
    assert files.registry is not None
    assert files.registry.machine_count == 2
