"""``hosiery-stack run``'s watch loop without servers: status lines off a terminal, the live
view on one, a child that exits ends the run with its log named."""

import argparse
import io
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack.cli import parse_args, watch_until_stopped
from stack.top import Watch
from stack.top_settings import TopSettings
from tests.unit.test_top import NOW, answers, respond


class FakeStack:
    def __init__(self, root: Path, *, dead: str | None = None, **options: Any) -> None:
        self.args = argparse.Namespace(duration=None, refresh=0.2, status_interval=0.2)
        vars(self.args).update(options)
        self.root = root
        self.dead = dead
        self.influx = argparse.Namespace(url="http://127.0.0.1:8086")
        self.registry = None
        self.http_port = 9108
        results = answers(today=(100, 20))
        self.transport = httpx.MockTransport(lambda request: respond(results, request))

    def dead_child(self) -> str | None:
        return self.dead

    def watch(self) -> Watch:
        return Watch(TopSettings(), transport=self.transport, clock=lambda: NOW)


class Lines(io.StringIO):
    def __init__(self, stop: threading.Event, *, tty: bool = False) -> None:
        super().__init__()
        self.stop = stop
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        if "Output now" in text or text.startswith("hosiery-stack: now"):
            self.stop.set()
        return super().write(text)


def test_off_a_terminal_it_prints_plain_status_lines(tmp_path: Path) -> None:
    stop = threading.Event()
    out = Lines(stop)
    assert watch_until_stopped(FakeStack(tmp_path), stop, out, reserve=0) == 0
    line = out.getvalue()
    assert line.startswith("hosiery-stack: now 36,000 pairs/h")
    assert "today 120 pairs" in line
    assert "machines 4 reporting: running 2 idle 1 fault 1 maintenance 0 off 0" in line
    assert line.count("\n") == 1
    assert "\x1b" not in line


def test_on_a_terminal_it_draws_the_live_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "40")
    stop = threading.Event()
    out = Lines(stop, tty=True)
    assert watch_until_stopped(FakeStack(tmp_path), stop, out, reserve=12) == 0
    assert "Output today" in out.getvalue()


def test_a_child_that_exits_ends_the_watch_with_its_log_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = threading.Event()
    stack = FakeStack(tmp_path, dead="collector")
    assert watch_until_stopped(stack, stop, Lines(stop), reserve=0) == 1
    assert capsys.readouterr().err == (
        f"hosiery-stack: the collector exited; see {tmp_path / 'collector.log'}\n"
    )


def test_the_duration_ends_the_watch(tmp_path: Path) -> None:
    stop = threading.Event()
    stack = FakeStack(tmp_path, duration=0.01, status_interval=3600.0)
    out = io.StringIO()
    assert watch_until_stopped(stack, stop, out, reserve=0) == 0


@pytest.mark.parametrize("value", ["0", "-1", "x", "4000"])
def test_refresh_intervals_are_checked(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["run", "--refresh", value])
    assert exited.value.code == 2
    assert "--refresh" in capsys.readouterr().err


def test_a_bad_live_view_setting_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stack.cli import Stack  # noqa: PLC0415 - only its watch is used

    monkeypatch.setenv("HOSIERY_TOP_TIMEZONE", "Mars/Olympus")
    fake = FakeStack(tmp_path)
    fake.watch = lambda: Stack.watch(fake)  # type: ignore[method-assign] # the real settings
    stop = threading.Event()
    assert watch_until_stopped(fake, stop, io.StringIO(), reserve=0) == 2
    err = capsys.readouterr().err
    assert err.startswith("hosiery-stack: live view: HOSIERY_TOP_TIMEZONE: ")
    assert "unknown time zone" in err
    assert len(err.splitlines()) == 1
